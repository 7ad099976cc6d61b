#!/usr/bin/env node
// The only place that touches `process`: it builds the CLI's IO and turns signals into an
// AbortSignal. A second SIGINT/SIGTERM while draining exits at once.
import { main } from '../src/cli/main.ts';

const controller = new AbortController();
let signals = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    signals += 1;
    if (signals > 1) process.exit(130);
    controller.abort(sig);
  });
}

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  shutdown: controller.signal,
});
process.exitCode = code;
// Servers have closed their handles by now; anything left (a stuck socket) must not keep us alive.
setTimeout(() => process.exit(code), 1000).unref();
