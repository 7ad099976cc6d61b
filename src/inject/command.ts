/**
 * `skiff inject` and `skiff uninject`: manifests in (files, directories, stdin), manifests out
 * on stdout, one report line per object on stderr:
 *
 *   deployment/reviews-v1 injected
 *   service/reviews retargeted
 *   configmap/settings skipped
 *
 * YAML in gives YAML out (comments and layout kept); JSON in gives JSON out. When several
 * inputs mix the two, everything is written as one YAML stream. Bad input stops everything:
 * `FILE: document N, line L: reason` on stderr, exit code 1, nothing on stdout.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Document } from 'yaml';
import type { CliIO, Command } from '../cli/io.ts';
import { formatHelp, parseCommand } from '../config/options.ts';
import { UsageError, describeError } from '../errors.ts';
import type { InjectOptions, Outcome } from './inject.ts';
import { formatMessage, formatReport, injectAll, uninjectAll } from './inject.ts';
import type { Manifest, Source } from './manifest.ts';
import { formatInputError, lineOf, parseManifest, renderManifest } from './manifest.ts';
import { injectOptions, toInjectOptions, uninjectOptions } from './options.ts';

/** Inputs larger than this are refused rather than held in memory. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;
const manifestFile = /\.(ya?ml|json)$/i;

async function readStream(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_INPUT_BYTES) throw new Error(`more than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function walk(dir: string, shown: string): Promise<{ path: string; shown: string }[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: { path: string; shown: string }[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(path, join(shown, e.name))));
    else if (e.isFile() && manifestFile.test(e.name)) out.push({ path, shown: join(shown, e.name) });
  }
  return out;
}

/** Reads every `-f` argument; returns the sources, or the reasons some could not be read. */
async function readSources(files: readonly string[], io: CliIO): Promise<{ sources: Source[]; errors: string[] }> {
  const sources: Source[] = [];
  const errors: string[] = [];
  let stdinUsed = false;
  let total = 0;
  const add = (name: string, text: string): void => {
    total += text.length;
    if (total > MAX_INPUT_BYTES) errors.push(`${name}: the inputs are larger than ${MAX_INPUT_BYTES} bytes in all`);
    else sources.push({ name, text });
  };
  for (const f of files) {
    if (f === '-') {
      if (stdinUsed) {
        errors.push('-: stdin can be read only once');
        continue;
      }
      stdinUsed = true;
      try {
        add('-', await readStream(io.stdin));
      } catch (err) {
        errors.push(`-: cannot read stdin: ${describeError(err)}`);
      }
      continue;
    }
    const path = resolve(io.cwd, f);
    try {
      const st = await stat(path);
      if (st.isDirectory()) {
        const found = await walk(path, f);
        if (found.length === 0) errors.push(`${f}: no .yaml, .yml or .json files in this directory`);
        for (const child of found) add(child.shown, await readFile(child.path, 'utf8'));
      } else if (st.size > MAX_INPUT_BYTES) {
        errors.push(`${f}: larger than ${MAX_INPUT_BYTES} bytes`);
      } else {
        add(f, await readFile(path, 'utf8'));
      }
    } catch (err) {
      errors.push(`${f}: cannot read: ${describeError(err)}`);
    }
  }
  return { sources, errors };
}

function write(stream: Writable, text: string): Promise<void> {
  if (text === '') return Promise.resolve();
  return new Promise((ok, fail) => {
    stream.write(text, (err) => (err ? fail(err) : ok()));
  });
}

/** Joins the rendered files: JSON objects one after another, or one YAML stream. */
function joinOutputs(manifests: readonly Manifest[], texts: readonly string[], outputs: readonly unknown[][]): string {
  if (manifests.every((m) => m.format === 'json')) return texts.map((t) => (t.endsWith('\n') ? t : t + '\n')).join('');
  const parts = manifests.map((m, i) =>
    m.format === 'json' ? new Document(outputs[i]![0], { aliasDuplicateObjects: false }).toString({ indentSeq: false, lineWidth: 0 }) : texts[i]!,
  );
  let out = '';
  for (const part of parts) {
    if (part.trim() === '') continue;
    if (out !== '') {
      if (!out.endsWith('\n')) out += '\n';
      if (!/^---(\s|$)/.test(part)) out += '---\n';
    }
    out += part;
  }
  return out;
}

async function help(io: CliIO, mode: 'inject' | 'uninject'): Promise<number> {
  const text =
    mode === 'inject'
      ? formatHelp(
          'skiff inject -f FILE|DIR|- [-f ...] [options]',
          'Add the skiff sidecar to the workloads in Kubernetes manifests, retarget their Services, and print\nthe result (YAML in, YAML out; JSON in, JSON out). One report line per object goes to stderr.\nSee docs/injection.md.',
          injectOptions,
        )
      : formatHelp(
          'skiff uninject -f FILE|DIR|- [-f ...]',
          'Remove what `skiff inject` added, restoring the manifests exactly, and print the result.',
          uninjectOptions,
        );
  await write(io.stdout, text);
  return 0;
}

async function run(io: CliIO, args: readonly string[], mode: 'inject' | 'uninject'): Promise<number> {
  let files: string[];
  let options: InjectOptions | undefined;
  if (mode === 'inject') {
    const { values } = parseCommand(injectOptions, args, io.env);
    if (values.help) return help(io, mode);
    files = values.file;
    options = toInjectOptions(values);
  } else {
    const { values } = parseCommand(uninjectOptions, args, io.env);
    if (values.help) return help(io, mode);
    files = values.file;
  }
  if (files.length === 0) throw new UsageError('say what to read: -f FILE, -f DIR or -f - (stdin)');

  const { sources, errors: readErrors } = await readSources(files, io);
  if (readErrors.length > 0) {
    await write(io.stderr, readErrors.map((e) => e + '\n').join(''));
    return 1;
  }
  const manifests: Manifest[] = [];
  const inputErrors: string[] = [];
  for (const source of sources) {
    const { manifest, errors } = parseManifest(source);
    if (manifest) manifests.push(manifest);
    inputErrors.push(...errors.map(formatInputError));
  }
  if (inputErrors.length > 0) {
    await write(io.stderr, inputErrors.map((e) => e + '\n').join(''));
    return 1;
  }

  // One pass over all documents of all inputs, so that a Service in one file is retargeted for
  // a Deployment in another.
  const owners: { manifest: Manifest; doc: number }[] = [];
  for (const m of manifests) m.values.forEach((_, doc) => owners.push({ manifest: m, doc }));
  const values_ = manifests.flatMap((m) => m.values);
  const outcome: Outcome = mode === 'inject' ? injectAll(values_, options) : uninjectAll(values_);

  if (outcome.problems.length > 0) {
    const lines = outcome.problems.map((p) => {
      const owner = owners[p.index]!;
      return formatInputError({
        file: owner.manifest.source.name,
        document: owner.doc + 1,
        line: lineOf(owner.manifest, owner.doc, p.pointer),
        reason: `${p.ref}: ${p.reason}`,
      });
    });
    await write(io.stderr, lines.map((l) => l + '\n').join(''));
    return 1;
  }

  let offset = 0;
  const outputs = manifests.map((m) => {
    const slice = outcome.objects.slice(offset, offset + m.values.length);
    offset += m.values.length;
    return slice;
  });
  const texts = manifests.map((m, i) => renderManifest(m, outputs[i]!));
  await write(io.stdout, joinOutputs(manifests, texts, outputs));
  const report = [...outcome.reports.map(formatReport), ...outcome.messages.map(formatMessage)];
  await write(io.stderr, report.map((l) => l + '\n').join(''));
  return 0;
}

export const injectCommand: Command = {
  name: 'inject',
  summary: 'add the sidecar to Kubernetes manifests',
  run: (io, args) => run(io, args, 'inject'),
};

export const uninjectCommand: Command = {
  name: 'uninject',
  summary: 'remove the sidecar from Kubernetes manifests',
  run: (io, args) => run(io, args, 'uninject'),
};

/** The option tables, for docs/configuration.md (src/cli/option-tables.ts reads them here). */
export { injectOptions, uninjectOptions } from './options.ts';
