/**
 * wrk, nginx and haproxy: found on PATH (or in /usr/sbin, where Debian puts the daemons), else
 * installed with apt-get (through `sudo -n` when not root). A tool that cannot be had is a clear
 * error for wrk (nothing can be measured without it) and an unavailable case for a proxy.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const TOOL_NAMES = ['wrk', 'nginx', 'haproxy'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** Absolute path of an executable named `name`, or `undefined`. */
export function findExecutable(name: string, pathVar: string | undefined): string | undefined {
  const dirs = [...(pathVar ?? '').split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The Debian packages that provide the missing tools. `nginx-light` (the smallest build) where
 * the archive still has it, else `nginx` (Debian 13 dropped the flavours). Pure.
 */
export function packagesFor(missing: readonly ToolName[], hasNginxLight: boolean): string[] {
  return missing.map((t) => (t === 'nginx' ? (hasNginxLight ? 'nginx-light' : 'nginx') : t));
}

export interface ToolsResult {
  paths: Partial<Record<ToolName, string>>;
  /** Human-readable notes on what was installed or could not be. */
  notes: string[];
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 600_000 });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() || (r.error?.message ?? '') };
}

/** Finds the tools, installing the missing ones with apt-get if it can. */
export function ensureTools(wanted: readonly ToolName[], env: NodeJS.ProcessEnv, isRoot: boolean, log: (line: string) => void): ToolsResult {
  const paths: Partial<Record<ToolName, string>> = {};
  const notes: string[] = [];
  for (const t of wanted) paths[t] = findExecutable(t, env.PATH);
  const missing = wanted.filter((t) => !paths[t]);
  if (missing.length === 0) return { paths, notes };

  const aptGet = findExecutable('apt-get', env.PATH);
  const sudo = isRoot ? undefined : findExecutable('sudo', env.PATH);
  if (!aptGet || (!isRoot && !sudo)) {
    notes.push(`missing ${missing.join(', ')} and cannot install them (${aptGet ? 'not root and no sudo' : 'no apt-get'}): install them with your package manager`);
    return { paths, notes };
  }
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  // `sudo -n`: fail at once instead of waiting for a password nobody will type.
  const asRoot = (args: string[]): { ok: boolean; output: string } => (isRoot ? run(aptGet, args, aptEnv) : run(sudo!, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGet, ...args], aptEnv));
  const hasLight = run('apt-cache', ['show', 'nginx-light'], env).ok;
  const pkgs = packagesFor(missing, hasLight);
  log(`installing ${pkgs.join(' ')} with apt-get${isRoot ? '' : ' (sudo)'} …`);
  let r = asRoot(['install', '-y', '--no-install-recommends', ...pkgs]);
  if (!r.ok) {
    // Often only the package lists are stale or absent (fresh containers).
    asRoot(['update']);
    r = asRoot(['install', '-y', '--no-install-recommends', ...pkgs]);
  }
  for (const t of missing) paths[t] = findExecutable(t, env.PATH);
  const still = missing.filter((t) => !paths[t]);
  if (still.length > 0) {
    const why = r.output.split('\n').slice(-2).join(' ');
    notes.push(`could not install ${still.join(', ')} with apt-get${isRoot ? '' : ' (sudo -n)'}: ${why}`);
  } else {
    notes.push(`installed ${pkgs.join(' ')} with apt-get`);
  }
  return { paths, notes };
}
