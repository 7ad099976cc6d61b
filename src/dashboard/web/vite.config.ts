// Builds the dashboard's web UI into <repo>/dist/web, which `skiff dashboard` serves.
// No CDN and no external fonts: the bundle is everything the page loads, so it works offline.
//
// JSX: Vite 8 transforms TS/TSX with oxc, which can target Preact's automatic runtime
// directly, so no framework plugin (and no Babel) is needed.
//
// Dev loop: `SKIFF_DEV_DASHBOARD=http://127.0.0.1:7000 npx vite --config src/dashboard/web/vite.config.ts`
// serves the UI with hot reload and forwards /api and /login to a running dashboard.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../../../dist/web', import.meta.url));
const devDashboard = process.env.SKIFF_DEV_DASHBOARD;

export default defineConfig({
  root: here,
  base: '/',
  // Copied as is (not hashed): the favicon. No data: URLs, which the dashboard's CSP forbids.
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    // Chromium, Firefox and Safari of the last years support modulepreload: no inline polyfill,
    // which also keeps the page compatible with a strict Content-Security-Policy.
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    chunkSizeWarningLimit: 200,
  },
  server: devDashboard
    ? { proxy: { '/api': devDashboard, '/login': devDashboard, '/logout': devDashboard } }
    : {},
});
