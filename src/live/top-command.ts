/**
 * `skiff top [SERVICE]`: the busiest routes, live, from the tap stream (count, rps, success
 * rate, p50/p99 latency from a DDSketch). In a terminal the table is redrawn in place (on the
 * alternate screen, which is left as it was on exit, then the final table is printed); when
 * stdout is not a terminal, the table is printed at each interval when it changed, and at the end.
 */
import type { Command } from '../cli/io.ts';
import { formatHelp, parseCommand } from '../config/options.ts';
import type { OptionTable } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import { clean } from './format.ts';
import { filterFrom, filterOptions, servicePositional, tapEndpoint, tapQuery, tapSourceOptions } from './options.ts';
import { runTapLoop, stopSignal } from './stream.ts';
import { TopTable } from './top.ts';

export const topOptions = {
  ...tapSourceOptions,
  ...filterOptions,
  rate: { type: 'integer', env: false, default: '1000', description: 'most records per second the tap sends (the rest are dropped and counted)' },
  interval: { type: 'duration', env: false, default: '2s', description: 'how often the table is refreshed' },
  rows: { type: 'integer', env: false, placeholder: 'N', defaultDoc: 'what fits the terminal, else 20', description: 'most routes shown' },
  max: { type: 'integer', env: false, placeholder: 'N', description: 'stop after N requests, print the table, exit 0' },
  duration: { type: 'duration', env: false, placeholder: 'DURATION', description: 'stop after this long, print the table, exit 0' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

const SUMMARY = [
  'A live table of the busiest routes of SERVICE (or of the whole mesh): requests, rps, success rate',
  'and latency p50/p99, counted from the tap stream since top started. Through the dashboard, or one',
  'sidecar with --admin. Ctrl-C stops and prints the final table.',
].join('\n');

// ANSI (ECMA-48) sequences: alternate screen on/off (xterm private mode 1049), cursor home + erase.
const ALT_ON = '\x1b[?1049h';
const ALT_OFF = '\x1b[?1049l';
const REDRAW = '\x1b[H\x1b[2J';

export const topCommand: Command = {
  name: 'top',
  summary: 'live table of the busiest routes',
  async run(io, args) {
    const { values: v, positionals } = parseCommand(topOptions, args, io.env, { allowPositionals: true });
    if (v.help) {
      io.stdout.write(formatHelp('skiff top [SERVICE] [options]', SUMMARY, topOptions));
      return 0;
    }
    if (v.max !== undefined && v.max < 1) throw new UsageError('--max must be at least 1');
    if (v.interval < 100) throw new UsageError('--interval must be at least 100ms');
    if (v.rows !== undefined && v.rows < 1) throw new UsageError('--rows must be at least 1');
    const { service, namespace } = servicePositional(positionals, v.namespace);
    const filter = filterFrom({ ...v, namespace }, service);
    const query = tapQuery(filter, v.rate);
    const { ep, path } = tapEndpoint(v, io.env);
    const out = io.stdout as typeof io.stdout & { isTTY?: boolean; rows?: number };
    const tty = out.isTTY === true;
    const what = service === undefined ? 'the mesh' : namespace === undefined ? service : `${namespace}/${service}`;
    const table = new TopTable();
    const limit = (): number => v.rows ?? (tty && out.rows ? Math.max(1, out.rows - 4) : 20);
    const title = (): string => `skiff top: ${clean(what)} via ${ep.label}: ${table.total} requests${table.dropped ? `, ${table.dropped} dropped` : ''} (${new Date().toISOString().slice(11, 19)} UTC)\n`;

    const stop = stopSignal(io.shutdown, v.duration);
    const onPipeError = (): void => stop.stop();
    io.stdout.on('error', onPipeError);
    let started = false;
    let printed = -1; // the total at the last plain print (no need to print the same table twice)
    const draw = (): void => {
      if (tty) {
        if (!started) io.stdout.write(ALT_ON);
        started = true;
        io.stdout.write(REDRAW + title() + '\n' + (table.total ? table.render(limit()) : 'waiting for requests…\n'));
      } else if (table.total > 0 && table.total !== printed) {
        printed = table.total;
        io.stdout.write(title() + table.render(limit()) + '\n');
      }
    };
    const timer = setInterval(draw, v.interval);
    if (tty) draw();
    try {
      await runTapLoop({
        ep,
        path,
        query,
        signal: stop.signal,
        stderr: io.stderr,
        name: 'skiff top',
        onRecord: (r) => {
          if (stop.signal.aborted) return;
          table.add(r);
          if (v.max !== undefined && table.total >= v.max) stop.stop();
        },
        onDropped: (d) => table.noteDropped(d.count),
        quietDrops: tty,
      });
    } finally {
      clearInterval(timer);
      stop.dispose();
      if (started) io.stdout.write(ALT_OFF);
      io.stdout.off('error', onPipeError);
    }
    if (tty || printed !== table.total || table.total === 0) io.stdout.write(title() + (table.total ? table.render(limit()) : 'no requests seen\n'));
    return 0;
  },
};
