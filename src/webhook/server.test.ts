import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { CliIO } from '../cli/io.ts';
import { generateWebhookCertificates } from '../inject/certs.ts';
import { defaultInjectOptions, inject } from '../inject/inject.ts';
import { silentLogger } from '../log.ts';
import { validateObject } from '../inject/testdata/validate.ts';
import { webhookCommand } from './command.ts';
import type { WebhookServer } from './server.ts';
import { createWebhookServer } from './server.ts';

type Obj = Record<string, unknown>;
const NAME = 'skiff-webhook.skiff.svc';

/**
 * A small RFC 6902 applier written for this test, independent of the code under test
 * (add / remove / replace / test; RFC 6901 pointers with ~0 and ~1).
 */
function applyJsonPatch(doc: unknown, ops: readonly Obj[]): unknown {
  let root = structuredClone(doc);
  for (const op of ops) {
    const path = String(op.path);
    const tokens = path === '' ? [] : path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (tokens.length === 0) {
      root = structuredClone(op.value);
      continue;
    }
    const last = tokens.pop()!;
    let parent = root as Obj | unknown[];
    for (const t of tokens) {
      const next: unknown = Array.isArray(parent) ? parent[Number(t)] : parent[t];
      if (typeof next !== 'object' || next === null) throw new Error(`${path}: path does not exist`);
      parent = next as Obj | unknown[];
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') {
        if (i > parent.length) throw new Error(`${path}: index out of range`);
        parent.splice(i, 0, structuredClone(op.value));
      } else if (op.op === 'remove') {
        if (i >= parent.length) throw new Error(`${path}: no such element`);
        parent.splice(i, 1);
      } else if (op.op === 'replace') parent[i] = structuredClone(op.value);
      else if (op.op === 'test') assert.deepEqual(parent[i], op.value);
      else throw new Error(`unsupported op ${String(op.op)}`);
    } else if (op.op === 'add') parent[last] = structuredClone(op.value);
    else if (op.op === 'remove' || op.op === 'replace') {
      if (!Object.hasOwn(parent, last)) throw new Error(`${path}: no such member`);
      if (op.op === 'remove') Reflect.deleteProperty(parent, last);
      else parent[last] = structuredClone(op.value);
    } else if (op.op === 'test') assert.deepEqual(parent[last], op.value);
    else throw new Error(`unsupported op ${String(op.op)}`);
  }
  return root;
}

const sampleReview = JSON.parse(readFileSync(new URL('./testdata/review-pod-create.json', import.meta.url), 'utf8')) as Obj;

function reviewOf(pod: unknown, overrides: Obj = {}): Obj {
  const r = structuredClone(sampleReview);
  r.request = { ...(r.request as Obj), object: pod, uid: `uid-${Math.random().toString(16).slice(2)}`, ...overrides };
  return r;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

void describe('skiff webhook over HTTPS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-webhook-'));
  const certs = generateWebhookCertificates({ dnsNames: ['skiff-webhook', NAME] });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, certs.cert);
  writeFileSync(keyFile, certs.key);
  let server: WebhookServer;
  let port = 0;

  before(async () => {
    server = await createWebhookServer({
      listen: { host: '127.0.0.1', port: 0 },
      certFile,
      keyFile,
      inject: defaultInjectOptions,
      log: silentLogger,
      maxBodyBytes: 256 * 1024,
      reloadIntervalMs: 50,
    });
    port = server.address.port;
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function call(method: string, path: string, body?: string | Buffer, contentType = 'application/json', ca = certs.caCert): Promise<Reply> {
    return new Promise((ok, fail) => {
      const req = request(
        { host: '127.0.0.1', port, method, path, servername: NAME, ca, headers: body !== undefined ? { 'content-type': contentType } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  }

  async function mutate(review: unknown): Promise<Obj> {
    const reply = await call('POST', '/mutate', JSON.stringify(review));
    assert.equal(reply.status, 200, reply.text);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    const body = JSON.parse(reply.text) as Obj;
    assert.equal(body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(body.kind, 'AdmissionReview');
    return body.response as Obj;
  }

  function patchOf(response: Obj): Obj[] | undefined {
    if (response.patch === undefined) return undefined;
    assert.equal(response.patchType, 'JSONPatch');
    return JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8')) as Obj[];
  }

  void test("a pod created by a ReplicaSet: same uid, allowed, a JSONPatch that gives exactly inject()'s pod", async () => {
    const review = structuredClone(sampleReview);
    const request_ = review.request as Obj;
    const response = await mutate(review);
    assert.equal(response.uid, request_.uid);
    assert.equal(response.allowed, true);
    const ops = patchOf(response);
    assert.ok(ops && ops.length > 0);
    const patched = applyJsonPatch(request_.object, ops);
    assert.deepEqual(patched, inject(request_.object).object);
    validateObject(patched);
    // The annotation keys contain "/": the pointer must escape it (RFC 6901 ~1).
    assert.ok(ops.some((op) => op.path === '/metadata/annotations'), JSON.stringify(ops.map((o) => o.path)));
    const spec = (patched as Obj).spec as Obj;
    assert.equal(((spec.initContainers as Obj[])[0]!).name, 'skiff-proxy');
    // The named port "http" moved to the sidecar; the probe still reaches the app by number.
    const app = (spec.containers as Obj[])[0]!;
    assert.deepEqual((app.readinessProbe as Obj).httpGet, { path: '/health', port: 9080, scheme: 'HTTP' });

    // Reinvocation (reinvocationPolicy: IfNeeded): the injected pod gets no patch.
    const second = await mutate(reviewOf(patched));
    assert.equal(second.allowed, true);
    assert.equal(second.patch, undefined);
    assert.equal(second.patchType, undefined);
  });

  void test('pointers are escaped when the pod already has annotations', async () => {
    const pod = structuredClone((sampleReview.request as Obj).object) as Obj;
    (pod.metadata as Obj).annotations = { 'team.example/owner': 'books' };
    const ops = patchOf(await mutate(reviewOf(pod)))!;
    assert.ok(ops.some((op) => op.path === '/metadata/annotations/skiff.io~1injected'), JSON.stringify(ops.map((o) => o.path)));
    assert.deepEqual(applyJsonPatch(pod, ops), inject(pod).object);
  });

  void test('the opt-out annotation is honoured: allowed, no patch', async () => {
    const pod = structuredClone((sampleReview.request as Obj).object) as Obj;
    (pod.metadata as Obj).annotations = { 'skiff.io/inject': 'disabled' };
    const response = await mutate(reviewOf(pod));
    assert.equal(response.allowed, true);
    assert.equal(response.patch, undefined);
  });

  void test('warnings reach the user; a pod the injector refuses is admitted unchanged', async () => {
    const pod = structuredClone((sampleReview.request as Obj).object) as Obj;
    (pod.metadata as Obj).annotations = { 'skiff.io/injekt': 'x' };
    const warned = await mutate(reviewOf(pod));
    assert.ok(patchOf(warned));
    assert.match(String((warned.warnings as string[])[0]), /unknown annotation skiff\.io\/injekt/);

    const broken = structuredClone(pod);
    (broken.metadata as Obj).annotations = { 'skiff.io/proxy-memory-limit': 'lots' };
    const refused = await mutate(reviewOf(broken));
    assert.equal(refused.allowed, true);
    assert.equal(refused.patch, undefined);
    assert.match(String((refused.warnings as string[])[0]), /^skiff: not injected: .*not a Kubernetes quantity/);
  });

  void test('anything but pod creation is allowed untouched', async () => {
    const pod = (sampleReview.request as Obj).object;
    for (const overrides of [{ operation: 'UPDATE' }, { operation: 'CREATE', subResource: 'binding' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }]) {
      const response = await mutate(reviewOf(pod, overrides));
      assert.equal(response.allowed, true);
      assert.equal(response.patch, undefined, JSON.stringify(overrides));
    }
  });

  void test('a malformed review gets 400 with the reason', async () => {
    const cases: [string, RegExp][] = [
      ['{not json', /^invalid JSON/],
      ['[]', /not a JSON object/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }), /expected apiVersion admission\.k8s\.io\/v1/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /has no request/],
      [JSON.stringify(reviewOf({}, { uid: '' })), /request\.uid is missing/],
      [JSON.stringify(reviewOf('a string')), /request\.object is not a Pod/],
    ];
    for (const [body, reason] of cases) {
      const reply = await call('POST', '/mutate', body);
      assert.equal(reply.status, 400, body);
      assert.match(reply.text, reason);
    }
  });

  void test('HTTP edges: /healthz, 404, 405, 415, 413', async () => {
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.text, 'ok\n');
    assert.equal((await call('GET', '/metrics')).status, 404);
    const get = await call('GET', '/mutate');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await call('POST', '/mutate', '{}', 'text/plain')).status, 415);
    const big = JSON.stringify(reviewOf({ pad: 'x'.repeat(300 * 1024) }));
    const tooLarge = await call('POST', '/mutate', big);
    assert.equal(tooLarge.status, 413);
  });

  void test('TLS only: plain HTTP gets no answer', async () => {
    const outcome = await new Promise<string>((ok) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz' }, (res) => ok(`HTTP ${res.statusCode ?? 0}`));
      req.on('error', (err: NodeJS.ErrnoException) => ok(err.code ?? err.message));
      req.end();
    });
    assert.doesNotMatch(outcome, /^HTTP 200/);
  });

  void test('a rotated certificate is picked up without a restart', async () => {
    const rotated = generateWebhookCertificates({ dnsNames: [NAME] });
    writeFileSync(keyFile, rotated.key);
    writeFileSync(certFile, rotated.cert);
    const later = new Date(Date.now() + 5000);
    utimesSync(certFile, later, later);
    const fingerprint = new X509Certificate(rotated.cert).fingerprint256;
    let seen = '';
    for (let i = 0; i < 100 && seen !== fingerprint; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await new Promise<string>((ok) => {
        const socket = connect({ host: '127.0.0.1', port, servername: NAME, rejectUnauthorized: false }, () => {
          ok(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
          socket.end();
        });
        socket.on('error', () => ok(''));
      });
    }
    assert.equal(seen, fingerprint);
    const health = await call('GET', '/healthz', undefined, undefined, rotated.caCert);
    assert.equal(health.status, 200);
  });
});

void describe('skiff webhook (the command)', () => {
  function io(argv: string[], signal: AbortSignal): { io: CliIO; stderr: () => string } {
    const err = new PassThrough();
    let text = '';
    err.on('data', (c: Buffer) => (text += c.toString()));
    return {
      io: { argv, env: {}, stdin: new PassThrough(), stdout: new PassThrough(), stderr: err, cwd: process.cwd(), shutdown: signal },
      stderr: () => text,
    };
  }

  void test('HTTPS only: without --tls-cert and --tls-key it is a usage error', async () => {
    await assert.rejects(webhookCommand.run(io([], new AbortController().signal).io, []), { code: 'SKIFF_ERR_USAGE', message: /--tls-cert and --tls-key are required/ });
  });

  void test('serves until shutdown, then exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-webhook-cmd-'));
    try {
      const certs = generateWebhookCertificates({ dnsNames: [NAME] });
      writeFileSync(join(dir, 'c'), certs.cert);
      writeFileSync(join(dir, 'k'), certs.key);
      const controller = new AbortController();
      const { io: cli, stderr } = io([], controller.signal);
      const running = webhookCommand.run(cli, ['--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'c'), '--tls-key', join(dir, 'k')]);
      let port = 0;
      for (let i = 0; i < 200 && port === 0; i += 1) {
        await new Promise((r) => setTimeout(r, 20));
        port = Number(/webhook listening listen=[\d.]+:(\d+)/.exec(stderr())?.[1] ?? 0);
      }
      assert.ok(port > 0, stderr());
      const status = await new Promise<number>((ok, fail) => {
        request({ host: '127.0.0.1', port, path: '/healthz', servername: NAME, ca: certs.caCert }, (res) => {
          res.resume();
          ok(res.statusCode ?? 0);
        })
          .on('error', fail)
          .end();
      });
      assert.equal(status, 200);
      controller.abort('SIGTERM');
      assert.equal(await running, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
