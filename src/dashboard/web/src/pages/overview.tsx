/**
 * Overview: every service in the mesh with its golden metrics over the window, sortable,
 * unhealthy ones marked and tinted. Rows are keyed by namespace/name so that a refresh updates
 * cells in place.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ServiceSummary, ServicesResponse } from '../../../api-types.ts';
import { usePoll } from '../api.ts';
import { GettingStarted, HealthDot, RefreshStatus, SortHeader, Stat } from '../components/common.tsx';
import { formatBytes, formatCount, formatMs, formatPercent, formatRps } from '../format.ts';
import type { ServiceSortKey, Sort } from '../health.ts';
import { DEFAULT_SERVICE_SORT, errorCount, healthOf, serviceId, sortServices, totals } from '../health.ts';
import { Link } from '../router.tsx';
import type { TimeWindow } from '../routes.ts';
import { servicePath, withWindow } from '../routes.ts';

/** The UI draws at most this many rows (the API is bounded too; this keeps the DOM small). */
const MAX_ROWS = 500;

function ErrorsCell(props: { errors: Record<string, number> }): JSX.Element {
  const n = errorCount(props.errors);
  if (n === 0) return <td class="num muted">0</td>;
  const detail = Object.entries(props.errors)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([code, v]) => `${code}: ${formatCount(v)}`)
    .join(', ');
  return (
    <td class="num bad" title={detail}>
      {formatCount(n)}
    </td>
  );
}

function ServiceRow(props: { s: ServiceSummary; window: TimeWindow }): JSX.Element {
  const { s } = props;
  const health = healthOf(s);
  return (
    <tr class={`row-${health}`} data-service={serviceId(s)}>
      <td class="status">
        <HealthDot health={health} />
      </td>
      <td class="name">
        <Link href={withWindow(servicePath(s.namespace, s.name), props.window)}>
          <span class="ns">{s.namespace}/</span>
          {s.name}
        </Link>
      </td>
      <td class="num" data-col="pods">{formatCount(s.pods)}</td>
      <td class="num" data-col="requests">{formatCount(s.requests)}</td>
      <td class="num" data-col="rps">{formatRps(s.rps)}</td>
      <td class={`num${health === 'unhealthy' && s.successRate !== null && s.successRate < 0.95 ? ' bad' : ''}`} data-col="success">
        {formatPercent(s.successRate)}
      </td>
      <td class="num" data-col="p50">{formatMs(s.latencyMs.p50)}</td>
      <td class="num" data-col="p95">{formatMs(s.latencyMs.p95)}</td>
      <td class="num" data-col="p99">{formatMs(s.latencyMs.p99)}</td>
      <td class="num" data-col="req">
        {formatBytes(s.requestBytes.p50)} <span class="muted">/ {formatBytes(s.requestBytes.p99)}</span>
      </td>
      <td class="num" data-col="resp">
        {formatBytes(s.responseBytes.p50)} <span class="muted">/ {formatBytes(s.responseBytes.p99)}</span>
      </td>
      <ErrorsCell errors={s.errors} />
    </tr>
  );
}

export function OverviewPage(props: { window: TimeWindow }): JSX.Element {
  const path = `/api/services?window=${props.window}`;
  const poll = usePoll<ServicesResponse>(path);
  const [sort, setSort] = useState<Sort<ServiceSortKey>>(DEFAULT_SERVICE_SORT);
  const data = poll.data;

  const header = (
    <div class="page-head">
      <h1>Services</h1>
      <RefreshStatus poll={poll} />
    </div>
  );
  if (!data) {
    return (
      <div class="page">
        {header}
        {poll.error ? <p class="notice">Could not load the services: {poll.error.message}</p> : <p class="muted">Loading…</p>}
      </div>
    );
  }
  if (data.services.length === 0) {
    return (
      <div class="page">
        {header}
        <div class="empty" data-empty="services">
          <h2>No services have reported in the last {props.window}</h2>
          <GettingStarted />
        </div>
      </div>
    );
  }

  const rows = sortServices(data.services, sort);
  const shown = rows.slice(0, MAX_ROWS);
  const t = totals(data.services);
  const th = (label: string, col: ServiceSortKey, title?: string): JSX.Element => (
    <SortHeader label={label} col={col} sort={sort} onSort={setSort} numeric={col !== 'name' && col !== 'health'} title={title} />
  );
  return (
    <div class={`page${poll.dataPath !== path ? ' stale' : ''}`}>
      {header}
      <div class="stats">
        <Stat label="services" value={formatCount(data.services.length)} />
        <Stat label="pods" value={formatCount(t.pods)} />
        <Stat label="requests / s" value={formatRps(t.rps)} />
        <Stat label="unhealthy" value={formatCount(t.unhealthy)} tone={t.unhealthy > 0 ? 'bad' : 'good'} title="success rate below 95% or proxy errors in the window" />
      </div>
      <div class="table-wrap">
        <table class="grid services" aria-label="services">
          <thead>
            <tr>
              {th('', 'health', 'health: unhealthy first')}
              {th('Service', 'name')}
              {th('Pods', 'pods')}
              {th('Requests', 'requests', 'requests in the window')}
              {th('RPS', 'rps', 'requests per second')}
              {th('Success', 'successRate', 'share of requests that were not 5xx and had no proxy error')}
              {th('p50', 'p50', 'latency, 50th percentile')}
              {th('p95', 'p95', 'latency, 95th percentile')}
              {th('p99', 'p99', 'latency, 99th percentile')}
              {th('Request p50 / p99', 'requestBytes', 'request body size')}
              {th('Response p50 / p99', 'responseBytes', 'response body size')}
              <th class="num" title="proxy-level errors: refused, timed out, reset, aborted…">
                Errors
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((s) => (
              <ServiceRow key={serviceId(s)} s={s} window={props.window} />
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > shown.length ? <p class="muted">Showing {shown.length} of {rows.length} services.</p> : null}
    </div>
  );
}
