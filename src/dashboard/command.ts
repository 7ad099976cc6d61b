/**
 * `skiff dashboard`: ingest reports, store them, serve the query API and the web UI, until
 * SIGTERM/SIGINT (then commit what is queued and close). Operating guide: docs/dashboard.md.
 *
 * The token is env-only (`SKIFF_TOKEN`; a flag would show in `ps`). Without it the dashboard
 * keeps one in DATA/token, generating it on first start and printing the login URL once.
 */
import { resolve } from 'node:path';
import type { Command } from '../cli/io.ts';
import { formatHelp, formatHostPort, parseCommand } from '../config/options.ts';
import type { OptionTable } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import { createLogger, isLogLevel } from '../log.ts';
import { loadToken } from './auth.ts';
import { DEFAULT_MAX_REPORT_BYTES } from './ingest.ts';
import { createDashboardServer } from './server.ts';
import { MIN_RETENTION } from './store.ts';

export const dashboardOptions = {
  listen: { type: 'hostport', default: '127.0.0.1:15080', placeholder: 'HOST:PORT', description: 'where to serve the API and UI (use 0.0.0.0:15080 in a cluster)' },
  data: { type: 'string', default: '.skiff/dashboard', placeholder: 'DIR', description: 'data directory: the SQLite store and the generated token (relative to the working directory)' },
  retention: { type: 'duration', default: '30d', description: 'how long hourly buckets are kept (the longest history)' },
  'retention-1m': { type: 'duration', default: '3d', description: 'how long 1-minute buckets are kept (windows from 1h to 60h read them; at least 3d)' },
  'retention-10s': { type: 'duration', default: '2h', description: 'how long 10-second buckets are kept (windows under 1h read them; at least 1h)' },
  fsync: { type: 'boolean', description: 'fsync every commit: acknowledged reports survive power loss too, not only a crash' },
  'max-report-bytes': { type: 'integer', default: String(DEFAULT_MAX_REPORT_BYTES), description: 'largest report accepted, after decompression (413 above)' },
  'web-root': { type: 'string', placeholder: 'DIR', defaultDoc: 'dist/web of this skiff', description: 'the built web UI (npm run build:ui)' },
  'log-level': { type: 'string', default: 'info', description: 'error, warn, info or debug' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

const SUMMARY = 'Run the mesh dashboard: ingest sidecar reports, store them (SQLite), serve the query API and web UI.\nThe token comes from SKIFF_TOKEN, else DATA/token (generated on first start).';

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'run the mesh dashboard (ingest, store, API, web UI)',
  async run(io, args) {
    const { values: o } = parseCommand(dashboardOptions, args, io.env);
    if (o.help) {
      io.stdout.write(formatHelp('skiff dashboard [options]', SUMMARY, dashboardOptions));
      return 0;
    }
    if (!isLogLevel(o['log-level'])) throw new UsageError(`--log-level must be error, warn, info or debug, got "${o['log-level']}"`);
    if (o['retention-10s'] < MIN_RETENTION.tenSeconds) throw new UsageError('--retention-10s must be at least 1h (windows under 1h read 10-second buckets)');
    if (o['retention-1m'] < MIN_RETENTION.minutes) throw new UsageError('--retention-1m must be at least 3d (windows up to 60h read 1-minute buckets)');
    if (o.retention < o['retention-1m']) throw new UsageError('--retention must be at least --retention-1m');
    if (o['max-report-bytes'] < 1024) throw new UsageError('--max-report-bytes must be at least 1024');
    const log = createLogger(io.stderr, o['log-level'], 'dashboard');
    const dataDir = resolve(io.cwd, o.data);
    const token = await loadToken(dataDir, io.env);
    if (token.origin === 'env' && token.token.length < 16) log.warn('SKIFF_TOKEN is short; use 16 or more random characters');

    const dashboard = await createDashboardServer({
      listen: o.listen,
      dataDir,
      token: token.token,
      log,
      retention: { tenSeconds: o['retention-10s'], minutes: o['retention-1m'], hours: o.retention },
      fsync: o.fsync,
      maxReportBytes: o['max-report-bytes'],
      ...(o['web-root'] ? { webRoot: resolve(io.cwd, o['web-root']) } : {}),
    });
    log.info('listening', { listen: formatHostPort(dashboard.address), data: dataDir, token: token.origin === 'env' ? 'SKIFF_TOKEN' : token.file });
    if (token.origin === 'generated') {
      // The one time the token is shown: it was just created and nobody else knows it.
      io.stderr.write(`skiff dashboard: login at ${dashboard.url}/login?token=${encodeURIComponent(token.token)}\n`);
    }
    io.stderr.write(`skiff dashboard: ${dashboard.url}/ (log in at ${dashboard.url}/login)\n`);

    await new Promise<void>((done) => {
      if (io.shutdown.aborted) done();
      else io.shutdown.addEventListener('abort', () => done(), { once: true });
    });
    log.info('shutting down', { signal: String(io.shutdown.reason) });
    await dashboard.close();
    log.info('stopped');
    return 0;
  },
};
