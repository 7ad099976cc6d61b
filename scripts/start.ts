// `npm start`: the demo. Runs `skiff up -f examples/shop/skiff.yaml`: the dashboard and a
// five-service shop (loadgen → frontend → catalog, reviews ×2 → ratings), every service behind
// its own sidecar. Prints the dashboard's login URL; Ctrl-C stops everything.
//
// Usage: npm start [-- skiff up options]   e.g. npm start -- --color never
//
// Like bin/skiff.ts, this is an entry point: it turns the process into the CLI's IO (and the
// first SIGINT/SIGTERM into a clean stop; a second one exits at once).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../src/cli/main.ts';

const root = join(import.meta.dirname, '..');
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`npm start needs Node 24 or later (this is ${process.version}); run it through npm, which uses the pinned node_modules/.bin/node\n`);
  process.exit(1);
}

// The dashboard serves the built UI; `npm ci` builds it (postinstall), but a checkout where
// that step was skipped would show an empty page.
if (existsSync(join(root, 'src/dashboard/web/vite.config.ts')) && !existsSync(join(root, 'dist/web/index.html'))) {
  process.stderr.write('npm start: building the dashboard UI first (npm run build:ui)…\n');
  const r = spawnSync('npm', ['run', '--silent', 'build:ui'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.stderr.write('npm start: the UI build failed; the dashboard API still works\n');
}

// One Ctrl-C can arrive twice (from the terminal, and forwarded by npm): a repeat within
// half a second is the same request; a later one means "stop waiting, exit now".
const controller = new AbortController();
let firstSignalAt = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now();
      controller.abort(sig);
    } else if (Date.now() - firstSignalAt > 500) process.exit(130);
  });
}

process.stderr.write('npm start: starting the demo shop (examples/shop/skiff.yaml); the dashboard URL follows once it is up\n');
const code = await main({
  argv: ['up', '-f', join(root, 'examples', 'shop', 'skiff.yaml'), ...process.argv.slice(2)],
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: root,
  shutdown: controller.signal,
});
process.exitCode = code;
setTimeout(() => process.exit(code), 1000).unref();
