// A CRD conversion-webhook double for Tenants: an HTTPS server on 127.0.0.1 answering ConversionReviews
// (apiextensions.k8s.io/v1) the apiserver sends to `spec.conversion.webhook.clientConfig.url`. It
// converts between v1beta2 and v1beta1 with a visible difference: an owner's `clusterRoles` (a v1beta2
// field; v1beta1's schema has none) travel in v1beta1 as the annotation
// `clusterrolenames.capsule.clastix.io/<kind>.<name>` (roles joined by commas), and back.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueCertificate } from '../../src/server/pki.ts';
import type { KubeObject } from './manifests.ts';

export const CLUSTER_ROLES_ANNOTATION_PREFIX = 'clusterrolenames.capsule.clastix.io/';

interface Owner {
  kind: string;
  name: string;
  clusterRoles?: string[];
  [field: string]: unknown;
}

interface ConversionReview {
  apiVersion: string;
  kind: string;
  request?: { uid: string; desiredAPIVersion: string; objects: KubeObject[] };
}

export interface ConversionWebhook {
  /** What the CRD's `spec.conversion` must say to call this double. */
  readonly conversion: Record<string, unknown>;
  /** ConversionReviews answered so far. */
  readonly reviews: number;
  stop(): Promise<void>;
}

function ownersOf(object: KubeObject): Owner[] {
  return ((object.spec as { owners?: Owner[] } | undefined)?.owners ?? []);
}

const annotationOf = (owner: Owner): string => `${CLUSTER_ROLES_ANNOTATION_PREFIX}${owner.kind.toLowerCase()}.${owner.name}`;

/** A Tenant of either version at `apiVersion` (capsule.clastix.io/v1beta1 or /v1beta2). */
export function convertTenant(object: KubeObject, apiVersion: string): KubeObject {
  const converted = structuredClone(object);
  converted.apiVersion = apiVersion;
  const annotations = { ...(converted.metadata.annotations ?? {}) };
  for (const owner of ownersOf(converted)) {
    const key = annotationOf(owner);
    if (apiVersion.endsWith('/v1beta1')) {
      if (owner.clusterRoles?.length) annotations[key] = owner.clusterRoles.join(',');
      delete owner.clusterRoles;
    } else if (annotations[key] !== undefined) {
      owner.clusterRoles = annotations[key].split(',').filter((r) => r !== '');
      delete annotations[key];
    }
  }
  converted.metadata.annotations = annotations;
  return converted;
}

export async function startConversionWebhook(): Promise<ConversionWebhook> {
  const ca = await createCertificateAuthority('conversion-webhook-ca');
  const serving = await issueCertificate(ca, { commonName: '127.0.0.1', hosts: ['127.0.0.1'], usage: 'server' });
  let reviews = 0;
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let review: ConversionReview;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ConversionReview;
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`not JSON: ${(err as Error).message}`);
        return;
      }
      const request = review.request;
      if (!request) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('a ConversionReview without a request');
        return;
      }
      reviews++;
      const response = { uid: request.uid, convertedObjects: request.objects.map((o) => convertTenant(o, request.desiredAPIVersion)), result: { status: 'Success' } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: review.apiVersion, kind: 'ConversionReview', response }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    conversion: {
      strategy: 'Webhook',
      webhook: { conversionReviewVersions: ['v1'], clientConfig: { url: `https://127.0.0.1:${port}/convert`, caBundle: Buffer.from(ca.certPem).toString('base64') } },
    },
    get reviews() {
      return reviews;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
