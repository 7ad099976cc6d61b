/**
 * Live: requests as they happen, from every sidecar of a service (or of the whole mesh),
 * through the dashboard's fan-out (`GET /api/tap`, docs/live.md). Filters (service, direction,
 * method, path prefix, status class, minimum latency) live in the URL; pause freezes the table
 * while the stream goes on; the table keeps the newest 500 rows. Click a row for its headers and
 * bodies when the sidecars share them (--tap-headers, --tap-bodies).
 *
 * Everything in a row came from traffic, and is rendered as text children, which Preact
 * escapes: a path like `/<img onerror=…>` shows as those characters, never as markup.
 */
import type { CSSProperties, ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ServicesResponse } from '../../../api-types.ts';
import type { TapBody, TapRecord } from '../../../../live/record.ts';
import { usePoll } from '../api.ts';
import { Stat } from '../components/common.tsx';
import { formatBytes, formatCount, formatMs } from '../format.ts';
import { navigate, useLocation } from '../router.tsx';
import { DIRECTIONS, MAX_ROWS, METHODS, STATUS_CLASSES, clockTime, liveSearch, parseLiveFilters, statusTone, tapApiPath } from './live-model.ts';
import type { LiveFilters, LiveRow } from './live-model.ts';
import { useTapStream } from './live-stream.ts';
import type { TapState } from './live-stream.ts';

const COLUMNS = 11;

// Inline styles are set through the CSSOM by Preact (allowed by the dashboard's CSP); they only
// lay out the filter bar and the detail rows, in the stylesheet's own colours.
const BAR: CSSProperties = { display: 'flex', flexWrap: 'wrap', gap: '10px 16px', alignItems: 'center', marginBottom: '12px' };
const FIELD: CSSProperties = { display: 'inline-flex', alignItems: 'center', gap: '6px', fontSize: '12px', color: 'var(--fg-muted)' };
const input = (width?: string): CSSProperties => ({ font: 'inherit', fontSize: '13px', padding: '3px 6px', border: '1px solid var(--border)', borderRadius: '6px', background: 'var(--panel)', color: 'var(--fg)', ...(width ? { width } : {}) });
const INPUT = input();
const PRE: CSSProperties = { margin: '4px 0 8px', padding: '8px 10px', background: 'var(--bg)', border: '1px solid var(--border)', borderRadius: '6px', whiteSpace: 'pre-wrap', wordBreak: 'break-all', maxHeight: '240px', overflow: 'auto' };

function Field(props: { label: string; children: ComponentChildren }): JSX.Element {
  return (
    <label style={FIELD}>
      {props.label}
      {props.children}
    </label>
  );
}

function Segmented<T extends string>(props: { label: string; options: readonly T[]; value: T; names?: Partial<Record<T, string>>; onChange: (v: T) => void }): JSX.Element {
  return (
    <span style={FIELD}>
      {props.label}
      <span class="window-picker" role="radiogroup" aria-label={props.label}>
        {props.options.map((o) => (
          <button key={o} type="button" role="radio" aria-checked={o === props.value} class={o === props.value ? 'active' : undefined} onClick={() => props.onChange(o)}>
            {props.names?.[o] ?? (o === '' ? 'all' : o)}
          </button>
        ))}
      </span>
    </span>
  );
}

/** A text input that applies on Enter or when it loses focus (not on every keystroke: each change reconnects). */
function LazyInput(props: { label: string; value: string; placeholder: string; name: string; width: string; onCommit: (v: string) => void; inputMode?: 'numeric' }): JSX.Element {
  const [draft, setDraft] = useState<string | null>(null);
  const commit = (): void => {
    if (draft !== null && draft !== props.value) props.onCommit(draft.trim());
    setDraft(null);
  };
  return (
    <Field label={props.label}>
      <input
        type="text"
        name={props.name}
        style={input(props.width)}
        value={draft ?? props.value}
        placeholder={props.placeholder}
        inputMode={props.inputMode}
        spellcheck={false}
        autocomplete="off"
        onInput={(e) => setDraft(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
          if (e.key === 'Escape') setDraft(null);
        }}
        onBlur={commit}
      />
    </Field>
  );
}

function Filters(props: { filters: LiveFilters; onChange: (f: LiveFilters) => void }): JSX.Element {
  const { filters: f, onChange } = props;
  const services = usePoll<ServicesResponse>('/api/services?window=5m', 10_000);
  const names = (services.data?.services ?? []).map((s) => `${s.namespace}/${s.name}`).sort();
  if (f.service && !names.includes(f.service)) names.unshift(f.service);
  return (
    <div style={BAR} role="search" aria-label="live filters">
      <Field label="Service">
        <select name="service" style={INPUT} value={f.service} onChange={(e) => onChange({ ...f, service: e.currentTarget.value })}>
          <option value="">whole mesh</option>
          {names.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </Field>
      <Segmented label="Direction" options={DIRECTIONS} value={f.direction} onChange={(direction) => onChange({ ...f, direction })} />
      <Field label="Method">
        <select name="method" style={INPUT} value={f.method} onChange={(e) => onChange({ ...f, method: e.currentTarget.value })}>
          {(METHODS as readonly string[]).concat((METHODS as readonly string[]).includes(f.method) ? [] : [f.method]).map((m) => (
            <option key={m} value={m}>
              {m === '' ? 'any' : m}
            </option>
          ))}
        </select>
      </Field>
      <LazyInput label="Path prefix" name="path" value={f.path} placeholder="e.g. /api/" width="14ch" onCommit={(path) => onChange({ ...f, path })} />
      <Segmented label="Status" options={STATUS_CLASSES} value={f.status} names={{ error: 'proxy error' }} onChange={(status) => onChange({ ...f, status })} />
      <LazyInput
        label="Slower than (ms)"
        name="min-latency"
        value={f.minLatency}
        placeholder="0"
        width="7ch"
        inputMode="numeric"
        onCommit={(v) => onChange({ ...f, minLatency: /^\d{1,7}(\.\d+)?$/.test(v) ? v : '' })}
      />
      <Field label="Headers">
        <input type="checkbox" name="headers" checked={f.headers} onChange={(e) => onChange({ ...f, headers: e.currentTarget.checked })} />
      </Field>
      <Field label="Bodies">
        <input type="checkbox" name="bodies" checked={f.bodies} onChange={(e) => onChange({ ...f, bodies: e.currentTarget.checked })} />
      </Field>
    </div>
  );
}

function StreamStatus(props: { state: TapState; paused: boolean }): JSX.Element {
  const { state } = props;
  if (state.status === 'refused') {
    return (
      <span class="refresh refresh-error" role="status">
        refused: {state.message}
      </span>
    );
  }
  if (state.status === 'retrying') {
    return (
      <span class="refresh refresh-error" role="status">
        reconnecting ({state.message})
      </span>
    );
  }
  return (
    <span class="refresh" role="status" data-stream={state.status}>
      {state.status === 'live' ? <span class="live-dot" aria-hidden="true" /> : null}
      {state.status === 'connecting' ? 'connecting…' : props.paused ? 'live · paused' : 'live'}
    </span>
  );
}

function Body(props: { label: string; body: TapBody | undefined }): JSX.Element | null {
  const b = props.body;
  if (!b) return null;
  const flags = [formatBytes(b.bytes), b.truncated ? 'truncated' : '', b.redacted ? 'fields redacted' : '', b.encoding === 'base64' ? 'base64' : ''].filter(Boolean).join(', ');
  return (
    <div>
      <strong>{props.label}</strong> <span class="muted">({flags})</span>
      {b.withheld !== undefined ? <p class="muted">withheld: {b.withheld}</p> : b.bytes === 0 ? <p class="muted">empty</p> : <pre style={PRE}>{b.text}</pre>}
    </div>
  );
}

function Headers(props: { label: string; headers: Record<string, string> | undefined }): JSX.Element | null {
  if (!props.headers) return null;
  const text = Object.entries(props.headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  return (
    <div>
      <strong>{props.label}</strong>
      <pre style={PRE}>{text || '(none)'}</pre>
    </div>
  );
}

function Detail(props: { r: TapRecord }): JSX.Element {
  const { r } = props;
  const nothing = !r.requestHeaders && !r.responseHeaders && !r.requestBody && !r.responseBody;
  return (
    <tr class="live-detail" data-detail-for={r.requestId}>
      <td colSpan={COLUMNS} style={{ whiteSpace: 'normal' }}>
        <p class="muted">
          request id <code>{r.requestId || '—'}</code> · authority <code>{r.authority || '—'}</code> · route <code>{r.route}</code> · namespace{' '}
          {r.namespace} · time to first byte {formatMs(r.ttfbMs)}
        </p>
        {nothing ? <p class="muted">No headers or bodies: tick Headers or Bodies above (the sidecars must allow them: --tap-headers, --tap-bodies).</p> : null}
        <Headers label="Request headers" headers={r.requestHeaders} />
        <Body label="Request body" body={r.requestBody} />
        <Headers label="Response headers" headers={r.responseHeaders} />
        <Body label="Response body" body={r.responseBody} />
      </td>
    </tr>
  );
}

function Row(props: { row: LiveRow; open: boolean; onToggle: () => void }): JSX.Element {
  const r = props.row.record;
  const tone = statusTone(r);
  return (
    <tr
      data-seq={props.row.seq}
      data-request-id={r.requestId}
      data-status={r.status}
      class={tone === 'bad' ? 'row-unhealthy' : undefined}
      onClick={props.onToggle}
      style={{ cursor: 'pointer' }}
      aria-expanded={props.open}
    >
      <td data-col="time">{clockTime(r.time)}</td>
      <td data-col="pod">{r.pod}</td>
      <td data-col="direction" class="muted">
        {r.direction}
      </td>
      <td data-col="peer">{r.peer || '—'}</td>
      <td data-col="method" class="method">
        {r.method}
      </td>
      <td data-col="path" class="route">
        {r.path}
      </td>
      <td data-col="status" class={`num${tone === 'bad' ? ' bad' : ''}`}>
        {r.status === 0 ? '—' : r.status}
      </td>
      <td data-col="latency" class="num">
        {formatMs(r.latencyMs)}
      </td>
      <td data-col="request" class="num">
        {formatBytes(r.requestBytes)}
      </td>
      <td data-col="response" class="num">
        {formatBytes(r.responseBytes)}
      </td>
      <td data-col="error" class={r.error ? 'bad' : 'muted'}>
        {r.error || ''}
      </td>
    </tr>
  );
}

export function LivePage(): JSX.Element {
  const loc = useLocation();
  const filters = parseLiveFilters(loc.search);
  const state = useTapStream(tapApiPath(filters));
  const [frozen, setFrozen] = useState<{ rows: LiveRow[]; received: number } | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const setFilters = (f: LiveFilters): void => {
    setFrozen(null);
    navigate(`/live${liveSearch(f)}`, true);
  };
  const rows = frozen?.rows ?? state.rows;
  const sources = [...state.sources.values()];
  const connected = sources.filter((s) => s.state === 'connected').length;
  const failed = sources.filter((s) => s.state === 'failed');
  const notes = [...new Set(sources.flatMap((s) => (s.state === 'connected' ? (s.notes ?? []) : [])))];
  const what = filters.service || 'the whole mesh';

  return (
    <div class="page">
      <div class="page-head">
        <h1>Live</h1>
        <StreamStatus state={state} paused={frozen !== null} />
      </div>
      <Filters filters={filters} onChange={setFilters} />
      <div class="stats">
        <Stat label="sidecars" value={formatCount(connected)} title={`sidecars of ${what} tapped now`} />
        <Stat label="requests seen" value={formatCount(state.received)} />
        <Stat label="dropped" value={formatCount(state.dropped)} tone={state.dropped > 0 ? 'bad' : undefined} title="records lost on the way: over the rate limit, or a reader too slow" />
        <span class="window-picker" style={{ alignSelf: 'center' }}>
          <button
            type="button"
            name="pause"
            aria-pressed={frozen !== null}
            class={frozen !== null ? 'active' : undefined}
            onClick={() => setFrozen(frozen ? null : { rows: state.rows, received: state.received })}
          >
            {frozen ? `Resume (${formatCount(state.received - frozen.received)} new)` : 'Pause'}
          </button>
        </span>
      </div>
      {failed.map((s) => (
        <p key={`${s.namespace}/${s.service}/${s.pod}`} class="notice" data-source-failed={s.pod}>
          Cannot tap {s.namespace}/{s.service} pod {s.pod}: {s.message ?? 'failed'}
        </p>
      ))}
      {notes.map((n) => (
        <p key={n} class="notice">
          {n}
        </p>
      ))}
      <div class="table-wrap">
        <table class="grid live" aria-label="live requests">
          <thead>
            <tr>
              <th>Time</th>
              <th>Pod</th>
              <th>Direction</th>
              <th>Peer</th>
              <th>Method</th>
              <th>Path</th>
              <th class="num">Status</th>
              <th class="num">Latency</th>
              <th class="num">Request</th>
              <th class="num">Response</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {rows.flatMap((row) => {
              const isOpen = open === row.seq;
              const line = <Row key={row.seq} row={row} open={isOpen} onToggle={() => setOpen(isOpen ? null : row.seq)} />;
              return isOpen ? [line, <Detail key={`d${row.seq}`} r={row.record} />] : [line];
            })}
          </tbody>
        </table>
        {rows.length === 0 ? (
          <div class="empty" data-empty="live" style={{ border: 0 }}>
            {state.status === 'live' && connected === 0 && sources.length === 0 ? (
              <p>No sidecar of {what} has reported in the last 30 seconds. Requests show up here as soon as one does.</p>
            ) : (
              <p>Waiting for requests to {what}… they appear here as they happen.</p>
            )}
          </div>
        ) : null}
      </div>
      <p class="muted">
        Newest first; the table keeps the last {MAX_ROWS} requests. Times are your local time. Also in a terminal:{' '}
        <code>skiff tap{filters.service ? ` ${filters.service}` : ''}</code>.
      </p>
    </div>
  );
}
