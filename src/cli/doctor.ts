/**
 * `skiff doctor`: checks this machine for what skiff needs, one line per check, and says what
 * to do about anything missing. Exit 0 when every required check passes, else 1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Command } from './io.ts';
import { formatHelp, parseCommand } from '../config/options.ts';
import type { OptionTable } from '../config/options.ts';
import { readResources } from '../telemetry/resources.ts';

export const doctorOptions = {
  dashboard: { type: 'string', placeholder: 'URL', description: 'also check that this dashboard answers (token from SKIFF_TOKEN)' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

interface Check {
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

function which(cmd: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return 'present';
  }
}

async function canBindLoopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check this machine for what skiff needs',
  async run(io, args) {
    const { values } = parseCommand(doctorOptions, args, io.env);
    if (values.help) {
      io.stdout.write(formatHelp('skiff doctor [--dashboard URL]', 'Checks this machine for what skiff needs.', doctorOptions));
      return 0;
    }
    const checks: Check[] = [];
    const major = Number(process.versions.node.split('.')[0]);
    checks.push({ name: 'node', ok: major >= 24, required: true, detail: major >= 24 ? `v${process.versions.node}` : `v${process.versions.node}: skiff needs Node.js 24 (npm ci brings it as node_modules/.bin/node)` });
    checks.push({ name: 'typescript stripping', ok: Boolean(process.features.typescript), required: true, detail: process.features.typescript ? 'on' : 'off: run with Node.js 24 without --no-experimental-strip-types' });
    const bind = await canBindLoopback();
    checks.push({ name: 'loopback', ok: bind, required: true, detail: bind ? 'can listen on 127.0.0.1' : 'cannot listen on 127.0.0.1' });
    const res = readResources();
    checks.push({ name: 'resources', ok: true, required: false, detail: `from ${res.source}${res.memoryLimitBytes ? `, memory limit ${Math.round(res.memoryLimitBytes / 1048576)} MiB` : ''}` });
    const chromium = which('chromium');
    checks.push({ name: 'chromium', ok: chromium !== null, required: false, detail: chromium ? version('chromium', ['--version']) : 'missing: browser tests need it (apt-get install chromium)' });
    const podman = which('podman');
    checks.push({ name: 'podman', ok: podman !== null, required: false, detail: podman ? version('podman', ['--version']) : 'missing: real-pod tests need it (apt-get install podman runc)' });
    checks.push({ name: 'web ui bundle', ok: existsSync(new URL('../../dist/web/index.html', import.meta.url)), required: false, detail: existsSync(new URL('../../dist/web/index.html', import.meta.url)) ? 'built' : 'not built: npm run build:ui' });
    if (values.dashboard) {
      let detail: string;
      let ok = false;
      try {
        const r = await fetch(new URL('/api/services?window=5m', values.dashboard), {
          headers: io.env.SKIFF_TOKEN ? { authorization: `Bearer ${io.env.SKIFF_TOKEN}` } : {},
          signal: AbortSignal.timeout(5000),
        });
        ok = r.ok;
        detail = r.ok ? 'reachable, token accepted' : r.status === 401 ? 'reachable, but the token was refused (set SKIFF_TOKEN)' : `answered ${r.status}`;
      } catch (err) {
        detail = `unreachable: ${(err as Error).message}`;
      }
      checks.push({ name: 'dashboard', ok, required: true, detail });
    }
    for (const c of checks) io.stdout.write(`${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'}  ${c.name.padEnd(20)} ${c.detail}\n`);
    return checks.some((c) => c.required && !c.ok) ? 1 : 0;
  },
};
