/**
 * What is generated is checked: docs/configuration.md must match the option tables, and every
 * command has a section there. (docs/metrics.md is checked against /metrics in
 * src/telemetry/prometheus.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigurationDoc } from '../../src/cli/option-tables.ts';
import { commands } from '../../src/cli/main.ts';

const root = join(import.meta.dirname, '..', '..');

test('docs/configuration.md is generated from the option tables (run `node scripts/gen-docs.ts`)', async () => {
  const expected = await renderConfigurationDoc();
  const actual = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
  assert.equal(actual, expected);
});

test('every command documents its options', async () => {
  const doc = await renderConfigurationDoc();
  for (const name of Object.keys(commands)) {
    assert.match(doc, new RegExp(`^## skiff ${name}$`, 'm'));
  }
  // Commands with flags must have a table (not "No options.").
  for (const name of ['proxy', 'dashboard', 'inject', 'uninject', 'install', 'webhook', 'run', 'up', 'tap', 'top', 'stat']) {
    const section = doc.split(`## skiff ${name}\n`)[1]!.split('\n## ')[0]!;
    assert.match(section, /\| flag \| env \| default \| meaning \|/, `skiff ${name} has an options table`);
  }
});

test('the README links every doc it names, and they exist', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const m of readme.matchAll(/\]\((docs\/[a-z-]+\.md)\)/g)) {
    assert.ok(existsSync(join(root, m[1]!)), `${m[1]!} exists`);
  }
});
