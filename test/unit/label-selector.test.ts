// Label selectors in memory: selector strings → canonical form or the apiserver's error text (the texts
// were checked against the real v1.20.2 apiserver by test/e2e/query-validation.test.ts), matching tables,
// and metav1.LabelSelector objects.
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { labelSelectorFromObject, parseLabelSelector, parseLabelSelectorObject, type LabelSelectorObject } from '../../src/query/label-selector.ts';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '(no error)';
}

const test = suite('label selectors (labels.Parse of k8s 1.20.2)');

const KEY_RULE = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_RULE = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

test('valid selectors → canonical string (sorted by key, values sorted, in () = in (""))', () => {
  const cases: [string, string][] = [
    ['', ''],
    [' \t\r\n', ''],
    ['a', 'a'],
    ['!a', '!a'],
    ['a=b', 'a=b'],
    ['a==b', 'a==b'],
    ['a!=b', 'a!=b'],
    [' a = b , c ', 'a=b,c'],
    ['a=', 'a='],
    ['a in ()', 'a in ()'],
    ['a in (,)', 'a in ()'],
    ['x in (b,,c)', 'x in (,b,c)'],
    ['x in (c,b,c)', 'x in (b,c)'],
    ['a notin(b)', 'a notin (b)'],
    ['in in (in)', 'in in (in)'],
    ['notin notin (notin)', 'notin notin (notin)'],
    ['a=in', 'a=in'],
    ['a>1', 'a>1'],
    ['b<2,!c,a notin (z,y)', 'a notin (y,z),b<2,!c'],
    ['example.com/team=a', 'example.com/team=a'],
    ['\0a=b', ''],
    ['a=b\0', 'a=b'],
  ];
  for (const [input, expected] of cases) assert.is(parseLabelSelector(input).toString(), expected, JSON.stringify(input));
});

test('invalid selectors → the apiserver message', () => {
  const cases: [string, string][] = [
    [',', "found ',', expected: !, identifier, or 'end of string'"],
    ['a,', "found '', expected: identifier after ','"],
    ['a,,b', "found ',', expected: identifier after ','"],
    ['a b', "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"],
    ['a=b=c', "found '=', expected: ',' or 'end of string'"],
    ['!a=b', "found '=', expected: ',' or 'end of string'"],
    ['a=b\0c', "found 'c', expected: ',' or 'end of string'"],
    ['!!a', "unable to parse requirement: found '!', expected: identifier"],
    ['a=!b', "unable to parse requirement: found '!', expected: identifier"],
    ['a in', "unable to parse requirement: found '' expected: '('"],
    ['a in b', "unable to parse requirement: found 'b' expected: '('"],
    ['a in (b', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['a in (b c)', "unable to parse requirement: found 'c', expected: ',' or ')'"],
    ['a in ((b))', "unable to parse requirement: found '(', expected: ',', ')' or identifier"],
    ['a in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['a in (,=)', "unable to parse requirement: found '=', expected: ',', or identifier"],
    ['a>b', "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer"],
    ['a>9223372036854775808', "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer"],
    ['a>-1', `unable to parse requirement: invalid label value: "-1": at key: "a": ${VALUE_RULE}`],
    ['a=é', `unable to parse requirement: invalid label value: "é": at key: "a": ${VALUE_RULE}`],
    ['a=\u200b', `unable to parse requirement: invalid label value: "\\u200b": at key: "a": ${VALUE_RULE}`],
    ['a=\v', `unable to parse requirement: invalid label value: "\\v": at key: "a": ${VALUE_RULE}`],
    [`a=${'v'.repeat(64)}`, `unable to parse requirement: invalid label value: "${'v'.repeat(64)}": at key: "a": must be no more than 63 characters`],
    ['/a', 'unable to parse requirement: invalid label key "/a": prefix part must be non-empty'],
    ['a/', `unable to parse requirement: invalid label key "a/": name part must be non-empty; name part ${KEY_RULE}`],
    ['a/b/c', `unable to parse requirement: invalid label key "a/b/c": a qualified name ${KEY_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`],
    [`${'k'.repeat(64)}`, `unable to parse requirement: invalid label key "${'k'.repeat(64)}": name part must be no more than 63 characters`],
    [`${'p'.repeat(254)}/a`, `unable to parse requirement: invalid label key "${'p'.repeat(254)}/a": prefix part must be no more than 253 characters`],
    ['-a', `unable to parse requirement: invalid label key "-a": name part ${KEY_RULE}`],
  ];
  for (const [input, expected] of cases) assert.is(errorOf(() => parseLabelSelector(input)), expected, JSON.stringify(input));
});

test('requirements, empty, requiresExactMatch', () => {
  const s = parseLabelSelector('z notin (b,a),a=1,m');
  assert.equal(s.requirements, [
    { key: 'a', operator: '=', values: ['1'] },
    { key: 'm', operator: 'exists', values: [] },
    { key: 'z', operator: 'notin', values: ['a', 'b'] },
  ]);
  assert.is(s.empty, false);
  assert.is(parseLabelSelector('').empty, true);
  assert.is(s.requiresExactMatch('a'), '1');
  assert.is(s.requiresExactMatch('m'), undefined);
  assert.is(parseLabelSelector('a in (x)').requiresExactMatch('a'), 'x');
  assert.is(parseLabelSelector('a in (x,y)').requiresExactMatch('a'), undefined);
});

test('matching', () => {
  const web = { tier: 'web', num: '5', blank: '' };
  const cases: [string, Record<string, string> | undefined, boolean][] = [
    ['', undefined, true],
    ['tier=web', web, true],
    ['tier==web', web, true],
    ['tier=db', web, false],
    ['tier!=db', web, true],
    ['tier!=db', {}, true],
    ['tier!=db', undefined, true],
    ['tier in (db,web)', web, true],
    ['tier notin (web)', web, false],
    ['tier notin (web)', {}, true],
    ['tier', web, true],
    ['!tier', web, false],
    ['!tier', undefined, true],
    ['blank=', web, true],
    ['blank in ()', web, true],
    ['missing=', web, false],
    ['missing in ()', web, false],
    ['num>4', web, true],
    ['num>5', web, false],
    ['num<6', web, true],
    ['num<6', { num: '05' }, true],
    ['num<6', { num: 'x' }, false],
    ['num<6', {}, false],
    ['tier=web,num>9', web, false],
    ['toString', {}, false],
  ];
  for (const [selector, labels, expected] of cases) assert.is(parseLabelSelector(selector).matches(labels), expected, `${selector} on ${JSON.stringify(labels)}`);
});

test('metav1.LabelSelector objects (LabelSelectorAsSelector): absent → nothing, {} → everything, invalid → nothing', () => {
  const labels = { app: 'web', env: 'prod' };
  const cases: [LabelSelectorObject | undefined, boolean, string][] = [
    [undefined, false, ''],
    [{}, true, ''],
    [{ matchLabels: {}, matchExpressions: [] }, true, ''],
    [{ matchLabels: { app: 'web' } }, true, 'app=web'],
    [{ matchLabels: { app: 'db' } }, false, 'app=db'],
    [{ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'dev'] }] }, true, 'env in (dev,prod)'],
    [{ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, false, 'env notin (prod)'],
    [{ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, true, 'env'],
    [{ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }], matchLabels: { app: 'web' } }, true, 'app=web,!team'],
  ];
  for (const [object, matches, text] of cases) {
    const s = labelSelectorFromObject(object);
    assert.is(s.matches(labels), matches, JSON.stringify(object));
    assert.is(s.toString(), text, JSON.stringify(object));
  }
  assert.is(labelSelectorFromObject(undefined).empty, false);
  const invalid: [LabelSelectorObject, string][] = [
    [{ matchExpressions: [{ key: 'env', operator: 'in', values: ['prod'] }] }, '"in" is not a valid pod selector operator'],
    [{ matchExpressions: [{ key: 'env', operator: 'In', values: [] }] }, "for 'in', 'notin' operators, values set can't be empty"],
    [{ matchExpressions: [{ key: 'env', operator: 'Exists', values: ['x'] }] }, 'values set must be empty for exists and does not exist'],
    [{ matchLabels: { app: 'no way' } }, `invalid label value: "no way": at key: "app": ${VALUE_RULE}`],
    [{ matchLabels: { 'bad key': 'x' } }, `invalid label key "bad key": name part ${KEY_RULE}`],
  ];
  for (const [object, message] of invalid) {
    assert.is(errorOf(() => parseLabelSelectorObject(object)), message, JSON.stringify(object));
    assert.is(labelSelectorFromObject(object).matches(labels), false, JSON.stringify(object));
    assert.is(labelSelectorFromObject(object).matches({ env: 'x', app: 'no way', 'bad key': 'x' }), false);
  }
});

test.run();
