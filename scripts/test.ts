// `npm test`: type-check, lint, then every test file with `node --test`.
// Fails when any step fails, and when the test runner ran 0 tests (a green run that
// tested nothing must never land).
//
// Usage: npm test [-- PATTERN...]   (patterns narrow the test files; checks are skipped
// when patterns are given, so a focused run stays fast)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync, globSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const resultsDir = join(root, '.test-results');
mkdirSync(resultsDir, { recursive: true });

function step(name: string, cmd: string, args: string[]): void {
  const started = Date.now();
  process.stderr.write(`\n▶ ${name}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    process.stderr.write(`✖ ${name} failed (${secs}s)\n`);
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`✔ ${name} (${secs}s)\n`);
}

const patterns = process.argv.slice(2);
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

if (patterns.length === 0) {
  step('type-check (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', '.']);
  if (existsSync(join(root, 'src/dashboard/web/tsconfig.json'))) {
    step('type-check UI (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', 'src/dashboard/web']);
  }
  step('lint (eslint, type-aware)', bin('eslint'), ['--max-warnings=0', '.']);
  if (existsSync(join(root, 'src/dashboard/web/vite.config.ts')) && !existsSync(join(root, 'dist/web/index.html'))) {
    step('build UI (vite)', 'npm', ['run', '--silent', 'build:ui']);
  }
}

const files = (patterns.length ? patterns : ['src/**/*.test.ts', 'test/**/*.test.ts'])
  .flatMap((p) => globSync(p, { cwd: root }))
  .sort();
if (files.length === 0) {
  process.stderr.write('✖ no test files found\n');
  process.exit(1);
}

// One file per run: several runs at once (developers, helpers) must not read each other's counts.
const tap = join(resultsDir, `results-${process.pid}.tap`);
// Concurrency: test files run in parallel processes. Most of our suites wait on sockets,
// browsers and pods rather than the CPU, so 3 processes on 2 cores keep the run short
// without starving the timing-sensitive ones (which measure relative, not absolute, figures).
const concurrency = process.env.SKIFF_TEST_CONCURRENCY ?? '3';
const started = Date.now();
process.stderr.write(`\n▶ tests (${files.length} files, concurrency ${concurrency})\n`);
const r = spawnSync(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=300000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, SKIFF_TEST_RESULTS: resultsDir } },
);
const summary = readFileSync(tap, 'utf8');
const count = (k: string): number => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(summary)?.[1] ?? 0);
const tests = count('tests');
const fail = count('fail');
const secs = ((Date.now() - started) / 1000).toFixed(1);
process.stderr.write(`\ntests: ${tests}, pass: ${count('pass')}, fail: ${fail}, skipped: ${count('skipped')}, todo: ${count('todo')} (${secs}s)\n`);
if (tests === 0) {
  process.stderr.write('✖ the run reported 0 tests: that is a failure, not a pass\n');
  process.exit(1);
}
process.exit(r.status === 0 && fail === 0 ? 0 : 1);
