/**
 * What a sidecar loads at start counts in every pod's memory (docs/performance.md): node:crypto
 * (OpenSSL's generator, ~1.7 MiB) and node:zlib are loaded only when a reporter or an
 * authenticated tap needs them. The list comes from the running process itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxyProcess } from '../helpers/process.ts';

test('a sidecar without a dashboard has not loaded node:crypto or node:zlib once it is ready', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-modules-'));
  const preload = join(dir, 'modules.mjs');
  // Preloaded with --import: prints Node's list of loaded built-in modules on SIGUSR2.
  writeFileSync(preload, "process.on('SIGUSR2', () => process.stderr.write(`MODULES ${process.moduleLoadList.join(',')}\\n`));\n");
  const proxy = await startProxyProcess(1, [], { NODE_OPTIONS: `--import ${preload}` });
  try {
    proxy.kill('SIGUSR2');
    const [line] = await proxy.waitForLine(/MODULES [^\n]*\n/);
    const builtins = new Set(line.trim().slice('MODULES '.length).split(',').filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)));
    assert.ok(builtins.has('net'), 'the list is real: the proxy has loaded node:net');
    for (const m of ['crypto', 'zlib']) assert.ok(!builtins.has(m), `node:${m} is loaded at start`);
  } finally {
    proxy.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
