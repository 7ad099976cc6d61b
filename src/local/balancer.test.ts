import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBalancer, type Balancer } from './balancer.ts';
import { freePort } from './ports.ts';

const servers: http.Server[] = [];
const balancers: Balancer[] = [];
after(async () => {
  await Promise.all(balancers.map((b) => b.close()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function backend(name: string): Promise<number> {
  const s = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`${name}:${n}`));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

function post(port: number, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end(Buffer.alloc(bytes, 1));
  });
}

void test('each new connection goes to the next replica, bodies pass whole', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const lb = await createBalancer({ host: '127.0.0.1', port: 0, backends: [{ host: '127.0.0.1', port: a }, { host: '127.0.0.1', port: b }] });
  balancers.push(lb);
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await post(lb.port, 200_000));
  assert.deepEqual(answers, ['a:200000', 'b:200000', 'a:200000', 'b:200000']);
});

void test('a replica that refuses connections (restarting) is skipped', async () => {
  const a = await backend('a');
  const dead = await freePort('127.0.0.1');
  const lb = await createBalancer({ host: '127.0.0.1', port: 0, backends: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: a }] });
  balancers.push(lb);
  for (let i = 0; i < 3; i++) assert.equal(await post(lb.port, 10), 'a:10');
});
