import { test } from 'node:test';
import assert from 'node:assert/strict';
import { templatePath, createRouteTable, isDataSegment, MAX_ROUTE_SEGMENTS, OTHER_ROUTE } from './routes.ts';
import { MAX_ROUTE_LENGTH } from './report.ts';

const cases: [string, string][] = [
  ['', '/'],
  ['/', '/'],
  ['*', '*'],
  ['/healthz', '/healthz'],
  ['/users/123', '/users/{id}'],
  ['/users/123/orders/9f8e7d6c5b4a3f2e', '/users/{id}/orders/{id}'],
  ['/api/v1/products/550e8400-e29b-41d4-a716-446655440000', '/api/v1/products/{id}'],
  ['/api/v1/products/550E8400-E29B-41D4-A716-446655440000/reviews', '/api/v1/products/{id}/reviews'],
  ['/repos/skiff/commit/4b825dc642cb6eb9a060e54bf8d69288fbee4904', '/repos/skiff/commit/{id}'],
  ['/objects/507f1f77bcf86cd799439011', '/objects/{id}'], // Mongo ObjectId (24 hex)
  ['/sessions/AbCdEf0123456789xyzQ', '/sessions/{id}'], // long token with digits
  ['/tokens/dGhpc0lzQVRlc3RUb2tlbg', '/tokens/{id}'], // base64url, no digits
  ['/tokens/aGVsbG8gd29ybGQ=', '/tokens/{id}'], // padded base64
  ['/users/john.doe@example.com/profile', '/users/{id}/profile'],
  ['/search/caf%C3%A9', '/search/{id}'],
  ['/files/my%20document.pdf', '/files/{id}'],
  ['/reports/2024-01-15', '/reports/{id}'],
  ['/orders/ORD-123456', '/orders/{id}'],
  ['/prices/-12.50', '/prices/{id}'],
  ['/users/123/', '/users/{id}/'],
  ['/api/v2/oauth2/token', '/api/v2/oauth2/token'],
  ['/getUserProfileByName', '/getUserProfileByName'], // camelCase words stay
  ['/user-profile-settings/notifications', '/user-profile-settings/notifications'],
  ['/static/app.min.js', '/static/app.min.js'],
  ['/users?id=5', '/users'], // a query that slipped through is dropped
  ['/a#frag', '/a'],
  ['example.com:443', '{authority}'], // CONNECT target
  ['[::1]:8080', '{authority}'],
  ['http://example.com/users/42', '/users/{id}'], // absolute-form
  ['/<script>alert(1)</script>', '/<script>alert(1)</script>'],
  ['/name/ünïcode', '/name/{id}'],
  ['/a b/c', '/{id}/c'],
  ['/x/\u0000\u001b[31m', '/x/{id}'],
];

for (const [path, want] of cases) {
  void test(`templatePath(${JSON.stringify(path)}) → ${want}`, () => {
    assert.equal(templatePath(path), want);
  });
}

void test('deep paths are capped at 12 segments', () => {
  const path = '/' + Array.from({ length: 30 }, (_, i) => `s${String.fromCharCode(97 + (i % 26))}`).join('/');
  const t = templatePath(path);
  assert.equal(t.split('/').length - 1, MAX_ROUTE_SEGMENTS + 1);
  assert.ok(t.endsWith('/{…}'));
});

void test('long paths are capped at 512 characters', () => {
  const seg = 'abcdefghij'.repeat(6); // 60 letters: below the segment cap
  const t = templatePath('/' + Array.from({ length: 11 }, () => seg).join('/'));
  assert.ok(t.length <= MAX_ROUTE_LENGTH, `${t.length}`);
  assert.ok(t.endsWith('/{…}'));
  assert.ok(templatePath('/' + 'x'.repeat(100_000)).length <= MAX_ROUTE_LENGTH);
});

void test('no digit run, control character or percent escape survives into a template', () => {
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.%@~ \u0001é/';
  for (let i = 0; i < 5000; i++) {
    let p = '/';
    const len = Math.floor(rnd() * 80);
    for (let k = 0; k < len; k++) p += alphabet.charAt(Math.floor(rnd() * alphabet.length));
    const t = templatePath(p);
    assert.ok(t.length <= MAX_ROUTE_LENGTH);
    assert.doesNotMatch(t, /\d{4}|[\u0000-\u001f\u007f-\u009f]|%[0-9a-f]{2}|@|[^\x20-\x7e…]/i, `${JSON.stringify(p)} → ${t}`);
  }
});

void test('isDataSegment keeps API names', () => {
  for (const s of ['v1', 'v2beta1', 'api', 'users', 'oauth2', 'index.html', 'well-known', '_internal', 'GraphQL', 'robots.txt']) {
    assert.equal(isDataSegment(s), false, s);
  }
});

void test('route table admits templates up to the budget, then folds new ones into other', () => {
  const table = createRouteTable(3);
  assert.equal(table.route('/a/1'), '/a/{id}');
  assert.equal(table.route('/b'), '/b');
  assert.equal(table.route('/a/2'), '/a/{id}'); // same template: no new budget used
  assert.equal(table.route('/c'), '/c');
  assert.equal(table.size, 3);
  assert.equal(table.route('/d'), OTHER_ROUTE);
  assert.equal(table.route('/e/5'), OTHER_ROUTE);
  assert.equal(table.route('/b'), '/b'); // known routes keep their name
  assert.equal(table.route('/c/'), OTHER_ROUTE);
  assert.equal(table.size, 3);
});

void test('route ids are stable and map back to names', () => {
  const table = createRouteTable(2);
  const a = table.routeId('/a/1');
  const b = table.routeId('/b');
  const o = table.routeId('/c');
  assert.equal(o, 0);
  assert.notEqual(a, b);
  assert.equal(table.routeId('/a/999'), a);
  assert.equal(table.routeName(a), '/a/{id}');
  assert.equal(table.routeName(b), '/b');
  assert.equal(table.routeName(o), OTHER_ROUTE);
});

void test('the path cache is bounded and results survive its clearing', () => {
  const table = createRouteTable(10, { cacheSize: 100 });
  for (let i = 0; i < 1000; i++) assert.equal(table.route(`/users/${i}`), '/users/{id}');
  assert.equal(table.size, 1);
  assert.equal(table.route('/users/5'), '/users/{id}');
});

void test('a budget of 0 routes everything to other', () => {
  const table = createRouteTable(0);
  assert.equal(table.route('/x'), OTHER_ROUTE);
  assert.equal(table.size, 0);
});
