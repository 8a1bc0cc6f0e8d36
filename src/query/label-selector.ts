// Label selectors exactly as kube-apiserver v1.20.2 parses and matches them: a port of
// k8s.io/apimachinery/pkg/labels/selector.go (its byte lexer, its recursive-descent parser, its error
// texts, key/value validation from util/validation) and of metav1.LabelSelectorAsSelector.
//
// Owns: the `labelSelector` query syntax and metav1.LabelSelector objects → an immutable LabelSelector.
// Does not own: which Status an error becomes (list-options.ts answers 400 with the message as is).
// Fails: parseLabelSelector throws `Error` with the apiserver's message; matching never throws.
//
// Quirks kept on purpose, because the apiserver has them: a NUL character ends a token (and, at the
// start of a token, the whole selector: `%00anything` selects everything); `in`/`notin` are keywords only
// in operator position (`in in (in)` is valid); `x in ()` means `x in ("")`; an empty value is valid
// (`x=`, `x in (a,)`); requirements are sorted by key; `x>1`/`x<1` (operators `gt`/`lt`) parse in 1.20.
import { compareBytes, goQuote, parseInt64 } from './go-strconv.ts';
import { SelectorMemo } from './selector-memo.ts';

/** selection.Operator values, as Requirement.Operator() reports them. */
export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

export interface LabelSelector {
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
  /** True when it does not restrict (Everything). Nothing is neither empty nor has requirements. */
  readonly empty: boolean;
  toString(): string;
  /** requirements, for indexing (sorted by key; empty for Everything and for Nothing) */
  readonly requirements: readonly LabelRequirement[];
  /** The one value a key must have (`k=v`, `k==v`, `k in (v)`), as Selector.RequiresExactMatch. */
  requiresExactMatch(key: string): string | undefined;
}

// ── validation (k8s.io/apimachinery/pkg/util/validation) ──

const QNAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const QNAME_RE = new RegExp(`^${QNAME_FMT}$`);
const QNAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT = `(${QNAME_FMT})?`;
const LABEL_VALUE_RE = new RegExp(`^${LABEL_VALUE_FMT}$`);
const LABEL_VALUE_MSG = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const DNS1123_SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');
const maxLenError = (n: number): string => `must be no more than ${n} characters`;
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

function qualifiedNameErrors(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  if (parts.length > 2) {
    return [`a qualified name ${regexError(QNAME_MSG, QNAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  const name = parts[parts.length - 1] ?? '';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else {
      if (byteLength(prefix) > 253) errs.push(`prefix part ${maxLenError(253)}`);
      if (!DNS1123_SUBDOMAIN_RE.test(prefix)) errs.push(`prefix part ${regexError(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, 'example.com')}`);
    }
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (byteLength(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!QNAME_RE.test(name)) errs.push(`name part ${regexError(QNAME_MSG, QNAME_FMT, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

function validateKey(key: string): void {
  const errs = qualifiedNameErrors(key);
  if (errs.length > 0) throw new Error(`invalid label key ${goQuote(key)}: ${errs.join('; ')}`);
}

function validateValue(key: string, value: string): void {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!LABEL_VALUE_RE.test(value)) errs.push(regexError(LABEL_VALUE_MSG, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  if (errs.length > 0) throw new Error(`invalid label value: ${goQuote(value)}: at key: ${goQuote(key)}: ${errs.join('; ')}`);
}

// ── requirements and selectors ──

/** labels.NewRequirement: validates and builds one requirement (values kept in the given order). */
function newRequirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  validateKey(key);
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) throw new Error("for 'in', 'notin' operators, values set can't be empty");
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) throw new Error('exact-match compatibility requires one single value');
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) throw new Error('values set must be empty for exists and does not exist');
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) throw new Error("for 'Gt', 'Lt' operators, exactly one value is required");
      for (const v of values) if (toInt64(v) === undefined) throw new Error("for 'Gt', 'Lt' operators, the value must be an integer");
      break;
  }
  for (const v of values) validateValue(key, v);
  return { key, operator, values };
}

function toInt64(s: string): bigint | undefined {
  try {
    return parseInt64(s);
  } catch {
    return undefined;
  }
}

const hasLabel = (labels: Readonly<Record<string, string>> | undefined, key: string): labels is Readonly<Record<string, string>> =>
  labels !== undefined && Object.prototype.hasOwnProperty.call(labels, key);

function requirementMatches(r: LabelRequirement, labels: Readonly<Record<string, string>> | undefined): boolean {
  const has = hasLabel(labels, r.key);
  const value = has ? labels[r.key] ?? '' : '';
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(value);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(value);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      const have = has ? toInt64(value) : undefined;
      const want = r.values.length === 1 ? toInt64(r.values[0] ?? '') : undefined;
      if (have === undefined || want === undefined) return false;
      return r.operator === 'gt' ? have > want : have < want;
    }
  }
}

const OPERATOR_TEXT: Readonly<Record<LabelOperator, string>> = { '=': '=', '==': '==', '!=': '!=', in: ' in ', notin: ' notin ', gt: '>', lt: '<', exists: '', '!': '' };

function requirementString(r: LabelRequirement): string {
  const head = `${r.operator === '!' ? '!' : ''}${r.key}${OPERATOR_TEXT[r.operator]}`;
  if (r.operator === 'exists' || r.operator === '!') return head;
  const values = r.values.length === 1 ? (r.values[0] ?? '') : [...r.values].sort(compareBytes).join(',');
  return r.operator === 'in' || r.operator === 'notin' ? `${head}(${values})` : `${head}${values}`;
}

class RequirementsSelector implements LabelSelector {
  readonly requirements: readonly LabelRequirement[];
  constructor(requirements: LabelRequirement[]) {
    this.requirements = requirements.sort((a, b) => compareBytes(a.key, b.key));
  }
  get empty(): boolean {
    return this.requirements.length === 0;
  }
  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    return this.requirements.every((r) => requirementMatches(r, labels));
  }
  toString(): string {
    return this.requirements.map(requirementString).join(',');
  }
  requiresExactMatch(key: string): string | undefined {
    const r = this.requirements.find((x) => x.key === key);
    if (!r || !['=', '==', 'in'].includes(r.operator) || r.values.length !== 1) return undefined;
    return r.values[0];
  }
}

/** labels.Everything(): matches every object. */
export const EVERYTHING: LabelSelector = new RequirementsSelector([]);

/** labels.Nothing(): matches no object. */
export const NOTHING: LabelSelector = {
  matches: () => false,
  empty: false,
  toString: () => '',
  requirements: [],
  requiresExactMatch: () => undefined,
};

// ── lexer (byte-wise in Go; every delimiter is ASCII, so UTF-16 code units lex the same) ──

const T = { Error: 0, End: 1, ClosedPar: 2, Comma: 3, DoesNotExist: 4, DoubleEquals: 5, Equals: 6, GreaterThan: 7, Identifier: 8, In: 9, LessThan: 10, NotEquals: 11, NotIn: 12, OpenPar: 13 } as const;
type Token = (typeof T)[keyof typeof T];
interface Item {
  tok: Token;
  lit: string;
}

const STRING_TO_TOKEN: ReadonlyMap<string, Token> = new Map<string, Token>([
  [')', T.ClosedPar], [',', T.Comma], ['!', T.DoesNotExist], ['==', T.DoubleEquals], ['=', T.Equals], ['>', T.GreaterThan],
  ['in', T.In], ['<', T.LessThan], ['!=', T.NotEquals], ['notin', T.NotIn], ['(', T.OpenPar],
]);
const TOKEN_TO_OPERATOR: ReadonlyMap<Token, LabelOperator> = new Map<Token, LabelOperator>([
  [T.In, 'in'], [T.Equals, '='], [T.DoubleEquals, '=='], [T.GreaterThan, 'gt'], [T.LessThan, 'lt'], [T.NotIn, 'notin'], [T.NotEquals, '!='],
]);
const END = '\0'; // Go's read() returns 0 past the end, so a NUL in the input reads as the end too
const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string): boolean => c.length === 1 && '=!(),><'.includes(c);

function lex(s: string): Item[] {
  let pos = 0;
  const read = (): string => (pos < s.length ? (s[pos++] ?? END) : END);
  const items: Item[] = [];
  for (;;) {
    let ch = read();
    while (isWhitespace(ch)) ch = read();
    if (ch === END) break;
    pos--;
    let buffer = '';
    if (isSpecial(ch)) {
      let last: Item | undefined;
      for (let c = read(); c !== END; c = read()) {
        if (!isSpecial(c)) {
          pos--;
          break;
        }
        buffer += c;
        const tok = STRING_TO_TOKEN.get(buffer);
        if (tok !== undefined) last = { tok, lit: buffer };
        else if (last) {
          pos--;
          break;
        }
      }
      items.push(last ?? { tok: T.Error, lit: `error expected: keyword found '${buffer}'` });
    } else {
      for (let c = read(); c !== END; c = read()) {
        if (isSpecial(c) || isWhitespace(c)) {
          pos--;
          break;
        }
        buffer += c;
      }
      items.push({ tok: STRING_TO_TOKEN.get(buffer) ?? T.Identifier, lit: buffer });
    }
  }
  items.push({ tok: T.End, lit: '' });
  return items;
}

// ── parser ──

/** In value position `in` and `notin` are plain identifiers. */
type Context = 'keyAndOperator' | 'values';

class Parser {
  readonly #items: Item[];
  #position = 0;
  constructor(text: string) {
    this.#items = lex(text);
  }

  lookahead(context: Context): Item {
    return this.#relabel(this.#items[this.#position] ?? { tok: T.End, lit: '' }, context);
  }
  consume(context: Context): Item {
    const item = this.#items[this.#position] ?? { tok: T.End, lit: '' };
    this.#position = Math.min(this.#position + 1, this.#items.length - 1);
    return this.#relabel(item, context);
  }
  #relabel(item: Item, context: Context): Item {
    return context === 'values' && (item.tok === T.In || item.tok === T.NotIn) ? { tok: T.Identifier, lit: item.lit } : item;
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead('values');
      if (tok === T.End) return requirements;
      if (tok !== T.Identifier && tok !== T.DoesNotExist) throw new Error(`found '${lit}', expected: !, identifier, or 'end of string'`);
      try {
        requirements.push(this.parseRequirement());
      } catch (err) {
        throw new Error(`unable to parse requirement: ${(err as Error).message}`);
      }
      const next = this.consume('values');
      if (next.tok === T.End) return requirements;
      if (next.tok !== T.Comma) throw new Error(`found '${next.lit}', expected: ',' or 'end of string'`);
      const after = this.lookahead('values');
      if (after.tok !== T.Identifier && after.tok !== T.DoesNotExist) throw new Error(`found '${after.lit}', expected: identifier after ','`);
    }
  }

  parseRequirement(): LabelRequirement {
    let negated = false;
    let item = this.consume('values');
    if (item.tok === T.DoesNotExist) {
      negated = true;
      item = this.consume('values');
    }
    if (item.tok !== T.Identifier) throw new Error(`found '${item.lit}', expected: identifier`);
    const key = item.lit;
    validateKey(key);
    const next = this.lookahead('values').tok;
    if (negated) return newRequirement(key, '!', []);
    if (next === T.End || next === T.Comma) return newRequirement(key, 'exists', []);
    const operator = this.parseOperator();
    const values = operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, operator, [...values].sort(compareBytes));
  }

  parseOperator(): LabelOperator {
    const { tok, lit } = this.consume('keyAndOperator');
    const op = TOKEN_TO_OPERATOR.get(tok);
    if (op === undefined) throw new Error(`found '${lit}', expected: '=', '!=', '==', 'in', notin'`);
    return op;
  }

  parseValues(): Set<string> {
    const open = this.consume('values');
    if (open.tok !== T.OpenPar) throw new Error(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead('values');
    if (tok === T.ClosedPar) {
      this.consume('values');
      return new Set(['']);
    }
    if (tok !== T.Identifier && tok !== T.Comma) throw new Error(`found '${lit}', expected: ',', ')' or identifier`);
    const values = this.parseIdentifiersList();
    if (this.consume('values').tok !== T.ClosedPar) throw new Error(`found '${lit}', expected: ')'`);
    return values;
  }

  parseIdentifiersList(): Set<string> {
    const values = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume('values');
      if (tok === T.Identifier) {
        values.add(lit);
        const next = this.lookahead('values');
        if (next.tok === T.Comma) continue;
        if (next.tok === T.ClosedPar) return values;
        throw new Error(`found '${next.lit}', expected: ',' or ')'`);
      }
      if (tok !== T.Comma) throw new Error(`found '${lit}', expected: ',', or identifier`);
      if (values.size === 0) values.add(''); // "(,"
      const next = this.lookahead('values').tok;
      if (next === T.ClosedPar) {
        values.add(''); // ",)"
        return values;
      }
      if (next === T.Comma) {
        this.consume('values');
        values.add(''); // ",,"
      }
    }
  }

  parseExactValue(): Set<string> {
    const { tok } = this.lookahead('values');
    if (tok === T.End || tok === T.Comma) return new Set(['']);
    const item = this.consume('values');
    if (item.tok === T.Identifier) return new Set([item.lit]);
    throw new Error(`found '${item.lit}', expected: identifier`);
  }
}

/** labels.Parse: the `labelSelector` query parameter. Throws `Error` with the apiserver's message. */
const parsedSelectors = new SelectorMemo<LabelSelector>();

export function parseLabelSelector(text: string): LabelSelector {
  if (text === '') return EVERYTHING;
  return parsedSelectors.get(text, () => new RequirementsSelector(new Parser(text).parse()));
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

const EXPRESSION_OPERATORS: Readonly<Record<string, LabelOperator>> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/**
 * metav1.LabelSelectorAsSelector, throwing its error: absent → Nothing, `{}` → Everything,
 * matchLabels as `=`, matchExpressions with In/NotIn/Exists/DoesNotExist (values in the given order).
 */
export function parseLabelSelectorObject(selector: LabelSelectorObject | null | undefined): LabelSelector {
  if (selector === undefined || selector === null) return NOTHING;
  const labels = Object.entries(selector.matchLabels ?? {});
  const expressions = selector.matchExpressions ?? [];
  if (labels.length + expressions.length === 0) return EVERYTHING;
  const requirements = labels.map(([k, v]) => newRequirement(k, '=', [v]));
  for (const e of expressions) {
    const op = Object.prototype.hasOwnProperty.call(EXPRESSION_OPERATORS, e.operator) ? EXPRESSION_OPERATORS[e.operator] : undefined;
    if (op === undefined) throw new Error(`${goQuote(e.operator)} is not a valid pod selector operator`);
    requirements.push(newRequirement(e.key, op, [...(e.values ?? [])]));
  }
  return new RequirementsSelector(requirements);
}

/**
 * A metav1.LabelSelector object (matchLabels/matchExpressions, as in Capsule specs and RBAC) → LabelSelector.
 * Semantics are LabelSelectorAsSelector's, the function Kubernetes controllers use: an absent (nil) selector
 * selects nothing and an empty `{}` one selects everything, so a spec that forgot its selector never
 * widens access; an invalid selector (where the apiserver's conversion errors) selects nothing as well.
 */
export function labelSelectorFromObject(selector: LabelSelectorObject | null | undefined): LabelSelector {
  try {
    return parseLabelSelectorObject(selector);
  } catch {
    return NOTHING;
  }
}
