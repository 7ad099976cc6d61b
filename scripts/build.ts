// `npm run build`: the same code with its types stripped ahead of time, into dist/js/, for the
// container image and the benchmark.
//
// Why: Node's in-process type stripper (amaro, a WebAssembly build of SWC) stays resident in
// every process that loads a .ts file: about 17 MiB, a quarter of the sidecar's 60 MiB budget.
// tsc emits the same modules minus their types (target es2024, erasable syntax only, so no
// other transformation) with `.ts` import specifiers rewritten to `.js`. Development, tests,
// `npm start` and the CLI run the TypeScript sources directly.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist', 'js');
rmSync(out, { recursive: true, force: true });
const r = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
// Files the code reads at run time, at the same relative places.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
writeFileSync(join(out, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', bin: { skiff: 'bin/skiff.js' } }, null, 2) + '\n');
if (existsSync(join(root, 'dist', 'web'))) cpSync(join(root, 'dist', 'web'), join(out, 'dist', 'web'), { recursive: true });
process.stderr.write(`built ${out}\n`);
