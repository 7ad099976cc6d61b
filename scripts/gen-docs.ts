// Generates docs/configuration.md from the commands' option tables, so the reference cannot
// drift from the code. `node scripts/gen-docs.ts` writes it; `--check` exits 1 if it is stale
// (run by the test suite).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigurationDoc } from '../src/cli/option-tables.ts';

const file = join(import.meta.dirname, '..', 'docs', 'configuration.md');
const text = await renderConfigurationDoc();
if (process.argv.includes('--check')) {
  const current = readFileSync(file, 'utf8');
  if (current !== text) {
    process.stderr.write('docs/configuration.md is stale: run `node scripts/gen-docs.ts`\n');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  process.stderr.write(`wrote ${file}\n`);
}
