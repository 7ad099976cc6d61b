/**
 * The app shell: header (navigation and the time window), and the page for the current route.
 * Pages own their data (each polls the API); the shell only parses the URL.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Link, navigate, useLocation } from './router.tsx';
import type { Route, TimeWindow } from './routes.ts';
import { WINDOWS, parseRoute, parseWindow, withWindow } from './routes.ts';
import { OverviewPage } from './pages/overview.tsx';
import { LivePage } from './pages/live.tsx';

type PageComponent<P> = (props: P) => JSX.Element;

/**
 * A page whose code is a separate chunk, fetched when first shown (or prefetched when the
 * browser is idle): the service page brings uPlot, the graph d3-force, and the overview that
 * most visits start on needs neither.
 */
function lazyPage<P extends object>(load: () => Promise<PageComponent<P>>): PageComponent<P> & { prefetch(): void } {
  let loaded: PageComponent<P> | undefined;
  let pending: Promise<PageComponent<P>> | undefined;
  const get = (): Promise<PageComponent<P>> => {
    pending ??= load().then(
      (c) => (loaded = c),
      (err: unknown) => {
        pending = undefined; // let a later visit try again
        throw err;
      },
    );
    return pending;
  };
  function Lazy(props: P): JSX.Element {
    const [, setTick] = useState(0);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
      if (loaded) return;
      let live = true;
      get().then(
        () => live && setTick((n) => n + 1),
        (err: unknown) => live && setError(err instanceof Error ? err.message : String(err)),
      );
      return () => {
        live = false;
      };
    }, []);
    if (loaded) {
      const Page = loaded;
      return <Page {...props} />;
    }
    if (error !== null) return <p class="notice page">Could not load this page: {error}. Reload to try again.</p>;
    return <p class="muted page">Loading…</p>;
  }
  return Object.assign(Lazy, { prefetch: () => void get().catch(() => undefined) });
}

const ServicePage = lazyPage(async () => (await import('./pages/service.tsx')).ServicePage);
const GraphPage = lazyPage(async () => (await import('./pages/graph.tsx')).GraphPage);

function WindowPicker(props: { value: TimeWindow; pathname: string }): JSX.Element {
  return (
    <div class="window-picker" role="radiogroup" aria-label="time window">
      {WINDOWS.map((w) => (
        <button
          key={w}
          type="button"
          role="radio"
          aria-checked={w === props.value}
          class={w === props.value ? 'active' : undefined}
          onClick={() => navigate(withWindow(props.pathname, w), true)}
        >
          {w}
        </button>
      ))}
    </div>
  );
}

function NavLink(props: { href: string; label: string; active: boolean }): JSX.Element {
  return (
    <Link href={props.href} class={props.active ? 'nav-link active' : 'nav-link'} aria-current={props.active ? 'page' : undefined}>
      {props.label}
    </Link>
  );
}

function Page(props: { route: Route; window: TimeWindow }): JSX.Element {
  const { route, window: win } = props;
  switch (route.page) {
    case 'overview':
      return <OverviewPage window={win} />;
    case 'service':
      // Keyed: another service is another page (no stale charts from the previous one).
      return <ServicePage key={`${route.namespace}/${route.name}`} namespace={route.namespace} name={route.name} window={win} />;
    case 'graph':
      return <GraphPage window={win} />;
    case 'live':
      return <LivePage />;
    case 'not-found':
      return (
        <div class="page empty">
          <h1>Not found</h1>
          <p>
            There is no page at <code>{route.path}</code>. <Link href={withWindow('/', win)}>Back to the services</Link>.
          </p>
        </div>
      );
  }
}

export function App(): JSX.Element {
  const loc = useLocation();
  useEffect(() => {
    // Once the first page is up, fetch the other pages' code in the background.
    const t = window.setTimeout(() => {
      ServicePage.prefetch();
      GraphPage.prefetch();
    }, 1500);
    return () => window.clearTimeout(t);
  }, []);
  const route = parseRoute(loc.pathname);
  const timeWindow = parseWindow(loc.search);
  const section = route.page === 'service' ? 'overview' : route.page;
  return (
    <>
      <header class="top">
        <Link href={withWindow('/', timeWindow)} class="brand">
          skiff
        </Link>
        <nav aria-label="main">
          <NavLink href={withWindow('/', timeWindow)} label="Services" active={section === 'overview'} />
          <NavLink href={withWindow('/graph', timeWindow)} label="Graph" active={section === 'graph'} />
          <NavLink href={withWindow('/live', timeWindow)} label="Live" active={section === 'live'} />
        </nav>
        <span class="spacer" />
        {route.page !== 'live' ? <WindowPicker value={timeWindow} pathname={loc.pathname} /> : null}
        <form method="post" action="/logout" class="logout">
          <button type="submit" title="end this browser's session">
            Log out
          </button>
        </form>
      </header>
      <main>
        <Page route={route} window={timeWindow} />
      </main>
    </>
  );
}
