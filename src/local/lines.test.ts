import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { createPrefixer, forEachLine, wantsColour } from './lines.ts';

function sink(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { out, text: () => text };
}

void test('lines are split across chunks, CRLF is trimmed, the tail comes at end, long lines are cut', async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  forEachLine(stream, (l) => lines.push(l), 10);
  stream.write('one\r\ntw');
  stream.write('o\nthree\nxxxxxxxxxxxxxxxxxxxxxxxxx');
  stream.end('tail');
  await new Promise((r) => stream.on('end', r));
  assert.deepEqual(lines, ['one', 'two', 'three', 'xxxxxxxxxx …', 'xxxxxxxxxx …', 'xxxxxtail']);
});

void test('prefixes are padded to the widest label; plain without colour', () => {
  const { out, text } = sink();
  const p = createPrefixer({ colour: false });
  p.write(out, 'reviews-2', 'ready');
  p.write(out, 'db-1', 'up');
  assert.equal(text(), 'reviews-2 │ ready\ndb-1      │ up\n');
});

void test('with colour, replicas and their sidecars share the service colour', () => {
  const p = createPrefixer({ colour: true });
  const c = p.colourOf('reviews-1');
  assert.equal(p.colourOf('reviews-2'), c);
  assert.equal(p.colourOf('reviews-2 proxy'), c);
  assert.notEqual(p.colourOf('ratings-1'), c);
  const { out, text } = sink();
  p.write(out, 'reviews-1', 'hi', { dim: true });
  assert.equal(text(), `\x1b[${c}mreviews-1 │\x1b[0m \x1b[2mhi\x1b[0m\n`);
});

void test('colour: NO_COLOR and FORCE_COLOR win over the terminal check', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const pipe = new PassThrough();
  assert.equal(wantsColour(tty, {}), true);
  assert.equal(wantsColour(pipe, {}), false);
  assert.equal(wantsColour(tty, { NO_COLOR: '1' }), false);
  assert.equal(wantsColour(pipe, { FORCE_COLOR: '1' }), true);
  assert.equal(wantsColour(tty, { TERM: 'dumb' }), false);
  assert.equal(wantsColour(pipe, {}, 'always'), true);
  assert.equal(wantsColour(tty, {}, 'never'), false);
});
