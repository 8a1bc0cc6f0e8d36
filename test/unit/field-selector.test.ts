// Field selectors in memory: syntax → terms or the apiserver's 400 (texts checked against the real
// v1.20.2 apiserver by test/e2e/query-validation.test.ts), the fields each kind accepts, and matching
// against objects through each kind's field set.
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { StatusError } from '../../src/basics/status.ts';
import { parseFieldSelector, parseFieldTerms, selectableFields } from '../../src/query/field-selector.ts';

const test = suite('field selectors (fields.ParseSelector + field-label conversion of k8s 1.20.2)');

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.instance(err, StatusError);
    assert.is((err as StatusError).code, 400);
    assert.is((err as StatusError).status.reason, 'BadRequest');
    return (err as StatusError).message;
  }
  return '(no error)';
}

test('syntax: terms sorted, == is =, escapes undone, empty terms and `=` alone dropped', () => {
  const cases: [string, string][] = [
    ['', ''],
    [',', ''],
    ['=', ''],
    ['==', ''],
    ['!=', ''],
    ['metadata.name=x', 'metadata.name=x'],
    ['metadata.name==x', 'metadata.name=x'],
    ['metadata.name!=x', 'metadata.name!=x'],
    ['metadata.name=', 'metadata.name='],
    ['status.phase=Active,metadata.name=x', 'metadata.name=x & status.phase=Active'],
    ['metadata.name=a\\,b', 'metadata.name=a,b'],
    ['metadata.name=a\\=b\\\\', 'metadata.name=a=b\\'],
    [' metadata.name = x', ' metadata.name = x'],
    ['=x', '=x'],
  ];
  // terms shown unescaped, joined with ' & '
  for (const [input, expected] of cases) assert.is(parseFieldTerms(input).map((t) => `${t.field}${t.operator}${t.value}`).join(' & '), expected, JSON.stringify(input));
  assert.equal(parseFieldTerms('metadata.name=a\\,b\\=c\\\\'), [{ field: 'metadata.name', operator: '=', value: 'a,b=c\\' }]);
});

test('syntax errors', () => {
  const cases: [string, string][] = [
    ['x', "invalid selector: 'x'; can't understand 'x'"],
    ['metadata.name=x,y', "invalid selector: 'metadata.name=x,y'; can't understand 'y'"],
    ['metadata.name=a=b', 'invalid field selector: unescaped character in value: 61'],
    ['metadata.name!==x', 'invalid field selector: unescaped character in value: 61'],
    ['metadata.name=a\\b', 'invalid field selector: invalid escape sequence: \\b'],
    ['metadata.name=a\\é', 'invalid field selector: invalid escape sequence: \\é'],
    ['metadata.name=a\\', 'invalid field selector: invalid escape sequence: \\'],
    ['b=1,a=2=3', 'invalid field selector: unescaped character in value: 61'],
  ];
  for (const [input, expected] of cases) assert.is(errorOf(() => parseFieldTerms(input)), expected, JSON.stringify(input));
});

test('field labels each kind accepts (first unsupported one in sorted order)', () => {
  const DEFAULT = (x: string) => `"${x}" is not a known field selector: only "metadata.name", "metadata.namespace"`;
  const cases: [string, string, string, string][] = [
    ['', 'namespaces', 'metadata.name=x,status.phase=Active', '(no error)'],
    ['', 'namespaces', 'name=x', 'field label not supported: name'],
    ['', 'namespaces', 'metadata.namespace=x', 'field label not supported: metadata.namespace'],
    ['', 'namespaces', 'zzz=1,aaa=2', 'field label not supported: aaa'],
    ['', 'nodes', 'metadata.name=x,spec.unschedulable=true', '(no error)'],
    ['', 'nodes', 'status.phase=x', 'field label not supported: status.phase'],
    ['', 'persistentvolumes', 'metadata.namespace=,metadata.name=x', '(no error)'],
    ['', 'persistentvolumes', 'name=x', DEFAULT('name')],
    ['storage.k8s.io', 'storageclasses', 'metadata.namespace=x', '(no error)'],
    ['storage.k8s.io', 'storageclasses', 'Metadata.Name=x', DEFAULT('Metadata.Name')],
    ['networking.k8s.io', 'ingressclasses', 'spec.controller=x', DEFAULT('spec.controller')],
    ['scheduling.k8s.io', 'priorityclasses', 'value=1', DEFAULT('value')],
    ['node.k8s.io', 'runtimeclasses', 'handler=x', DEFAULT('handler')],
    ['capsule.clastix.io', 'tenants', 'metadata.name=x', '(no error)'],
    ['capsule.clastix.io', 'tenants', 'metadata.namespace=x', 'field label not supported: metadata.namespace'],
    ['capsule.clastix.io', 'tenants', '=x', 'field label not supported: '],
  ];
  for (const [group, resource, selector, expected] of cases) assert.is(errorOf(() => parseFieldSelector(selector, group, resource)), expected, `${resource} ${selector}`);
  assert.is(errorOf(() => parseFieldSelector('metadata.namespace=x', 'capsule.clastix.io', 'proxysettings', true)), '(no error)');
  assert.throws(() => parseFieldSelector('', '', 'pods'), /not modelled/);
});

test('matching through each kind\'s field set', () => {
  const ns = (name: string, phase?: string) => ({ metadata: { name }, ...(phase ? { status: { phase } } : {}) });
  const node = (name: string, unschedulable?: boolean) => ({ metadata: { name }, spec: unschedulable === undefined ? {} : { unschedulable } });
  const cases: [string, string, string, Record<string, unknown>, boolean][] = [
    ['', 'namespaces', '', ns('a'), true],
    ['', 'namespaces', 'metadata.name=a', ns('a'), true],
    ['', 'namespaces', 'metadata.name=b', ns('a'), false],
    ['', 'namespaces', 'metadata.name!=b', ns('a'), true],
    ['', 'namespaces', 'status.phase=Active', ns('a', 'Active'), true],
    ['', 'namespaces', 'status.phase=Active', ns('a', 'Terminating'), false],
    ['', 'namespaces', 'status.phase=', ns('a'), true],
    ['', 'namespaces', 'metadata.name=a,status.phase!=Active', ns('a', 'Active'), false],
    ['', 'nodes', 'spec.unschedulable=false', node('n'), true],
    ['', 'nodes', 'spec.unschedulable=false', node('n', false), true],
    ['', 'nodes', 'spec.unschedulable=true', node('n', true), true],
    ['', 'nodes', 'spec.unschedulable!=true', node('n', true), false],
    ['storage.k8s.io', 'storageclasses', 'metadata.namespace=', ns('s'), true],
    ['storage.k8s.io', 'storageclasses', 'metadata.namespace=x', ns('s'), false],
    ['storage.k8s.io', 'storageclasses', 'metadata.namespace!=x', ns('s'), true],
    ['capsule.clastix.io', 'tenants', 'metadata.name=t', ns('t'), true],
    ['capsule.clastix.io', 'tenants', 'metadata.name=t', {}, false],
    ['capsule.clastix.io', 'tenants', 'metadata.name=', {}, true],
  ];
  for (const [group, resource, selector, object, expected] of cases) {
    assert.is(parseFieldSelector(selector, group, resource).matches(object), expected, `${resource} ${selector} on ${JSON.stringify(object)}`);
  }
  assert.equal(selectableFields('', 'namespaces', ns('a', 'Active')), { 'metadata.name': 'a', 'status.phase': 'Active', name: 'a' });
  assert.equal(selectableFields('', 'nodes', node('n')), { 'metadata.name': 'n', 'spec.unschedulable': 'false' });
});

test('exactName, empty, toString', () => {
  const s = parseFieldSelector('status.phase=Active,metadata.name==b\\,c', '', 'namespaces');
  assert.is(s.exactName, 'b,c');
  assert.is(s.empty, false);
  assert.is(s.toString(), 'metadata.name=b\\,c,status.phase=Active');
  assert.is(parseFieldSelector('metadata.name!=x', '', 'namespaces').exactName, undefined);
  assert.is(parseFieldSelector('metadata.name=a,metadata.name=b', '', 'namespaces').exactName, 'a');
  assert.is(parseFieldSelector('metadata.name=', '', 'namespaces').exactName, '');
  assert.is(parseFieldSelector('==', '', 'namespaces').empty, true);
});

test.run();
