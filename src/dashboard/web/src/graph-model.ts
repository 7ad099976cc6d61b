/**
 * The service graph as data, and its layout: nodes are services (from /api/services, plus any
 * destination that only appears in /api/edges), links are edges (who calls whom). Pure and
 * deterministic (d3-force's own seeded random source, initial positions from the node order),
 * so that the same mesh always draws the same picture; unit-tested in Node.
 */
import type { SimulationLinkDatum, SimulationNodeDatum } from 'd3-force';
import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY } from 'd3-force';
import type { Edge, ServiceSummary } from '../../api-types.ts';
import type { Health } from './health.ts';
import { healthOf, serviceId } from './health.ts';

/** Bounds that keep the layout fast and the picture readable. */
export const MAX_NODES = 150;
export const MAX_LINKS = 600;

export interface GraphNode extends SimulationNodeDatum {
  id: string;
  name: string;
  /** null for a destination that never reported (called, but without a sidecar of its own). */
  namespace: string | null;
  health: Health;
  rps: number;
  successRate: number | null;
  radius: number;
}

export interface GraphLink extends SimulationLinkDatum<GraphNode> {
  id: string;
  source: GraphNode;
  target: GraphNode;
  rps: number;
  successRate: number | null;
  latencyP99: number | null;
  health: Health;
}

export interface Graph {
  nodes: GraphNode[];
  links: GraphLink[];
  /** Calls of a service to itself: listed, not drawn as lines. */
  selfCalls: GraphLink[];
}

function radiusFor(rps: number): number {
  return 16 + Math.min(14, Math.log10(1 + rps) * 5);
}

/** Builds the graph; the busiest services and edges are kept when the bounds are exceeded. */
export function buildGraph(services: readonly ServiceSummary[], edges: readonly Edge[]): Graph {
  const nodes = new Map<string, GraphNode>();
  const byName = new Map<string, ServiceSummary[]>();
  const busiest = [...services].sort((a, b) => b.rps - a.rps || serviceId(a).localeCompare(serviceId(b))).slice(0, MAX_NODES);
  for (const s of busiest) {
    const id = serviceId(s);
    nodes.set(id, { id, name: s.name, namespace: s.namespace, health: healthOf(s), rps: s.rps, successRate: s.successRate, radius: radiusFor(s.rps) });
    const list = byName.get(s.name) ?? [];
    list.push(s);
    byName.set(s.name, list);
  }
  const nodeFor = (name: string, preferNamespace: string): GraphNode | undefined => {
    const candidates = byName.get(name);
    const hit = candidates?.find((c) => c.namespace === preferNamespace) ?? candidates?.[0];
    if (hit) return nodes.get(serviceId(hit));
    const id = `?/${name}`;
    let ext = nodes.get(id);
    if (!ext && nodes.size < MAX_NODES) {
      ext = { id, name, namespace: null, health: 'idle', rps: 0, successRate: null, radius: radiusFor(0) };
      nodes.set(id, ext);
    }
    return ext;
  };

  const links: GraphLink[] = [];
  const selfCalls: GraphLink[] = [];
  const sortedEdges = [...edges].sort((a, b) => b.rps - a.rps).slice(0, MAX_LINKS);
  for (const e of sortedEdges) {
    const source = nodes.get(`${e.sourceNamespace}/${e.source}`) ?? nodeFor(e.source, e.sourceNamespace);
    const target = nodeFor(e.destination, e.sourceNamespace);
    if (!source || !target) continue;
    const link: GraphLink = {
      id: `${source.id}→${target.id}`,
      source,
      target,
      rps: e.rps,
      successRate: e.successRate,
      latencyP99: e.latencyMs.p99,
      health: healthOf({ successRate: e.successRate }),
    };
    (source === target ? selfCalls : links).push(link);
  }
  const ordered = [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  return { nodes: ordered, links, selfCalls };
}

export interface Point {
  x: number;
  y: number;
}

/**
 * Positions the nodes (mutating x/y). Nodes seen in the previous layout start where they
 * were, so a refresh moves nothing that did not change; new ones start on a spiral.
 */
export function layoutGraph(graph: Graph, previous: ReadonlyMap<string, Point>): void {
  const { nodes, links } = graph;
  let known = 0;
  nodes.forEach((n, i) => {
    const p = previous.get(n.id);
    if (p) {
      n.x = p.x;
      n.y = p.y;
      known += 1;
    } else {
      // Phyllotaxis: evenly spread, deterministic starting points.
      const r = 40 * Math.sqrt(i + 0.5);
      const a = i * Math.PI * (3 - Math.sqrt(5));
      n.x = r * Math.cos(a);
      n.y = r * Math.sin(a);
    }
  });
  const settled = known === nodes.length && nodes.length > 0;
  const sim = forceSimulation<GraphNode>(nodes)
    .force(
      'link',
      forceLink<GraphNode, GraphLink>(links)
        .id((d) => d.id)
        .distance((l) => 170 + l.source.radius + l.target.radius),
    )
    .force('charge', forceManyBody<GraphNode>().strength(-900))
    // Room for the two label lines under each node.
    .force('collide', forceCollide<GraphNode>((d) => d.radius + 48))
    // Gentle gravity, so that services that call nobody stay near the rest; weaker sideways,
    // because screens are wider than tall.
    .force('x', forceX<GraphNode>(0).strength(0.04))
    .force('y', forceY<GraphNode>(0).strength(0.1))
    .force('center', forceCenter(0, 0))
    .stop();
  // A settled picture only needs a nudge; a new one needs the full cool-down.
  if (settled) sim.alpha(0.05);
  const ticks = settled ? 30 : 300;
  for (let i = 0; i < ticks; i++) sim.tick();
}

/** The box that holds every node with its label, for the SVG viewBox. */
export function bounds(nodes: readonly GraphNode[], pad = 60): { x: number; y: number; width: number; height: number } {
  if (nodes.length === 0) return { x: -500, y: -280, width: 1000, height: 560 };
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const n of nodes) {
    const x = n.x ?? 0;
    const y = n.y ?? 0;
    minX = Math.min(minX, x - n.radius);
    maxX = Math.max(maxX, x + n.radius);
    minY = Math.min(minY, y - n.radius);
    maxY = Math.max(maxY, y + n.radius + 32); // two lines of labels sit under the node
  }
  // Never smaller than the drawing area, so that a small mesh is drawn at 1:1, not magnified.
  const width = Math.max(1000, maxX - minX + 2 * pad);
  const height = Math.max(560, maxY - minY + 2 * pad);
  return { x: (minX + maxX) / 2 - width / 2, y: (minY + maxY) / 2 - height / 2, width, height };
}

/** A line from the edge of one circle to the edge of the other (so the arrow head shows). */
export function linkEnds(l: GraphLink, gap = 4): { x1: number; y1: number; x2: number; y2: number } {
  const sx = l.source.x ?? 0;
  const sy = l.source.y ?? 0;
  const tx = l.target.x ?? 0;
  const ty = l.target.y ?? 0;
  const dx = tx - sx;
  const dy = ty - sy;
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len;
  const uy = dy / len;
  return {
    x1: sx + ux * (l.source.radius + gap),
    y1: sy + uy * (l.source.radius + gap),
    x2: tx - ux * (l.target.radius + gap + 6),
    y2: ty - uy * (l.target.radius + gap + 6),
  };
}
