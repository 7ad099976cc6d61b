// The bench's set-up: options, generated proxy configurations, procfs parsing, tool packages,
// and the supervisor that must leave no process behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { HELP, loadCases, parseBenchArgs } from '../../bench/options.ts';
import { PROXY_CASES, haproxyConfig, nginxConfig, nodeRelayScript } from '../../bench/targets.ts';
import { Supervisor, isAlive, parseProcStat, parseStatusKb, processTree } from '../../bench/proc.ts';
import { packagesFor } from '../../bench/tools.ts';

void test('options: defaults, --quick, and --only always keeps the direct baseline', () => {
  const d = parseBenchArgs([]);
  assert.deepEqual(d.cases, ['direct', 'skiff', 'node-relay', 'nginx', 'haproxy', 'dashboard']);
  assert.equal(d.durationSeconds, 10);
  assert.equal(d.rounds, 2);
  assert.equal(d.large, true);
  const q = parseBenchArgs(['--quick']);
  assert.equal(q.durationSeconds, 2);
  assert.equal(q.rounds, 1);
  assert.equal(q.large, false);
  assert.deepEqual(parseBenchArgs(['--only', 'skiff,nginx']).cases, ['direct', 'skiff', 'nginx']);
  assert.deepEqual(parseBenchArgs(['--only', 'dashboard']).cases, ['dashboard']);
  assert.equal(parseBenchArgs(['--duration', '15s']).durationSeconds, 15);
  assert.equal(parseBenchArgs(['--quick', '--large']).large, true);
  assert.throws(() => parseBenchArgs(['--only', 'envoy']), /unknown case "envoy"/);
  assert.throws(() => parseBenchArgs(['--duration', '0']), /positive whole number/);
  assert.throws(() => parseBenchArgs(['--threads', '8', '--connections', '4']), /cannot exceed/);
});

void test('options: node-relay runs by default, alone with --only (plus direct), in table order', () => {
  assert.deepEqual([...PROXY_CASES], ['skiff', 'node-relay', 'nginx', 'haproxy']);
  assert.ok(parseBenchArgs(['--quick']).cases.includes('node-relay'));
  assert.deepEqual(parseBenchArgs(['--only', 'node-relay']).cases, ['direct', 'node-relay']);
  assert.deepEqual(parseBenchArgs(['--only', 'nginx, node-relay,skiff']).cases, ['direct', 'skiff', 'node-relay', 'nginx']);
  assert.deepEqual(loadCases(parseBenchArgs([]).cases), ['direct', 'skiff', 'node-relay', 'nginx', 'haproxy']);
  assert.throws(() => parseBenchArgs(['--only', 'node']), /unknown case "node" \(choose from direct, skiff, node-relay, nginx, haproxy, dashboard\)/);
  assert.match(HELP, /direct,skiff,node-relay,nginx,haproxy,dashboard/);
  assert.match(HELP, /skiff\/node-relay/);
});

void test('node-relay: inline CommonJS for node -e, a net relay on loopback with backpressure', () => {
  const s = nodeRelayScript(8003, 9003);
  // Compiles as a script (what `node -e` runs), without running it.
  assert.doesNotThrow(() => new Script(s));
  for (const part of [
    "require('node:net')",
    'net.createServer({ noDelay: true }',
    "net.connect({ host: '127.0.0.1', port: 9003, noDelay: true })",
    "c.on('data', (d) => { if (!u.write(d)) c.pause(); });",
    "u.on('drain', () => c.resume());",
    "u.on('data', (d) => { if (!c.write(d)) u.pause(); });",
    "c.on('drain', () => u.resume());",
    "c.on('close', () => u.destroy());",
    "u.on('close', () => c.destroy());",
    "c.on('error', () => {});",
    "u.on('error', () => {});",
    ".listen(8003, '127.0.0.1')",
  ]) {
    assert.ok(s.includes(part), `missing ${part}`);
  }
  assert.doesNotMatch(s, /\bimport\b|: (number|string)\b/, 'plain JavaScript, nothing for the type stripper');
});

void test('nginx: one worker, upstream keep-alive, loopback only, everything in its own dir', () => {
  const c = nginxConfig({ dir: '/tmp/x', listenPort: 8001, upstreamPort: 9001, runningAsRoot: false });
  for (const line of ['worker_processes 1;', 'daemon off;', 'access_log off;', 'keepalive 64;', 'server 127.0.0.1:9001;', 'listen 127.0.0.1:8001;', 'proxy_http_version 1.1;', 'proxy_set_header Connection "";', 'pid /tmp/x/nginx.pid;']) {
    assert.ok(c.includes(line), `missing ${line}`);
  }
  assert.doesNotMatch(c, /^user /m);
  assert.match(nginxConfig({ dir: '/tmp/x', listenPort: 1, upstreamPort: 2, runningAsRoot: true }), /^user root;$/m);
});

void test('haproxy: one thread, http mode, connection reuse, loopback only', () => {
  const c = haproxyConfig({ listenPort: 8002, upstreamPort: 9002 });
  for (const line of ['nbthread 1', 'mode http', 'http-reuse always', 'bind 127.0.0.1:8002', 'server app1 127.0.0.1:9002']) {
    assert.ok(c.includes(line), `missing ${line}`);
  }
});

void test('procfs: a command name with spaces and parentheses does not shift the fields', () => {
  // pid (comm) state ppid … utime(14) stime(15) …
  const line = '4242 (my (odd) proc) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 1000000 500';
  assert.deepEqual(parseProcStat(line), { ppid: 17, cpuTicks: 300 });
  assert.equal(parseStatusKb('Name:\tx\nVmHWM:\t    8120 kB\nVmRSS:\t 4000 kB\n', 'VmHWM'), 8120 * 1024);
  assert.equal(parseStatusKb('Name:\tx\n', 'VmHWM'), undefined);
});

void test('apt packages: nginx-light where the archive has it', () => {
  assert.deepEqual(packagesFor(['wrk', 'nginx', 'haproxy'], true), ['wrk', 'nginx-light', 'haproxy']);
  assert.deepEqual(packagesFor(['nginx'], false), ['nginx']);
});

void test('the supervisor stops a child and what that child started', async () => {
  const supervisor = new Supervisor();
  try {
    // The shell forks a sleep and waits for it, like nginx's master and its worker.
    const child = await supervisor.spawn('tree', 'sh', ['-c', 'sleep 60 & wait']);
    let tree: number[] = [];
    for (let i = 0; i < 100 && tree.length < 2; i++) {
      tree = processTree(child.pid);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(tree.length, 2, 'the shell and its sleep');
    await supervisor.stop(child, 2000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const pid of tree) assert.equal(isAlive(pid) && !isZombie(pid), false, `pid ${pid} survived`);
    assert.equal(supervisor.running, 0);
  } finally {
    supervisor.killAllSync();
  }
});

function isZombie(pid: number): boolean {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
