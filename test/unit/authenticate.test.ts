// The pure helpers of authentication in memory: which bearer token a request carries (Authorization
// header, or the websocket subprotocol `base64url.bearer.authorization.k8s.io.<token>` of an upgrade),
// where an empty, malformed or ambiguous credential is a 401 rather than "no credentials"; and how long a
// JWT may be trusted.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import * as assert from 'uvu/assert';
import { BEARER_PROTOCOL_PREFIX, bearerToken, jwtLifetimeMs } from '../../src/front/authenticate.ts';
import { StatusError } from '../../src/basics/status.ts';
import { suite } from '../support/suite.ts';

const test = suite('authentication helpers');

function request(headers: IncomingHttpHeaders): IncomingMessage {
  return { headers } as IncomingMessage;
}

/** A websocket upgrade offering these subprotocols. */
function upgrade(protocols: string): IncomingMessage {
  return request({ connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': protocols });
}

const tokenProtocol = (token: string): string => BEARER_PROTOCOL_PREFIX + Buffer.from(token).toString('base64url');

/** The outcome of bearerToken: the token, "none", or the HTTP code it throws. */
function outcome(req: IncomingMessage): string {
  try {
    return bearerToken(req) ?? 'none';
  } catch (err) {
    if (err instanceof StatusError) return `${err.code} ${err.status.reason ?? ''}`;
    throw err;
  }
}

test('Authorization: Bearer <token> gives the token; the scheme is case-insensitive', () => {
  const cases: [string, string][] = [
    ['Bearer abc.def-ghi_123', 'abc.def-ghi_123'],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['Bearer  abc', 'abc'],
    ['Bearer abc ', 'abc'],
  ];
  for (const [authorization, token] of cases) assert.is(outcome(request({ authorization })), token, authorization);
});

test('no Authorization and no subprotocol: no token (the caller may still have a certificate)', () => {
  assert.is(outcome(request({})), 'none');
  assert.is(outcome(request({ 'sec-websocket-protocol': 'v4.channel.k8s.io' })), 'none');
  assert.is(outcome(upgrade('v5.channel.k8s.io, v4.channel.k8s.io')), 'none');
});

test('an empty or malformed Authorization header is 401, never anonymous', () => {
  for (const authorization of ['', ' ', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic YWRtaW46YWRtaW4=', 'Token abc', 'Bearerabc', 'abc', 'Bearer\tabc']) {
    assert.is(outcome(request({ authorization })), '401 Unauthorized', JSON.stringify(authorization));
  }
});

test('the Authorization header wins over a subprotocol token', () => {
  const req = request({ authorization: 'Bearer from-header', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': `${tokenProtocol('from-protocol')}, v4.channel.k8s.io` });
  assert.is(outcome(req), 'from-header');
  // And a malformed header is not rescued by a good subprotocol.
  assert.is(outcome(request({ authorization: 'Bearer', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': `${tokenProtocol('x')}, v4.channel.k8s.io` })), '401 Unauthorized');
});

test('a websocket upgrade carries its token as base64url in a subprotocol, beside the real ones', () => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl';
  assert.is(outcome(upgrade(`${tokenProtocol(token)}, v5.channel.k8s.io`)), token);
  assert.is(outcome(upgrade(`v4.channel.k8s.io,${tokenProtocol('bob-123')}`)), 'bob-123', 'any position, any spacing');
  assert.is(outcome(request({ connection: 'keep-alive, Upgrade', upgrade: 'WebSocket', 'sec-websocket-protocol': `${tokenProtocol('t')}, base64.channel.k8s.io` })), 't');
});

test('a token subprotocol that is empty, not unpadded base64url, not UTF-8, or holds whitespace: 401', () => {
  const bad = [
    BEARER_PROTOCOL_PREFIX, // empty
    `${BEARER_PROTOCOL_PREFIX}YWJj=`, // padded
    `${BEARER_PROTOCOL_PREFIX}YW+j`, // standard, not URL, alphabet
    `${BEARER_PROTOCOL_PREFIX}YWJjZ`, // a length no base64 has (4n+1)
    BEARER_PROTOCOL_PREFIX + Buffer.from([0xff, 0xfe, 0x41]).toString('base64url'), // not UTF-8
    tokenProtocol('two words'),
    tokenProtocol(' '),
  ];
  for (const protocol of bad) assert.is(outcome(upgrade(`${protocol}, v4.channel.k8s.io`)), '401 Unauthorized', protocol);
});

test('two token subprotocols, or a token with no other subprotocol to answer with: 401 (as the apiserver)', () => {
  assert.is(outcome(upgrade(`${tokenProtocol('a')}, ${tokenProtocol('b')}, v4.channel.k8s.io`)), '401 Unauthorized');
  assert.is(outcome(upgrade(`${tokenProtocol('a')}, ${tokenProtocol('a')}, v4.channel.k8s.io`)), '401 Unauthorized');
  assert.is(outcome(upgrade(tokenProtocol('a'))), '401 Unauthorized');
});

test('a subprotocol token counts only on a websocket upgrade request', () => {
  const protocols = `${tokenProtocol('sneaky')}, v4.channel.k8s.io`;
  assert.is(outcome(request({ 'sec-websocket-protocol': protocols })), 'none', 'a plain request');
  assert.is(outcome(request({ connection: 'Upgrade', upgrade: 'SPDY/3.1', 'sec-websocket-protocol': protocols })), 'none', 'a SPDY upgrade');
  assert.is(outcome(request({ upgrade: 'websocket', 'sec-websocket-protocol': protocols })), 'none', 'no Connection: upgrade');
});

function jwt(payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'k' })}.${part(payload)}.${Buffer.from('signature').toString('base64url')}`;
}

test('jwtLifetimeMs: time left until exp, negative once expired', () => {
  const now = Date.UTC(2024, 0, 1);
  const exp = now / 1000 + 3_600;
  assert.is(jwtLifetimeMs(jwt({ sub: 'system:serviceaccount:a:b', exp }), now), 3_600_000);
  assert.is(jwtLifetimeMs(jwt({ exp }), now + 3_600_000), 0);
  assert.is(jwtLifetimeMs(jwt({ exp }), now + 3_600_001), -1);
  assert.is(jwtLifetimeMs(jwt({ exp: 1.5 }), 0), 1_500, 'fractional seconds');
});

test('jwtLifetimeMs: Infinity when there is no expiry to respect', () => {
  const now = Date.UTC(2024, 0, 1);
  const cases: [string, string][] = [
    ['an opaque token', 'bob-abcdefghijklmnop'],
    ['a JWT without exp', jwt({ sub: 'x' })],
    ['exp as a string', jwt({ exp: String(now / 1000 + 60) })],
    ['exp null', jwt({ exp: null })],
    ['a payload that is not JSON', `aGVhZA.${Buffer.from('not json').toString('base64url')}.c2ln`],
    ['an empty payload', 'aGVhZA..c2ln'],
    ['two parts', 'aGVhZA.eyJleHAiOjF9'],
    ['four parts', `${jwt({ exp: 1 })}.extra`],
  ];
  for (const [what, token] of cases) assert.is(jwtLifetimeMs(token, now), Infinity, what);
});

test.run();
