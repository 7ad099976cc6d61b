// Runs after `npm ci` / `npm install`: builds the dashboard's web UI into dist/web so that
// `npm start` and the tests serve a real bundle (no CDN, works offline).
// Skipped when Vite is absent (a production install with --omit=dev ships a prebuilt dist/).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const vite = join(root, 'node_modules', '.bin', 'vite');
const config = join(root, 'src', 'dashboard', 'web', 'vite.config.ts');

if (!existsSync(config)) process.exit(0);
if (!existsSync(vite)) {
  process.stderr.write('skiff: vite is not installed (production install?): skipping the UI build\n');
  process.exit(0);
}
const r = spawnSync(vite, ['build', '--config', config, '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
