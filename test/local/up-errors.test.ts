/**
 * `skiff up` refuses what it cannot run with one clear line and exit 1 (exit 2 for bad flags),
 * and leaves nothing running: an invalid file, a missing file, a taken port, a bad command.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, signalGroup } from '../../src/local/process-group.ts';
import { FIXTURES, NODE, eventually, processesIn, skiff } from './helpers.ts';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-up-errors-')));
const servers: Server[] = [];
after(async () => {
  // Whatever a failed test left running in the directory goes too.
  for (const pid of processesIn(dir)) signalGroup(pid, 'SIGKILL');
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

async function up(yaml: string | undefined, args: string[] = []): Promise<{ code: number; stderr: string; stdout: string }> {
  if (yaml !== undefined) writeFileSync(join(dir, 'skiff.yaml'), yaml);
  const p = skiff(['up', ...args], { cwd: dir });
  const code = await p.exited;
  return { code, stderr: p.stderr(), stdout: p.stdout() };
}

void test('an invalid file: the line, the path, the reason; exit 1', async () => {
  const cases: [string, string][] = [
    ['services:\n  reviews:\n    command: node r.ts\n    port: 99999\n', 'skiff up: skiff.yaml:4: services.reviews.port: must be an integer 1-65535\n'],
    ['services:\n  a: { command: x, replicas: 2, colour: blue }\n', 'skiff up: skiff.yaml:2: services.a.colour: unknown key (expected one of: command, port, listen, env, replicas, calls, cwd, restart)\n'],
    ['services:\n  a: { command: x, port: 4000 }\n  b: { command: y, listen: 4000 }\n', 'skiff up: skiff.yaml:3: services.b.listen: port 4000 is also used by services.a.port\n'],
    ['services:\n  a: { command: x, calls: [payments] }\n', 'skiff up: skiff.yaml:2: services.a.calls[0]: calls "payments", which is not a service in this file\n'],
  ];
  for (const [yaml, expected] of cases) {
    const r = await up(yaml);
    assert.equal(r.code, 1, yaml);
    assert.equal(r.stderr, expected);
  }
});

void test('a missing file says what to do', async () => {
  const r = await up(undefined, ['-f', 'nope.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'skiff up: nope.yaml: no such file (write one, or point -f at one: see docs/local.md)\n');
});

void test('a fixed port that is taken is refused before anything starts', async () => {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  const r = await up(`services:\n  a: { command: x, port: ${port} }\n`);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `skiff up: skiff.yaml: services.a.port: port ${port} is already in use\n`);
});

void test('a command that cannot be started stops the mesh again: exit 1, nothing left', async () => {
  const r = await up('dashboard: { port: 0 }\nservices:\n  a: { command: [/nonexistent/skiff-app] }\n');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^skiff up: skiff\.yaml: services\.a\.command: cannot start "\/nonexistent\/skiff-app": command not found$/m);
  assert.equal(r.stdout, '');
  assert.deepEqual(processesIn(dir), []);
});

void test('bad flags are usage errors (exit 2)', async () => {
  const r = await up(undefined, ['--color', 'sometimes']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^skiff up: --color must be auto, always or never\n/);
});

void test('a second Ctrl-C exits at once, and still leaves no process behind', async () => {
  const p = await startSolo();
  assert.ok(processesIn(dir).length >= 3, 'dashboard, app and sidecar run');
  p.child.kill('SIGINT');
  // Two signals sent back to back may merge into one pending signal: leave a moment between.
  await eventually('the stop to begin', () => /up stopping/.test(p.stderr()));
  // bin/skiff.ts treats a repeat within 250 ms as the same Ctrl-C (npm relays it too).
  await new Promise((r) => setTimeout(r, 400));
  p.child.kill('SIGINT');
  assert.equal(await p.exited, 130);
  // The exit hook's SIGKILL is immediate, but the kernel may take a moment to reap.
  await eventually('no process left', () => processesIn(dir).length === 0, 10_000);
});

/** Starts `skiff up` on a one-service mesh in `dir` and waits until it runs. */
async function startSolo(): Promise<ReturnType<typeof skiff>> {
  const hop = join(FIXTURES, 'hop.ts');
  writeFileSync(join(dir, 'skiff.yaml'), `dashboard: { port: 0 }\nservices:\n  solo:\n    command: [${JSON.stringify(NODE)}, ${JSON.stringify(hop)}]\n`);
  const p = skiff(['up'], { cwd: dir });
  await eventually('the mesh to run', () => {
    if (p.child.exitCode !== null) throw new Error(p.stderr());
    return /login\?token=/.test(p.stdout());
  });
  return p;
}

void test('a second skiff up of a running mesh is refused; one of a SIGKILLed mesh stops its leftovers first', async () => {
  const first = await startSolo();
  const second = await up(undefined);
  assert.equal(second.code, 1);
  assert.equal(second.stderr, `skiff up: skiff.yaml: this mesh is already running (skiff up, pid ${first.child.pid!}); stop it first (Ctrl-C in its terminal, or kill -INT ${first.child.pid!})\n`);

  first.child.kill('SIGKILL');
  await first.exited;
  const orphans = processesIn(dir);
  assert.ok(orphans.length >= 3, 'a SIGKILLed skiff up leaves its processes behind');
  const third = await startSolo();
  assert.match(third.stderr(), /stopping processes left by a previous skiff up that did not stop cleanly count=3/);
  for (const pid of orphans) assert.equal(pidAlive(pid), false, `leftover ${pid} was stopped`);
  third.child.kill('SIGINT');
  assert.equal(await third.exited, 0);
  assert.deepEqual(processesIn(dir), []);
});
