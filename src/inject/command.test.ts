// `skiff inject` / `skiff uninject` as a user runs them: golden files for every kind and option
// (testdata/NAME.input.{yaml,json} → NAME.golden.{yaml,json} + NAME.stderr, with the command
// line in NAME.args), the Istio samples, stdin, directories and bad input.
//
// Regenerate the golden files with SKIFF_UPDATE_GOLDEN=1, then review the diff by eye.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { CliIO } from '../cli/io.ts';
import { injectCommand, uninjectCommand } from './command.ts';
import { validateObject } from './testdata/validate.ts';

const UPDATE = process.env.SKIFF_UPDATE_GOLDEN === '1';
const testdata = join(import.meta.dirname, 'testdata');
const fixtures = '/work/shared/fixtures/manifests';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: 'inject' | 'uninject', args: string[], options: { cwd?: string; stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const stdin = new PassThrough();
  stdin.end(options.stdin ?? '');
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const io: CliIO = { argv: args, env: options.env ?? {}, stdin, stdout, stderr, cwd: options.cwd ?? testdata, shutdown: new AbortController().signal };
  const code = await (command === 'inject' ? injectCommand : uninjectCommand).run(io, args);
  return { code, stdout: out, stderr: err };
}

function objectsOf(text: string, json: boolean): unknown[] {
  if (json) return [JSON.parse(text) as unknown];
  return parseAllDocuments(text).flatMap((d) => (Array.isArray(d) ? [] : [d.toJS() as unknown]));
}

function golden(path: string, actual: string): void {
  if (UPDATE) {
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `${path} is missing: run with SKIFF_UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `${path} differs: review the change, then SKIFF_UPDATE_GOLDEN=1`);
}

void describe('golden files', () => {
  const inputs = readdirSync(testdata).filter((f) => /\.input\.(yaml|json)$/.test(f)).sort();
  test('there is a case for every kind and option', () => {
    const all = inputs.map((f) => readFileSync(join(testdata, f), 'utf8')).join('\n');
    for (const kind of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob', 'DeploymentConfig', 'List']) {
      assert.match(all, new RegExp(`kind: ${kind}\\n`), kind);
    }
    const args = readdirSync(testdata).filter((f) => f.endsWith('.args')).map((f) => readFileSync(join(testdata, f), 'utf8')).join(' ');
    for (const flag of ['--native-sidecar=false', '--image', '--dashboard', '--secret', '--openshift', '--inbound-port', '--admin-port', 'uninject']) {
      assert.ok(args.includes(flag), flag);
    }
  });

  for (const input of inputs) {
    const m = /^(.*)\.input\.(yaml|json)$/.exec(input);
    if (!m) continue;
    const name = m[1] ?? '';
    const ext = m[2] ?? 'yaml';
    test(name, async () => {
      const argsFile = join(testdata, `${name}.args`);
      const words = existsSync(argsFile) ? readFileSync(argsFile, 'utf8').trim().split(/\s+/) : [];
      const command = words[0] === 'uninject' ? 'uninject' : 'inject';
      const flags = words[0] === 'inject' || words[0] === 'uninject' ? words.slice(1) : words;
      const result = await run(command, ['-f', input, ...flags]);
      golden(join(testdata, `${name}.stderr`), result.stderr);
      if (name.startsWith('bad-')) {
        assert.equal(result.code, 1);
        assert.equal(result.stdout, '', 'nothing partial on stdout');
        return;
      }
      assert.equal(result.code, 0, result.stderr);
      const goldenPath = join(testdata, `${name}.golden.${ext}`);
      golden(goldenPath, result.stdout);
      // Every output object is valid Kubernetes.
      for (const obj of objectsOf(result.stdout, ext === 'json')) validateObject(obj);
      if (command === 'inject') {
        // Idempotent: injecting the output changes nothing.
        const again = await run('inject', ['-f', `${name}.golden.${ext}`, ...flags]);
        assert.equal(again.code, 0);
        assert.equal(again.stdout, result.stdout, 'injecting twice changes nothing');
        // Round trip, as text: uninject gives back the input byte for byte.
        const back = await run('uninject', ['-f', `${name}.golden.${ext}`]);
        assert.equal(back.code, 0, back.stderr);
        assert.equal(back.stdout, readFileSync(join(testdata, input), 'utf8'), 'uninject restores the input exactly');
      }
    });
  }
});

void describe('the Istio samples', () => {
  const samples = readdirSync(fixtures).filter((f) => f.endsWith('.yaml')).sort();
  test('all six are here', () => assert.equal(samples.length, 6));
  for (const sample of samples) {
    test(`${sample}: injects, validates, uninjects back to the original`, async () => {
      const original = readFileSync(join(fixtures, sample), 'utf8');
      const injected = await run('inject', ['-f', join(fixtures, sample)]);
      assert.equal(injected.code, 0, injected.stderr);
      assert.match(injected.stderr, /^deployment\/\S+ injected$/m);
      assert.doesNotMatch(injected.stderr, /warning/);
      const objects = objectsOf(injected.stdout, false);
      for (const obj of objects) validateObject(obj);
      const workloads = objects.filter((o) => (o as { kind?: string } | null)?.kind === 'Deployment');
      assert.ok(workloads.length > 0);
      for (const d of workloads) assert.match(JSON.stringify(d), /"name":"skiff-proxy"/);
      // Comments are kept, whole lines and trailing ones.
      for (const line of original.split('\n').filter((l) => l.includes('#'))) assert.ok(injected.stdout.includes(line), line);
      const again = await run('inject', ['-f', '-'], { stdin: injected.stdout });
      assert.equal(again.stdout, injected.stdout, 'idempotent');
      const back = await run('uninject', ['-f', '-'], { stdin: injected.stdout });
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.stdout, original, 'uninject restores the original text');
    });
  }

  test('bookinfo: the per-object report', async () => {
    const { stderr } = await run('inject', ['-f', join(fixtures, 'istio-bookinfo.yaml')]);
    assert.equal(
      stderr,
      [
        'service/details retargeted',
        'serviceaccount/bookinfo-details skipped',
        'deployment/details-v1 injected',
        'service/ratings retargeted',
        'serviceaccount/bookinfo-ratings skipped',
        'deployment/ratings-v1 injected',
        'service/reviews retargeted',
        'serviceaccount/bookinfo-reviews skipped',
        'deployment/reviews-v1 injected',
        'deployment/reviews-v2 injected',
        'deployment/reviews-v3 injected',
        'service/productpage retargeted',
        'serviceaccount/bookinfo-productpage skipped',
        'deployment/productpage-v1 injected',
        '',
      ].join('\n'),
    );
  });
});

void describe('inputs and outputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-inject-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const deployment = readFileSync(join(testdata, 'deployment.input.yaml'), 'utf8');
  const [svcPart, ...rest] = deployment.split(/^---\n/m).slice(1);
  const service = `---\n${svcPart!}`;
  const workload = rest.join('---\n');

  test('a Service in one file is retargeted for a Deployment in another; files are joined as one YAML stream', async () => {
    writeFileSync(join(dir, 'svc.yaml'), service);
    writeFileSync(join(dir, 'deploy.yaml'), workload);
    const r = await run('inject', ['-f', 'svc.yaml', '-f', 'deploy.yaml'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'service/ratings retargeted\ndeployment/ratings-v1 injected\n');
    const docs = objectsOf(r.stdout, false);
    assert.equal(docs.length, 2);
    assert.match(r.stdout, /\n---\napiVersion: apps\/v1\n/);
  });

  test('a directory is walked (sorted; .yaml, .yml and .json only)', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'nested'), { recursive: true });
    writeFileSync(join(tree, 'b-svc.yml'), service);
    writeFileSync(join(tree, 'nested', 'deploy.yaml'), workload);
    writeFileSync(join(tree, 'README.md'), '# not a manifest');
    const r = await run('inject', ['-f', 'tree'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'service/ratings retargeted\ndeployment/ratings-v1 injected\n');
  });

  test('stdin with -f -', async () => {
    const r = await run('inject', ['-f', '-'], { stdin: deployment });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, readFileSync(join(testdata, 'deployment.golden.yaml'), 'utf8'));
  });

  test('JSON in, JSON out; JSON mixed with YAML gives one YAML stream', async () => {
    const json = await run('inject', ['-f', 'json.input.json']);
    assert.doesNotThrow(() => JSON.parse(json.stdout) as unknown);
    const mixed = await run('inject', ['-f', 'json.input.json', '-f', 'job.input.yaml']);
    assert.equal(mixed.code, 0);
    const docs = objectsOf(mixed.stdout, false) as { kind: string }[];
    assert.deepEqual(docs.map((d) => d.kind), ['Deployment', 'Job']);
  });

  test('options come from SKIFF_* env too (flags win)', async () => {
    const viaEnv = await run('inject', ['-f', 'job.input.yaml'], { env: { SKIFF_IMAGE: 'env/skiff:1' } });
    assert.match(viaEnv.stdout, /image: env\/skiff:1/);
    const flagWins = await run('inject', ['-f', 'job.input.yaml', '--image', 'flag/skiff:2'], { env: { SKIFF_IMAGE: 'env/skiff:1' } });
    assert.match(flagWins.stdout, /image: flag\/skiff:2/);
  });

  test('errors: no -f is bad usage; a missing file or bad options say why', async () => {
    await assert.rejects(run('inject', []), { code: 'SKIFF_ERR_USAGE', message: /-f FILE/ });
    await assert.rejects(run('inject', ['-f', 'job.input.yaml', '--inbound-port', '15000']), { code: 'SKIFF_ERR_USAGE' });
    await assert.rejects(run('inject', ['-f', 'job.input.yaml', '--dashboard', 'not a url']), { code: 'SKIFF_ERR_USAGE' });
    const missing = await run('inject', ['-f', 'nope.yaml']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^nope\.yaml: cannot read: .*ENOENT/);
  });

  test('bad files among good ones: nothing on stdout, every problem reported', async () => {
    const syntax = await run('inject', ['-f', 'deployment.input.yaml', '-f', 'bad-yaml.input.yaml', '-f', 'bad-json.input.json']);
    assert.equal(syntax.code, 1);
    assert.equal(syntax.stdout, '');
    assert.deepEqual(syntax.stderr.trim().split('\n').map((l) => l.split(':')[0]), ['bad-yaml.input.yaml', 'bad-json.input.json']);
    const objects = await run('inject', ['-f', 'bad-not-k8s.input.yaml', '-f', 'deployment.input.yaml', '-f', 'bad-no-containers.input.yaml']);
    assert.equal(objects.code, 1);
    assert.equal(objects.stdout, '');
    assert.deepEqual(objects.stderr.trim().split('\n').map((l) => l.split(':')[0]), ['bad-not-k8s.input.yaml', 'bad-no-containers.input.yaml']);
  });

  test('--help prints the options and exits 0', async () => {
    const r = await run('inject', ['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--native-sidecar/);
    assert.match(r.stdout, /ghcr\.io\/skiff-mesh\/skiff:/);
    const u = await run('uninject', ['-h']);
    assert.match(u.stdout, /Usage: skiff uninject/);
  });
});
