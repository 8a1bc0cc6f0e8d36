// The query string of a LIST or WATCH request → typed ListOptions, decoded and validated as kube-apiserver
// v1.20.2's ListResource handler does, in its order, with its codes and messages:
//   1. decode (metav1 url.Values conversion, then labels.Parse / fields.ParseSelector): 400 BadRequest with
//      the bare Go error (`strconv.ParseInt: parsing "abc": invalid syntax`, `unable to parse requirement: …`);
//      only the first value of a repeated parameter counts; a bool is false only for `0` or `false` (any case);
//   2. ValidateListOptions: 422 Invalid, `ListOptions.meta.k8s.io "" is invalid: …` with details.causes;
//   3. field-label conversion for the kind: 400 (field-selector.ts);
//   4. for Table output only (the apiserver checks it when it writes the answer): `includeObject`, 400.
// The storage layer's own check of `resourceVersion` (500, no reason) is parseResourceVersion, for the
// cache to call when it reads.
//
// sendInitialEvents: 1.20 ignores it. Here, when the parameter is present, validation is a current
// apiserver's with the WatchList feature on (watch: requires resourceVersionMatch=NotOlderThan, which is
// then allowed; list: "sendInitialEvents is forbidden for list"); when absent, it is exactly 1.20's, where
// any resourceVersionMatch on a watch is forbidden. Legacy `/watch/` paths are the caller's business.
import { badRequest, StatusError, type StatusDetails } from '../basics/status.ts';
import { bindFieldSelector, parseFieldTerms, type FieldSelector } from './field-selector.ts';
import { goQuote, parseInt64, parseUint64 } from './go-strconv.ts';
import { parseLabelSelector, type LabelSelector } from './label-selector.ts';

export type ResourceVersionMatch = '' | 'Exact' | 'NotOlderThan';
export type IncludeObjectPolicy = '' | 'Metadata' | 'Object' | 'None';

export interface ListOptions {
  readonly labelSelector: LabelSelector;
  readonly fieldSelector: FieldSelector;
  readonly watch: boolean;
  readonly allowWatchBookmarks: boolean;
  /** as sent; "" = most recent, "0" = any */
  readonly resourceVersion: string;
  readonly resourceVersionMatch: ResourceVersionMatch;
  /** int64 on the wire; past 2^53 precision is lost, which no timeout or page size notices */
  readonly timeoutSeconds: number | undefined;
  /** 0 or negative: no limit */
  readonly limit: number;
  readonly continue: string;
  /** undefined when the parameter is absent */
  readonly sendInitialEvents: boolean | undefined;
  /** Table's includeObject; validated only when the request asks for a Table */
  readonly includeObject: IncludeObjectPolicy;
}

export interface ListRequestShape {
  /** the response is a Table (Accept `as=Table`): includeObject is validated */
  table?: boolean;
  /** the resource is namespaced (field selectors then know metadata.namespace) */
  namespaced?: boolean;
}

// ── the 422 Invalid Status (apierrors.NewInvalid over a field.ErrorList) ──

interface FieldError {
  type: 'FieldValueForbidden' | 'FieldValueNotSupported' | 'FieldValueInvalid';
  field: string;
  /** field.Error.ErrorBody(): `Forbidden: …`, `Unsupported value: "x": supported values: …` */
  body: string;
}

const forbidden = (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, body: `Forbidden: ${detail}` });
const notSupported = (field: string, value: string, supported: readonly string[]): FieldError => ({
  type: 'FieldValueNotSupported',
  field,
  body: `Unsupported value: ${goQuote(value)}: supported values: ${supported.map(goQuote).join(', ')}`,
});

function invalidListOptions(errs: readonly FieldError[]): StatusError {
  const messages = [...new Set(errs.map((e) => `${e.field}: ${e.body}`))];
  const aggregate = messages.length === 1 ? (messages[0] ?? '') : `[${messages.join(', ')}]`;
  const details: StatusDetails = { group: 'meta.k8s.io', kind: 'ListOptions', causes: errs.map((e) => ({ reason: e.type, message: e.body, field: e.field })) };
  return new StatusError(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: ${aggregate}`, details);
}

/** ValidateListOptions of 1.20 (no sendInitialEvents), or of a current apiserver with WatchList on. */
function validate(watch: boolean, rv: string, match: string, cont: string, sendInitialEvents: boolean | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const field = 'resourceVersionMatch';
  if (watch && sendInitialEvents !== undefined) {
    if (match !== 'NotOlderThan') errs.push(forbidden(field, 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'));
    if (match !== '' && match !== 'NotOlderThan') errs.push(notSupported(field, match, ['NotOlderThan']));
    if (match !== '' && cont !== '') errs.push(forbidden(field, 'resourceVersionMatch is forbidden when continue is provided'));
    return errs;
  }
  if (match !== '') {
    if (watch) errs.push(forbidden(field, 'resourceVersionMatch is forbidden for watch'));
    if (rv === '') errs.push(forbidden(field, 'resourceVersionMatch is forbidden unless resourceVersion is provided'));
    if (cont !== '') errs.push(forbidden(field, 'resourceVersionMatch is forbidden when continue is provided'));
    if (match !== 'Exact' && match !== 'NotOlderThan') errs.push(notSupported(field, match, ['Exact', 'NotOlderThan', '']));
    if (match === 'Exact' && rv === '0') errs.push(forbidden(field, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'));
  }
  if (sendInitialEvents !== undefined) errs.push(forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list'));
  return errs;
}

// ── decoding ──

/** runtime.Convert_Slice_string_To_bool: false only for "0" and "false" in any case (Go's EqualFold, so `ſ` is an `s`). */
const goBool = (value: string): boolean => !(value === '0' || /^[fF][aA][lL][sSſ][eE]$/u.test(value));

function int64Param(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  try {
    return Number(parseInt64(value));
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

const INCLUDE_OBJECT: readonly string[] = ['', 'Metadata', 'Object', 'None'];

/** Parses and validates a LIST/WATCH query for one resource. Throws StatusError as the apiserver answers. */
export function parseListOptions(query: URLSearchParams, group: string, resource: string, shape: ListRequestShape = {}): ListOptions {
  const param = (name: string): string => query.get(name) ?? '';
  const watch = query.has('watch') && goBool(param('watch'));
  const resourceVersion = param('resourceVersion');
  const match = param('resourceVersionMatch');
  const timeoutSeconds = int64Param(query, 'timeoutSeconds');
  const limit = int64Param(query, 'limit') ?? 0;
  const cont = param('continue');
  const sendInitialEvents = query.has('sendInitialEvents') ? goBool(param('sendInitialEvents')) : undefined;
  let labelSelector: LabelSelector;
  try {
    labelSelector = parseLabelSelector(param('labelSelector'));
  } catch (err) {
    throw badRequest((err as Error).message);
  }
  const fieldTerms = parseFieldTerms(param('fieldSelector'));

  const errs = validate(watch, resourceVersion, match, cont, sendInitialEvents);
  if (errs.length > 0) throw invalidListOptions(errs);

  const fieldSelector = bindFieldSelector(fieldTerms, group, resource, shape.namespaced === true);

  const includeObject = param('includeObject');
  if (shape.table === true && !INCLUDE_OBJECT.includes(includeObject)) {
    throw badRequest(`Unable to convert to Table as requested: includeObject: Invalid value: ${goQuote(includeObject)}: must be 'Metadata', 'Object', 'None', or empty`);
  }
  return {
    labelSelector,
    fieldSelector,
    watch,
    allowWatchBookmarks: query.has('allowWatchBookmarks') && goBool(param('allowWatchBookmarks')),
    resourceVersion,
    resourceVersionMatch: match as ResourceVersionMatch,
    timeoutSeconds,
    limit,
    continue: cont,
    sendInitialEvents,
    includeObject: INCLUDE_OBJECT.includes(includeObject) ? (includeObject as IncludeObjectPolicy) : '',
  };
}

/**
 * The storage layer's APIObjectVersioner.ParseResourceVersion: "" and "0" are 0; anything but a uint64 is
 * the apiserver's 500 (no reason) `resourceVersion: Invalid value: "x": strconv.ParseUint: …`.
 */
export function parseResourceVersion(resourceVersion: string): bigint {
  if (resourceVersion === '' || resourceVersion === '0') return 0n;
  try {
    return parseUint64(resourceVersion);
  } catch (err) {
    throw new StatusError(500, '', `resourceVersion: Invalid value: ${goQuote(resourceVersion)}: ${(err as Error).message}`);
  }
}

/**
 * Go's url.ParseQuery, which the apiserver uses (errors ignored): a pair containing `;` or a malformed
 * `%` escape is dropped (so `limit=abc;` is no limit at all), `+` is a space. URLSearchParams keeps both.
 */
export function parseRawQuery(raw: string): URLSearchParams {
  const out = new URLSearchParams();
  for (const pair of raw.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    if (key !== undefined && value !== undefined) out.append(key, value);
  }
  return out;
}

function queryUnescape(s: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return undefined;
  const chunks = s.replace(/\+/g, ' ').split(/((?:%[0-9A-Fa-f]{2})+)/);
  return Buffer.concat(chunks.map((chunk, i) => (i % 2 === 1 ? Buffer.from(chunk.replace(/%/g, ''), 'hex') : Buffer.from(chunk, 'utf8')))).toString('utf8');
}
