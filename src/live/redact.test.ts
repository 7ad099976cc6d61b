import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerRedactions, redactForm, redactHeaders, redactJson, showBody } from './redact.ts';

const fields = new Set(['password', 'token', 'ssn']);

void test('JSON: redacts named members at any depth, case-insensitively, and keeps the rest byte for byte', () => {
  const text = '{"user":"ann", "Password" : "hunter2","n":12345678901234567890,"deep":{"list":[{"token":{"a":[1,2,"x"]}},{"ssn":null}]},"ok":true}';
  const r = redactJson(text, fields, false);
  assert.deepEqual(r, {
    text: '{"user":"ann", "Password" : "[redacted]","n":12345678901234567890,"deep":{"list":[{"token":"[redacted]"},{"ssn":"[redacted]"}]},"ok":true}',
    redacted: true,
  });
  assert.deepEqual(redactJson('[1,{"a":"b"}]', fields, false), { text: '[1,{"a":"b"}]', redacted: false });
  // An escaped key is still the key it spells.
  assert.equal(redactJson('{"pass\\u0077ord":"x"}', fields, false)?.text, '{"pass\\u0077ord":"[redacted]"}');
  // A string value that merely mentions a field name is not a key.
  assert.equal(redactJson('{"note":"password","a":["token"]}', fields, false)?.text, '{"note":"password","a":["token"]}');
});

void test('JSON: invalid or incomplete texts are refused unless known to be truncated', () => {
  for (const bad of ['{"a":1,}', '{a:1}', "{'a':1}", '{"a":1} x', '[1 2]', '{"a":tru}', '{"a":"\u0001"}', '{"a":"\\q"}', '01', '{"a":1.}']) {
    assert.equal(redactJson(bad, fields, false), null, bad);
  }
  assert.equal(redactJson('{"a":1', fields, false), null);
  assert.equal(redactJson('{"a":1', fields, true)?.text, '{"a":1');
});

void test('JSON cut at the byte cap: a secret whose value is cut off is hidden to the end', () => {
  assert.equal(redactJson('{"user":"ann","password":"hunt', fields, true)?.text, '{"user":"ann","password":"[redacted]"');
  assert.equal(redactJson('{"user":"ann","password":{"old":"a","new":"b', fields, true)?.text, '{"user":"ann","password":"[redacted]"');
  assert.equal(redactJson('{"token":12', fields, true)?.text, '{"token":"[redacted]"');
  assert.equal(redactJson('{"token":tr', fields, true)?.text, '{"token":"[redacted]"');
  assert.equal(redactJson('{"token": ', fields, true)?.text, '{"token": ');
  assert.equal(redactJson('{"tok', fields, true)?.text, '{"tok');
  assert.equal(redactJson('{"a":"x\\u00', fields, true)?.text, '{"a":"x\\u00');
  // Still invalid when the prefix itself is wrong.
  assert.equal(redactJson('{"a" 1', fields, true), null);
});

void test('form bodies have their fields redacted', () => {
  assert.deepEqual(redactForm('user=ann&password=hunter2&pass%77ord=x&a', fields), { text: 'user=ann&password=[redacted]&pass%77ord=[redacted]&a', redacted: true });
});

void test('headers: the fixed sensitive ones and configured ones are redacted', () => {
  const set = headerRedactions(['X-Api-Key']);
  assert.deepEqual(redactHeaders({ authorization: 'Bearer s', Cookie: 'a=b', 'set-cookie': 'c', 'proxy-authorization': 'p', 'x-api-key': 'k', accept: '*/*' }, set), {
    authorization: '[redacted]',
    cookie: '[redacted]',
    'set-cookie': '[redacted]',
    'proxy-authorization': '[redacted]',
    'x-api-key': '[redacted]',
    accept: '*/*',
  });
});

void test('bodies: text, base64 for binary, withheld when fields cannot be searched', () => {
  const none = new Set<string>();
  assert.deepEqual(showBody(Buffer.from('hello'), 5, 100, undefined, none), { encoding: 'utf8', text: 'hello', bytes: 5, truncated: false });
  assert.deepEqual(showBody(Buffer.from('hello'), 50, 5, undefined, none), { encoding: 'utf8', text: 'hello', bytes: 5, truncated: true });
  const bin = Buffer.from([0xff, 0x00, 0xfe]);
  assert.deepEqual(showBody(bin, 3, 100, undefined, none), { encoding: 'base64', text: bin.toString('base64'), bytes: 3, truncated: false });
  assert.match(showBody(bin, 3, 100, undefined, fields).withheld ?? '', /binary/);
  assert.match(showBody(Buffer.from('x'), 1, 100, { 'content-encoding': 'gzip' }, fields).withheld ?? '', /compressed/);
  // A UTF-8 character cut by the cap is not binary.
  const euro = Buffer.from('ab€');
  assert.deepEqual(showBody(euro.subarray(0, 4), 5, 4, undefined, none), { encoding: 'utf8', text: 'ab', bytes: 4, truncated: true });
  const json = showBody(Buffer.from('{"password":"x"}'), 16, 100, { 'content-type': 'application/json' }, fields);
  assert.deepEqual(json, { encoding: 'utf8', text: '{"password":"[redacted]"}', bytes: 16, truncated: false, redacted: true });
  assert.match(showBody(Buffer.from('password=x'), 10, 100, { 'content-type': 'application/json' }, fields).withheld ?? '', /not valid JSON/);
  // Sniffed as JSON without a content type.
  assert.equal(showBody(Buffer.from(' {"token":"t"}'), 14, 100, undefined, fields).text, ' {"token":"[redacted]"}');
  assert.equal(showBody(Buffer.from('password=x&u=1'), 14, 100, { 'content-type': 'application/x-www-form-urlencoded' }, fields).text, 'password=[redacted]&u=1');
});
