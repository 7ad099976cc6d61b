/**
 * `skiff stat [SERVICE]`: each service's golden metrics over a window, from the dashboard's
 * `GET /api/services` (inbound traffic: requests, rps, success rate, latency and size
 * percentiles merged from sketches). `-o json` prints the API's answer itself (only SERVICE's
 * entry in `services` when one is named), so scripts get exactly the documented objects.
 */
import type { Command } from '../cli/io.ts';
import { formatHelp, parseCommand, parseDuration } from '../config/options.ts';
import type { OptionTable } from '../config/options.ts';
import { SkiffError, ErrorCodes, UsageError } from '../errors.ts';
import type { ServiceSummary, ServicesResponse } from '../dashboard/api-types.ts';
import { getJson } from './client.ts';
import { dashboardEndpoint } from './client.ts';
import { clean, formatBytes, formatMs, formatPercent, formatRps, renderTable } from './format.ts';
import { servicePositional, sourceOptions } from './options.ts';

export const statOptions = {
  ...sourceOptions,
  namespace: { type: 'string', short: 'n', env: false, placeholder: 'NAME', description: 'only services in this namespace' },
  window: { type: 'string', env: false, default: '5m', placeholder: 'DURATION', description: 'the time window (30s, 5m, 1h, 24h, 7d…)' },
  output: { type: 'string', short: 'o', env: false, default: 'table', placeholder: 'table|json', description: 'a table, or the API objects as JSON' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

const SUMMARY = [
  "The golden metrics of every service (or SERVICE) over a window, from the dashboard's /api/services:",
  'pods, requests, rps, success rate (not 5xx and no proxy error), latency p50/p95/p99, request and',
  'response sizes (p50/p99), proxy errors. "-" means no data (no traffic), never 0.',
].join('\n');

/** The table rows, busiest first (the API's order is by name). */
export function statTable(services: readonly ServiceSummary[]): string {
  const header = ['SERVICE', 'NAMESPACE', 'PODS', 'REQUESTS', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'REQ P50/P99', 'RESP P50/P99', 'ERRORS'];
  const rows = [...services]
    .sort((a, b) => b.requests - a.requests || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => [
      clean(s.name),
      clean(s.namespace),
      String(s.pods),
      String(s.requests),
      formatRps(s.rps),
      formatPercent(s.successRate),
      formatMs(s.latencyMs.p50),
      formatMs(s.latencyMs.p95),
      formatMs(s.latencyMs.p99),
      `${formatBytes(s.requestBytes.p50)}/${formatBytes(s.requestBytes.p99)}`,
      `${formatBytes(s.responseBytes.p50)}/${formatBytes(s.responseBytes.p99)}`,
      String(Object.values(s.errors).reduce((n, v) => n + v, 0)),
    ]);
  return renderTable(header, rows, ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right']);
}

export const statCommand: Command = {
  name: 'stat',
  summary: 'golden metrics per service',
  async run(io, args) {
    const { values: v, positionals } = parseCommand(statOptions, args, io.env, { allowPositionals: true });
    if (v.help) {
      io.stdout.write(formatHelp('skiff stat [SERVICE] [options]', SUMMARY, statOptions));
      return 0;
    }
    if (v.output !== 'table' && v.output !== 'json') throw new UsageError(`--output must be table or json, not "${v.output}"`);
    let windowMs: number;
    try {
      windowMs = parseDuration(v.window);
    } catch (err) {
      throw new UsageError(`--window: ${(err as Error).message}`);
    }
    if (windowMs < 10_000) throw new UsageError('--window must be at least 10s');
    const { service, namespace } = servicePositional(positionals, v.namespace);
    const ep = dashboardEndpoint(v.dashboard, io.env);
    const answer = await getJson<ServicesResponse>(ep, '/api/services', new URLSearchParams({ window: v.window }), io.shutdown);
    if (!Array.isArray(answer.services)) throw new SkiffError(ErrorCodes.COMMAND_FAILED, `${ep.label} sent an answer without services (is it a skiff dashboard?)`);
    const services = answer.services.filter((s) => (service === undefined || s.name === service) && (namespace === undefined || s.namespace === namespace));
    if (service !== undefined && services.length === 0) {
      const where = namespace === undefined ? '' : ` in namespace ${namespace}`;
      throw new SkiffError(ErrorCodes.COMMAND_FAILED, `no service "${clean(service)}"${clean(where)} has reported to ${ep.label} in the last ${clean(v.window)}`);
    }
    if (v.output === 'json') {
      io.stdout.write(JSON.stringify({ ...answer, services }, null, 2) + '\n');
      return 0;
    }
    if (services.length === 0) {
      io.stderr.write(`skiff stat: no services have reported to ${ep.label} in the last ${clean(v.window)}\n`);
      return 0;
    }
    io.stdout.write(statTable(services));
    return 0;
  },
};
