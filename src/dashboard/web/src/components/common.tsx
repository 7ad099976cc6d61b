/**
 * Small shared pieces: health markers, sortable headers, stat tiles, refresh status, and the
 * empty state that tells a new user how to put a sidecar in front of a service.
 * Everything that came from traffic is rendered as text children or attributes, which Preact
 * escapes; nothing here builds HTML from strings.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Poll } from '../api.ts';
import { formatAgo } from '../format.ts';
import type { Health, Sort, SortDir } from '../health.ts';
import { HEALTH_LABEL, firstDir } from '../health.ts';

export function HealthDot(props: { health: Health }): JSX.Element {
  return (
    <span class={`dot dot-${props.health}`} title={HEALTH_LABEL[props.health]} role="img" aria-label={HEALTH_LABEL[props.health]} />
  );
}

export function SortHeader<K extends string>(props: {
  label: string;
  col: K;
  sort: Sort<K>;
  onSort: (s: Sort<K>) => void;
  numeric?: boolean;
  title?: string;
}): JSX.Element {
  const active = props.sort.key === props.col;
  const dir: SortDir = active ? props.sort.dir : firstDir(props.col);
  const next = (): void => {
    props.onSort({ key: props.col, dir: active ? (props.sort.dir === 'asc' ? 'desc' : 'asc') : firstDir(props.col) });
  };
  const ariaSort = active ? (dir === 'asc' ? 'ascending' : 'descending') : undefined;
  return (
    <th class={props.numeric ? 'num' : undefined} aria-sort={ariaSort} title={props.title}>
      <button type="button" class={active ? 'sort active' : 'sort'} onClick={next}>
        {props.label}
        <span class="sort-arrow" aria-hidden="true">
          {active ? (dir === 'asc' ? '▲' : '▼') : ''}
        </span>
      </button>
    </th>
  );
}

export function Stat(props: { label: string; value: string; tone?: 'bad' | 'good'; title?: string }): JSX.Element {
  return (
    <div class={`stat${props.tone ? ` stat-${props.tone}` : ''}`} title={props.title}>
      <div class="stat-value">{props.value}</div>
      <div class="stat-label">{props.label}</div>
    </div>
  );
}

/** Re-renders its children every second (only this small subtree, not the page). */
function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), periodMs);
    return () => window.clearInterval(t);
  }, [periodMs]);
  return now;
}

/** "live · updated 3s ago", or why the last refresh failed (the last data stays on screen). */
export function RefreshStatus(props: { poll: Poll<unknown> }): JSX.Element {
  const now = useNow();
  const { error, updatedAt } = props.poll;
  if (error) {
    return (
      <span class="refresh refresh-error" role="status">
        {updatedAt ? `refresh failed (${error.message}); showing data from ${formatAgo(updatedAt, now)}` : error.message}
      </span>
    );
  }
  return (
    <span class="refresh" role="status">
      <span class="live-dot" aria-hidden="true" />
      {updatedAt ? `live · updated ${formatAgo(updatedAt, now)}` : 'loading…'}
    </span>
  );
}

export function Card(props: { title?: ComponentChildren; class?: string; children?: ComponentChildren }): JSX.Element {
  return (
    <section class={`card${props.class ? ` ${props.class}` : ''}`}>
      {props.title !== undefined ? <h2 class="card-title">{props.title}</h2> : null}
      {props.children}
    </section>
  );
}

/** A shell command the user can copy (plain text in a <pre>, with a copy button when allowed). */
export function Command(props: { text: string; label?: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const canCopy = typeof navigator.clipboard?.writeText === 'function' && window.isSecureContext;
  const copy = (): void => {
    navigator.clipboard.writeText(props.text).then(
      () => {
        setCopied(true);
        window.setTimeout(() => setCopied(false), 1500);
      },
      () => setCopied(false),
    );
  };
  return (
    <div class="command">
      <pre aria-label={props.label}>
        <code>{props.text}</code>
      </pre>
      {canCopy ? (
        <button type="button" class="copy" onClick={copy}>
          {copied ? 'copied' : 'copy'}
        </button>
      ) : null}
    </div>
  );
}

/**
 * How to get a first service on the dashboard: a sidecar in front of an app (locally), or
 * `skiff inject` (Kubernetes). Shown when the mesh has no services yet.
 */
export function GettingStarted(props: { service?: string; namespace?: string }): JSX.Element {
  const origin = window.location.origin;
  const service = props.service ?? 'my-app';
  const ns = props.namespace !== undefined && props.namespace !== 'default' ? ` --namespace ${props.namespace}` : '';
  const proxy = [
    'export SKIFF_TOKEN=…   # the token this dashboard was started with',
    `skiff proxy --app 127.0.0.1:8080 --listen 0.0.0.0:15001 \\`,
    `  --service ${service}${ns} --dashboard ${origin}`,
    'curl http://127.0.0.1:15001/   # traffic through the sidecar shows up here',
  ].join('\n');
  const inject = 'kubectl get deploy my-app -o yaml | skiff inject | kubectl apply -f -';
  return (
    <div class="getting-started">
      <h3>Put a sidecar in front of a service</h3>
      <p>
        The sidecar listens where clients connect, forwards to your app, and reports every request to this
        dashboard every few seconds. Your app does not change.
      </p>
      <h4>On this machine</h4>
      <p>With your app listening on 127.0.0.1:8080:</p>
      <Command text={proxy} label="start a sidecar" />
      <h4>In Kubernetes</h4>
      <p>
        Add the sidecar to a workload (<code>skiff.io/inject: enabled</code> on a namespace does it for every new
        pod once the webhook is installed):
      </p>
      <Command text={inject} label="inject a deployment" />
    </div>
  );
}
