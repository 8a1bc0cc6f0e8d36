// parseRequestInfo against a table of methods and paths, with the answers of kube-apiserver v1.20.2's
// RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): verb, API group and
// version, namespace, resource, subresource and name.
import * as assert from 'uvu/assert';
import { isWatchParam, parseRequestInfo, resourcePath } from '../../src/front/request-info.ts';
import { suite } from '../support/suite.ts';

const test = suite('parseRequestInfo (RequestInfoFactory of kube-apiserver 1.20)');

interface Expected {
  resource?: boolean;
  verb: string;
  group?: string;
  version?: string;
  namespace?: string;
  resourceName?: string;
  subresource?: string;
  name?: string;
}

// [method, url, expected]; fields left out are "".
const RESOURCE_CASES: readonly (readonly [string, string, Expected])[] = [
  // core group, cluster scope
  ['GET', '/api/v1/namespaces', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=1', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=true', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=false', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=0', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=FALSE', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=f', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=0&watch=1', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?watch=', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['HEAD', '/api/v1/namespaces', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['POST', '/api/v1/namespaces', { verb: 'create', version: 'v1', resourceName: 'namespaces' }],
  ['DELETE', '/api/v1/namespaces', { verb: 'deletecollection', version: 'v1', resourceName: 'namespaces' }],
  // a namespace is both the object and its own namespace
  ['GET', '/api/v1/namespaces/x', { verb: 'get', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x' }],
  ['PUT', '/api/v1/namespaces/x', { verb: 'update', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x' }],
  ['PATCH', '/api/v1/namespaces/x', { verb: 'patch', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x' }],
  ['DELETE', '/api/v1/namespaces/x', { verb: 'delete', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x' }],
  ['GET', '/api/v1/namespaces/x/status', { verb: 'get', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x', subresource: 'status' }],
  ['PUT', '/api/v1/namespaces/x/finalize', { verb: 'update', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x', subresource: 'finalize' }],
  // namespaced resources
  ['GET', '/api/v1/namespaces/ns/pods', { verb: 'list', version: 'v1', namespace: 'ns', resourceName: 'pods' }],
  ['GET', '/api/v1/namespaces/ns/pods/p', { verb: 'get', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p' }],
  ['GET', '/api/v1/namespaces/ns/pods/p/log', { verb: 'get', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p', subresource: 'log' }],
  ['POST', '/api/v1/namespaces/ns/pods/p/exec', { verb: 'create', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p', subresource: 'exec' }],
  ['GET', '/api/v1/namespaces/ns/pods/p/exec?command=sh', { verb: 'get', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p', subresource: 'exec' }],
  ['GET', '/api/v1/namespaces/ns/pods/p/status/extra/parts', { verb: 'get', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p', subresource: 'status' }],
  ['GET', '/api/v1/pods', { verb: 'list', version: 'v1', resourceName: 'pods' }],
  // named groups
  ['DELETE', '/apis/apps/v1/namespaces/ns/deployments', { verb: 'deletecollection', group: 'apps', version: 'v1', namespace: 'ns', resourceName: 'deployments' }],
  ['DELETE', '/apis/apps/v1/namespaces/ns/deployments/web', { verb: 'delete', group: 'apps', version: 'v1', namespace: 'ns', resourceName: 'deployments', name: 'web' }],
  ['PUT', '/apis/apps/v1/namespaces/ns/deployments/web/scale', { verb: 'update', group: 'apps', version: 'v1', namespace: 'ns', resourceName: 'deployments', name: 'web', subresource: 'scale' }],
  ['GET', '/apis/capsule.clastix.io/v1beta2/tenants/oil', { verb: 'get', group: 'capsule.clastix.io', version: 'v1beta2', resourceName: 'tenants', name: 'oil' }],
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { verb: 'create', group: 'authorization.k8s.io', version: 'v1', resourceName: 'selfsubjectaccessreviews' }],
  // the special verbs: /watch/ and /proxy/ prefixes (the verb comes from the path, whatever the method)
  ['GET', '/api/v1/watch/namespaces', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/watch/namespaces?watch=false', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/watch/namespaces/x', { verb: 'watch', version: 'v1', namespace: 'x', resourceName: 'namespaces', name: 'x' }],
  ['GET', '/api/v1/watch/namespaces/ns/pods', { verb: 'watch', version: 'v1', namespace: 'ns', resourceName: 'pods' }],
  ['POST', '/api/v1/watch/namespaces', { verb: 'watch', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/apis/apps/v1/watch/namespaces/ns/deployments/web', { verb: 'watch', group: 'apps', version: 'v1', namespace: 'ns', resourceName: 'deployments', name: 'web' }],
  ['GET', '/api/v1/proxy/namespaces/ns/pods/p/some/path', { verb: 'proxy', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p' }],
  ['POST', '/api/v1/namespaces/ns/pods/p/proxy/some/path', { verb: 'create', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p', subresource: 'proxy' }],
  // a list or watch pinned to one name by fieldSelector carries that name (kubectl get ns x -w)
  ['GET', '/api/v1/namespaces?fieldSelector=metadata.name%3Doil-dev&watch=true', { verb: 'watch', version: 'v1', resourceName: 'namespaces', name: 'oil-dev' }],
  ['GET', '/api/v1/namespaces?fieldSelector=metadata.name%3D%3Doil-dev', { verb: 'list', version: 'v1', resourceName: 'namespaces', name: 'oil-dev' }],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=status.phase%3DRunning%2Cmetadata.name%3Dp', { verb: 'list', version: 'v1', namespace: 'ns', resourceName: 'pods', name: 'p' }],
  ['GET', '/api/v1/namespaces?fieldSelector=metadata.name!%3Doil-dev', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['GET', '/api/v1/namespaces?fieldSelector=metadata.name%3D..', { verb: 'list', version: 'v1', resourceName: 'namespaces' }],
  ['DELETE', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp', { verb: 'deletecollection', version: 'v1', namespace: 'ns', resourceName: 'pods' }],
  // an HTTP method with no Kubernetes verb
  ['OPTIONS', '/api/v1/namespaces', { verb: '', version: 'v1', resourceName: 'namespaces' }],
];

// Not resource requests: the verb is the lowercase HTTP method, nothing else is set.
const NON_RESOURCE_CASES: readonly (readonly [string, string, string])[] = [
  ['GET', '/version', 'get'],
  ['GET', '/healthz', 'get'],
  ['GET', '/readyz?verbose', 'get'],
  ['GET', '/', 'get'],
  ['GET', '/api', 'get'],
  ['GET', '/api/v1', 'get'],
  ['GET', '/apis', 'get'],
  ['GET', '/apis/apps', 'get'],
  ['GET', '/apis/apps/v1', 'get'],
  ['GET', '/openapi/v2', 'get'],
  ['POST', '/logs/x', 'post'],
  ['GET', '/metrics', 'get'],
];

test('resource requests: verb, group, version, namespace, resource, subresource, name', () => {
  for (const [method, url, e] of RESOURCE_CASES) {
    const info = parseRequestInfo(method, url);
    const got = { resource: info.isResourceRequest, verb: info.verb, group: info.apiGroup, version: info.apiVersion, namespace: info.namespace, resourceName: info.resource, subresource: info.subresource, name: info.name };
    const want = { resource: e.resource ?? true, verb: e.verb, group: e.group ?? '', version: e.version ?? '', namespace: e.namespace ?? '', resourceName: e.resourceName ?? '', subresource: e.subresource ?? '', name: e.name ?? '' };
    assert.equal(got, want, `${method} ${url}`);
  }
});

test('non-resource requests: the lowercase method, no group/version/resource', () => {
  for (const [method, url, verb] of NON_RESOURCE_CASES) {
    const info = parseRequestInfo(method, url);
    assert.equal(
      { resource: info.isResourceRequest, verb: info.verb, group: info.apiGroup, version: info.apiVersion, namespace: info.namespace, resourceName: info.resource, name: info.name },
      { resource: false, verb, group: '', version: '', namespace: '', resourceName: '', name: '' },
      `${method} ${url}`,
    );
  }
});

test('path and query: the path without the query, the query parsed, segments percent-decoded', () => {
  const info = parseRequestInfo('GET', '/api/v1/namespaces/ns/configmaps/a%3Ab?labelSelector=x%3Dy&limit=5');
  assert.is(info.name, 'a:b');
  assert.is(info.query.get('labelSelector'), 'x=y');
  assert.is(info.query.get('limit'), '5');
  assert.is(parseRequestInfo('GET', '/api/v1/namespaces?watch=1').path, '/api/v1/namespaces');
  // A trailing slash does not change the answer (splitPath trims slashes).
  assert.is(parseRequestInfo('GET', '/api/v1/namespaces/').verb, 'list');
  assert.is(parseRequestInfo('GET', '/api/v1/namespaces/x/').name, 'x');
});

test('the path is decoded as a whole and split without resolving dot segments, as the apiserver does', () => {
  const cases: [string, string, Partial<Record<'name' | 'subresource' | 'namespace' | 'resource', string>>][] = [
    // The apiserver acts on <foreign> here: the proxy must read it the same way.
    ['DELETE', '/apis/gateway.networking.k8s.io/v1beta1/gatewayclasses/foreign//../../own', { resource: 'gatewayclasses', name: 'foreign', subresource: '' }],
    ['GET', '/api/v1/nodes/a%2Fstatus', { resource: 'nodes', name: 'a', subresource: 'status' }],
    ['GET', '/api/v1/nodes/%2e%2e', { resource: 'nodes', name: '..' }],
    ['GET', '/api/v1/namespaces/../nodes', { namespace: '..', resource: 'nodes' }],
    ['GET', '/api/v1/nodes/own#x', { resource: 'nodes', name: 'own#x' }],
  ];
  for (const [method, url, expected] of cases) {
    const info = parseRequestInfo(method, url);
    for (const [key, value] of Object.entries(expected)) assert.is(info[key as keyof typeof expected], value, `${method} ${url}: ${key}`);
    assert.is(info.canonical, false, `${method} ${url} is not canonical`);
  }
});

test('canonical paths: exactly what resourcePath rebuilds, up to the subresource', () => {
  const canonical: [string, string][] = [
    ['/api/v1/nodes', '/api/v1/nodes'],
    ['/api/v1/nodes/n1', '/api/v1/nodes/n1'],
    ['/api/v1/namespaces/oil-dev', '/api/v1/namespaces/oil-dev'],
    ['/api/v1/namespaces/oil-dev/status', '/api/v1/namespaces/oil-dev/status'],
    ['/api/v1/watch/namespaces/oil-dev', '/api/v1/watch/namespaces/oil-dev'],
    ['/apis/storage.k8s.io/v1/storageclasses/gold?dryRun=All', '/apis/storage.k8s.io/v1/storageclasses/gold'],
    ['/apis/capsule.clastix.io/v1beta2/tenants/oil', '/apis/capsule.clastix.io/v1beta2/tenants/oil'],
    ['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
    // After the subresource, a proxied path is the target's business.
    ['/api/v1/namespaces/ns/pods/p/proxy/a//b;c/%2e%2e', '/api/v1/namespaces/ns/pods/p/proxy'],
    ['/api/v1/nodes/n1/proxy/metrics//x', '/api/v1/nodes/n1/proxy'],
  ];
  for (const [url, rebuilt] of canonical) {
    const info = parseRequestInfo('GET', url);
    assert.ok(info.canonical, `${url} is canonical`);
    assert.is(resourcePath(info), rebuilt, url);
  }
  const not = [
    '/api/v1/nodes/', '//api/v1/nodes', '/api//v1/nodes', '/api/v1/nodes//n1', '/api/v1/nodes/./n1', '/api/v1/nodes/n1/..', '/api/v1/nodes/%2e%2e/n1',
    '/api/v1/nodes/n%31', '/api/v1/nodes/n1%2f', '/api/v1/nodes/n1;x', '/api/v1/nodes/n1#x', '/api/v1/nodes\\n1', '/api/v1/nodes/n1\\..\\n2',
    '/apis/storage.k8s.io/v1/storageclasses/x//../../y', '/api/v1/namespaces/../nodes', '/api/v1/nodes/%zz', '/api/v1/./nodes', '/api/v1/watch//namespaces',
    '/api/v1/namespaces/ns/pods/p/proxy%2fa', '/api/v1/nodes/.hidden/../n1',
  ];
  for (const url of not) assert.is(parseRequestInfo('DELETE', url).canonical, false, `${url} is not canonical`);
});

test('list options the apiserver cannot decode: no name from the fieldSelector, watch still read', () => {
  // ParameterCodec.DecodeParameters fails, so RequestInfoFactory resets the options and reads only the
  // raw watch value.
  const cases: [string, string][] = [
    ['/api/v1/namespaces?fieldSelector=metadata.name%3Dx%2Cnonsense&watch=true', 'watch'],
    ['/api/v1/namespaces?fieldSelector=metadata.name%3Dx&labelSelector=a%20b%20c', 'list'],
    ['/api/v1/namespaces?fieldSelector=metadata.name%3Dx&limit=ten&watch=1', 'watch'],
    ['/api/v1/namespaces?fieldSelector=metadata.name%3Dx&timeoutSeconds=1.5', 'list'],
    ['/api/v1/namespaces?fieldSelector=nonsense&watch=FALSE', 'list'],
  ];
  for (const [url, verb] of cases) {
    const info = parseRequestInfo('GET', url);
    assert.equal([info.verb, info.name], [verb, ''], url);
  }
  // The same name with decodable options is kept.
  assert.is(parseRequestInfo('GET', '/api/v1/namespaces?fieldSelector=metadata.name%3Dx&labelSelector=a%3Db&limit=10').name, 'x');
});

test('the watch parameter reads as the apiserver reads a bool: only absent, 0 and false (any case) are off', () => {
  const cases: [string | null, boolean][] = [
    [null, false],
    ['0', false],
    ['false', false],
    ['falſe', false], // Go's strings.EqualFold folds ſ to s
    ['f', true],
    ['F', true],
    ['FALSE', false],
    ['False', false],
    ['1', true],
    ['true', true],
    ['t', true],
    ['', true],
    ['yes', true],
    ['no', true],
  ];
  for (const [value, expected] of cases) assert.is(isWatchParam(value), expected, `watch=${String(value)}`);
});

test.run();
