// `skiff dashboard` as a command: its help, its refusals of bad options (exit 2 through main),
// and a real start and stop driven by the shutdown signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIO } from '../cli/io.ts';
import { main } from '../cli/main.ts';

function io(argv: string[], env: Record<string, string> = {}, shutdown = new AbortController().signal): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { argv, env, stdin: new PassThrough(), stdout, stderr, cwd: tmpdir(), shutdown, out: () => out, err: () => err };
}

void test('--help lists the options on stdout', async () => {
  const t = io(['dashboard', '--help']);
  assert.equal(await main(t), 0);
  for (const flag of ['--listen', '--data', '--retention', '--retention-1m', '--retention-10s', '--fsync', '--max-report-bytes']) assert.ok(t.out().includes(flag), flag);
  assert.ok(!t.out().includes('--token'), 'the token is env only');
});

void test('bad options are usage errors (exit 2) with a reason', async () => {
  for (const [args, reason] of [
    [['--retention-10s', '10m'], /at least 1h/],
    [['--retention-1m', '1d'], /at least 3d/],
    [['--retention', '2d', '--retention-1m', '3d'], /at least --retention-1m/],
    [['--listen', 'nope'], /HOST:PORT/],
    [['--log-level', 'loud'], /log-level/],
    [['--token', 'x'], /token/],
  ] as const) {
    const t = io(['dashboard', ...args]);
    assert.equal(await main(t), 2, args.join(' '));
    assert.match(t.err(), reason);
  }
});

void test('runs until the shutdown signal, then stops with 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cmd-'));
  try {
    const stop = new AbortController();
    const t = io(['dashboard', '--listen', '127.0.0.1:0', '--data', dir, '--log-level', 'warn'], { SKIFF_TOKEN: 'command-test-token-123' }, stop.signal);
    const running = main(t);
    while (!/skiff dashboard: (http:\/\/\S+?)\//.test(t.err())) await new Promise((r) => setTimeout(r, 20));
    const url = /skiff dashboard: (http:\/\/\S+?)\//.exec(t.err())![1]!;
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.ok(!t.err().includes('command-test-token-123'), 'a token from the environment is never printed');
    stop.abort('SIGTERM');
    assert.equal(await running, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
