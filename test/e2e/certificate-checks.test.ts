// A client certificate is checked on every request, as the apiserver checks it, not only at the TLS
// handshake: a kept-alive connection whose certificate has expired, or whose CA has been removed from
// --client-ca-file since it connected, gets 401 on its next request.
import * as assert from 'uvu/assert';
import https from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type KeyPairPem } from '../../src/server/pki.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  dir: string;
  ca1: CertificateAuthority;
  ca2: CertificateAuthority;
  caFile: string;
  proxy: RunningProxy;
}

const test = suite<Context>('client certificates checked per request');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'cert-checks-'));
  ctx.ca1 = await createCertificateAuthority('client-ca-1');
  ctx.ca2 = await createCertificateAuthority('client-ca-2');
  ctx.caFile = path.join(ctx.dir, 'client-ca.crt');
  writeFileSync(ctx.caFile, ctx.ca1.certPem + ctx.ca2.certPem);
  ctx.proxy = await startProxy(ctx.cp, ['--client-ca-file', ctx.caFile]);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
});

/** One kept-alive connection: every request on it reports the local port it went out on. */
function connection(ctx: Context, pair: KeyPairPem): { get(path: string): Promise<{ status: number; port: number }>; close(): void } {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ctx.proxy.caPem, cert: pair.certPem, key: pair.keyPem });
  return {
    get: (urlPath) =>
      new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: ctx.proxy.port, path: urlPath, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, port: res.socket?.localPort ?? 0 }));
        });
        req.on('error', reject);
        req.end();
      }),
    close: () => agent.destroy(),
  };
}

test('a certificate that expires while its connection is kept alive: 401 on the next request', async (ctx) => {
  const pair = await issueCertificate(ctx.ca1, { commonName: 'short-lived', usage: 'client', notAfter: new Date(Date.now() + 3_000) });
  const c = connection(ctx, pair);
  try {
    const first = await c.get('/version');
    assert.is(first.status, 200, 'valid at first');
    await new Promise((r) => setTimeout(r, 3_500));
    const second = await c.get('/version');
    assert.is(second.port, first.port, 'the same connection');
    assert.is(second.status, 401, 'expired since the handshake');
  } finally {
    c.close();
  }
});

test('a CA removed from --client-ca-file: 401 for connections made before the reload, new ones refused too; the remaining CA still works', async (ctx) => {
  const fromCa1 = await issueCertificate(ctx.ca1, { commonName: 'ca1-user', usage: 'client' });
  const fromCa2 = await issueCertificate(ctx.ca2, { commonName: 'ca2-user', usage: 'client' });
  const kept = connection(ctx, fromCa1);
  try {
    const before = await kept.get('/version');
    assert.is(before.status, 200);
    writeFileSync(ctx.caFile, ctx.ca2.certPem);
    // A new connection with the removed CA's certificate fails once the proxy has reloaded the file.
    await eventually(async () => {
      const fresh = connection(ctx, fromCa1);
      try {
        return (await fresh.get('/version')).status;
      } finally {
        fresh.close();
      }
    }, (status) => status === 401, 'the reload takes effect for new connections', 15_000, 500);
    const after = await kept.get('/version');
    assert.is(after.port, before.port, 'the same connection as before the reload');
    assert.is(after.status, 401, 'its CA is gone');
    const other = connection(ctx, fromCa2);
    try {
      assert.is((await other.get('/version')).status, 200, 'the CA still in the file');
    } finally {
      other.close();
    }
  } finally {
    kept.close();
  }
});

test.run();
