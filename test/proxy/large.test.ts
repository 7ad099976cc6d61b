/**
 * Bodies are streamed with backpressure, never buffered whole: a 1 GiB upload and a 1 GiB
 * download through a real `skiff proxy` process, whose resident memory must grow by less
 * than 64 MiB, with the exact byte counts in /metrics.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { startHttpServer } from '../helpers/sidecar.ts';
import { startProxyProcess, rssKiB } from '../helpers/process.ts';

const GiB = 1024 ** 3;
const CHUNK = Buffer.alloc(256 * 1024, 'z');

const app = await startHttpServer((req, res) => {
  if (req.url === '/download') {
    res.writeHead(200, { 'content-length': String(GiB) });
    let sent = 0;
    const pump = (): void => {
      while (sent < GiB) {
        const n = Math.min(CHUNK.length, GiB - sent);
        sent += n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  let got = 0;
  req.on('data', (c: Buffer) => (got += c.length));
  req.on('end', () => res.end(String(got)));
});
const proxy = await startProxyProcess(app.port);
after(async () => {
  proxy.kill('SIGKILL');
  await app.close();
});

/** Resets the process's peak RSS (VmHWM) so each test measures its own peak (Linux ≥ 4.0). */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not permitted (non-root without ptrace rights): the peak then includes earlier tests.
  }
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

test('1 GiB upload: streamed with backpressure, RSS grows < 64 MiB', async () => {
  const pid = proxy.child.pid!;
  resetPeak(pid);
  const before = rssKiB(pid, 'VmRSS');
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect(proxy.port, '127.0.0.1', () => {
      s.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${GiB}\r\n\r\n`);
      let sent = 0;
      const pump = (): void => {
        while (sent < GiB) {
          sent += CHUNK.length;
          if (!s.write(CHUNK)) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (/\r\n\r\n\d+$/.test(got) && got.endsWith(String(GiB))) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
  assert.match(reply, /^HTTP\/1\.1 200/);
  const grew = rssKiB(pid, 'VmHWM') - before;
  assert.ok(grew < 64 * 1024, `RSS grew by ${Math.round(grew / 1024)} MiB`);
  const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
  assert.equal(metric(text, 'skiff_request_bytes_sum'), GiB);
});

test('1 GiB download: streamed with backpressure, RSS grows < 64 MiB', async () => {
  const pid = proxy.child.pid!;
  resetPeak(pid);
  const before = rssKiB(pid, 'VmRSS');
  const got = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: proxy.port, path: '/download' }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
  assert.equal(got, GiB);
  const grew = rssKiB(pid, 'VmHWM') - before;
  assert.ok(grew < 64 * 1024, `RSS grew by ${Math.round(grew / 1024)} MiB`);
  const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
  assert.equal(metric(text, 'skiff_response_bytes_sum'), GiB + String(GiB).length);
});
