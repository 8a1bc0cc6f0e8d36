// Go's strconv as the apiserver's messages show it: `strconv.Quote` (every `%q` in a Kubernetes error
// message) and `ParseInt`/`ParseUint` in base 10 with their exact `strconv.ParseInt: parsing "x": …`
// errors. Owns nothing else. Pure functions; they throw `Error` with Go's text, callers choose the Status.
//
// JS strings cannot hold invalid UTF-8, so where Go would quote a raw byte as `\xff` (a query with `%FF`),
// the caller has already decoded it to U+FFFD and this prints `�`.

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** Go's `strconv.Quote` (what `%q` prints for a string). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (SHORT_ESCAPES[ch] !== undefined) out += SHORT_ESCAPES[ch];
    else if (cp < 0x80) out += `\\x${hex(cp, 2)}`;
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return `${out}"`;
}

const MAX_UINT64 = (1n << 64n) - 1n;
const INT64_CUTOFF = 1n << 63n;

type ParseFailure = 'invalid syntax' | 'value out of range';

/** Go's ParseUint(s, 10, 64) loop: stops at the first bad digit or at the first overflow, whichever comes first. */
function scanUint64(s: string): bigint | ParseFailure {
  if (s.length === 0) return 'invalid syntax';
  let n = 0n;
  for (const ch of s) {
    if (ch < '0' || ch > '9') return 'invalid syntax';
    n = n * 10n + BigInt(ch.charCodeAt(0) - 48);
    if (n > MAX_UINT64) return 'value out of range';
  }
  return n;
}

/** Go's `strconv.ParseUint(s, 10, 64)`; throws `strconv.ParseUint: parsing "s": …`. */
export function parseUint64(s: string): bigint {
  const n = scanUint64(s);
  if (typeof n === 'string') throw new Error(`strconv.ParseUint: parsing ${goQuote(s)}: ${n}`);
  return n;
}

/** Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits only; throws `strconv.ParseInt: parsing "s": …`. */
export function parseInt64(s: string): bigint {
  const fail = (why: ParseFailure): Error => new Error(`strconv.ParseInt: parsing ${goQuote(s)}: ${why}`);
  if (s.length === 0) throw fail('invalid syntax');
  const negative = s[0] === '-';
  const digits = s[0] === '+' || s[0] === '-' ? s.slice(1) : s;
  const n = scanUint64(digits);
  if (typeof n === 'string') throw fail(n);
  if (negative ? n > INT64_CUTOFF : n >= INT64_CUTOFF) throw fail('value out of range');
  return negative ? -n : n;
}

/** Orders strings as Go's `sort.Strings` does: by their UTF-8 bytes. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
