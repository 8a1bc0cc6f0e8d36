// Field selectors exactly as kube-apiserver v1.20.2 handles them: the syntax of
// k8s.io/apimachinery/pkg/fields/selector.go (`=`, `==`, `!=`, `,`, backslash escapes, its error texts),
// then the per-kind field-label conversion of the LIST handler (`AddFieldLabelConversionFunc`, else
// runtime.DefaultMetaV1FieldSelectorConversion, or the CRD handler's own), then matching against the field
// set each registry's GetAttrs builds for an object.
//
// Owns: the `fieldSelector` parameter → FieldSelector, and the defaults for kinds without their own
// fields. Does not own: the selectable fields of the kinds the proxy serves (their entries in
// kinds/registry.ts), labels (label-selector.ts), the other list options (list-options.ts).
// Fails: with StatusError 400 BadRequest and the apiserver's message — `invalid selector: …`, `invalid
// field selector: …`, `field label not supported: x`, or for kinds without their own conversion
// `"x" is not a known field selector: only "metadata.name", "metadata.namespace"`.
//
// Field sets (v1.20.2 pkg/registry/**/strategy.go): namespaces {metadata.name, status.phase, name};
// nodes {metadata.name, spec.unschedulable ("true"/"false")}; persistentvolumes {metadata.name, name};
// every other cluster-scoped built-in (storage/ingress/priority/runtime classes…) and cluster-scoped custom
// resources {metadata.name}; namespaced ones add metadata.namespace. A field missing from the set reads as
// "" — so on storageclasses `metadata.namespace=` selects everything and `metadata.namespace=x` nothing.
import { customResourceFields, defaultBuiltInFields, type FieldSet, type SelectableFields } from '../kinds/selectable-fields.ts';
import { servedKindOf } from '../kinds/registry.ts';
import { badRequest } from '../basics/status.ts';
import { compareBytes, goQuote } from './go-strconv.ts';
import { SelectorMemo } from './selector-memo.ts';

export interface FieldRequirement {
  readonly field: string;
  /** `==` is stored as `=`, as the apiserver does. */
  readonly operator: '=' | '!=';
  readonly value: string;
}

export interface FieldSelector {
  matches(object: Record<string, unknown>): boolean;
  readonly empty: boolean;
  /** value of a `metadata.name=x` requirement if the selector pins one name (the first, in sorted order) */
  readonly exactName: string | undefined;
  /** sorted as the apiserver sorts the terms */
  readonly requirements: readonly FieldRequirement[];
  /** fields.Selector.String(): `f=v` / `f!=v` joined with `,`, values escaped */
  toString(): string;
}


// ── syntax (fields.ParseSelector) ──

/** Splits on unescaped commas; escapes stay in the terms. */
function splitTerms(text: string): string[] {
  if (text.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

const OPERATORS = ['!=', '==', '='] as const;

/** The first operator found (no escaping on the left-hand side). */
function splitTerm(term: string): { lhs: string; op: (typeof OPERATORS)[number]; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of OPERATORS) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

/** fields.UnescapeValue: `\\`, `\,`, `\=` only; a bare `,` or `=` is an error (reported as its code point). */
function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') throw badRequest(`invalid field selector: invalid escape sequence: \\${c}`);
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') throw badRequest(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    else out += c;
  }
  if (inSlash) throw badRequest('invalid field selector: invalid escape sequence: \\');
  return out;
}

/**
 * fields.ParseSelector: the terms in the apiserver's (byte-sorted) order, terms with an empty field and
 * an empty value dropped (`fieldSelector==` selects everything). Throws StatusError 400.
 */
export function parseFieldTerms(text: string): FieldRequirement[] {
  const terms: FieldRequirement[] = [];
  for (const part of splitTerms(text).sort(compareBytes)) {
    if (part === '') continue;
    const split = splitTerm(part);
    if (!split) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const value = unescapeValue(split.rhs);
    if (split.lhs === '' && value === '') continue;
    terms.push({ field: split.lhs, operator: split.op === '!=' ? '!=' : '=', value });
  }
  return terms;
}

// ── per-kind fields ──

/** API groups kube-apiserver 1.20 serves itself; any other group is a custom resource. */
const BUILT_IN_GROUPS: ReadonlySet<string> = new Set([
  '', 'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'apiregistration.k8s.io', 'apps', 'authentication.k8s.io',
  'authorization.k8s.io', 'autoscaling', 'batch', 'certificates.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io',
  'events.k8s.io', 'extensions', 'flowcontrol.apiserver.k8s.io', 'internal.apiserver.k8s.io', 'networking.k8s.io',
  'node.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'scheduling.k8s.io', 'storage.k8s.io',
]);

/** Built-in kinds with their own conversion and field set that tenant-proxy does not model. */
const NOT_MODELLED: ReadonlySet<string> = new Set([
  '/pods', '/replicationcontrollers', '/events', '/secrets', 'events.k8s.io/events', 'batch/jobs', 'batch/cronjobs',
  'apps/statefulsets', 'certificates.k8s.io/certificatesigningrequests',
]);

/** A served kind's own fields (the kind registry), else the default of a built-in or a custom resource. */
function kindOf(group: string, resource: string, namespaced: boolean): SelectableFields {
  const key = `${group}/${resource}`;
  if (NOT_MODELLED.has(key)) throw new Error(`field selectors of ${key} are not modelled by tenant-proxy`);
  const served = servedKindOf({ group, resource });
  if (served) return served.fieldSelector;
  return BUILT_IN_GROUPS.has(group) ? defaultBuiltInFields(namespaced) : customResourceFields(namespaced);
}

/** The field set the apiserver matches a field selector against (the registry's GetAttrs). */
export function selectableFields(group: string, resource: string, object: Record<string, unknown>, namespaced = false): Readonly<FieldSet> {
  return kindOf(group, resource, namespaced).of(object);
}

// ── selectors ──

function checkLabel(kind: SelectableFields, label: string): void {
  if (kind.labels === undefined) {
    if (label !== 'metadata.name' && label !== 'metadata.namespace') {
      throw badRequest(`${goQuote(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
  } else if (!kind.labels.includes(label)) {
    throw badRequest(`field label not supported: ${label}`);
  }
}

/** fields.Set.Get: a field the kind does not have reads as "". */
const fieldValue = (fields: FieldSet, field: string): string => (Object.prototype.hasOwnProperty.call(fields, field) ? (fields[field] ?? '') : '');

const escapeValue = (v: string): string => v.replace(/[\\,=]/g, (c) => `\\${c}`);

/** The LIST handler's `FieldSelector.Transform(ConvertFieldLabel)`: rejects fields the kind does not support. */
export function bindFieldSelector(terms: readonly FieldRequirement[], group: string, resource: string, namespaced = false): FieldSelector {
  const key = `${group}/${resource}/${namespaced ? 'namespaced' : 'cluster'}?${terms.map((t) => `${t.field}${t.operator}${escapeValue(t.value)}`).join(',')}`;
  return boundSelectors.get(key, () => bind(terms, group, resource, namespaced));
}

const boundSelectors = new SelectorMemo<FieldSelector>();

function bind(terms: readonly FieldRequirement[], group: string, resource: string, namespaced: boolean): FieldSelector {
  const kind = kindOf(group, resource, namespaced);
  for (const t of terms) checkLabel(kind, t.field);
  const requirements = [...terms];
  return {
    requirements,
    empty: requirements.length === 0,
    exactName: requirements.find((t) => t.field === 'metadata.name' && t.operator === '=')?.value,
    matches(object) {
      if (requirements.length === 0) return true;
      const fields = kind.of(object);
      return requirements.every((t) => (fieldValue(fields, t.field) === t.value) === (t.operator === '='));
    },
    toString: () => requirements.map((t) => `${t.field}${t.operator}${escapeValue(t.value)}`).join(','),
  };
}

/** Parses and binds a `fieldSelector` for one resource. Throws StatusError 400 as the apiserver. */
export function parseFieldSelector(text: string, group: string, resource: string, namespaced = false): FieldSelector {
  return bindFieldSelector(parseFieldTerms(text), group, resource, namespaced);
}
