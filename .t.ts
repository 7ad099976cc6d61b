import { readFileSync, readdirSync } from 'node:fs';
import { parseManifest, renderManifest } from './src/inject/manifest.ts';
import { injectAll, uninjectAll, formatReport, formatMessage } from './src/inject/inject.ts';
const dir = '/work/shared/fixtures/manifests/';
for (const f of readdirSync(dir)) {
  const text = readFileSync(dir + f, 'utf8');
  const { manifest, errors } = parseManifest({ name: f, text });
  if (!manifest) { console.log(errors); continue; }
  const inj = injectAll(manifest.values);
  const out = renderManifest(manifest, inj.objects);
  if (f.includes('bookinfo') ) { console.log(out.slice(0, 5000)); }
  console.log(inj.reports.map(formatReport).join('\n')); console.log(inj.messages.map(formatMessage).join('\n')); console.log(inj.problems);
  const m2 = parseManifest({ name: f, text: out }).manifest!;
  const inj2 = injectAll(m2.values);
  const out2 = renderManifest(m2, inj2.objects);
  const un = uninjectAll(m2.values);
  const back = renderManifest(parseManifest({ name: f, text: out }).manifest!, un.objects);
  console.log(f, 'idempotent', out2 === out, 'roundtrip', back === text, un.problems);
  if (back !== text) { const a = back.split('\n'), b = text.split('\n'); for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) { console.log(i, JSON.stringify(b[i]), '=>', JSON.stringify(a[i])); break; } }
}
