#!/usr/bin/env node
// The only place that touches `process`: it builds the CLI's IO and turns signals into an
// AbortSignal. A second SIGINT/SIGTERM while draining exits at once.
import { enableCompileCache } from 'node:module';

// Node caches compiled code and the result of TypeScript type stripping here (by default under
// the OS temp dir; SKIFF_COMPILE_CACHE or NODE_COMPILE_CACHE choose another). It cuts the
// sidecar's start from ~300 ms of CPU to ~100 ms; where the directory is not writable (a
// read-only root filesystem) it simply stays off.
enableCompileCache(process.env.SKIFF_COMPILE_CACHE);

const { main } = await import('../src/cli/main.ts');

const controller = new AbortController();
let firstSignalAt = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    // A terminal's Ctrl-C can reach us twice (directly and relayed by npm): a repeat within
    // 250 ms is the same request; a later one means "stop now".
    const now = Date.now();
    if (firstSignalAt !== 0) {
      if (now - firstSignalAt > 250) process.exit(130);
      return;
    }
    firstSignalAt = now;
    controller.abort(sig);
  });
}

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  // Lazily: touching process.stdin creates a stream (and loads readline); only commands that
  // read stdin (inject, uninject) should pay for it.
  get stdin() {
    return process.stdin;
  },
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  shutdown: controller.signal,
});
process.exitCode = code;
// Servers have closed their handles by now; anything left (a stuck socket) must not keep us alive.
setTimeout(() => process.exit(code), 1000).unref();
