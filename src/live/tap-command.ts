/**
 * `skiff tap [SERVICE] [filters]`: the requests of a service (or the whole mesh), live, one line
 * each, through the dashboard's fan-out (`GET /api/tap`) or one sidecar's admin port (`--admin`).
 * Records go to stdout (text lines, or JSON lines with `-o json`); notes, drop counts and
 * sidecars coming and going go to stderr.
 */
import type { Command } from '../cli/io.ts';
import { formatHelp, parseCommand } from '../config/options.ts';
import type { OptionTable } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import { formatTapLine } from './format.ts';
import { filterFrom, filterOptions, servicePositional, tapEndpoint, tapQuery, tapSourceOptions } from './options.ts';
import { runTapLoop, stopSignal, writeOut } from './stream.ts';

export const tapOptions = {
  ...tapSourceOptions,
  ...filterOptions,
  output: { type: 'string', short: 'o', env: false, default: 'text', placeholder: 'text|json', description: 'one line per request, or one JSON object per line' },
  max: { type: 'integer', env: false, placeholder: 'N', description: 'stop after N requests (exit 0)' },
  duration: { type: 'duration', env: false, placeholder: 'DURATION', description: 'stop after this long (exit 0)' },
  headers: { type: 'boolean', env: false, description: 'include request and response headers (the sidecar must allow it: --tap-headers; sensitive ones are redacted)' },
  bodies: { type: 'boolean', env: false, description: 'include the first bytes of bodies (the sidecar must allow it: --tap-bodies, and the token is needed)' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

const SUMMARY = [
  'Watch requests as they happen: one line per request (time, pod, direction, peer, method, path,',
  'status, latency, request→response bytes, error), from every sidecar of SERVICE (or of the whole',
  'mesh) through the dashboard, or from one sidecar with --admin. Ctrl-C stops.',
].join('\n');

export const tapCommand: Command = {
  name: 'tap',
  summary: 'watch requests live',
  async run(io, args) {
    const { values: v, positionals } = parseCommand(tapOptions, args, io.env, { allowPositionals: true });
    if (v.help) {
      io.stdout.write(formatHelp('skiff tap [SERVICE] [options]', SUMMARY, tapOptions));
      return 0;
    }
    if (v.output !== 'text' && v.output !== 'json') throw new UsageError(`--output must be text or json, not "${v.output}"`);
    if (v.max !== undefined && v.max < 1) throw new UsageError('--max must be at least 1');
    const { service, namespace } = servicePositional(positionals, v.namespace);
    const filter = filterFrom({ ...v, namespace }, service);
    const query = tapQuery(filter, v.rate, { headers: v.headers, bodies: v.bodies });
    const { ep, path } = tapEndpoint(v, io.env);
    const json = v.output === 'json';

    const stop = stopSignal(io.shutdown, v.duration);
    // A closed pipe (`skiff tap | head -3`) is an ordinary way to stop.
    const onPipeError = (): void => stop.stop();
    io.stdout.on('error', onPipeError);
    let seen = 0;
    try {
      await runTapLoop({
        ep,
        path,
        query,
        signal: stop.signal,
        stderr: io.stderr,
        name: 'skiff tap',
        onRecord: async (r) => {
          if (stop.signal.aborted) return;
          await writeOut(io.stdout, json ? `${JSON.stringify(r)}\n` : formatTapLine(r));
          seen++;
          if (v.max !== undefined && seen >= v.max) stop.stop();
        },
      });
    } finally {
      stop.dispose();
      io.stdout.off('error', onPipeError);
    }
    return 0;
  },
};
