/**
 * CPU and memory of the container the sidecar runs in, from its cgroup (v2, else v1), else of
 * the sidecar process itself. Read on demand (a /metrics scrape, a report): a few small reads of
 * kernel files, never on the request path.
 *
 * Kernel references: Documentation/admin-guide/cgroup-v2.rst (cpu.stat, cpu.max, memory.current,
 * memory.max, memory.stat) and Documentation/admin-guide/cgroup-v1/{cpuacct,memory}.rst plus
 * scheduler/sched-bwc.rst (cpu.cfs_quota_us, cpu.cfs_period_us).
 *
 * Memory is the working set, as the kubelet and `kubectl top` count it: usage minus inactive
 * file cache, which the kernel reclaims before it would OOM-kill.
 */
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { ResourceSample } from './model.ts';

export interface ResourceOptions {
  /** Where the cgroup file system is mounted. Default `/sys/fs/cgroup`. */
  root?: string;
  /** Where procfs is mounted. Default `/proc`. */
  procRoot?: string;
  /** Host memory: a v1 limit at or above it is no limit. Default `os.totalmem()`. */
  totalMemory?: number;
}

/** cgroup v1 writes "no limit" as the largest page-aligned 64-bit value (≈ 2^63). */
const V1_UNLIMITED = 2 ** 62;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function num(text: string | null): number | null {
  if (text === null || !/^-?\d+$/.test(text)) return null;
  return Number(text);
}

/** A `key value` line of a flat-keyed file such as cpu.stat or memory.stat. */
function statField(text: string | null, key: string): number | null {
  if (text === null) return null;
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/** `/proc/self/cgroup` lines: `hierarchy-id:controllers:path` (v2 has id 0 and no controllers). */
function ownCgroups(procRoot: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (read(join(procRoot, 'self/cgroup')) ?? '').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.set('', m[3]!);
    for (const c of m[2]!.split(',')) if (c) out.set(c, m[3]!);
  }
  return out;
}

/**
 * The directory of our own cgroup under a mount. In a container with its own cgroup namespace
 * the path is `/` (the mount is our cgroup); without one, it may be a host path that the
 * container's mount does not show, and the mount root is then the container's cgroup.
 */
function cgroupDir(mount: string, path: string | undefined): string {
  if (path && path !== '/') {
    const dir = join(mount, path);
    if (existsSync(dir)) return dir;
  }
  return mount;
}

function limitOrNull(v: number | null, totalMemory: number): number | null {
  if (v === null || v <= 0 || v >= V1_UNLIMITED || v >= totalMemory) return null;
  return v;
}

function fromV2(root: string, own: Map<string, string>, totalMemory: number): ResourceSample | null {
  const dir = cgroupDir(root, own.get(''));
  const usageUsec = statField(read(join(dir, 'cpu.stat')), 'usage_usec');
  const current = num(read(join(dir, 'memory.current')));
  // The host's root cgroup has no memory.current: that is no container, so the process it is.
  if (usageUsec === null || current === null) return null;
  const inactive = statField(read(join(dir, 'memory.stat')), 'inactive_file') ?? 0;
  let cpuLimitCores: number | null = null;
  const cpuMax = /^(\d+|max) (\d+)$/.exec(read(join(dir, 'cpu.max')) ?? '');
  if (cpuMax && cpuMax[1] !== 'max' && Number(cpuMax[2]) > 0) cpuLimitCores = Number(cpuMax[1]) / Number(cpuMax[2]);
  const memMax = read(join(dir, 'memory.max'));
  return {
    source: 'cgroup2',
    cpuSecondsTotal: usageUsec / 1e6,
    cpuLimitCores,
    memoryBytes: Math.max(0, current - inactive),
    memoryLimitBytes: memMax === 'max' ? null : limitOrNull(num(memMax), totalMemory),
  };
}

/** The v1 hierarchy of a controller: its own mount, or a co-mounted one such as `cpu,cpuacct`. */
function v1Mount(root: string, controller: string, own: Map<string, string>): string | null {
  for (const name of [controller, 'cpu,cpuacct', 'cpuacct,cpu']) {
    const mount = join(root, name);
    if (existsSync(mount)) return cgroupDir(mount, own.get(controller));
  }
  return null;
}

function fromV1(root: string, own: Map<string, string>, totalMemory: number): ResourceSample | null {
  const cpuacct = v1Mount(root, 'cpuacct', own);
  const memory = v1Mount(root, 'memory', own);
  if (!cpuacct || !memory) return null;
  const usageNs = num(read(join(cpuacct, 'cpuacct.usage')));
  const usage = num(read(join(memory, 'memory.usage_in_bytes')));
  if (usageNs === null || usage === null) return null;
  const inactive = statField(read(join(memory, 'memory.stat')), 'total_inactive_file') ?? 0;
  const cpu = v1Mount(root, 'cpu', own);
  let cpuLimitCores: number | null = null;
  if (cpu) {
    const quota = num(read(join(cpu, 'cpu.cfs_quota_us')));
    const period = num(read(join(cpu, 'cpu.cfs_period_us')));
    // A quota of -1 means no limit.
    if (quota !== null && period !== null && quota > 0 && period > 0) cpuLimitCores = quota / period;
  }
  return {
    source: 'cgroup1',
    cpuSecondsTotal: usageNs / 1e9,
    cpuLimitCores,
    memoryBytes: Math.max(0, usage - inactive),
    memoryLimitBytes: limitOrNull(num(read(join(memory, 'memory.limit_in_bytes'))), totalMemory),
  };
}

/** The sidecar process alone: used outside containers (skiff run) and when cgroups are unreadable. */
export function processResources(): ResourceSample {
  const cpu = process.cpuUsage();
  return {
    source: 'process',
    cpuSecondsTotal: (cpu.user + cpu.system) / 1e6,
    cpuLimitCores: null,
    memoryBytes: process.memoryUsage.rss(),
    memoryLimitBytes: null,
  };
}

/**
 * Reads a resource sample: cgroup v2 when the unified hierarchy is mounted at `root`
 * (`cgroup.controllers` exists), else cgroup v1, else the process. Never throws.
 */
export function readResources(options: ResourceOptions = {}): ResourceSample {
  const root = options.root ?? '/sys/fs/cgroup';
  const procRoot = options.procRoot ?? '/proc';
  try {
    const totalMemory = options.totalMemory ?? totalmem();
    const own = ownCgroups(procRoot);
    const sample = existsSync(join(root, 'cgroup.controllers')) ? fromV2(root, own, totalMemory) : fromV1(root, own, totalMemory);
    return sample ?? processResources();
  } catch {
    return processResources();
  }
}
