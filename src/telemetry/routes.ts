/**
 * Route templates and the per-service route budget: the only way a request path becomes a label.
 *
 * A raw path carries ids and user data (`/users/123/orders/9f8e…`); a label must carry neither,
 * and there must be few distinct labels (every one is a series in memory, in every report and in
 * Prometheus). So each path segment that looks like data becomes `{id}`, templates are capped in
 * segments and length, and each service keeps at most `budget` distinct templates: the rest are
 * recorded as `other`.
 */
import { MAX_ROUTE_LENGTH } from './report.ts';

/** The route of requests beyond the budget. */
export const OTHER_ROUTE = 'other';
/** Most segments kept in a template; deeper paths end in `/{…}`. */
export const MAX_ROUTE_SEGMENTS = 12;
const TRUNCATED = '/{…}';
const ID = '{id}';

// A segment is data (→ {id}) when it matches any of these. Each test is anchored and linear.
const NUMERIC = /^[+-]?\d+(?:[.,_:]\d+)*$/; // 123, 3.14, 2024-… is caught below
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^(?:0x)?[0-9a-f]{12,}$/i; // hashes, object ids, commit shas
const DIGIT_RUN = /\d{4}/; // dates (2024-01-15), order numbers (ord-12345), ISBNs
const TOKEN = /^[A-Za-z0-9_.~+=-]{16,}$/; // tokens, slugs with ids, base64url, JWT parts
const HAS_DIGIT = /\d/;
const BASE64_PADDED = /^[A-Za-z0-9_+-]{8,}={1,2}$/;
const MIXED_CASE = /[a-z].*[A-Z]|[A-Z].*[a-z]/;
const VOWELS = /[aeiouyAEIOUY]/g;
const LETTERS = /[A-Za-z]/g;
// Anything outside printable ASCII (controls, spaces, raw non-ASCII) and percent-escapes mark
// encoded user text (names, search terms): never keep it. `@` marks an email or a handle.
const NOT_PLAIN = /[^\x21-\x7e]|%[0-9a-fA-F]{2}|@/;
/** Longer segments are not names a developer chose: slugs, tokens, payloads. */
const MAX_SEGMENT_LENGTH = 64;
const AUTHORITY_FORM = /^[A-Za-z0-9.-]+:\d+$|^\[[0-9A-Fa-f:.]+\]:\d+$/;
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/;

/** True when a path segment looks like an id or user data rather than a name in the API. */
export function isDataSegment(seg: string): boolean {
  if (seg.length > MAX_SEGMENT_LENGTH || NOT_PLAIN.test(seg)) return true;
  if (NUMERIC.test(seg) || UUID.test(seg) || HEX.test(seg) || DIGIT_RUN.test(seg) || BASE64_PADDED.test(seg)) return true;
  if (seg.length >= 16 && TOKEN.test(seg)) {
    if (HAS_DIGIT.test(seg)) return true;
    // A long run of letters of mixed case with few vowels is random (base64), not camelCase words:
    // English words are ~40% vowels, random base64 letters ~20%.
    if (MIXED_CASE.test(seg)) {
      const letters = seg.match(LETTERS)?.length ?? 0;
      const vowels = seg.match(VOWELS)?.length ?? 0;
      if (letters > 0 && vowels / letters < 0.3) return true;
    }
  }
  return false;
}

/**
 * Turns a raw request path (without the query) into a bounded route template.
 *
 * @example
 * templatePath('/api/v1/products/550e8400-e29b-41d4-a716-446655440000') // '/api/v1/products/{id}'
 * templatePath('/users/123/orders/9f8e7d6c5b4a3f2e') // '/users/{id}/orders/{id}'
 */
export function templatePath(path: string): string {
  // RFC 9112 §3.2.4: `*` (asterisk-form) is only for a server-wide OPTIONS.
  if (path === '*') return '*';
  let p = path;
  const cut = p.search(/[?#]/);
  if (cut !== -1) p = p.slice(0, cut);
  if (!p.startsWith('/')) {
    // RFC 9112 §3.2.3: authority-form (host:port) is CONNECT's target: a destination, not a route.
    if (AUTHORITY_FORM.test(p)) return '{authority}';
    // RFC 9112 §3.2.2: absolute-form (a request to a proxy): keep only its path.
    const abs = ABSOLUTE_FORM.exec(p);
    p = abs ? p.slice(abs[0].length) : p;
    if (!p.startsWith('/')) p = '/' + p;
  }
  if (p === '/') return '/';
  const segments = p.slice(1).split('/', MAX_ROUTE_SEGMENTS + 1);
  let out = '';
  for (let i = 0; i < segments.length; i++) {
    if (i === MAX_ROUTE_SEGMENTS) return out + TRUNCATED;
    const seg = segments[i]!;
    const part = '/' + (isDataSegment(seg) ? ID : seg);
    if (out.length + part.length > MAX_ROUTE_LENGTH - TRUNCATED.length) return out + TRUNCATED;
    out += part;
  }
  return out;
}

export interface RouteTable {
  /** The route label for a raw path: its template, or `other` once the budget is spent. */
  route(path: string): string;
  /**
   * A small integer per distinct route returned by `route` (0 is `other`), stable for the life
   * of the table, so hot paths can key series by number; `routeName(id)` gives the label back.
   */
  routeId(path: string): number;
  routeName(id: number): string;
  /** Distinct templates admitted so far (not counting `other`). */
  readonly size: number;
}

export interface RouteTableOptions {
  /** Raw paths cached (path → route); the cache is cleared when full. Default 10,000. */
  cacheSize?: number;
}

/**
 * A per-service route table: templates are admitted while fewer than `budget` exist; later
 * new templates fold into `other` (known ones keep their name). It runs on every request, so
 * the raw path → route result is cached in a bounded map.
 */
export function createRouteTable(budget: number, options: RouteTableOptions = {}): RouteTable {
  const cacheSize = options.cacheSize ?? 10_000;
  const names: string[] = [OTHER_ROUTE];
  const ids = new Map<string, number>(); // template → id
  let cache = new Map<string, number>(); // raw path → id

  const routeId = (path: string): number => {
    const hit = cache.get(path);
    if (hit !== undefined) return hit;
    const template = templatePath(path);
    let id = ids.get(template);
    if (id === undefined) {
      if (ids.size < budget) {
        id = names.length;
        names.push(template);
        ids.set(template, id);
      } else id = 0;
    }
    // Clearing (not LRU) keeps the hit path a single Map lookup; a refill costs one template each.
    if (cache.size >= cacheSize) cache = new Map();
    cache.set(path, id);
    return id;
  };

  return {
    route: (path) => names[routeId(path)]!,
    routeId,
    routeName: (id) => names[id] ?? OTHER_ROUTE,
    get size() {
      return ids.size;
    },
  };
}
