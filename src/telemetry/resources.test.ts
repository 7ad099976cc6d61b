import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { readResources } from './resources.ts';

const tmp = mkdtempSync(join(tmpdir(), 'skiff-resources-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a tree of files: { 'a/b.txt': 'text' }. */
function tree(base: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    const full = join(base, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return base;
}

const GiB = 2 ** 30;
const host = { totalMemory: 64 * GiB };

void test('cgroup v2 in a container (own cgroup namespace: path /)', () => {
  const base = tree(join(tmp, 'v2-container'), {
    'proc/self/cgroup': '0::/\n',
    'cg/cgroup.controllers': 'cpu io memory pids\n',
    'cg/cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n',
    'cg/cpu.max': '50000 100000\n',
    'cg/memory.current': '104857600\n',
    'cg/memory.stat': 'anon 80000000\nfile 24857600\ninactive_file 4857600\nactive_file 20000000\n',
    'cg/memory.max': '268435456\n',
  });
  assert.deepEqual(readResources({ root: join(base, 'cg'), procRoot: join(base, 'proc'), ...host }), {
    source: 'cgroup2',
    cpuSecondsTotal: 2.5,
    cpuLimitCores: 0.5,
    memoryBytes: 100_000_000,
    memoryLimitBytes: 268_435_456,
  });
});

void test('cgroup v2 without limits, found through the path in /proc/self/cgroup', () => {
  const base = tree(join(tmp, 'v2-nested'), {
    'proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
    'cg/cgroup.controllers': 'cpu memory\n',
    'cg/cpu.stat': 'usage_usec 999\n', // the root: must not be used
    'cg/kubepods/pod1/ctr/cpu.stat': 'usage_usec 1000000\n',
    'cg/kubepods/pod1/ctr/cpu.max': 'max 100000\n',
    'cg/kubepods/pod1/ctr/memory.current': '5000\n',
    'cg/kubepods/pod1/ctr/memory.max': 'max\n',
  });
  assert.deepEqual(readResources({ root: join(base, 'cg'), procRoot: join(base, 'proc'), ...host }), {
    source: 'cgroup2',
    cpuSecondsTotal: 1,
    cpuLimitCores: null,
    memoryBytes: 5000,
    memoryLimitBytes: null,
  });
});

void test('cgroup v2 host root (no memory.current) falls back to the process', () => {
  const base = tree(join(tmp, 'v2-root'), {
    'proc/self/cgroup': '0::/\n',
    'cg/cgroup.controllers': 'cpu memory\n',
    'cg/cpu.stat': 'usage_usec 123456789\n',
  });
  const s = readResources({ root: join(base, 'cg'), procRoot: join(base, 'proc'), ...host });
  assert.equal(s.source, 'process');
});

void test('cgroup v1 with co-mounted cpu,cpuacct and limits', () => {
  const base = tree(join(tmp, 'v1'), {
    'proc/self/cgroup': '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n',
    'cg/cpu,cpuacct/docker/abc/cpuacct.usage': '3000000000\n',
    'cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '150000\n',
    'cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    'cg/memory/docker/abc/memory.usage_in_bytes': '209715200\n',
    'cg/memory/docker/abc/memory.stat': 'cache 100\ntotal_inactive_file 9715200\n',
    'cg/memory/docker/abc/memory.limit_in_bytes': '536870912\n',
  });
  assert.deepEqual(readResources({ root: join(base, 'cg'), procRoot: join(base, 'proc'), ...host }), {
    source: 'cgroup1',
    cpuSecondsTotal: 3,
    cpuLimitCores: 1.5,
    memoryBytes: 200_000_000,
    memoryLimitBytes: 536_870_912,
  });
});

void test('cgroup v1 unlimited: quota -1, huge memory limit, limit above host memory', () => {
  const base = tree(join(tmp, 'v1-unlimited'), {
    'proc/self/cgroup': '5:memory:/\n3:cpuacct:/\n2:cpu:/\n',
    'cg/cpuacct/cpuacct.usage': '500000000\n',
    'cg/cpu/cpu.cfs_quota_us': '-1\n',
    'cg/cpu/cpu.cfs_period_us': '100000\n',
    'cg/memory/memory.usage_in_bytes': '1000\n',
    'cg/memory/memory.limit_in_bytes': '9223372036854771712\n',
  });
  const opts = { root: join(base, 'cg'), procRoot: join(base, 'proc') };
  assert.deepEqual(readResources({ ...opts, ...host }), {
    source: 'cgroup1',
    cpuSecondsTotal: 0.5,
    cpuLimitCores: null,
    memoryBytes: 1000,
    memoryLimitBytes: null,
  });
  writeFileSync(join(base, 'cg/memory/memory.limit_in_bytes'), `${128 * GiB}\n`);
  assert.equal(readResources({ ...opts, ...host }).memoryLimitBytes, null);
  writeFileSync(join(base, 'cg/memory/memory.limit_in_bytes'), `${GiB}\n`);
  assert.equal(readResources({ ...opts, ...host }).memoryLimitBytes, GiB);
});

void test('cgroup v1 host path not visible in the container: the mount root is used', () => {
  const base = tree(join(tmp, 'v1-hostpath'), {
    'proc/self/cgroup': '5:memory:/kubepods/burstable/podX/ctr\n3:cpuacct:/kubepods/burstable/podX/ctr\n',
    'cg/cpuacct/cpuacct.usage': '2000000000\n',
    'cg/memory/memory.usage_in_bytes': '4096\n',
    'cg/memory/memory.limit_in_bytes': '8192\n',
  });
  const s = readResources({ root: join(base, 'cg'), procRoot: join(base, 'proc'), ...host });
  assert.equal(s.source, 'cgroup1');
  assert.equal(s.cpuSecondsTotal, 2);
  assert.equal(s.memoryLimitBytes, 8192);
});

void test('no cgroup at all: the process', () => {
  const s = readResources({ root: join(tmp, 'nothing-here'), procRoot: join(tmp, 'no-proc') });
  assert.equal(s.source, 'process');
  assert.ok(s.cpuSecondsTotal > 0);
  assert.ok(s.memoryBytes > 1_000_000);
  assert.equal(s.cpuLimitCores, null);
  assert.equal(s.memoryLimitBytes, null);
});

void test('garbage in cgroup files: no throw, falls back to the process', () => {
  const base = tree(join(tmp, 'garbage'), {
    'proc/self/cgroup': 'not a cgroup file',
    'cg/cgroup.controllers': '',
    'cg/cpu.stat': 'usage_usec banana\n',
    'cg/memory.current': '-\n',
  });
  assert.equal(readResources({ root: join(base, 'cg'), procRoot: join(base, 'proc') }).source, 'process');
});

void test('this machine: a sane sample', () => {
  const s = readResources();
  assert.ok(['cgroup2', 'cgroup1', 'process'].includes(s.source));
  assert.ok(Number.isFinite(s.cpuSecondsTotal) && s.cpuSecondsTotal > 0, `cpu ${s.cpuSecondsTotal}`);
  assert.ok(s.memoryBytes > 0 && s.memoryBytes <= totalmem() * 2, `memory ${s.memoryBytes}`);
  if (s.memoryLimitBytes !== null) assert.ok(s.memoryLimitBytes > 0 && s.memoryLimitBytes < totalmem());
  if (s.cpuLimitCores !== null) assert.ok(s.cpuLimitCores > 0);
  // CPU time only goes up.
  let x = 0;
  for (let i = 0; i < 3e6; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  assert.ok(readResources().cpuSecondsTotal >= s.cpuSecondsTotal);
});
