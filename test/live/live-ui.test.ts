// The Live page in a real browser (Debian's Chromium through playwright-core): a real
// `skiff dashboard` process serving the UI built from this tree and its own /api/tap, real
// sidecars (src/proxy, with the tap mounted as `skiff proxy` mounts it) that report to it with
// their admin URLs, a real app, and real requests that must show up on the page as they happen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT, runSkiff } from '../helpers/process.ts';
import type { Running } from '../helpers/process.ts';
import { SLOW_MS, eventually, launchBrowser, login, sendRequests } from '../ui/harness.ts';
import type { Dashboard, TestBrowser } from '../ui/harness.ts';
import { startApp, startTappedSidecar } from './helpers.ts';
import type { TappedSidecar } from './helpers.ts';

const TOKEN = `live-ui-${Date.now()}`;
const dir = mkdtempSync(join(tmpdir(), 'skiff-live-ui-'));
let dashProc: Running;
let dash: Dashboard;
let app: Awaited<ReturnType<typeof startApp>>;
let web0: TappedSidecar;
let web1: TappedSidecar;
let api0: TappedSidecar;
let browser: TestBrowser;
let page: Page;

before(async () => {
  // The UI as this tree builds it, into a directory of our own (dist/web belongs to the build).
  const build = spawnSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'src/dashboard/web/vite.config.ts', '--outDir', join(dir, 'web'), '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  dashProc = runSkiff(['dashboard', '--listen', '127.0.0.1:0', '--data', join(dir, 'data'), '--web-root', join(dir, 'web')], { env: { SKIFF_TOKEN: TOKEN } });
  const m = await dashProc.waitForLine(/skiff dashboard: (http:\/\/\S+?)\/ \(log in/, SLOW_MS);
  app = await startApp((req, res) => {
    req.resume();
    const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
    req.on('end', () => res.writeHead(status, { 'content-type': 'text/plain' }).end('hello'));
  });
  dash = { url: m[1]!, token: TOKEN, process: dashProc };
  const opts = { token: TOKEN, allowHeaders: true };
  const report = { dashboard: dash.url, token: TOKEN };
  web0 = await startTappedSidecar(app.port, opts, { service: 'web', namespace: 'default', pod: 'web-0' }, {}, report);
  web1 = await startTappedSidecar(app.port, opts, { service: 'web', namespace: 'default', pod: 'web-1' }, {}, report);
  api0 = await startTappedSidecar(app.port, opts, { service: 'api', namespace: 'default', pod: 'api-0' }, {}, report);
  // The service picker lists services with traffic in the window.
  await sendRequests(web0.port, [{ path: '/warm' }]);
  await sendRequests(api0.port, [{ path: '/warm' }]);
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  for (const s of [web0, web1, api0]) await s?.close();
  await app?.close();
  dashProc?.kill('SIGTERM');
  await dashProc?.exited;
  rmSync(dir, { recursive: true, force: true });
});

async function rowPaths(): Promise<string[]> {
  return page.locator('table.live tbody tr[data-seq] td[data-col="path"]').allTextContents();
}

async function stat(label: string): Promise<string> {
  return ((await page.locator('.stat', { hasText: label }).locator('.stat-value').textContent()) ?? '').trim();
}

void test('the Live page shows each request of a service as it happens, tagged with its pod', async () => {
  await login(page, dash, '/live?service=default/web');
  await page.locator('h1', { hasText: 'Live' }).waitFor();
  await eventually(async () => assert.equal(await stat('sidecars'), '2'));
  assert.equal(await page.locator('select[name="service"]').inputValue(), 'default/web');
  await page.locator('[data-empty="live"]').waitFor();

  await sendRequests(web0.port, [{ path: '/first' }]);
  await eventually(async () => assert.deepEqual(await rowPaths(), ['/first']));
  await sendRequests(web1.port, [{ path: '/second?status=503' }]);
  await sendRequests(api0.port, [{ path: '/not-web' }]);
  await sendRequests(web0.port, [{ path: '/third', method: 'POST', body: 'abc' }]);
  await eventually(async () => assert.deepEqual(await rowPaths(), ['/third', '/second', '/first']));
  const newest = page.locator('table.live tbody tr[data-seq]').first();
  assert.equal(await newest.locator('td[data-col="pod"]').textContent(), 'web-0');
  assert.equal(await newest.locator('td[data-col="method"]').textContent(), 'POST');
  assert.equal(await newest.locator('td[data-col="request"]').textContent(), '3 B');
  const second = page.locator('table.live tbody tr[data-seq]').nth(1);
  assert.equal(await second.locator('td[data-col="pod"]').textContent(), 'web-1');
  assert.equal(await second.locator('td[data-col="status"]').textContent(), '503');
  assert.equal(await second.getAttribute('class'), 'row-unhealthy');
  await browser.screenshot('live');
  assert.deepEqual(browser.problems, []);
});

void test('traffic is rendered as text, never as markup', async () => {
  const xss = '/<img/src/onerror=alert(document.domain)>';
  await sendRequests(web0.port, [{ path: xss }]);
  await eventually(async () => assert.equal((await rowPaths())[0], xss));
  assert.equal(await page.locator('table.live img').count(), 0);
  assert.deepEqual(browser.dialogs, []);
});

void test('filters narrow the stream and live in the URL; pause freezes the table', async () => {
  await page.locator('[role="radiogroup"][aria-label="Status"] button', { hasText: '5xx' }).click();
  await eventually(() => Promise.resolve(assert.match(page.url(), /status=5xx/)));
  await eventually(async () => assert.equal(await stat('requests seen'), '0'));
  await eventually(async () => assert.equal(await stat('sidecars'), '2'));
  await sendRequests(web0.port, [{ path: '/ok-hidden' }, { path: '/broken?status=500' }]);
  await eventually(async () => assert.deepEqual(await rowPaths(), ['/broken']));

  await page.locator('button[name="pause"]').click();
  await sendRequests(web1.port, [{ path: '/while-paused?status=502' }]);
  await eventually(async () => assert.match((await page.locator('button[name="pause"]').textContent()) ?? '', /Resume \(1 new\)/));
  assert.deepEqual(await rowPaths(), ['/broken'], 'a paused table does not move');
  await page.locator('button[name="pause"]').click();
  await eventually(async () => assert.deepEqual(await rowPaths(), ['/while-paused', '/broken']));

  // Path prefix: applied on Enter.
  await page.locator('[role="radiogroup"][aria-label="Status"] button', { hasText: 'all' }).click();
  await page.locator('input[name="path"]').fill('/api/');
  await page.locator('input[name="path"]').press('Enter');
  await eventually(() => Promise.resolve(assert.match(page.url(), /path=%2Fapi%2F/)));
  await eventually(async () => assert.equal(await stat('sidecars'), '2'));
  await sendRequests(web0.port, [{ path: '/web/x' }, { path: '/api/y' }]);
  await eventually(async () => assert.deepEqual(await rowPaths(), ['/api/y']));
  assert.deepEqual(browser.problems, []);
});

void test('a row opens to its headers, with secrets redacted', async () => {
  await page.goto(`${dash.url}/live?service=default/api&headers=1`);
  await eventually(async () => assert.equal(await stat('sidecars'), '1'));
  await sendRequests(api0.port, [{ path: '/with-headers' }]);
  await eventually(async () => assert.deepEqual(await rowPaths(), ['/with-headers']));
  // node:http adds no Authorization of its own: send one through the app-facing port by hand.
  const res = await fetch(`http://127.0.0.1:${api0.port}/secret`, { headers: { authorization: 'Bearer top-secret' } });
  assert.equal(res.status, 200);
  await eventually(async () => assert.equal((await rowPaths())[0], '/secret'));
  await page.locator('table.live tbody tr[data-seq]').first().click();
  const detail = page.locator('tr.live-detail');
  await detail.waitFor();
  const text = (await detail.textContent()) ?? '';
  assert.match(text, /authorization: \[redacted\]/);
  assert.ok(!text.includes('top-secret'));
  await browser.screenshot('live-detail');
  assert.deepEqual(browser.problems, []);
});
