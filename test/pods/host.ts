/**
 * What a podman run changes on the host, so the real-pod tests can put it back: podman turns
 * net.ipv4.ip_forward on and its network plugin (CNI or netavark) adds firewall chains and
 * bridges that outlive the pods. Only what podman made (names with CNI, NETAVARK, podman) is
 * removed, and only if it was not there before.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const podmanMade = /CNI|NETAVARK|podman/i;

export interface HostState {
  ipForward: string;
  rules: Map<string, string[]>;
  links: Set<string>;
}

function run(cmd: string, args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 30_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? (r.error ? String(r.error) : '') };
}

const TABLES = ['filter', 'nat'];

function rules(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const table of TABLES) {
    const r = run('iptables-save', ['-t', table]);
    out.set(table, r.ok ? r.out.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith(':')) : []);
  }
  return out;
}

function links(): Set<string> {
  const r = run('ip', ['-o', 'link', 'show']);
  return new Set(r.out.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '').filter(Boolean));
}

export function snapshotHost(): HostState {
  return { ipForward: readFileSync(IP_FORWARD, 'utf8').trim(), rules: rules(), links: links() };
}

/** Puts back what `snapshotHost` saw; returns what it could not undo. */
export function restoreHost(before: HostState): string[] {
  const problems: string[] = [];
  const now = rules();
  for (const table of TABLES) {
    const old = new Set(before.rules.get(table) ?? []);
    const added = (now.get(table) ?? []).filter((l) => !old.has(l) && podmanMade.test(l));
    if (added.length === 0) continue;
    // nftables refuses to delete a chain that a rule in the same batch still jumps to: first
    // remove the rules podman added to chains that stay and empty its own chains, then delete them.
    const chains = added.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!);
    const passes = [
      [
        ...added.filter((l) => l.startsWith('-A ') && !chains.includes(l.split(' ')[1]!)).map((l) => `-D ${l.slice(3)}`),
        ...chains.map((c) => `-F ${c}`),
      ],
      chains.map((c) => `-X ${c}`),
    ];
    for (const lines of passes) {
      if (lines.length === 0) continue;
      const r = run('iptables-restore', ['--noflush'], [`*${table}`, ...lines, 'COMMIT', ''].join('\n'));
      if (!r.ok) problems.push(`iptables (${table}): ${r.err.trim()}`);
    }
  }
  for (const link of links()) {
    if (!before.links.has(link) && podmanMade.test(link)) {
      const r = run('ip', ['link', 'delete', link]);
      if (!r.ok) problems.push(`ip link delete ${link}: ${r.err.trim()}`);
    }
  }
  try {
    if (readFileSync(IP_FORWARD, 'utf8').trim() !== before.ipForward) writeFileSync(IP_FORWARD, before.ipForward + '\n');
  } catch (err) {
    problems.push(`${IP_FORWARD}: ${(err as Error).message}`);
  }
  return problems;
}
