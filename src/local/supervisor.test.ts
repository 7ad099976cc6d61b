import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { exitCodeOf, groupMembers, pidAlive, signalGroup } from './process-group.ts';
import { ManagedProcess, restartDelay, SpawnError, type ExitInfo, type ProcessSpec } from './supervisor.ts';
import { PINNED_NODE } from './runtime.ts';

const running = new Set<ManagedProcess>();
after(async () => {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
});

function spec(argv: string[], extra: Partial<ProcessSpec> = {}): ProcessSpec {
  return { label: 'test-1', argv, env: { PATH: '/usr/bin:/bin' }, cwd: '/', restart: 'never', stopTimeoutMs: 5000, ...extra };
}

function managed(...args: ConstructorParameters<typeof ManagedProcess>): ManagedProcess {
  const p = new ManagedProcess(...args);
  running.add(p);
  return p;
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

void test('backoff doubles from the base up to the cap', () => {
  const b = { baseMs: 500, maxMs: 30_000, stableMs: 10_000 };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 50].map((n) => restartDelay(n, b)), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

void test('a crashing process is restarted with exponential backoff, and reported each time', async () => {
  const exits: (number | undefined)[] = [];
  const starts: number[] = [];
  const p = managed(
    spec([PINNED_NODE, '-e', 'process.exit(3)'], { restart: 'always' }),
    {
      onExit: (_l, e, delay) => {
        assert.equal(e.exitCode, 3);
        exits.push(delay);
      },
      onStart: (_l, _pid, restarts) => starts.push(restarts),
    },
    { baseMs: 40, maxMs: 200, stableMs: 60_000 },
  );
  await p.start();
  await until('five exits', () => exits.length >= 5);
  await p.stop();
  assert.deepEqual(exits.slice(0, 5), [40, 80, 160, 200, 200]);
  assert.deepEqual(starts.slice(0, 5), [0, 1, 2, 3, 4]);
  const n = exits.length;
  await sleep(400);
  assert.equal(exits.length, n, 'no restart after stop');
});

void test('restart policies: on-failure lets a clean exit be; never restarts nothing', async () => {
  for (const [policy, code, restarts] of [['on-failure', 0, false], ['on-failure', 1, true], ['never', 1, false]] as const) {
    let delay: number | undefined | null = null;
    const p = managed(spec([PINNED_NODE, '-e', `process.exit(${code})`], { restart: policy }), { onExit: (_l, _e, d) => (delay ??= d) }, { baseMs: 5000, maxMs: 5000, stableMs: 1 });
    await p.start();
    await until('exit', () => delay !== null);
    assert.equal(delay !== undefined, restarts, `${policy} with exit ${code}`);
    await p.stop();
  }
});

void test('stop() ends the whole process tree, not just the pid it spawned', async () => {
  const p = managed(spec(['/bin/sh', '-c', 'sleep 300 & sleep 300 & wait']));
  const pgid = await p.start();
  await until('the tree', () => groupMembers(pgid).length >= 3);
  const members = groupMembers(pgid);
  const exit = await p.stop();
  assert.ok(exit, 'exit info');
  assert.deepEqual(groupMembers(pgid), []);
  for (const pid of members) assert.equal(pidAlive(pid), false, `pid ${pid} is gone`);
});

void test('a process that ignores SIGTERM is killed after the grace period', async () => {
  const p = managed(
    spec([PINNED_NODE, '-e', 'process.on("SIGTERM", () => {}); console.log("armed"); setInterval(() => {}, 1000)'], { stopTimeoutMs: 300 }),
    { onLine: (_l, line) => (armed ||= line === 'armed') },
  );
  let armed = false;
  await p.start();
  await until('the handler', () => armed);
  const exit = await p.stop();
  assert.equal(exit?.signal, 'SIGKILL');
  assert.equal(exit.exitCode, 137);
});

void test('before a restart, what the crashed leader left in its group is stopped (it would hold the port)', async () => {
  const orphans: number[] = [];
  let restarted = false;
  const p = managed(
    spec(['/bin/sh', '-c', 'sleep 300 & echo $!; exit 1'], { restart: 'always', stopTimeoutMs: 2000 }),
    {
      onLine: (_l, line) => orphans.push(Number(line)),
      onStart: (_l, _pid, restarts) => (restarted ||= restarts > 0),
    },
    { baseMs: 50, maxMs: 50, stableMs: 60_000 },
  );
  await p.start();
  await until('the restart', () => restarted && orphans.length > 0);
  assert.equal(pidAlive(orphans[0]!), false, 'the first run\'s background sleep is gone');
  await p.stop();
});

void test('a command that does not exist fails to start with a one-line reason', async () => {
  const p = managed(spec(['/nonexistent/skiff-test-cmd']));
  await assert.rejects(p.start(), (err: unknown) => {
    assert.ok(err instanceof SpawnError);
    assert.equal(err.message, 'cannot start "/nonexistent/skiff-test-cmd": command not found');
    assert.equal(err.errno, 'ENOENT');
    return true;
  });
});

void test('output arrives as lines, whatever the chunking; signals reach the group', async () => {
  const lines: string[] = [];
  const p = managed(
    spec([PINNED_NODE, '-e', 'process.stdout.write("a\\nb"); setTimeout(() => process.stdout.write("c\\n"), 50); process.on("SIGUSR2", () => { console.log("usr2"); process.exit(0); }); setInterval(() => {}, 1000)']),
    { onLine: (_l, line) => lines.push(line) },
  );
  const exited = p.nextExit();
  await p.start();
  await until('two lines', () => lines.length >= 2);
  assert.ok(p.signal('SIGUSR2'));
  const e: ExitInfo = await exited;
  assert.equal(e.exitCode, 0);
  assert.deepEqual(lines, ['a', 'bc', 'usr2']);
  assert.equal(p.signal('SIGUSR2'), false, 'nothing to signal once it has exited');
});

void test('group signals refuse pids that would mean "every process" (kill(-1)) or our own group (kill(0))', () => {
  assert.equal(signalGroup(1, 'SIGCONT'), false);
  assert.equal(signalGroup(0, 'SIGCONT'), false);
  assert.equal(signalGroup(-5, 'SIGCONT'), false);
});

void test('exit codes follow the shell: 128 + the signal number', () => {
  assert.equal(exitCodeOf(0, null), 0);
  assert.equal(exitCodeOf(7, null), 7);
  assert.equal(exitCodeOf(null, 'SIGINT'), 130);
  assert.equal(exitCodeOf(null, 'SIGTERM'), 143);
  assert.equal(exitCodeOf(null, 'SIGKILL'), 137);
});
