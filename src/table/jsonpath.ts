// CRD printer-column cells as kube-apiserver 1.20 computes them: a port of the parser and evaluator of
// k8s.io/client-go/util/jsonpath (with AllowMissingKeys, as apiextensions-apiserver's tableconvertor uses
// it) and of the tableconvertor's cell rules. Owns: parsing `{<jsonPath>}`, finding the first result,
// and turning it into a cell. Does not own the columns themselves (printers.ts).
//
// The tableconvertor takes the first result of the first action only; a missing value or any evaluation
// error gives a null cell. A `string` column prints the value as Go would (maps and arrays as Go's
// json.Marshal: sorted keys, HTML-escaped; null as "<no value>"); `integer` truncates floats; `number`
// and `boolean` keep JSON types; `date` gives the age of an RFC 3339 string. Go decodes integral JSON
// numbers as int64 and others as float64; here a number is "int" when Number.isInteger, which differs
// only past 2^53. Not supported (an error, so a null cell): `range`/`end` (meaningless in a column).
// Go walks maps (`*`, `..`) in random order; this walks them in key order.
import { humanDuration, parseRfc3339, GO_ZERO_TIME_MS } from './human-duration.ts';

interface Param { value: number; known: boolean; derived: boolean }
type ListNode = { kind: 'list'; nodes: PathNode[] };
type PathNode =
  | ListNode
  | { kind: 'text'; text: string }
  | { kind: 'field'; name: string }
  | { kind: 'array'; params: readonly [Param, Param, Param] }
  | { kind: 'filter'; left: ListNode; right: ListNode; operator: string }
  | { kind: 'int' | 'float'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'wildcard' | 'recursive' }
  | { kind: 'union'; nodes: ListNode[] }
  | { kind: 'identifier'; name: string };

/** A Go float64 that came from the path itself (`1.0` stays a float, unlike JSON data). */
class GoFloat {
  constructor(readonly value: number) {}
}

const EOF = '';
const DICT_KEY = /^'([^']*)'$/;
const SLICE = /^(-?\d*)(:-?\d*)?(:-?\d*)?$/;
const FILTER = /^([^!<>=]+)([!<>=]+)([^\n]+?)$/;
const ALPHANUMERIC = /^[_\p{L}\p{Nd}]$/u;
const DIGIT = /^\p{Nd}$/u;

class Parser {
  readonly root: ListNode = { kind: 'list', nodes: [] };
  #input = '';
  #pos = 0;
  #start = 0;
  #width = 0;

  constructor(text: string) {
    this.#input = text;
    this.#parseText(this.root);
  }

  #next(): string {
    if (this.#pos >= this.#input.length) {
      this.#width = 0;
      return EOF;
    }
    const r = String.fromCodePoint(this.#input.codePointAt(this.#pos) ?? 0);
    this.#width = r.length;
    this.#pos += r.length;
    return r;
  }

  #backup(): void {
    this.#pos -= this.#width;
  }

  #peek(): string {
    const r = this.#next();
    this.#backup();
    return r;
  }

  #consume(): string {
    const text = this.#input.slice(this.#start, this.#pos);
    this.#start = this.#pos;
    return text;
  }

  #rest(): string {
    return this.#input.slice(this.#pos);
  }

  #parseText(cur: ListNode): void {
    for (;;) {
      if (this.#rest().startsWith('{')) {
        if (this.#pos > this.#start) cur.nodes.push({ kind: 'text', text: this.#consume() });
        this.#pos += 1;
        this.#consume();
        const action: ListNode = { kind: 'list', nodes: [] };
        cur.nodes.push(action);
        return this.#parseInsideAction(action);
      }
      if (this.#next() === EOF) break;
    }
    if (this.#pos > this.#start) cur.nodes.push({ kind: 'text', text: this.#consume() });
  }

  #parseInsideAction(cur: ListNode): void {
    for (;;) {
      const rest = this.#rest();
      if (rest.startsWith('}')) {
        this.#pos += 1;
        this.#consume();
        return this.#parseText(this.root);
      }
      if (rest.startsWith('[?(')) {
        this.#parseFilter(cur);
        continue;
      }
      if (rest.startsWith('..')) {
        if (cur.nodes.at(-1)?.kind === 'recursive') throw new Error('invalid multiple recursive descent');
        this.#pos += 2;
        this.#consume();
        cur.nodes.push({ kind: 'recursive' });
        if (ALPHANUMERIC.test(this.#peek())) this.#parseField(cur);
        continue;
      }
      const r = this.#next();
      if (r === EOF || r === '\r' || r === '\n') throw new Error('unclosed action');
      if (r === ' ' || r === '@' || r === '$') this.#consume();
      else if (r === '[') this.#parseArray(cur);
      else if (r === '"' || r === "'") this.#parseQuote(cur, r);
      else if (r === '.') this.#parseField(cur);
      else if (r === '+' || r === '-' || DIGIT.test(r)) {
        this.#backup();
        this.#parseNumber(cur);
      } else if (ALPHANUMERIC.test(r)) {
        this.#backup();
        this.#parseIdentifier(cur);
      } else throw new Error(`unrecognized character in action: ${r}`);
    }
  }

  #parseIdentifier(cur: ListNode): void {
    while (!isTerminator(this.#next()));
    this.#backup();
    const value = this.#consume();
    cur.nodes.push(value === 'true' || value === 'false' ? { kind: 'bool', value: value === 'true' } : { kind: 'identifier', name: value });
  }

  #parseNumber(cur: ListNode): void {
    const sign = this.#peek();
    if (sign === '+' || sign === '-') this.#next();
    for (;;) {
      const r = this.#next();
      if (r !== '.' && !DIGIT.test(r)) {
        this.#backup();
        break;
      }
    }
    const value = this.#consume();
    if (/^[+-]?[0-9]+$/.test(value) && Math.abs(Number(value)) < 2 ** 63) cur.nodes.push({ kind: 'int', value: Number(value) });
    else if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(value)) cur.nodes.push({ kind: 'float', value: Number(value) });
    else throw new Error(`cannot parse number ${value}`);
  }

  #parseArray(cur: ListNode): void {
    for (;;) {
      const r = this.#next();
      if (r === EOF || r === '\n') throw new Error('unterminated array');
      if (r === ']') break;
    }
    let text = this.#consume().slice(1, -1);
    if (text === '*') text = ':';
    const parts = text.split(',');
    if (parts.length > 1) {
      cur.nodes.push({ kind: 'union', nodes: parts.map((p) => parseAction(`[${p.replace(/^ +| +$/g, '')}]`)) });
      return;
    }
    const key = DICT_KEY.exec(text);
    if (key) {
      cur.nodes.push(...parseAction(`.${key[1] ?? ''}`).nodes);
      return;
    }
    const slice = SLICE.exec(text);
    if (!slice) throw new Error(`invalid array index ${text}`);
    const params: Param[] = [];
    for (let i = 0; i < 3; i++) {
      const raw = slice[i + 1] ?? '';
      if (raw !== '') {
        const digits = i > 0 ? raw.slice(1) : raw;
        if (i > 0 && digits === '') params.push({ value: 0, known: false, derived: false });
        else if (/^-?[0-9]+$/.test(digits)) params.push({ value: Number(digits), known: true, derived: false });
        else throw new Error(`array index ${digits} is not a number`);
      } else if (i === 1) params.push({ value: (params[0]?.value ?? 0) + 1, known: true, derived: true });
      else params.push({ value: 0, known: false, derived: false });
    }
    cur.nodes.push({ kind: 'array', params: params as [Param, Param, Param] });
  }

  #parseFilter(cur: ListNode): void {
    this.#pos += 3;
    this.#consume();
    let begin = false;
    let end = false;
    let pair = '';
    for (;;) {
      const r = this.#next();
      if (r === EOF || r === '\n') throw new Error('unterminated filter');
      if (r === '"' || r === "'") {
        if (!begin) {
          begin = true;
          pair = r;
          continue;
        }
        if (this.#input[this.#pos - 2] !== '\\' && r === pair) end = true;
      } else if (r === ')' && begin === end) break;
    }
    if (this.#next() !== ']') throw new Error('unclosed array expect ]');
    const text = this.#consume().slice(0, -2);
    const m = FILTER.exec(text);
    if (!m) cur.nodes.push({ kind: 'filter', left: parseAction(text), right: { kind: 'list', nodes: [] }, operator: 'exists' });
    else cur.nodes.push({ kind: 'filter', left: parseAction(m[1] ?? ''), right: parseAction(m[3] ?? ''), operator: m[2] ?? '' });
  }

  #parseQuote(cur: ListNode, quote: string): void {
    for (;;) {
      const r = this.#next();
      if (r === EOF || r === '\n') throw new Error('unterminated quoted string');
      if (r === quote && this.#input[this.#pos - 2] !== '\\') break;
    }
    cur.nodes.push({ kind: 'text', text: unquote(this.#consume()) });
  }

  #parseField(cur: ListNode): void {
    this.#consume();
    for (;;) {
      const r = this.#next();
      if (r === '\\') this.#next();
      else if (isTerminator(r)) {
        this.#backup();
        break;
      }
    }
    const value = this.#consume();
    cur.nodes.push(value === '*' ? { kind: 'wildcard' } : { kind: 'field', name: value.replaceAll('\\', '') });
  }
}

function isTerminator(r: string): boolean {
  return r === EOF || ' \t\r\n.,[]$@{}'.includes(r);
}

/** jsonpath's parseAction: `{text}` parsed, its first action. */
function parseAction(text: string): ListNode {
  const first = new Parser(`{${text}}`).root.nodes[0];
  if (first?.kind !== 'list') throw new Error(`invalid action ${text}`);
  return first;
}

// jsonpath's UnquoteExtend: strconv.Unquote that also accepts single quotes.
const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
function unquote(s: string): string {
  const quote = s[0];
  if (s.length < 2 || quote !== s.at(-1) || (quote !== '"' && quote !== "'")) throw new Error('invalid syntax');
  const body = s.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; ) {
    const c = body[i] ?? '';
    if (c === quote) throw new Error('invalid syntax');
    if (c !== '\\') {
      out += c;
      i += 1;
      continue;
    }
    const e = body[i + 1] ?? '';
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      i += 2;
    } else if (e === '"' || e === "'") {
      if (e !== quote) throw new Error('invalid syntax');
      out += e;
      i += 2;
    } else {
      const m = /^(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3}))/.exec(body.slice(i + 1));
      if (!m) throw new Error('invalid syntax');
      const code = m[1] ?? m[2] ?? m[3];
      const value = code !== undefined ? parseInt(code, 16) : parseInt(m[4] ?? '', 8);
      const rune = (m[2] ?? m[3]) !== undefined;
      if ((rune && (value > 0x10ffff || (value >= 0xd800 && value < 0xe000))) || (m[4] !== undefined && value > 255)) throw new Error('invalid syntax');
      out += rune ? String.fromCodePoint(value) : String.fromCharCode(value);
      i += 1 + m[0].length;
    }
  }
  return out;
}

// ── evaluation (reflect.Value semantics over JSON values; null is Go's nil interface) ──

type Values = unknown[];

/** An evaluation error, with the values Go's walk returns alongside it (an `exists` filter uses them). */
class EvalError extends Error {
  constructor(message: string, readonly values: Values) {
    super(message);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof GoFloat);

function walk(input: Values, node: PathNode): Values {
  switch (node.kind) {
    case 'list':
      return node.nodes.reduce<Values>((cur, n) => walk(cur, n), input);
    case 'text':
      return [node.text];
    case 'field': {
      const out: Values = [];
      for (const v of input) if (isMap(v) && Object.hasOwn(v, node.name)) out.push(v[node.name]);
      return out;
    }
    case 'array':
      return evalArray(input, node.params);
    case 'filter':
      return evalFilter(input, node);
    case 'int':
      return input.map(() => node.value);
    case 'float':
      return input.map(() => new GoFloat(node.value));
    case 'bool':
      return input.map(() => node.value);
    case 'wildcard':
      return input.flatMap(children);
    case 'recursive':
      return evalRecursive(input);
    case 'union':
      try {
        return node.nodes.flatMap((list) => walk(input, list));
      } catch (err) {
        throw new EvalError(String(err), input);
      }
    case 'identifier':
      throw new EvalError(`unsupported identifier ${node.name}`, input);
  }
}

function children(v: unknown): Values {
  if (Array.isArray(v)) return v;
  if (isMap(v)) return Object.values(v);
  if (typeof v === 'string') return [...Buffer.from(v, 'utf8')];
  return [];
}

function evalRecursive(input: Values): Values {
  const out: Values = [];
  for (const v of input) {
    const kids = children(v);
    if (kids.length === 0) continue;
    out.push(v, ...evalRecursive(kids));
  }
  return out;
}

function evalArray(input: Values, node: readonly [Param, Param, Param]): Values {
  const out: Values = [];
  for (const v of input) {
    if (v === null || v === undefined) continue;
    if (!Array.isArray(v)) throw new EvalError('not array or slice', input);
    const len = v.length;
    let start = node[0].known ? node[0].value : 0;
    if (start < 0) start += len;
    let end = node[1].known ? node[1].value : len;
    if (end < 0 || (end === 0 && node[1].derived)) end += len;
    if (end === start) return out;
    if (start >= len || start < 0 || end > len || end < 0 || start > end) throw new EvalError('array index out of bounds', input);
    if (node[2].known && node[2].value <= 0) throw new EvalError('step must be > 0', input);
    const step = node[2].known ? node[2].value : 1;
    for (let i = start; i < end; i += step) out.push(v[i]);
  }
  return out;
}

function evalFilter(input: Values, node: Extract<PathNode, { kind: 'filter' }>): Values {
  const out: Values = [];
  const side = (item: unknown, list: ListNode): Values => {
    try {
      return walk([item], list);
    } catch (err) {
      if (node.operator === 'exists' && err instanceof EvalError) return err.values;
      throw new EvalError(String(err), input);
    }
  };
  for (const v of input) {
    if (!Array.isArray(v)) throw new EvalError('not array or slice and cannot be filtered', input);
    for (const item of v) {
      const lefts = side(item, node.left);
      if (node.operator === 'exists') {
        if (lefts.length > 0) out.push(item);
        continue;
      }
      if (lefts.length === 0) continue;
      if (lefts.length > 1) throw new EvalError('can only compare one element at a time', input);
      const rights = side(item, node.right);
      if (rights.length === 0) continue;
      if (rights.length > 1) throw new EvalError('can only compare one element at a time', input);
      try {
        if (compare(lefts[0], rights[0], node.operator)) out.push(item);
      } catch (err) {
        throw new EvalError(String(err), out);
      }
    }
  }
  return out;
}

type Kind = 'bool' | 'int' | 'float' | 'string';
function basicKind(v: unknown): [Kind, number | string | boolean] {
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'string') return ['string', v];
  if (typeof v === 'number') return [Number.isInteger(v) ? 'int' : 'float', v];
  if (v instanceof GoFloat) return ['float', v.value];
  throw new Error('invalid type for comparison');
}

// text/template's eq/lt/le/gt/ge/ne as forked by client-go.
function compare(a: unknown, b: unknown, operator: string): boolean {
  const [ka, va] = basicKind(a);
  const [kb, vb] = basicKind(b);
  if (ka !== kb) throw new Error('incompatible types for comparison');
  const eq = va === vb;
  const lt = (): boolean => {
    if (ka === 'bool') throw new Error('invalid type for comparison');
    return ka === 'string' ? Buffer.compare(Buffer.from(va as string), Buffer.from(vb as string)) < 0 : (va as number) < (vb as number);
  };
  switch (operator) {
    case '==':
      return eq;
    case '!=':
      return !eq;
    case '<':
      return lt();
    case '<=':
      return lt() || eq;
    case '>':
      return !(lt() || eq);
    case '>=':
      return !lt();
    default:
      throw new Error(`unrecognized filter operator ${operator}`);
  }
}

// ── the tableconvertor's column ──

/** A CRD printer column's JSONPath, compiled as `{<jsonPath>}`; throws when the apiserver cannot parse it. */
export class ColumnPath {
  readonly #root: ListNode;

  constructor(jsonPath: string) {
    this.#root = new Parser(`{${jsonPath}}`).root;
  }

  /** The first action's results (FindResults(...)[0]); throws on an evaluation error. */
  find(object: unknown): Values {
    const results = this.#root.nodes.map((node) => walk([object], node));
    return results[0] ?? [];
  }

  /** The cell of a column of this type, as the tableconvertor computes it. */
  cell(type: string, object: unknown, nowMs: number): unknown {
    let results: Values;
    try {
      results = this.find(object);
    } catch {
      return null;
    }
    if (results.length === 0) return null;
    const value = results[0];
    return type === 'string' ? goPrint(value) : cellForJsonValue(type, value, nowMs);
  }
}

function cellForJsonValue(type: string, value: unknown, nowMs: number): unknown {
  const number = typeof value === 'number' ? value : value instanceof GoFloat ? value.value : undefined;
  switch (type) {
    case 'integer':
      return number === undefined ? null : Math.trunc(number) || 0; // int64(-0.5) is 0, not -0
    case 'number':
      return number ?? null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date': {
      if (typeof value !== 'string') return null;
      if (value === '' || value === 'null') return '<unknown>';
      const at = parseRfc3339(value);
      if (at === undefined) return '<invalid>';
      return at === GO_ZERO_TIME_MS ? '<unknown>' : humanDuration(nowMs - at);
    }
    default:
      return null;
  }
}

/** jsonpath's PrintResults of one value: maps and arrays as Go JSON, the rest as fmt.Fprint. */
function goPrint(value: unknown): string {
  if (value === null || value === undefined) return '<no value>';
  if (Array.isArray(value) || isMap(value)) return goJson(value);
  if (value instanceof GoFloat) return goFloat(value.value);
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) < 2 ** 63 ? String(value) : goFloat(value);
  return String(value);
}

/** fmt's %v of a float64: strconv's 'g' with the shortest digits, so exponent form below 1e-4 and from 1e6. */
function goFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa = '', exponent = '0'] = x.toExponential().split('e');
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/** encoding/json's Marshal (Go 1.19): map keys sorted by bytes, <, >, & and U+2028/9 escaped. */
function goJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof GoFloat) return String(value.value);
  if (typeof value === 'string') return goJsonString(value);
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((k) => `${goJsonString(k)}:${goJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

function goJsonString(s: string): string {
  return `"${s.replace(/[\\"\u0000-\u001f<>&\u2028\u2029]/g, (c) => {
    if (c === '\\' || c === '"') return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  })}"`;
}
