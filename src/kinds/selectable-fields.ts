// The field sets a field selector is matched against (the apiserver registry's GetAttrs) and the field
// labels each kind's conversion accepts: the pure per-kind half of field selectors, declared by the kind
// registry; parsing, validation and matching are query/field-selector.ts's.

export type FieldSet = Record<string, string>;

export interface SelectableFields {
  /** Field labels the kind's conversion accepts; undefined = runtime.DefaultMetaV1FieldSelectorConversion. */
  readonly labels?: readonly string[];
  /** The field set of one object; a field the kind does not have reads as "". */
  readonly of: (object: Record<string, unknown>) => FieldSet;
}

/** A string field of a top-level section (`metadata.name`, `status.phase`), "" when absent. */
export function textAt(object: Record<string, unknown>, section: string, field: string): string {
  const holder = object[section];
  if (typeof holder !== 'object' || holder === null) return '';
  const value = (holder as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : '';
}

export const nameOf = (object: Record<string, unknown>): string => textAt(object, 'metadata', 'name');

const metaFields = (namespaced: boolean) => (object: Record<string, unknown>): FieldSet =>
  namespaced ? { 'metadata.name': nameOf(object), 'metadata.namespace': textAt(object, 'metadata', 'namespace') } : { 'metadata.name': nameOf(object) };

/** A built-in kind without its own conversion: metadata.name (and metadata.namespace when namespaced). */
export function defaultBuiltInFields(namespaced: boolean): SelectableFields {
  return { of: metaFields(namespaced) };
}

/** apiextensions-apiserver's crConverter: metadata.name, and metadata.namespace when namespaced. */
export function customResourceFields(namespaced: boolean): SelectableFields {
  return { labels: namespaced ? ['metadata.name', 'metadata.namespace'] : ['metadata.name'], of: metaFields(namespaced) };
}
