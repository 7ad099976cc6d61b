/**
 * Replays JSON Patch operations on a parsed YAML document (the `yaml` package's Document API),
 * so that a manifest keeps its comments, key order, quoting and layout everywhere the injector
 * did not change it.
 *
 * New map keys are inserted where they sit in the patched value (`after`), not appended: that
 * way uninject puts a removed port name back in front of `containerPort`, and the text
 * round-trips. Where a path runs through a YAML alias or a merge key (`<<`), editing in place
 * could change other parts of the document, so the whole document is re-rendered from `after`.
 */
import type { Document, Node } from 'yaml';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { PatchOp } from './patch.ts';
import { isPlainObject, parsePointer } from './patch.ts';

class NotInPlace extends Error {}

// Objects that occur twice are written twice: anchors and aliases in generated YAML surprise readers.
const noAliases = { aliasDuplicateObjects: false } as const;

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function childOf(node: unknown, token: string): unknown {
  if (isAlias(node)) throw new NotInPlace('alias');
  if (isMap(node)) {
    if (node.items.some((p) => keyText(p.key) === '<<')) throw new NotInPlace('merge key');
    const pair = node.items.find((p) => keyText(p.key) === token);
    if (!pair) throw new NotInPlace(`no key ${token}`);
    return pair.value;
  }
  if (isSeq(node)) {
    const item = node.items[Number(token)];
    if (!/^\d+$/.test(token) || item === undefined) throw new NotInPlace(`no index ${token}`);
    return item;
  }
  throw new NotInPlace('not a collection');
}

function valueAt(value: unknown, tokens: readonly string[]): unknown {
  let v = value;
  for (const t of tokens) {
    if (Array.isArray(v)) v = v[Number(t)];
    else if (isPlainObject(v)) v = v[t];
    else return undefined;
  }
  return v;
}

function newNode(doc: Document, value: unknown, old?: unknown): Node {
  const node = doc.createNode(value, noAliases);
  // A trailing comment on a replaced value (`imagePullPolicy: IfNotPresent # Always`) belongs
  // to the line, not to the old value: keep it.
  if (old && typeof old === 'object' && 'comment' in old && typeof old.comment === 'string') node.comment = old.comment;
  return node;
}

function applyOne(doc: Document, op: PatchOp, after: unknown): void {
  const tokens = parsePointer(op.path);
  if (tokens.length === 0) {
    if (op.op === 'remove') throw new NotInPlace('remove root');
    doc.contents = newNode(doc, op.value);
    return;
  }
  const parentTokens = tokens.slice(0, -1);
  const key = tokens[tokens.length - 1]!;
  let parent: unknown = doc.contents;
  for (const t of parentTokens) parent = childOf(parent, t);
  if (isAlias(parent)) throw new NotInPlace('alias');

  if (isSeq(parent)) {
    const index = key === '-' ? parent.items.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.items.length) throw new NotInPlace(`index ${key}`);
    if (op.op === 'add') parent.items.splice(index, 0, newNode(doc, op.value));
    else if (index >= parent.items.length) throw new NotInPlace(`index ${key}`);
    else if (op.op === 'remove') parent.items.splice(index, 1);
    else parent.items[index] = newNode(doc, op.value, parent.items[index]);
    return;
  }
  if (!isMap(parent)) throw new NotInPlace('not a collection');
  if (parent.items.some((p) => keyText(p.key) === '<<')) throw new NotInPlace('merge key');
  const at = parent.items.findIndex((p) => keyText(p.key) === key);
  if (op.op === 'remove') {
    if (at === -1) throw new NotInPlace(`no key ${key}`);
    parent.items.splice(at, 1);
    return;
  }
  if (at !== -1) {
    // RFC 6902 §4.1: `add` on an existing member replaces its value.
    const pair = parent.items[at]!;
    pair.value = newNode(doc, op.value, pair.value);
    return;
  }
  if (op.op === 'replace') throw new NotInPlace(`no key ${key}`);
  // Insert after the nearest key that precedes this one in the patched value.
  const order = Object.keys(valueAt(after, parentTokens) ?? {});
  let insertAt = 0;
  for (let i = order.indexOf(key) - 1; i >= 0; i -= 1) {
    const prev = parent.items.findIndex((p) => keyText(p.key) === order[i]);
    if (prev !== -1) {
      insertAt = prev + 1;
      break;
    }
  }
  parent.items.splice(insertAt, 0, doc.createPair(key, op.value, noAliases));
}

/**
 * Applies `ops` (computed as `diff(doc.toJS(), after)`) to `doc` in place. Falls back to
 * rendering the whole document from `after` when an edit cannot be made in place.
 */
export function applyToDocument(doc: Document, ops: readonly PatchOp[], after: unknown): void {
  try {
    for (const op of ops) applyOne(doc, op, after);
  } catch (err) {
    if (!(err instanceof NotInPlace)) throw err;
    doc.contents = doc.createNode(after, noAliases);
  }
}
