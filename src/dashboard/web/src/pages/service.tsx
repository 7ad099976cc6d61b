/**
 * One service: its golden metrics over time (rps, success rate, latency percentiles, payload
 * sizes), its routes, status codes, proxy errors, and one card per pod with CPU and memory
 * against the pod's limit. Charts are updated in place on each refresh.
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { PodRow, RouteRow, ServiceDetailResponse } from '../../../api-types.ts';
import { usePoll } from '../api.ts';
import { TimeChart } from '../components/chart.tsx';
import { Card, GettingStarted, HealthDot, RefreshStatus, SortHeader, Stat } from '../components/common.tsx';
import { formatAgo, formatBytes, formatCores, formatCount, formatMs, formatPercent, formatRps, fractionOf } from '../format.ts';
import type { RouteSortKey, Sort } from '../health.ts';
import { DEFAULT_ROUTE_SORT, HEALTH_LABEL, SUCCESS_THRESHOLD, errorCount, healthOf, sortRoutes } from '../health.ts';
import { Link } from '../router.tsx';
import type { TimeWindow } from '../routes.ts';
import { WINDOW_MS, serviceApiPath, withWindow } from '../routes.ts';
import { chartColumns, statusRows } from '../series.ts';

const MAX_ROUTE_ROWS = 200;
/** A pod whose last report is older than this is shown as gone quiet. */
const POD_STALE_MS = 30_000;

const fmtRps = (v: number | null): string => formatRps(v);
const fmtPct = (v: number | null): string => (v === null ? '—' : `${Number(v.toFixed(2))}%`);
const fmtMs = (v: number | null): string => formatMs(v);
const fmtBytes = (v: number | null): string => formatBytes(v);

const LATENCY = [
  { label: 'p50', colorVar: '--c-p50' },
  { label: 'p95', colorVar: '--c-p95' },
  { label: 'p99', colorVar: '--c-p99' },
] as const;
const SIZES = [
  { label: 'request p50', colorVar: '--c-req' },
  { label: 'request p99', colorVar: '--c-req', dash: [4, 3] },
  { label: 'response p50', colorVar: '--c-resp' },
  { label: 'response p99', colorVar: '--c-resp', dash: [4, 3] },
];
const RPS = [{ label: 'requests / s', colorVar: '--c-rps' }] as const;
const SUCCESS = [{ label: 'success', colorVar: '--c-ok' }] as const;

function Charts(props: { data: ServiceDetailResponse; window: TimeWindow }): JSX.Element {
  const { data } = props;
  const cols = useMemo(() => chartColumns(data.series), [data.series]);
  const end = data.now / 1000;
  const xRange = [end - WINDOW_MS[props.window] / 1000, end] as const;
  return (
    <div class="charts">
      <TimeChart title="Requests per second" series={RPS} data={[cols.x, cols.rps]} format={fmtRps} xRange={xRange} />
      <TimeChart title="Success rate" series={SUCCESS} data={[cols.x, cols.successPct]} format={fmtPct} xRange={xRange} yScale="percent" />
      <TimeChart title="Latency" series={LATENCY} data={[cols.x, cols.p50, cols.p95, cols.p99]} format={fmtMs} xRange={xRange} />
      <TimeChart
        title="Payload size"
        series={SIZES}
        data={[cols.x, cols.reqP50, cols.reqP99, cols.respP50, cols.respP99]}
        format={fmtBytes}
        xRange={xRange}
      />
    </div>
  );
}

function RoutesTable(props: { routes: readonly RouteRow[] }): JSX.Element {
  const [sort, setSort] = useState<Sort<RouteSortKey>>(DEFAULT_ROUTE_SORT);
  if (props.routes.length === 0) return <p class="muted">No requests in this window.</p>;
  const rows = sortRoutes(props.routes, sort).slice(0, MAX_ROUTE_ROWS);
  const th = (label: string, col: RouteSortKey, title?: string): JSX.Element => (
    <SortHeader label={label} col={col} sort={sort} onSort={setSort} numeric={col !== 'route'} title={title} />
  );
  return (
    <div class="table-wrap">
      <table class="grid routes" aria-label="routes">
        <thead>
          <tr>
            <th>Method</th>
            {th('Route', 'route')}
            {th('Requests', 'requests')}
            {th('RPS', 'rps')}
            {th('Success', 'successRate')}
            {th('p50', 'p50')}
            {th('p95', 'p95')}
            {th('p99', 'p99')}
            <th class="num">Request p50 / p99</th>
            <th class="num">Response p50 / p99</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const bad = r.successRate !== null && r.successRate < SUCCESS_THRESHOLD;
            return (
              <tr key={`${r.method} ${r.route}`} class={bad ? 'row-unhealthy' : undefined}>
                <td class="method">{r.method}</td>
                <td class="route">{r.route}</td>
                <td class="num">{formatCount(r.requests)}</td>
                <td class="num">{formatRps(r.rps)}</td>
                <td class={`num${bad ? ' bad' : ''}`}>{formatPercent(r.successRate)}</td>
                <td class="num">{formatMs(r.latencyMs.p50)}</td>
                <td class="num">{formatMs(r.latencyMs.p95)}</td>
                <td class="num">{formatMs(r.latencyMs.p99)}</td>
                <td class="num">
                  {formatBytes(r.requestBytes.p50)} <span class="muted">/ {formatBytes(r.requestBytes.p99)}</span>
                </td>
                <td class="num">
                  {formatBytes(r.responseBytes.p50)} <span class="muted">/ {formatBytes(r.responseBytes.p99)}</span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {props.routes.length > rows.length ? <p class="muted">Showing the first {rows.length} of {props.routes.length} routes.</p> : null}
    </div>
  );
}

function StatusCodes(props: { codes: Record<string, number> }): JSX.Element {
  const rows = statusRows(props.codes);
  if (rows.length === 0) return <p class="muted">No responses in this window.</p>;
  return (
    <ul class="bars" aria-label="status codes">
      {rows.map((r) => (
        <li key={r.code} class={`bar-row status-${r.klass}`} data-code={r.code}>
          <span class="bar-label">{r.label}</span>
          <span class="bar-track">
            <span class="bar-fill" style={{ width: `${Math.max(r.share * 100, 0.5)}%` }} />
          </span>
          <span class="bar-value">
            {formatCount(r.count)} <span class="muted">({formatPercent(r.share)})</span>
          </span>
        </li>
      ))}
    </ul>
  );
}

function ProxyErrors(props: { errors: Record<string, number> }): JSX.Element {
  const rows = Object.entries(props.errors)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  if (rows.length === 0) return <p class="muted">None: every request reached the app and got an answer.</p>;
  return (
    <ul class="error-list" aria-label="proxy errors">
      {rows.map(([code, n]) => (
        <li key={code}>
          <code>{code}</code> <span class="bad">{formatCount(n)}</span>
        </li>
      ))}
    </ul>
  );
}

function Meter(props: { label: string; used: string; limit: string; fraction: number | null }): JSX.Element {
  const pct = props.fraction === null ? null : Math.round(props.fraction * 100);
  const tone = pct === null ? '' : pct >= 90 ? ' meter-bad' : pct >= 75 ? ' meter-warn' : '';
  return (
    <div class={`meter${tone}`}>
      <div class="meter-head">
        <span>{props.label}</span>
        <span class="meter-nums">
          {props.used} <span class="muted">/ {props.limit}</span>
          {pct !== null ? <span class="meter-pct"> {pct}%</span> : null}
        </span>
      </div>
      <div
        class="meter-track"
        role="meter"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct ?? undefined}
      >
        {pct !== null ? <div class="meter-fill" style={{ width: `${Math.max(pct, 1)}%` }} /> : null}
      </div>
    </div>
  );
}

function PodCard(props: { pod: PodRow; now: number }): JSX.Element {
  const { pod } = props;
  const stale = props.now - pod.lastSeen > POD_STALE_MS;
  const src = pod.resourceSource === null ? 'no resource data' : pod.resourceSource === 'process' ? 'process (no cgroup)' : pod.resourceSource;
  return (
    <article class={`pod${stale ? ' pod-stale' : ''}`} data-pod={pod.pod}>
      <header class="pod-head">
        <span class="pod-name" title={`sidecar ${pod.sidecarId}`}>
          {pod.pod}
        </span>
        <span class="muted">{formatAgo(pod.lastSeen, props.now)}</span>
      </header>
      <Meter
        label="CPU"
        used={formatCores(pod.cpuCores)}
        limit={pod.cpuLimitCores === null ? 'no limit' : formatCores(pod.cpuLimitCores)}
        fraction={fractionOf(pod.cpuCores, pod.cpuLimitCores)}
      />
      <Meter
        label="Memory"
        used={formatBytes(pod.memoryBytes)}
        limit={pod.memoryLimitBytes === null ? 'no limit' : formatBytes(pod.memoryLimitBytes)}
        fraction={fractionOf(pod.memoryBytes, pod.memoryLimitBytes)}
      />
      <footer class="pod-foot muted">
        <span>{formatCount(pod.requests)} requests</span>
        <span title="reports lost between this sidecar and the dashboard">
          {pod.gaps > 0 ? <span class="bad">{formatCount(pod.gaps)} report gaps</span> : 'no gaps'}
        </span>
        <span>{src}</span>
      </footer>
    </article>
  );
}

export function ServicePage(props: { namespace: string; name: string; window: TimeWindow }): JSX.Element {
  const path = serviceApiPath(props.namespace, props.name, props.window);
  const poll = usePoll<ServiceDetailResponse>(path);
  const data = poll.data;
  useEffect(() => {
    document.title = `${props.name} · skiff`;
    return () => {
      document.title = 'skiff';
    };
  }, [props.name]);

  const head = (
    <div class="page-head">
      <h1>
        <Link href={withWindow('/', props.window)} class="crumb">
          Services
        </Link>
        <span class="crumb-sep" aria-hidden="true">
          ›
        </span>
        <span class="ns">{props.namespace}/</span>
        <span data-testid="service-name">{props.name}</span>
        {data ? (
          <span class={`badge badge-${healthOf(data.summary)}`}>
            <HealthDot health={healthOf(data.summary)} /> {HEALTH_LABEL[healthOf(data.summary)]}
          </span>
        ) : null}
      </h1>
      <RefreshStatus poll={poll} />
    </div>
  );

  if (!data) {
    const notFound = poll.error?.status === 404;
    return (
      <div class="page">
        {head}
        {notFound ? (
          <div class="empty" data-empty="service">
            <h2>No data for this service in the last {props.window}</h2>
            <p>
              Either its sidecar has not reported yet, or it is named differently. Check the <code>--service</code> and{' '}
              <code>--namespace</code> its sidecar runs with, or pick a longer window.
            </p>
            <GettingStarted service={props.name} namespace={props.namespace} />
          </div>
        ) : poll.error ? (
          <p class="notice">Could not load the service: {poll.error.message}</p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </div>
    );
  }

  const s = data.summary;
  const errors = errorCount(s.errors);
  return (
    <div class={`page${poll.dataPath !== path ? ' stale' : ''}`}>
      {head}
      <div class="stats">
        <Stat label="requests / s" value={formatRps(s.rps)} />
        <Stat label="requests" value={formatCount(s.requests)} />
        <Stat
          label="success"
          value={formatPercent(s.successRate)}
          tone={s.successRate === null ? undefined : s.successRate < SUCCESS_THRESHOLD ? 'bad' : 'good'}
        />
        <Stat label="p50" value={formatMs(s.latencyMs.p50)} />
        <Stat label="p95" value={formatMs(s.latencyMs.p95)} />
        <Stat label="p99" value={formatMs(s.latencyMs.p99)} />
        <Stat label="proxy errors" value={formatCount(errors)} tone={errors > 0 ? 'bad' : undefined} />
        <Stat label="pods" value={formatCount(s.pods)} />
      </div>
      <Charts data={data} window={props.window} />
      <Card title="Routes">
        <RoutesTable routes={data.routes} />
      </Card>
      <div class="two-col">
        <Card title="Status codes">
          <StatusCodes codes={data.statusCodes} />
        </Card>
        <Card title="Proxy errors">
          <ProxyErrors errors={s.errors} />
        </Card>
      </div>
      <Card title={`Pods (${data.pods.length})`}>
        {data.pods.length === 0 ? (
          <p class="muted">No pod reported in this window.</p>
        ) : (
          <div class="pods">
            {data.pods.map((p) => (
              <PodCard key={p.sidecarId} pod={p} now={data.now} />
            ))}
          </div>
        )}
      </Card>
    </div>
  );
}
