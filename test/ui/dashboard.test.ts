// The dashboard's web UI in a real browser (Debian's Chromium through playwright-core), against
// a real mesh: `skiff dashboard` fed by `skiff proxy` sidecars in front of node:http apps.
// One browser for the whole file; the tests run in order and build on each other's traffic.
// Screenshots land in $SKIFF_TEST_RESULTS/screenshots/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { App, Dashboard, Sidecar, TestBrowser } from './harness.ts';
import { Mesh, eventually, freePort, launchBrowser, login, postReport, readBody, sendRequests } from './harness.ts';

const XSS_SCRIPT = '/<script>alert(1)</script>';
// Inserted as HTML this would run at once (an <img> with onerror), unlike a <script> added by innerHTML.
const XSS_IMG = '/<img/src/onerror=alert(document.domain)>';

/** The little of the DOM these tests touch in page callbacks (the Node project has no DOM lib). */
interface DomElement {
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  querySelectorAll(selector: string): Iterable<DomElement>;
  textContent: string | null;
}

const mesh = new Mesh();
let dash: Dashboard;
let browser: TestBrowser;
let page: Page;
let web: Sidecar;
let api: Sidecar;
let apiApp: App;

before(async () => {
  dash = await mesh.dashboard();
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await mesh.close();
});

/** The text of one cell of a service's row on the overview. */
async function cell(service: string, col: string): Promise<string> {
  return ((await page.locator(`tr[data-service="${service}"] td[data-col="${col}"]`).textContent({ timeout: 5000 })) ?? '').trim();
}

async function rowOrder(): Promise<string[]> {
  return page.locator('table.services tbody tr').evaluateAll((rows: DomElement[]) => rows.map((r) => r.getAttribute('data-service') ?? ''));
}

/** Counts, per chart, the canvas pixels close to the colour of its first series (drawn data, not axes). */
const PAINTED = `(() => {
  const css = getComputedStyle(document.documentElement);
  const vars = { 'Requests per second': '--c-rps', 'Success rate': '--c-ok', 'Latency': '--c-p99', 'Payload size': '--c-resp' };
  const probe = document.createElement('canvas').getContext('2d');
  return [...document.querySelectorAll('figure.chart')].map((fig) => {
    const title = fig.getAttribute('data-chart');
    probe.fillStyle = css.getPropertyValue(vars[title]).trim();
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    const canvas = fig.querySelector('canvas');
    const ctx = canvas.getContext('2d');
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 60) n++;
    }
    return { title, points: Number(fig.getAttribute('data-points')), painted: n };
  });
})()`;

void test('an empty mesh tells a new user how to put a sidecar in front of a service', async () => {
  await login(page, dash);
  const empty = page.locator('[data-empty="services"]');
  await empty.waitFor();
  const text = (await empty.textContent()) ?? '';
  assert.match(text, /skiff proxy --app 127\.0\.0\.1:8080 --listen 0\.0\.0\.0:15001/);
  assert.ok(text.includes(`--dashboard ${dash.url}`), `the command should name this dashboard (${dash.url}): ${text}`);
  assert.match(text, /SKIFF_TOKEN/);
  assert.match(text, /skiff inject/);
  await browser.screenshot('empty-overview');
});

void test('the overview lists every service with the right counts, the unhealthy one first', async () => {
  apiApp = await mesh.app((req, res) => {
    res.statusCode = req.url === '/fail' ? 500 : 200;
    res.end(req.url === '/fail' ? 'boom' : 'ok');
  });
  api = await mesh.sidecar({ service: 'api', app: apiApp, dashboard: dash });
  // web calls api through its own sidecar (an upstream port), which makes the web → api edge.
  const upstreamPort = await freePort();
  const webApp = await mesh.app((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (req.url === '/hello') return res.end('hello, world\n');
      if (req.url === '/items' && req.method === 'POST') return res.end(JSON.stringify({ received: body.length }));
      if (req.url === '/call-api') {
        const r = await fetch(`http://127.0.0.1:${upstreamPort}/ok`);
        res.statusCode = r.status;
        return res.end(await r.text());
      }
      res.statusCode = 404;
      res.end('not found');
    })().catch(() => res.destroy());
  });
  web = await mesh.sidecar({ service: 'web', app: webApp, dashboard: dash, extra: ['--upstream', `api=127.0.0.1:${upstreamPort}@127.0.0.1:${api.port}`] });

  const webReplies = await sendRequests(web.port, [
    { path: '/hello', count: 20 },
    { path: '/items', method: 'POST', body: 'x'.repeat(2048), count: 5 },
    { path: XSS_SCRIPT },
    { path: XSS_IMG },
  ]);
  assert.deepEqual([...new Set(webReplies.map((r) => r.status))].sort(), [200, 404]);
  const apiReplies = await sendRequests(api.port, [{ path: '/ok', count: 6 }, { path: '/fail', count: 4 }]);
  assert.equal(apiReplies.filter((r) => r.status === 500).length, 4);

  await eventually(async () => {
    assert.equal(await cell('default/web', 'requests'), '27');
    assert.equal(await cell('default/api', 'requests'), '10');
  });
  assert.equal(await cell('default/web', 'pods'), '1');
  assert.equal(await cell('default/api', 'pods'), '1');
  assert.equal(await cell('default/web', 'success'), '100%', '404s are the client’s fault: not failures');
  assert.equal(await cell('default/api', 'success'), '60.0%');
  assert.notEqual(await cell('default/web', 'p99'), '—');
  assert.match(await cell('default/web', 'req'), /KiB/, 'the POST bodies (2 KiB) show in the request sizes');
  assert.match((await page.locator('tr[data-service="default/api"]').getAttribute('class')) ?? '', /row-unhealthy/);
  assert.match((await page.locator('tr[data-service="default/web"]').getAttribute('class')) ?? '', /row-healthy/);
  assert.deepEqual(await rowOrder(), ['default/api', 'default/web'], 'unhealthy first by default');
  await browser.screenshot('overview');
});

void test('sorting by a column reorders the rows', async () => {
  await page.getByRole('button', { name: 'Requests', exact: true }).click();
  await eventually(async () => assert.deepEqual(await rowOrder(), ['default/web', 'default/api'], 'busiest first'));
  await page.getByRole('button', { name: 'Requests', exact: true }).click();
  await eventually(async () => assert.deepEqual(await rowOrder(), ['default/api', 'default/web'], 'then the other way round'));
  assert.equal(await page.locator('th[aria-sort="ascending"]').count(), 1);
});

void test('a service page draws its charts, routes, status codes and pod', async () => {
  await page.locator('tr[data-service="default/web"] td.name a').click();
  await page.waitForURL(/\/services\/default\/web$/);
  await page.locator('[data-testid="service-name"]', { hasText: 'web' }).waitFor();
  await page.locator('table.routes').waitFor();

  // Saved even when an assertion below fails: the picture explains the failure.
  const charts = await eventually(async () => {
    const c = await page.evaluate<{ title: string; points: number; painted: number }[]>(PAINTED);
    assert.deepEqual(c.map((x) => x.title), ['Requests per second', 'Success rate', 'Latency', 'Payload size']);
    for (const x of c) {
      assert.ok(x.points > 0, `${x.title}: no points`);
      assert.ok(x.painted > 10, `${x.title}: nothing drawn in the series colour (${x.painted} pixels)`);
    }
    return c;
  }).finally(() => browser.screenshot('service-web'));
  assert.equal(charts.length, 4);

  const routes = await page.locator('table.routes tbody tr').evaluateAll((rows: DomElement[]) =>
    rows.map((r) => [...r.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)),
  );
  assert.deepEqual(
    routes.filter((r) => r[1] === '/hello' || r[1] === '/items'),
    [
      ['GET', '/hello', '20'],
      ['POST', '/items', '5'],
    ],
  );
  assert.match((await page.locator('li[data-code="200"] .bar-value').textContent()) ?? '', /^25 \(/);
  assert.match((await page.locator('li[data-code="404"] .bar-value').textContent()) ?? '', /^2 \(/);
  const pod = page.locator('article[data-pod="web-0"]');
  await pod.waitFor();
  assert.match((await pod.textContent()) ?? '', /CPU.*Memory/s);
  await browser.screenshot('service-web');
});

void test('paths and names from traffic render as text, never as markup', async () => {
  const routeCells = await page.locator('table.routes td.route').allTextContents();
  assert.ok(routeCells.includes(XSS_SCRIPT), `routes: ${JSON.stringify(routeCells)}`);
  assert.ok(routeCells.includes(XSS_IMG), `routes: ${JSON.stringify(routeCells)}`);
  assert.equal(await page.locator('main script, main img').count(), 0);

  // A hostile identity, posted in the real report format (a sidecar's flags would refuse it).
  const evil = '<img src=x onerror=alert(1)>';
  await postReport(dash, { identity: { service: evil, namespace: 'default', pod: 'evil-0' }, sidecarId: 'ui-test-evil', seq: 1, requests: [{ route: XSS_SCRIPT, status: 500, ms: 3, count: 2 }] });
  await page.getByRole('link', { name: 'Services', exact: true }).first().click();
  const row = page.locator(`tr[data-service="default/${evil}"]`);
  await row.waitFor();
  assert.equal(((await row.locator('td.name').textContent()) ?? '').trim(), `default/${evil}`);
  await row.locator('td.name a').click();
  await page.locator('[data-testid="service-name"]', { hasText: evil }).waitFor();
  assert.equal(await page.title(), `${evil} · skiff`);
  await page.locator('table.routes td.route', { hasText: XSS_SCRIPT }).waitFor();
  assert.equal(await page.locator('main script, main img').count(), 0);
  await browser.screenshot('xss-as-text');
  assert.deepEqual(browser.dialogs, [], 'no script from traffic may run');
});

void test('refreshes update the page in place, and the window selector keeps the view', async () => {
  await page.getByRole('link', { name: 'Services', exact: true }).first().click();
  const apiRow = page.locator('tr[data-service="default/api"]');
  await apiRow.waitFor();
  // Mark the DOM nodes: a refresh that re-created them (a flicker) would lose the marks.
  await apiRow.evaluate((el: DomElement) => el.setAttribute('data-mark', 'before-refresh'));
  await sendRequests(api.port, [{ path: '/ok', count: 3 }]);
  await eventually(async () => assert.equal(await cell('default/api', 'requests'), '13'));
  assert.equal(await apiRow.getAttribute('data-mark'), 'before-refresh', 'the row was updated, not replaced');

  await page.getByRole('radio', { name: '1h' }).click();
  await page.waitForURL(/\?window=1h$/);
  await eventually(async () => assert.equal(await cell('default/api', 'requests'), '13'));

  // The same on a service page: the chart canvases survive refreshes.
  await page.locator('tr[data-service="default/api"] td.name a').click();
  await page.waitForURL(/\/services\/default\/api\?window=1h$/);
  await page.locator('figure.chart canvas').first().waitFor();
  await page.locator('figure.chart canvas').first().evaluate((el: DomElement) => el.setAttribute('data-mark', 'before-refresh'));
  await sendRequests(api.port, [{ path: '/fail', count: 2 }]);
  await eventually(async () => {
    const stat = page.locator('.stat', { hasText: /^[\d,]+requests$/ });
    assert.equal(((await stat.locator('.stat-value').textContent()) ?? '').trim(), '15');
  });
  assert.equal(await page.locator('figure.chart canvas[data-mark="before-refresh"]').count(), 1, 'the chart was updated, not rebuilt');
  assert.equal(await page.locator('figure.chart').count(), 4);
});

void test('the service graph shows who calls whom, and a node opens its service', async () => {
  const replies = await sendRequests(web.port, [{ path: '/call-api', count: 4 }]);
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200]);
  await page.getByRole('link', { name: 'Graph', exact: true }).click();
  await page.waitForURL(/\/graph\?window=1h$/);
  const edge = page.locator('g[data-edge="default/web→default/api"]');
  await edge.waitFor();
  assert.match((await edge.locator('text').textContent()) ?? '', /rps · 100%/);
  const apiNode = page.locator('g[data-node="default/api"]');
  assert.match((await apiNode.getAttribute('class')) ?? '', /node-unhealthy/);
  assert.match((await page.locator('g[data-node="default/web"]').getAttribute('class')) ?? '', /node-healthy/);
  await browser.screenshot('graph');
  await apiNode.click();
  await page.waitForURL(/\/services\/default\/api\?window=1h$/);
  await page.locator('[data-testid="service-name"]', { hasText: 'api' }).waitFor();
});

void test('dark mode follows the system, charts included', async () => {
  const light = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
  await page.emulateMedia({ colorScheme: 'dark' });
  await eventually(async () => assert.notEqual(await page.evaluate<string>('getComputedStyle(document.body).backgroundColor'), light));
  // The charts are rebuilt with the dark palette: their series colours are the dark ones.
  await eventually(async () => {
    const c = await page.evaluate<{ title: string; painted: number }[]>(PAINTED);
    assert.equal(c.length, 4);
    for (const x of c) assert.ok(x.painted > 10, `${x.title}: not drawn in the dark palette`);
  });
  await browser.screenshot('service-api-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

void test('an expired session leads to the login page and back; "Log out" ends it', async () => {
  await page.getByRole('link', { name: 'Services', exact: true }).first().click();
  await page.locator('table.services').waitFor();
  await browser.context.clearCookies();
  // The next refresh gets a 401 and the app goes to the login page, remembering where it was.
  await page.waitForURL(/\/login\?next=%2F%3Fwindow%3D1h$/);
  await page.locator('input[name="token"]').fill(dash.token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/\?window=1h$/);
  await page.locator('tr[data-service="default/web"]').waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/login$/);
  assert.deepEqual(await browser.context.cookies(dash.url), []);
});

void test('the page reported no errors', () => {
  // The 401s of the expired-session test are expected; nothing else is.
  const unexpected = browser.problems.filter((p) => !/status of 401/.test(p));
  assert.deepEqual(unexpected, []);
});
