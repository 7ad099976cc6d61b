/**
 * JSON Pointer (RFC 6901) and JSON Patch (RFC 6902) over plain JSON values.
 *
 * `diff(before, after)` is how the injector tells its two front doors what changed: the webhook
 * sends the ops as its admission patch, and the manifest writer replays them on the YAML
 * document (see yaml-apply.ts) so that everything the injector did not touch keeps its comments
 * and formatting.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 6901 §3: `~` is written `~0` and `/` is written `~1` (in that order, so `~1` stays `~01`). */
export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** RFC 6901 §4: decode `~1` before `~0`, so that `~01` becomes `~1` and not `/`. */
export function unescapeToken(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function toPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => '/' + escapeToken(String(t))).join('');
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`"${pointer}" is not a JSON pointer (it must start with "/")`);
  return pointer.slice(1).split('/').map(unescapeToken);
}

/** Structural equality of JSON values (key order ignored, as JSON objects are unordered). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * The RFC 6902 operations that turn `before` into `after`: `remove` for members that went away,
 * `add` for new members (in `after`'s key order), `replace` where a value changed its type or
 * scalar value. Arrays keep their common prefix and suffix; the middles are compared element by
 * element and the surplus removed or added, so inserting one container is one `add`, not a
 * rewrite of every container after it.
 */
export function diff(before: unknown, after: unknown, path: readonly (string | number)[] = []): PatchOp[] {
  if (jsonEqual(before, after)) return [];
  if (isPlainObject(before) && isPlainObject(after)) {
    const ops: PatchOp[] = [];
    for (const k of Object.keys(before)) {
      if (!Object.hasOwn(after, k)) ops.push({ op: 'remove', path: toPointer([...path, k]) });
    }
    for (const k of Object.keys(after)) {
      if (Object.hasOwn(before, k)) ops.push(...diff(before[k], after[k], [...path, k]));
      else ops.push({ op: 'add', path: toPointer([...path, k]), value: after[k] });
    }
    return ops;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length === after.length) return before.flatMap((b, i) => diff(b, after[i], [...path, i]));
    let prefix = 0;
    const max = Math.min(before.length, after.length);
    while (prefix < max && jsonEqual(before[prefix], after[prefix])) prefix += 1;
    let suffix = 0;
    while (
      suffix < max - prefix &&
      jsonEqual(before[before.length - 1 - suffix], after[after.length - 1 - suffix])
    ) {
      suffix += 1;
    }
    // What is left in the middle: pair elements up in order (an element edited in place keeps
    // its formatting in the YAML output), then remove the extra old ones or add the new ones.
    const oldEnd = before.length - suffix;
    const newEnd = after.length - suffix;
    const paired = Math.min(oldEnd, newEnd) - prefix;
    const ops: PatchOp[] = [];
    for (let i = prefix; i < prefix + paired; i += 1) ops.push(...diff(before[i], after[i], [...path, i]));
    // Remove from the highest index down so that earlier indexes stay valid (RFC 6902 §4.2
    // applies operations in order, each to the result of the previous one).
    for (let i = oldEnd - 1; i >= prefix + paired; i -= 1) ops.push({ op: 'remove', path: toPointer([...path, i]) });
    for (let i = prefix + paired; i < newEnd; i += 1) ops.push({ op: 'add', path: toPointer([...path, i]), value: after[i] });
    return ops;
  }
  return [{ op: 'replace', path: toPointer(path), value: after }];
}
