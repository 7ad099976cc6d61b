/**
 * A time-series chart on uPlot. The plot is created once per chart and then updated in place
 * with `setData` on every refresh, so the canvas never blanks or flickers. uPlot writes its
 * legend with textContent, and every label here is ours (p50, req p99…), never traffic data.
 */
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { NO_DATA } from '../format.ts';

export interface ChartSeries {
  label: string;
  /** A CSS custom property holding the colour, e.g. `--c-p99`, resolved at draw time. */
  colorVar: string;
  dash?: number[];
}

export interface ChartProps {
  title: string;
  series: readonly ChartSeries[];
  /** x in seconds since epoch, then one array per series (null: no data for that step). */
  data: uPlot.AlignedData;
  /** Formats a y value for the axis and the legend. */
  format: (v: number | null) => string;
  /** x range in seconds: the whole window, even where there is no data yet. */
  xRange: readonly [number, number];
  /** `zero`: from 0 up; `percent`: success rates (0–100, zoomed to the interesting top). */
  yScale?: 'zero' | 'percent';
  height?: number;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/**
 * Points are drawn only where a value stands alone between gaps (a single step with traffic),
 * which a line alone would not show; elsewhere the line says it all.
 */
function isolatedPoints(u: uPlot, seriesIdx: number): number[] | null {
  const ys = u.data[seriesIdx];
  if (!ys) return null;
  const out: number[] = [];
  const n = ys.length;
  for (let i = 0; i < n; i++) {
    if (ys[i] == null) continue;
    if ((i === 0 || ys[i - 1] == null) && (i === n - 1 || ys[i + 1] == null)) out.push(i);
  }
  return out.length > 0 ? out : null;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const clockSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** One line per tick, as precise as the window needs: 13:42:30 (minutes), 13:42 (hours), Nov 29 (days). */
function formatTick(seconds: number, range: readonly [number, number]): string {
  const span = range[1] - range[0];
  const d = new Date(seconds * 1000);
  if (span <= 15 * 60) return clockSeconds.format(d);
  if (span <= 48 * 3600) return clock.format(d);
  return day.format(d);
}

function yRange(kind: 'zero' | 'percent'): uPlot.Scale.Range {
  if (kind === 'percent') {
    // Show the top of the scale where success rates live, but never hide a dip below it.
    // A little headroom above 100 so that a perfect record is a visible line, not the plot's edge.
    return (_u, min) => [Number.isFinite(min) ? Math.max(0, Math.min(90, Math.floor(min / 5) * 5)) : 90, 101];
  }
  return (_u, _min, max) => [0, Number.isFinite(max) && max > 0 ? max * 1.15 : 1];
}

export function TimeChart(props: ChartProps): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Read by uPlot's callbacks, so that a new window or formatter needs no new plot.
  const latest = useRef(props);
  latest.current = props;
  const seriesKey = props.series.map((s) => `${s.label}:${s.colorVar}`).join('|');

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? NO_DATA : latest.current.format(v));
    const axis = (): uPlot.Axis => ({
      stroke: () => cssVar('--fg-muted'),
      grid: { stroke: cssVar('--grid'), width: 1 },
      ticks: { stroke: cssVar('--grid'), width: 1 },
      font: '11px system-ui, sans-serif',
    });
    const make = (): uPlot => {
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height: props.height ?? 180,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: {
          x: { time: true, range: () => [latest.current.xRange[0], latest.current.xRange[1]] },
          y: { range: yRange(props.yScale ?? 'zero') },
        },
        axes: [
          { ...axis(), space: 70, values: (_u, splits) => splits.map((t) => formatTick(t, latest.current.xRange)) },
          { ...axis(), size: 64, values: (_u, splits) => splits.map((v) => fmt(v)) },
        ],
        series: [
          {},
          ...props.series.map((s) => {
            const color = cssVar(s.colorVar);
            return {
              label: s.label,
              stroke: color,
              width: 1.5,
              dash: s.dash,
              points: { show: false, size: 6, fill: color, stroke: color, filter: isolatedPoints },
              value: (_u: uPlot, v: number | null) => fmt(v),
            };
          }),
        ],
      };
      return new uPlot(opts, latest.current.data, el);
    };
    plot.current = make();

    // Follow the container's width (the grid reflows with the window).
    let width = el.clientWidth;
    const resize = new ResizeObserver(() => {
      if (el.clientWidth !== width && plot.current) {
        width = el.clientWidth;
        plot.current.setSize({ width: Math.max(200, width), height: props.height ?? 180 });
      }
    });
    resize.observe(el);
    // Colours come from CSS: rebuild the plot when the colour scheme flips.
    const scheme = window.matchMedia('(prefers-color-scheme: dark)');
    const onScheme = (): void => {
      plot.current?.destroy();
      plot.current = make();
    };
    scheme.addEventListener('change', onScheme);
    return () => {
      scheme.removeEventListener('change', onScheme);
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data updates go through setData below.
  }, [seriesKey]);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  const points = props.data[0]?.length ?? 0;
  return (
    <figure class="chart" data-chart={props.title} data-points={points}>
      <figcaption>{props.title}</figcaption>
      <div class="chart-plot" ref={host} />
    </figure>
  );
}
