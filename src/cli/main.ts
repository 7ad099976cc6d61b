/**
 * The one front door: `skiff <command> [options]`. It picks the command, runs it, and maps
 * errors to exit codes: 0 success, 1 a user error (one-line reason on stderr), 2 bad usage.
 * Commands are imported lazily so that `skiff proxy` starts fast.
 */
import type { CliIO, Command } from './io.ts';
import { SkiffError, UsageError, describeError } from '../errors.ts';

type Loader = () => Promise<Command>;

/** The command table, in the order `skiff --help` lists them. */
export const commands: Readonly<Record<string, { summary: string; load: Loader }>> = {
  proxy: { summary: 'run the sidecar in front of an app', load: async () => (await import('../proxy/command.ts')).proxyCommand },
  dashboard: { summary: 'run the mesh dashboard (ingest, store, API, web UI)', load: async () => (await import('../dashboard/command.ts')).dashboardCommand },
  inject: { summary: 'add the sidecar to Kubernetes manifests', load: async () => (await import('../inject/command.ts')).injectCommand },
  uninject: { summary: 'remove the sidecar from Kubernetes manifests', load: async () => (await import('../inject/command.ts')).uninjectCommand },
  webhook: { summary: 'serve the admission webhook that injects pods', load: async () => (await import('../webhook/command.ts')).webhookCommand },
  install: { summary: 'print the manifests a cluster needs', load: async () => (await import('../inject/install-command.ts')).installCommand },
  run: { summary: 'run a local process with its sidecar', load: async () => (await import('../local/run-command.ts')).runCommand },
  up: { summary: 'start a local mesh from skiff.yaml', load: async () => (await import('../local/up-command.ts')).upCommand },
  tap: { summary: 'watch requests live', load: async () => (await import('../live/tap-command.ts')).tapCommand },
  top: { summary: 'live table of the busiest routes', load: async () => (await import('../live/top-command.ts')).topCommand },
  stat: { summary: 'golden metrics per service', load: async () => (await import('../live/stat-command.ts')).statCommand },
  doctor: { summary: 'check this machine for what skiff needs', load: async () => (await import('./doctor.ts')).doctorCommand },
  version: { summary: 'print the version', load: async () => (await import('./version.ts')).versionCommand },
};

export function usage(): string {
  const lines = ['Usage: skiff <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `skiff <command> --help` for its options.');
  return lines.join('\n') + '\n';
}

export async function main(io: CliIO): Promise<number> {
  const [name, ...rest] = io.argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') return main({ ...io, argv: ['version'] });
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    io.stderr.write(`skiff: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(io, rest);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`skiff ${name}: ${err.message}\nRun \`skiff ${name} --help\` for usage.\n`);
      return 2;
    }
    if (err instanceof SkiffError) {
      io.stderr.write(`skiff ${name}: ${err.message}\n`);
      return 1;
    }
    // Not a failure we anticipated: still one line for the user; the stack only on request.
    io.stderr.write(`skiff ${name}: ${describeError(err)}\n`);
    if (io.env.SKIFF_DEBUG) io.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}
