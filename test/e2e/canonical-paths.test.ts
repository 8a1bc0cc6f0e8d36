// Requests the proxy answers or performs itself must name exactly what it checked: the apiserver does not
// clean paths, so `…/gatewayclasses/<foreign>//../../<own>` is served upstream as <foreign> while a
// normalising parser reads <own>. For every served kind, every non-canonical variant of a path to an
// object the tenant may write (and to one it may not) is sent with GET, PATCH and DELETE by a tenant owner
// holding List, Update and Delete grants. Each gets 400 from the proxy, or is forwarded as the owner (the
// apiserver's audit log shows it impersonated); the audit log shows no request of the proxy's own on
// those objects, and every object is still there, unchanged. The canonical request still works. The
// variants go over HTTP/1.1 and over HTTP/2 alike (over h2 the path is the :path pseudo-header, as sent).
import * as assert from 'uvu/assert';
import type { AuditEvent, ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, gatewayClass, ingressClass, node, persistentVolume, priorityClass, runtimeClass, storageClass, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { eventually } from '../support/eventually.ts';
import { createTenant, TENANT_LABEL } from '../support/fixtures.ts';
import { H2Requests, type Requests } from '../support/h2-requests.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import type { KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WebSocket } from 'ws';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  owner: KubeHttp;
  ownerH2: H2Requests;
}

const test = suite<Context>('canonical paths for what the proxy serves and writes');
const s = digitSuffix();
const n = (base: string): string => `cp-${base}-${s}`;
const PROXY_USER = 'system:serviceaccount:tenant-proxy:tenant-proxy';
const OWNER = n('owner');
const TENANT = n('tenant');
const TENANT_NS = n('ns');
const FOREIGN_TENANT = n('other');
const FOREIGN_NS = n('other-ns');
const LABEL = `canonical.test/mine-${s}`;
const mine = { [LABEL]: 'yes' };
const EVERY_GRANT = ['Nodes', 'StorageClasses', 'IngressClasses', 'PriorityClasses', 'RuntimeClasses', 'GatewayClasses', 'PersistentVolumes'] as const;

interface Kind {
  collection: string;
  own: string;
  foreign: string;
  objects: KubeObject[];
}

const KINDS: Kind[] = [
  { collection: '/api/v1/nodes', own: n('node'), foreign: n('node-f'), objects: [node(n('node'), mine), node(n('node-f'))] },
  { collection: '/apis/storage.k8s.io/v1/storageclasses', own: n('sc'), foreign: n('sc-f'), objects: [storageClass(n('sc'), mine), storageClass(n('sc-f'))] },
  { collection: '/apis/networking.k8s.io/v1/ingressclasses', own: n('ic'), foreign: n('ic-f'), objects: [ingressClass(n('ic'), mine), ingressClass(n('ic-f'))] },
  { collection: '/apis/scheduling.k8s.io/v1/priorityclasses', own: n('pc'), foreign: n('pc-f'), objects: [priorityClass(n('pc'), mine), priorityClass(n('pc-f'))] },
  { collection: '/apis/node.k8s.io/v1/runtimeclasses', own: n('rc'), foreign: n('rc-f'), objects: [runtimeClass(n('rc'), mine), runtimeClass(n('rc-f'))] },
  { collection: '/apis/gateway.networking.k8s.io/v1/gatewayclasses', own: n('gw'), foreign: n('gw-f'), objects: [gatewayClass(n('gw'), mine), gatewayClass(n('gw-f'))] },
  { collection: '/api/v1/persistentvolumes', own: n('pv'), foreign: n('pv-f'), objects: [persistentVolume(n('pv'), { labels: { [TENANT_LABEL]: TENANT } }), persistentVolume(n('pv-f'))] },
  { collection: '/api/v1/namespaces', own: TENANT_NS, foreign: FOREIGN_NS, objects: [] },
  { collection: '/apis/capsule.clastix.io/v1beta2/tenants', own: TENANT, foreign: FOREIGN_TENANT, objects: [] },
];

/**
 * Every way to write a path that is not the canonical one (O: own object, F: foreign one), and whether it
 * still reads as a request for the served kind (the proxy must then refuse it); the others name some
 * other resource and are forwarded as the owner, like any request the proxy does not answer.
 */
function variants(c: string, o: string, f: string): [path: string, servedKind: boolean][] {
  const [api, ...rest] = c.slice(1).split('/');
  const encodedFirst = `%${o.charCodeAt(0).toString(16)}${o.slice(1)}`;
  return [
    [`${c}/${f}//../../${o}`, true],
    [`${c}/${o}//../../${f}`, true],
    [`${c}/${o}/..`, true],
    [`${c}/${o}/.`, true],
    [`${c}/./${o}`, true],
    [`${c}/../${c.split('/').pop() ?? ''}/${o}`, true],
    [`${c}//${o}`, true],
    [`${c}/${o}/`, true],
    [`${c}/%2e%2e/${o}`, true],
    [`${c}/%2E%2E/${f}/../${o}`, true],
    [`${c}/${o}%2f..%2f${f}`, true],
    [`${c}/${o}%2F`, true],
    [`${c}/${encodedFirst}`, true],
    [`${c}/${o};x=y`, true],
    [`${c}/${o}#x`, true],
    [`${c}/${f}\\..\\${o}`, true],
    [`//${api}/${rest.join('/')}/${o}`, true],
    // An empty segment in the prefix shifts every part: the apiserver reads another resource.
    [`/${api}//${rest.join('/')}/${o}`, false],
    [`/api/v1/namespaces/../${c.split('/').slice(api === 'api' ? 3 : 4).join('/')}/${o}`, false],
  ];
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  await ctx.tracker.apply(...KINDS.flatMap((k) => k.objects));
  trackTenant(ctx.tracker, TENANT, [TENANT_NS]);
  trackTenant(ctx.tracker, FOREIGN_TENANT, [FOREIGN_NS]);
  const everything = EVERY_GRANT.map((kind) => ({ kind, operations: ['List' as const, 'Update' as const, 'Delete' as const] }));
  const selector = { matchLabels: mine };
  await createTenant(ctx.cp.admin, {
    name: TENANT,
    owners: [{ kind: 'User', name: OWNER, proxySettings: everything }],
    namespaces: [TENANT_NS],
    spec: { nodeSelector: mine, storageClasses: selector, ingressOptions: { allowedClasses: selector }, priorityClasses: selector, runtimeClasses: selector, gatewayOptions: { allowedClasses: selector } },
  });
  await createTenant(ctx.cp.admin, { name: FOREIGN_TENANT, owners: [{ kind: 'User', name: n('someone-else') }], namespaces: [FOREIGN_NS] });
  await waitReady(ctx.proxy);
  ctx.owner = ctx.proxy.client(await ctx.cp.clientCertificate(OWNER));
  ctx.ownerH2 = new H2Requests(ctx.proxy.url, ctx.owner.credentials);
  for (const k of KINDS) {
    await eventually(() => ctx.owner.request('GET', `${k.collection}/${k.own}`), (r) => r.status === 200, `${OWNER} sees ${k.collection}/${k.own}`);
  }
});

test.after(async (ctx) => {
  ctx.ownerH2?.close();
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

const PATCH = { metadata: { labels: { [`canonical.test/touched-${s}`]: 'yes' } } };

async function snapshot(ctx: Context): Promise<string> {
  const states: unknown[] = [];
  for (const k of KINDS) {
    for (const name of [k.own, k.foreign]) {
      const r = await ctx.cp.admin.request('GET', `${k.collection}/${name}`);
      const object = r.status === 200 ? (JSON.parse(r.body) as KubeObject) : undefined;
      states.push([name, r.status, object?.metadata.uid, object?.metadata.resourceVersion, object?.metadata.labels, object?.metadata.deletionTimestamp]);
    }
  }
  return JSON.stringify(states);
}

test('every non-canonical variant, for every served kind and verb, over HTTP/1.1 and HTTP/2: 400 or forwarded as the owner, never acted on by the proxy', async (ctx) => {
  const before = await snapshot(ctx);
  const auditStart = ctx.cp.auditEvents().length;
  const answers: { method: string; path: string; status: number; reason: string | undefined; mustRefuse: boolean }[] = [];
  const h1: Requests = { protocol: 'HTTP/1.1', request: (method, path, options) => ctx.owner.request(method, path, options) };
  for (const client of [h1, ctx.ownerH2]) {
    for (const k of KINDS) {
      for (const [path, servedKind] of variants(k.collection, k.own, k.foreign)) {
        for (const method of ['GET', 'PATCH', 'DELETE']) {
          const r = await client.request(method, path, method === 'PATCH' ? { body: PATCH, contentType: 'application/merge-patch+json' } : {});
          const status = r.headers['content-type'] === 'application/json' ? (JSON.parse(r.body) as { reason?: string; message?: string }) : undefined;
          // Namespaces are special: a namespace is its own namespace, so what follows `namespaces/<name>/`
          // reads as a namespaced resource, which the proxy forwards.
          answers.push({ method: `${method} (${client.protocol})`, path, status: r.status, reason: status?.reason, mustRefuse: servedKind && k.collection !== '/api/v1/namespaces' });
          if (r.status === 400 && status?.reason === 'BadRequest') assert.match(status.message ?? '', 'not canonical', `${method} ${path} (${client.protocol})`);
        }
      }
    }
  }
  // Wait for the audit log to hold what the forwarded ones did.
  await new Promise((r) => setTimeout(r, 1_500));
  const events: AuditEvent[] = ctx.cp.auditEvents().slice(auditStart).filter((e) => e.stage === 'ResponseComplete');
  const names = new Set(KINDS.flatMap((k) => [k.own, k.foreign]));
  const writes = new Set(['update', 'patch', 'delete', 'deletecollection']);
  const asProxy = events.filter((e) => e.user.username === PROXY_USER && !e.impersonatedUser && (names.has(e.objectRef?.name ?? '') || writes.has(e.verb)));
  assert.equal(asProxy.map((e) => `${e.verb} ${e.requestURI}`), [], 'nothing reached the apiserver as the proxy itself');
  const forwardedUris = new Set(events.filter((e) => e.impersonatedUser?.username === OWNER).map((e) => e.requestURI));
  for (const a of answers) {
    const refused = a.status === 400 && a.reason === 'BadRequest';
    assert.ok(refused || forwardedUris.has(a.path), `${a.method} ${a.path}: ${a.status} ${a.reason ?? ''}: neither refused with 400 nor forwarded as ${OWNER}`);
    if (a.mustRefuse) assert.ok(refused, `${a.method} ${a.path}: 400, got ${a.status}`);
  }
  assert.is(await snapshot(ctx), before, 'every object is still there, unchanged');
});

test('a websocket watch at a non-canonical path is refused with a Status', async (ctx) => {
  const k = KINDS[0] as Kind;
  const url = ctx.proxy.url.replace('https:', 'wss:') + `/api/v1/watch/nodes//${k.own}`;
  const credentials = await ctx.cp.clientCertificate(OWNER);
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const ws = new WebSocket(url, { ca: ctx.proxy.caPem, cert: credentials.certPem, key: credentials.keyPem });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('the websocket opened')));
    ws.on('error', () => {});
  });
  assert.is(answer.status, 400);
  assert.match(answer.body, '"reason":"BadRequest"');
  assert.match(answer.body, 'not canonical');
});

test('the canonical requests themselves are served and performed', async (ctx) => {
  for (const k of KINDS) {
    const r = await ctx.owner.request('GET', `${k.collection}/${k.own}`);
    assert.is(r.status, 200, `GET ${k.collection}/${k.own}: ${r.body}`);
  }
  const nodePath = `/api/v1/nodes/${n('node')}`;
  const patched = await ctx.owner.request('PATCH', nodePath, { body: PATCH, contentType: 'application/merge-patch+json' });
  assert.is(patched.status, 200, patched.body);
  assert.is((JSON.parse(patched.body) as KubeObject).metadata.labels?.[`canonical.test/touched-${s}`], 'yes');
  const deleted = await ctx.owner.request('DELETE', `/apis/storage.k8s.io/v1/storageclasses/${n('sc')}`);
  assert.is(deleted.status, 200, deleted.body);
  assert.is((await ctx.cp.admin.request('GET', `/apis/storage.k8s.io/v1/storageclasses/${n('sc')}`)).status, 404);
});

test.run();
