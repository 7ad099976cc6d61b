/**
 * `skiff up [-f skiff.yaml]`: a whole mesh on one machine. Starts the dashboard and every
 * service of the file behind its own sidecar, prints the dashboard's login URL, streams every
 * process's output prefixed with its name, and on Ctrl-C (SIGINT) or SIGTERM stops it all.
 * The file format and the behaviour are described in docs/local.md.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from '../cli/io.ts';
import { formatHelp, parseCommand, type OptionTable } from '../config/options.ts';
import { ErrorCodes, SkiffError, UsageError } from '../errors.ts';
import { createLogger, isLogLevel } from '../log.ts';
import { parseUpConfig } from './config.ts';
import { wantsColour } from './lines.ts';
import { Mesh } from './mesh.ts';
import { resolveRuntime } from './runtime.ts';

export const upOptions = {
  file: { type: 'string', short: 'f', default: 'skiff.yaml', placeholder: 'FILE', description: 'the mesh to start (relative paths in it are relative to the file)' },
  node: { type: 'string', placeholder: 'PATH', defaultDoc: 'node_modules/.bin/node of this skiff, else node on PATH', description: 'the Node binary that runs the sidecars and the dashboard (also first on the apps\' PATH)' },
  color: { type: 'string', default: 'auto', placeholder: 'WHEN', description: 'colour the output: auto (when a terminal, unless NO_COLOR), always or never' },
  'log-level': { type: 'string', default: 'info', description: 'error, warn, info or debug (skiff up\'s own messages)' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

const SUMMARY =
  'Start a local mesh from skiff.yaml: the dashboard, and every service behind its own sidecar.\n' +
  'Ctrl-C stops everything. See docs/local.md for the file format.';

export const upCommand: Command = {
  name: 'up',
  summary: 'start a local mesh from skiff.yaml',
  async run(io, args) {
    const { values: o } = parseCommand(upOptions, args, io.env);
    if (o.help) {
      io.stdout.write(formatHelp('skiff up [-f skiff.yaml] [options]', SUMMARY, upOptions));
      return 0;
    }
    if (!isLogLevel(o['log-level'])) throw new UsageError('--log-level must be error, warn, info or debug');
    if (!['auto', 'always', 'never'].includes(o.color)) throw new UsageError('--color must be auto, always or never');
    const path = resolve(io.cwd, o.file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file (write one, or point -f at one: see docs/local.md)' : (err as Error).message;
      throw new SkiffError(ErrorCodes.FILE_READ, `${o.file}: ${why}`, { cause: err });
    }
    const config = parseUpConfig(text, o.file, dirname(path));
    const log = createLogger(io.stderr, o['log-level'], 'up');
    const mesh = await Mesh.prepare(config, {
      env: io.env,
      runtime: resolveRuntime(o.node, io.cwd),
      log,
      output: io.stderr,
      colour: wantsColour(io.stderr, io.env, o.color),
    });

    try {
      await mesh.start(io.shutdown);
      if (!io.shutdown.aborted) {
        const pods = mesh.plan.services.reduce((n, s) => n + s.replicas.length, 0);
        const width = Math.max(9, ...mesh.plan.services.map((s) => s.config.name.length));
        const lines = [
          `skiff up: ${config.namespace} is running: ${mesh.plan.services.length} services, ${pods} pods. Ctrl-C stops it.`,
          `  ${'dashboard'.padEnd(width)}  ${mesh.loginUrl}`,
          ...mesh.plan.services.map((s) => `  ${s.config.name.padEnd(width)}  http://127.0.0.1:${s.address}`),
        ];
        io.stdout.write(lines.join('\n') + '\n');
        await new Promise<void>((done) => {
          if (io.shutdown.aborted) done();
          else io.shutdown.addEventListener('abort', () => done(), { once: true });
        });
      }
      log.info('stopping', { signal: String(io.shutdown.reason) });
    } finally {
      await mesh.stop();
    }
    log.info('stopped');
    return 0;
  },
};
