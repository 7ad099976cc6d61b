/**
 * Service graph: who calls whom, laid out with d3-force and drawn as SVG by Preact (so every
 * name is a text node). Nodes are coloured by health; edges carry rps and success rate;
 * clicking a node opens its service page. Loaded lazily: d3-force is only fetched here.
 */
import type { JSX } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import type { EdgesResponse, ServicesResponse } from '../../../api-types.ts';
import { usePoll } from '../api.ts';
import { GettingStarted, RefreshStatus } from '../components/common.tsx';
import { formatMs, formatPercent, formatRps } from '../format.ts';
import type { GraphLink, GraphNode, Point } from '../graph-model.ts';
import { bounds, buildGraph, layoutGraph, linkEnds } from '../graph-model.ts';
import { HEALTH_LABEL } from '../health.ts';
import { navigate } from '../router.tsx';
import type { TimeWindow } from '../routes.ts';
import { servicePath, withWindow } from '../routes.ts';

function Node(props: { node: GraphNode; window: TimeWindow }): JSX.Element {
  const { node } = props;
  const open = (): void => {
    if (node.namespace !== null) navigate(withWindow(servicePath(node.namespace, node.name), props.window));
  };
  const clickable = node.namespace !== null;
  const label = `${node.namespace ?? 'not in the mesh'}/${node.name}: ${HEALTH_LABEL[node.health]}, ${formatRps(node.rps)} rps, success ${formatPercent(node.successRate)}`;
  return (
    <g
      class={`node node-${node.health}${clickable ? ' clickable' : ' external'}`}
      transform={`translate(${(node.x ?? 0).toFixed(1)},${(node.y ?? 0).toFixed(1)})`}
      data-node={node.id}
      role={clickable ? 'link' : 'img'}
      tabIndex={clickable ? 0 : undefined}
      aria-label={label}
      onClick={open}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          open();
        }
      }}
    >
      <title>{label}</title>
      <circle r={node.radius} />
      <text class="node-label" y={node.radius + 14}>
        {node.name}
      </text>
      <text class="node-stats" y={node.radius + 27}>
        {node.namespace === null ? 'not in the mesh' : `${formatRps(node.rps)} rps · ${formatPercent(node.successRate)}`}
      </text>
    </g>
  );
}

function Link(props: { link: GraphLink }): JSX.Element {
  const { link } = props;
  const e = linkEnds(link);
  const mx = (e.x1 + e.x2) / 2;
  const my = (e.y1 + e.y2) / 2;
  const text = `${formatRps(link.rps)} rps · ${formatPercent(link.successRate)}`;
  return (
    <g class={`edge edge-${link.health}`} data-edge={link.id}>
      <title>{`${link.source.name} → ${link.target.name}: ${text}, p99 ${formatMs(link.latencyP99)}`}</title>
      <line x1={e.x1} y1={e.y1} x2={e.x2} y2={e.y2} marker-end={`url(#arrow-${link.health})`} />
      <text class="edge-label" x={mx} y={my} dy="-0.4em">
        {text}
      </text>
    </g>
  );
}

export function GraphPage(props: { window: TimeWindow }): JSX.Element {
  const services = usePoll<ServicesResponse>(`/api/services?window=${props.window}`);
  const edges = usePoll<EdgesResponse>(`/api/edges?window=${props.window}`);
  const positions = useRef(new Map<string, Point>());

  const graph = useMemo(() => {
    if (!services.data || !edges.data) return null;
    const g = buildGraph(services.data.services, edges.data.edges);
    layoutGraph(g, positions.current);
    const next = new Map<string, Point>();
    for (const n of g.nodes) next.set(n.id, { x: n.x ?? 0, y: n.y ?? 0 });
    positions.current = next;
    return g;
  }, [services.data, edges.data]);

  const head = (
    <div class="page-head">
      <h1>Service graph</h1>
      <RefreshStatus poll={edges.error ? edges : services} />
    </div>
  );
  if (!graph) {
    const err = services.error ?? edges.error;
    return (
      <div class="page">
        {head}
        {err ? <p class="notice">Could not load the graph: {err.message}</p> : <p class="muted">Loading…</p>}
      </div>
    );
  }
  if (graph.nodes.length === 0) {
    return (
      <div class="page">
        {head}
        <div class="empty" data-empty="graph">
          <h2>No services have reported in the last {props.window}</h2>
          <GettingStarted />
        </div>
      </div>
    );
  }
  const box = bounds(graph.nodes);
  return (
    <div class="page">
      {head}
      {graph.links.length === 0 ? (
        <p class="notice" data-empty="edges">
          No calls between services in the last {props.window}. Edges appear when an app calls another service through
          its own sidecar (<code>--upstream NAME=HOST:PORT</code> or <code>--outbound</code> with HTTP_PROXY).
        </p>
      ) : null}
      <div class="graph-wrap card">
        <svg class="graph" viewBox={`${box.x} ${box.y} ${box.width} ${box.height}`} role="group" aria-label="service graph">
          <defs>
            {(['healthy', 'unhealthy', 'idle'] as const).map((h) => (
              <marker key={h} id={`arrow-${h}`} class={`arrow arrow-${h}`} viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" />
              </marker>
            ))}
          </defs>
          <g class="edges">
            {graph.links.map((l) => (
              <Link key={l.id} link={l} />
            ))}
          </g>
          <g class="nodes">
            {graph.nodes.map((n) => (
              <Node key={n.id} node={n} window={props.window} />
            ))}
          </g>
        </svg>
      </div>
      <p class="legend muted">
        <span class="dot dot-healthy" /> healthy <span class="dot dot-unhealthy" /> success below 95% or proxy errors{' '}
        <span class="dot dot-idle" /> no traffic or not in the mesh · under each service: its requests per second and
        success rate · on each edge: calls per second and success rate seen by the caller
      </p>
      {graph.selfCalls.length > 0 ? (
        <p class="muted">
          Calls to themselves:{' '}
          {graph.selfCalls.map((l) => `${l.source.name} (${formatRps(l.rps)} rps, ${formatPercent(l.successRate)})`).join('; ')}
        </p>
      ) : null}
    </div>
  );
}
