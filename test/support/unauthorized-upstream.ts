// An HTTPS server that looks like the apiserver to a client that trusts the cluster CA, and refuses
// every request with 401: what a replica sees when its upstream credentials stop working.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { issueCertificate, loadCertificateAuthority } from '../../src/server/pki.ts';
import type { ControlPlane } from './control-plane.ts';

export interface UnauthorizedUpstream {
  port: number;
  /** Requests refused so far. */
  refused: number;
  close(): Promise<void>;
}

const UNAUTHORIZED = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });

export async function unauthorizedUpstream(cp: ControlPlane): Promise<UnauthorizedUpstream> {
  const ca = await loadCertificateAuthority({ certPem: readFileSync(cp.pkiPath('ca.crt'), 'utf8'), keyPem: readFileSync(cp.pkiPath('ca.key'), 'utf8') });
  const serving = await issueCertificate(ca, { commonName: 'kube-apiserver', hosts: ['127.0.0.1'], usage: 'server' });
  const state = { refused: 0 };
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    state.refused++;
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(UNAUTHORIZED);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address === 'object' && address) resolve(address.port);
      else reject(new Error('no port'));
    });
  });
  return {
    port,
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
