// The apiserver's current revision: the resourceVersion of a one-item list, served from etcd (a list
// with a limit and no resourceVersion is a quorum read). Every revision the proxy ever saw is at or
// below it.
import https from 'node:https';
import type { RequestSource } from './ports.ts';

const PATH = '/api/v1/namespaces?limit=1';
const TIMEOUT_MS = 10_000;

export async function upstreamRevision(upstream: RequestSource): Promise<number> {
  const options = await upstream.requestOptions('GET', PATH, { accept: 'application/json' });
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(text);
        else reject(new Error(`GET ${PATH}: ${res.statusCode} ${text.slice(0, 300)}`));
      });
      res.on('error', reject);
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`GET ${PATH}: no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
  const revision = Number((JSON.parse(body) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion);
  if (!Number.isSafeInteger(revision)) throw new Error(`GET ${PATH}: no resourceVersion in the answer`);
  return revision;
}
