// The bench's wrk glue: the generated Lua, the parsing of its result line, and (when wrk is
// installed) one short, low-rate run that checks the pacing against a real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RESULT_MARKER, errorCount, parseWrkResult, runWrk, wrkScript } from '../../bench/wrk.ts';
import { Supervisor } from '../../bench/proc.ts';
import { findExecutable } from '../../bench/tools.ts';

const sample = `Running 1s test @ http://127.0.0.1:1/
  2 threads and 4 connections
${RESULT_MARKER}{"requests":2000,"duration_us":2000000,"bytes":300000,"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":0},"latency_us":{"mean":250.500,"p50":210,"p90":400,"p99":1200,"p999":3000,"max":9000}}
`;

void test('parseWrkResult reads the result line and converts latencies to ms', () => {
  const r = parseWrkResult(sample);
  assert.equal(r.requests, 2000);
  assert.equal(r.durationSeconds, 2);
  assert.equal(r.rate, 1000);
  assert.equal(r.latency.p50, 0.21);
  assert.equal(r.latency.p99, 1.2);
  assert.equal(r.latency.max, 9);
  assert.equal(errorCount(r), 3);
});

void test('parseWrkResult fails clearly without a result line or with a wrong shape', () => {
  assert.throws(() => parseWrkResult('Running 1s test\n'), /no result line/);
  assert.throws(() => parseWrkResult(`${RESULT_MARKER}{"requests":1}\n`), /unexpected shape/);
});

void test('a saturation script has no delay(); a paced one spaces slots threads/rate apart', () => {
  const sat = wrkScript({ threads: 2 });
  assert.doesNotMatch(sat, /function delay/);
  assert.match(sat, /function done/);
  const paced = wrkScript({ threads: 2, rate: 4000 });
  assert.match(paced, /function delay/);
  // 2 threads at 4,000 req/s together: each thread sends every 0.5 ms.
  assert.match(paced, /local interval = 0\.500000\n/);
  assert.throws(() => wrkScript({ threads: 1, rate: 0 }), /positive/);
});

void test('an upload script sets the method and a body of the asked size', () => {
  const s = wrkScript({ threads: 1, method: 'POST', bodyBytes: 1048576 });
  assert.match(s, /wrk\.method = "POST"/);
  assert.match(s, /wrk\.body = string\.rep\("x", 1048576\)/);
});

const wrk = findExecutable('wrk', process.env.PATH);

void test('a paced wrk run sends about the asked rate to a real server', { skip: wrk ? false : 'wrk is not installed' }, async () => {
  let served = 0;
  const server = createServer((_req, res) => {
    served++;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-test-'));
  const supervisor = new Supervisor();
  try {
    const { port } = server.address() as AddressInfo;
    const r = await runWrk(supervisor, {
      wrk: wrk!,
      url: `http://127.0.0.1:${port}/`,
      connections: 4,
      threads: 2,
      durationSeconds: 2,
      script: { threads: 2, rate: 200 },
      dir,
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(errorCount(r), 0);
    // 200 req/s for 2 s: 400 requests; generous bounds for a busy machine, yet far from the
    // thousands an unpaced run would send.
    assert.ok(r.requests >= 300 && r.requests <= 440, `requests ${r.requests}`);
    assert.ok(served >= r.requests, `served ${served} < ${r.requests}`);
  } finally {
    await supervisor.stopAll();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});
