/**
 * `skiff run` end to end, as a real process: the app behind its sidecar gets PORT and the proxy
 * settings, its exit code is ours, SIGINT/SIGTERM reach it, and a bad command or a taken port
 * is a one-line error (exit 1) before anything starts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { tryBind } from '../../src/local/ports.ts';
import { FIXTURES, NODE, eventually, get, skiff, type Proc } from './helpers.ts';

const APP = join(FIXTURES, 'signals.ts');
const procs: Proc[] = [];
const servers: Server[] = [];
after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function occupied(): Promise<number> {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
}

async function freePortNumber(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise((r) => s.close(r));
  return typeof a === 'object' && a ? a.port : 0;
}

/** Starts `skiff run` on the signals app and waits until its sidecar is ready. */
async function runApp(extraEnv: Record<string, string> = {}): Promise<Proc & { listen: number; appPort: number }> {
  const appPort = await freePortNumber();
  const p = skiff(['run', '--name', 'web', '--app-port', String(appPort), '--listen', '127.0.0.1:0', '--', NODE, APP], { env: extraEnv });
  procs.push(p);
  const m = await eventually('skiff run to be ready', () => {
    if (p.child.exitCode !== null) throw new Error(`skiff run exited early: ${p.stderr()}`);
    return /run ready service=web listen=http:\/\/127\.0\.0\.1:(\d+)/.exec(p.stderr());
  });
  return Object.assign(p, { listen: Number(m[1]), appPort });
}

void test('the app is reached through its sidecar and gets PORT, HTTP_PROXY and its name', async () => {
  const p = await runApp();
  const r = await get(p.listen, '/');
  assert.equal(r.status, 200);
  assert.match(r.body, /^hello from web proxy=http:\/\/127\.0\.0\.1:\d+\n$/);
  assert.match(p.stdout(), new RegExp(`listening on ${p.appPort}`), "the app's stdout is ours");
  p.child.kill('SIGTERM');
  await p.exited;
});

void test("the app's exit code is skiff run's, and the sidecar is gone with it", async () => {
  const p = await runApp();
  await get(p.listen, '/exit/7');
  assert.equal(await p.exited, 7);
  assert.equal(await tryBind('127.0.0.1', p.listen), undefined, 'the sidecar no longer holds its port');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  void test(`${signal} is forwarded to the app, which decides the exit code`, async () => {
    const p = await runApp({ EXIT_ON_SIGNAL: signal === 'SIGINT' ? '42' : '43' });
    p.child.kill(signal);
    assert.equal(await p.exited, signal === 'SIGINT' ? 42 : 43);
    assert.match(p.stdout(), new RegExp(`got ${signal}`));
    assert.equal(await tryBind('127.0.0.1', p.listen), undefined, 'the sidecar no longer holds its port');
  });
}

void test('a command that does not exist is a one-line error, exit 1', async () => {
  const p = skiff(['run', '--name', 'web', '--app-port', String(await freePortNumber()), '--listen', '127.0.0.1:0', '--', '/nonexistent/skiff-app']);
  procs.push(p);
  assert.equal(await p.exited, 1);
  assert.equal(p.stderr(), 'skiff run: cannot start "/nonexistent/skiff-app": command not found\n');
});

void test('a port already in use is a one-line error, exit 1, and nothing is started', async () => {
  const taken = await occupied();
  const free = await freePortNumber();
  const cases: [string[], string][] = [
    [['--app-port', String(free), '--listen', `127.0.0.1:${taken}`], `skiff run: port ${taken} is already in use (--listen)\n`],
    [['--app-port', String(taken), '--listen', '127.0.0.1:0'], `skiff run: port ${taken} is already in use (--app-port: is the app already running?)\n`],
  ];
  for (const [args, expected] of cases) {
    const p = skiff(['run', '--name', 'web', ...args, '--', NODE, APP]);
    procs.push(p);
    assert.equal(await p.exited, 1);
    assert.equal(p.stderr(), expected);
    assert.equal(p.stdout(), '', 'the app never started');
  }
});

void test('usage errors exit 2', async () => {
  for (const args of [['--name', 'web', '--', 'true'], ['--app-port', '3000', '--', 'true'], ['--name', 'web', '--app-port', '3000']]) {
    const p = skiff(['run', ...args]);
    procs.push(p);
    assert.equal(await p.exited, 2, args.join(' '));
    assert.match(p.stderr(), /^skiff run: .+\nRun `skiff run --help` for usage\.\n$/);
  }
});
