import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, parseDuration, parseHostPort, envName } from './options.ts';
import type { OptionTable } from './options.ts';
import { UsageError } from '../errors.ts';

const table = {
  listen: { type: 'hostport', default: '0.0.0.0:15001', description: 'x' },
  timeout: { type: 'duration', default: '30s', description: 'x' },
  verbose: { type: 'boolean', description: 'x' },
  upstream: { type: 'list', description: 'x' },
  'max-headers': { type: 'integer', default: '100', description: 'x' },
  name: { type: 'string', description: 'x' },
} as const satisfies OptionTable;

test('flags win over env, env over defaults', () => {
  const env = { SKIFF_TIMEOUT: '5s', SKIFF_MAX_HEADERS: '7', SKIFF_LISTEN: ':9000' };
  const { values } = parseCommand(table, ['--timeout', '2m'], env);
  assert.equal(values.timeout, 120_000);
  assert.equal(values['max-headers'], 7);
  assert.deepEqual(values.listen, { host: '0.0.0.0', port: 9000 });
  assert.equal(values.name, undefined);
  assert.equal(values.verbose, false);
  assert.deepEqual(values.upstream, []);
});

test('lists take repeats and commas; booleans take --x=false', () => {
  const { values } = parseCommand(table, ['--upstream', 'a=1', '--upstream', 'b=2,c=3', '--verbose=true'], {});
  assert.deepEqual(values.upstream, ['a=1', 'b=2', 'c=3']);
  assert.equal(values.verbose, true);
  assert.equal(parseCommand(table, ['--verbose=false'], { SKIFF_VERBOSE: 'true' }).values.verbose, false);
});

test('bad values and unknown flags are usage errors naming their source', () => {
  assert.throws(() => parseCommand(table, ['--nope'], {}), UsageError);
  assert.throws(() => parseCommand(table, ['--max-headers', '1.5'], {}), /--max-headers: "1.5" is not an integer/);
  assert.throws(() => parseCommand(table, [], { SKIFF_TIMEOUT: 'later' }), /SKIFF_TIMEOUT \(--timeout\): "later" is not a duration/);
});

test('durations, host:port, env names', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('7d'), 7 * 86_400_000);
  assert.equal(parseDuration('3'), 3000);
  assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort('8080', '127.0.0.1'), { host: '127.0.0.1', port: 8080 });
  assert.throws(() => parseHostPort('host:99999'), /out of range/);
  assert.equal(envName('drain-timeout'), 'SKIFF_DRAIN_TIMEOUT');
});
