import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDocument } from 'yaml';
import { diff, escapeToken, jsonEqual, parsePointer, toPointer, unescapeToken } from './patch.ts';
import { applyToDocument } from './yaml-apply.ts';

/** A deterministic pseudo-random generator (mulberry32), so failures can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keys = ['a', 'b', 'name', 'x/y', 'm~n', 'ports', 'skiff.io/injected'];

function randomValue(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth <= 0 || pick < 0.35) {
    const s = r();
    return s < 0.3 ? Math.floor(r() * 100) : s < 0.6 ? `v${Math.floor(r() * 5)}` : s < 0.8 ? r() < 0.5 : null;
  }
  if (pick < 0.65) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (const k of keys) if (r() < 0.4) o[k] = randomValue(r, depth - 1);
  return o;
}

/** A variant of `v`: some members changed, removed, added; array items inserted or dropped. */
function mutate(v: unknown, r: () => number, depth: number): unknown {
  if (Array.isArray(v)) {
    const out = (v as unknown[]).map((x) => (r() < 0.3 ? mutate(x, r, depth - 1) : structuredClone(x)));
    if (r() < 0.3) out.splice(Math.floor(r() * (out.length + 1)), 0, randomValue(r, 1));
    if (r() < 0.2 && out.length > 0) out.splice(Math.floor(r() * out.length), 1);
    return out;
  }
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = r();
      if (p < 0.15) continue;
      out[k] = p < 0.45 ? mutate(x, r, depth - 1) : structuredClone(x);
    }
    // New keys only: JSON Patch cannot move a member, so a key removed and added again would
    // keep its old place (the injector never does that).
    for (const k of keys) if (!(k in v) && r() < 0.15) out[k] = randomValue(r, 1);
    return out;
  }
  return r() < 0.3 ? randomValue(r, depth) : v;
}

void describe('JSON Pointer (RFC 6901)', () => {
  void test('~ and / are escaped as ~0 and ~1, and decoded in the right order', () => {
    assert.equal(escapeToken('skiff.io/injected'), 'skiff.io~1injected');
    assert.equal(escapeToken('a~b/c'), 'a~0b~1c');
    assert.equal(unescapeToken('~01'), '~1', '~01 is "~1", not "/"');
    assert.equal(toPointer(['metadata', 'annotations', 'skiff.io/restore']), '/metadata/annotations/skiff.io~1restore');
    assert.deepEqual(parsePointer('/a~1b/0/~0'), ['a/b', '0', '~']);
    assert.deepEqual(parsePointer(''), []);
    assert.throws(() => parsePointer('a/b'), /must start with/);
  });
});

void describe('diff (RFC 6902) and its replay on YAML documents', () => {
  void test('inserting one container is one add; editing one keeps the rest', () => {
    const before = { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 80 }] }] };
    const after = { containers: [{ name: 'app', ports: [{ name: 'skiff-app', containerPort: 80 }] }, { name: 'skiff-proxy' }] };
    assert.deepEqual(diff(before, after), [
      { op: 'replace', path: '/containers/0/ports/0/name', value: 'skiff-app' },
      { op: 'add', path: '/containers/1', value: { name: 'skiff-proxy' } },
    ]);
    assert.deepEqual(diff({ init: [{ n: 1 }] }, { init: [{ n: 0 }, { n: 1 }] }), [{ op: 'add', path: '/init/0', value: { n: 0 } }]);
    assert.deepEqual(diff({ a: 1 }, { a: 1 }), []);
  });

  void test('replaying diff(a, b) on the YAML of a gives b, keys in b’s order (500 random cases)', () => {
    const r = rng(42);
    for (let i = 0; i < 500; i += 1) {
      const a = { root: randomValue(r, 4) };
      const b = { root: mutate(a.root, r, 4) };
      const doc = parseDocument(JSON.stringify(a, null, 1));
      applyToDocument(doc, diff(a, b), b);
      const got = doc.toJS() as unknown;
      assert.ok(jsonEqual(got, b), `case ${i}: ${JSON.stringify(a)} → ${JSON.stringify(b)} gave ${JSON.stringify(got)}`);
      assert.equal(JSON.stringify(got), JSON.stringify(b), `case ${i}: key order`);
    }
  });

  void test('comments and layout outside the changed nodes are kept', () => {
    const text = '# head\nspec:\n  a: 1 # one\n  list: [1, 2]   # flow\n  b: "quoted"\n';
    const doc = parseDocument(text);
    const before = doc.toJS() as unknown;
    const after = { spec: { a: 1, list: [1, 2], b: 'quoted', c: { d: true } } };
    applyToDocument(doc, diff(before, after), after);
    assert.equal(doc.toString(), '# head\nspec:\n  a: 1 # one\n  list: [ 1, 2 ] # flow\n  b: "quoted"\n  c:\n    d: true\n');
  });

  void test('a change under a YAML alias re-renders the document instead of editing both places', () => {
    const doc = parseDocument('base: &b {x: 1}\nuse: *b\n');
    const before = doc.toJS() as unknown;
    const after = { base: { x: 1 }, use: { x: 2 } };
    applyToDocument(doc, diff(before, after), after);
    assert.deepEqual(doc.toJS(), after);
  });
});
