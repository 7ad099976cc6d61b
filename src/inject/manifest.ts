/**
 * Manifest text in and out. YAML streams are parsed with the `yaml` package's Document API and
 * written back by replaying the injector's changes as JSON Patch operations on the documents
 * (yaml-apply.ts): documents the injector did not change are copied byte for byte, and changed
 * ones keep their comments, key order, quoting and the file's sequence indentation. JSON in gives
 * JSON out, with the input's indentation.
 *
 * YAML is read as YAML 1.1 with merge keys, as Kubernetes reads it (`yes` is a boolean there).
 */
import type { Document, Node } from 'yaml';
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, parseDocument } from 'yaml';
import { applyToDocument } from './yaml-apply.ts';
import { diff, jsonEqual, parsePointer } from './patch.ts';

export interface Source {
  /** The name errors use: the path as given, or `-` for stdin. */
  name: string;
  text: string;
}

interface ManifestDoc {
  doc: Document.Parsed;
  value: unknown;
  /** Where this document's text starts and ends in the source (comments and `---` included). */
  start: number;
  end: number;
}

export interface Manifest {
  source: Source;
  format: 'yaml' | 'json';
  docs: ManifestDoc[];
  /** The parsed values, one per document (null for an empty document). */
  values: unknown[];
  lineCounter: LineCounter;
  jsonIndent: string;
}

export interface InputError {
  file: string;
  /** 1-based. */
  document: number;
  /** 1-based. */
  line: number;
  reason: string;
}

export function formatInputError(e: InputError): string {
  return `${e.file}: document ${e.document}, line ${e.line}: ${e.reason}`;
}

const parseOptions = { version: '1.1', merge: true, prettyErrors: false, uniqueKeys: true } as const;

function lineAt(lc: LineCounter, offset: number): number {
  return lc.linePos(offset).line;
}

/** Like kubectl: a stream that starts with `{` or `[` is JSON (and so is a `.json` file). */
function looksLikeJson(source: Source): boolean {
  return /^\s*[[{]/.test(source.text) || source.name.endsWith('.json');
}

/** Parses one file's text; on failure returns every error with its document and line. */
export function parseManifest(source: Source): { manifest?: Manifest; errors: InputError[] } {
  const lineCounter = new LineCounter();
  if (looksLikeJson(source)) {
    let value: unknown;
    try {
      value = JSON.parse(source.text);
    } catch (err) {
      // V8: "... in JSON at position 42 (line 3 column 5)"; the position is what we rely on.
      const message = (err as Error).message;
      const pos = /position (\d+)/.exec(message);
      const lc = new LineCounter();
      parseDocument(source.text, { lineCounter: lc });
      const line = pos ? lineAt(lc, Number(pos[1])) : 1;
      const reason = `invalid JSON: ${message.replace(/,? in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '')}`;
      return { errors: [{ file: source.name, document: 1, line, reason }] };
    }
    const doc = parseDocument(source.text, { ...parseOptions, version: '1.2', lineCounter });
    const indent = /^[[{]\s*\n([ \t]+)/.exec(source.text.trimStart())?.[1] ?? '';
    return {
      manifest: {
        source,
        format: 'json',
        docs: [{ doc, value, start: 0, end: source.text.length }],
        values: [value],
        lineCounter,
        jsonIndent: indent,
      },
      errors: [],
    };
  }

  const parsed = parseAllDocuments(source.text, { ...parseOptions, lineCounter });
  const docsList: Document.Parsed[] = Array.isArray(parsed) ? parsed : [];
  const errors: InputError[] = [];
  const docs: ManifestDoc[] = [];
  docsList.forEach((doc, i) => {
    const start = i === 0 ? 0 : doc.range[0];
    const err = doc.errors[0];
    if (err) {
      errors.push({ file: source.name, document: i + 1, line: lineAt(lineCounter, err.pos[0]), reason: `invalid YAML: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '')}` });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      errors.push({ file: source.name, document: i + 1, line: lineAt(lineCounter, doc.range[0]), reason: `invalid YAML: ${(e as Error).message}` });
      return;
    }
    docs.push({ doc, value: value ?? null, start, end: source.text.length });
  });
  for (let i = 0; i + 1 < docs.length; i += 1) docs[i]!.end = docs[i + 1]!.start;
  if (errors.length > 0) return { errors };
  return { manifest: { source, format: 'yaml', docs, values: docs.map((d) => d.value), lineCounter, jsonIndent: '' }, errors };
}

/** The line (1-based) of the node at `pointer` inside document `index`, or of its nearest ancestor. */
export function lineOf(manifest: Manifest, index: number, pointer: string): number {
  const d = manifest.docs[index];
  if (!d) return 1;
  let node: unknown = d.doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? d.doc.range[0];
  for (const token of parsePointer(pointer)) {
    let next: unknown;
    let keyOffset: number | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === token);
      next = pair?.value;
      keyOffset = isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
    } else if (isSeq(node)) next = node.items[Number(token)];
    const range = (next as Node | null | undefined)?.range;
    if (range) offset = range[0];
    else if (keyOffset !== undefined) offset = keyOffset;
    else break;
    node = next;
  }
  return lineAt(manifest.lineCounter, offset);
}

interface Style {
  indentSeq: boolean;
  flowCollectionPadding: boolean;
}

/** How this text lays out block sequences under a key, and the insides of `[ ]`/`{ }`. */
function detectStyle(text: string): Style {
  const lines = text.split('\n');
  let indentSeq: boolean | undefined;
  for (let i = 1; i < lines.length && indentSeq === undefined; i += 1) {
    const dash = /^( *)- /.exec(lines[i]!);
    if (!dash) continue;
    let j = i - 1;
    while (j >= 0 && /^\s*(#.*)?$/.test(lines[j]!)) j -= 1;
    const key = j >= 0 ? /^( *)((?:- )*)[^\s#][^#]*?:\s*(#.*)?$/.exec(lines[j]!) : null;
    if (key) indentSeq = dash[1]!.length > key[1]!.length + key[2]!.length;
  }
  const flow = /:\s+[[{](.)/.exec(text.replace(/^\s*#.*$/gm, ''));
  return {
    indentSeq: indentSeq ?? false,
    flowCollectionPadding: flow ? flow[1] === ' ' || flow[1] === ']' || flow[1] === '}' : true,
  };
}

/** `key: value   # comment` → [`key: value`, `# comment`]; null when there is no trailing comment. */
function splitComment(line: string): [string, string] | null {
  const m = /^(.*?\S)\s+(#.*)$/.exec(line);
  if (!m) return null;
  const [, content, comment] = m as unknown as [string, string, string];
  // A `#` inside a quoted scalar is not a comment: require balanced quotes before it.
  const even = (q: string): boolean => content.split(q).length % 2 === 1;
  return even('"') && even("'") ? [content, comment] : null;
}

/**
 * The renderer writes one space before a trailing comment; people align them. A comment that
 * is on one line of the original keeps its column, so that aligned comments stay aligned and
 * inject then uninject gives the original text back.
 */
function keepCommentColumns(rendered: string, original: string): string {
  const columns = new Map<string, number>();
  const seen = new Set<string>();
  for (const line of original.split('\n')) {
    const parts = splitComment(line);
    if (!parts) continue;
    const comment = parts[1];
    if (seen.has(comment)) columns.delete(comment); // ambiguous: leave it alone
    else columns.set(comment, line.length - comment.length);
    seen.add(comment);
  }
  if (columns.size === 0) return rendered;
  return rendered
    .split('\n')
    .map((line) => {
      const parts = splitComment(line);
      const column = parts ? columns.get(parts[1]) : undefined;
      if (!parts || column === undefined) return line;
      return parts[0].length < column ? parts[0].padEnd(column) + parts[1] : `${parts[0]} ${parts[1]}`;
    })
    .join('\n');
}

/**
 * The text of `manifest` with each document replaced by `outputs[i]`: unchanged documents are
 * copied from the source; changed YAML documents are patched in place and re-rendered.
 */
export function renderManifest(manifest: Manifest, outputs: readonly unknown[]): string {
  const { source } = manifest;
  if (manifest.format === 'json') {
    const before = manifest.docs[0]?.value;
    if (jsonEqual(before, outputs[0])) return source.text;
    return JSON.stringify(outputs[0], null, manifest.jsonIndent || 2) + '\n';
  }
  return manifest.docs
    .map((d, i) => {
      const segment = source.text.slice(d.start, d.end);
      const after = outputs[i];
      if (jsonEqual(d.value, after)) return segment;
      applyToDocument(d.doc, diff(d.value, after), after);
      return keepCommentColumns(d.doc.toString({ ...detectStyle(segment), lineWidth: 0, minContentWidth: 0 }), segment);
    })
    .join('');
}
