// The reviews a proxy asks its upstream for, answered without an authorizer: a TokenReview of
// `userToken(user)` authenticates as `user` (group system:authenticated), of the replay's proxy token as
// the proxy's service account, of anything else is unauthenticated; every access review is allowed.
// Bodies over REVIEW_BODY_MAX_BYTES end the connection.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { failure, sendStatus } from '../../src/basics/status.ts';

const REVIEW_BODY_MAX_BYTES = 1 << 20;
const USER_TOKEN_PREFIX = 'replay-user.';
/** The token in the kubeconfig the replay writes for the proxy. */
export const PROXY_TOKEN = 'replay-upstream-proxy';

/** A bearer token the replay's TokenReview authenticates as `user`. */
export const userToken = (user: string): string => `${USER_TOKEN_PREFIX}${user}`;

/** Answers a POST of a TokenReview (`resource` tokenreviews) or an access review (anything else). */
export function answerReview(resource: string, req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > REVIEW_BODY_MAX_BYTES) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    let review: { spec?: { token?: string } };
    try {
      review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof review;
    } catch {
      sendStatus(res, failure(400, 'BadRequest', 'the review is not JSON'));
      return;
    }
    const status = resource === 'tokenreviews' ? tokenReviewStatus(review.spec?.token ?? '') : { allowed: true, reason: 'the replay upstream allows everything' };
    const body = Buffer.from(`${JSON.stringify({ ...review, metadata: { creationTimestamp: null }, status })}\n`);
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  });
}

function tokenReviewStatus(token: string): Record<string, unknown> {
  if (token.startsWith(USER_TOKEN_PREFIX) && token.length > USER_TOKEN_PREFIX.length) {
    return { authenticated: true, user: { username: token.slice(USER_TOKEN_PREFIX.length), groups: ['system:authenticated'] } };
  }
  if (token === PROXY_TOKEN) {
    return { authenticated: true, user: { username: 'system:serviceaccount:tenant-proxy:tenant-proxy', groups: ['system:serviceaccounts', 'system:serviceaccounts:tenant-proxy', 'system:authenticated'] } };
  }
  return { authenticated: false, error: 'unknown token' };
}
