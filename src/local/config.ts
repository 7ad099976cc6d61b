/**
 * skiff.yaml: the local mesh that `skiff up` starts. Parsed and validated once into plain data;
 * every problem is reported as `FILE:LINE: PATH: what is wrong`, e.g.
 * `skiff.yaml:9: services.reviews.port: must be an integer 1-65535`.
 *
 * ```yaml
 * namespace: shop                  # optional, default "default"
 * dashboard: { port: 7070, data: .skiff }
 * sidecar: { report-interval: 1s, log-level: warn, args: [--tap-headers] }
 * services:
 *   frontend:
 *     command: node frontend.ts    # a string runs through /bin/sh -c; a list is argv (no shell)
 *     port: 3000                   # the app's port (given to it as PORT); default: a free port
 *     listen: 8000                 # the sidecar's inbound port; default: a free port
 *     env: { GREETING: hello }
 *     replicas: 1
 *     calls: [catalog, reviews]    # services it calls by name (http://catalog/…)
 *     cwd: .                       # relative to this file
 *     restart: always              # always | on-failure | never
 * ```
 * docs/local.md is the reference for users; keep the two in step.
 */
import { resolve } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { ErrorCodes, SkiffError } from '../errors.ts';
import { parseDuration } from '../config/options.ts';
import type { RestartPolicy } from './supervisor.ts';

export interface ServiceConfig {
  readonly name: string;
  /** argv of the app; a string command becomes `['/bin/sh', '-c', command]`. */
  readonly argv: readonly string[];
  /** App port of replica 1 (replica i gets port + i - 1); undefined: pick free ports. */
  readonly port: number | undefined;
  /** Sidecar inbound port of replica 1 (replica i gets listen + i - 1); undefined: free ports. */
  readonly listen: number | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly replicas: number;
  readonly calls: readonly string[];
  /** Absolute working directory of the app. */
  readonly cwd: string;
  readonly restart: RestartPolicy;
}

export interface UpConfig {
  /** The file as the user named it (for messages). */
  readonly file: string;
  /** Absolute directory of the file: relative paths in it are relative to this. */
  readonly dir: string;
  readonly namespace: string;
  readonly dashboard: {
    /** undefined: the default port, or a free one if it is taken; 0: a free port. */
    readonly port: number | undefined;
    /** Absolute data directory (SQLite store, token, up.json). */
    readonly data: string;
  };
  readonly sidecar: {
    readonly reportInterval: string;
    readonly logLevel: string;
    /** Extra `skiff proxy` flags given to every sidecar. */
    readonly args: readonly string[];
  };
  /** In file order. */
  readonly services: readonly ServiceConfig[];
}

export const MAX_REPLICAS = 20;
export const MAX_SERVICES = 100;
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];
const RESTART: readonly RestartPolicy[] = ['always', 'on-failure', 'never'];

type Path = readonly (string | number)[];

class Problem extends Error {
  readonly path: Path;
  constructor(path: Path, message: string) {
    super(message);
    this.path = path;
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function showPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function onlyKeys(v: Record<string, unknown>, path: Path, allowed: readonly string[]): void {
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new Problem([...path, k], `unknown key (expected one of: ${allowed.join(', ')})`);
  }
}

function port(v: unknown, path: Path, allowZero = false): number | undefined {
  if (v === undefined) return undefined;
  const min = allowZero ? 0 : 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) {
    throw new Problem(path, `must be an integer ${min}-65535`);
  }
  return v;
}

function str(v: unknown, path: Path): string {
  if (typeof v !== 'string' || v === '') throw new Problem(path, 'must be a non-empty string');
  return v;
}

function stringList(v: unknown, path: Path): string[] {
  if (!Array.isArray(v)) throw new Problem(path, 'must be a list of strings');
  return v.map((item, i) => str(item, [...path, i]));
}

function parseService(name: string, v: unknown, dir: string): ServiceConfig {
  const path = ['services', name];
  if (!NAME.test(name)) {
    throw new Problem(path, 'a service name must be lower-case letters, digits and "-" (a DNS label: apps call http://NAME/)');
  }
  if (!isMap(v)) throw new Problem(path, 'must be a map with at least `command`');
  onlyKeys(v, path, ['command', 'port', 'listen', 'env', 'replicas', 'calls', 'cwd', 'restart']);
  let argv: string[];
  if (v.command === undefined) throw new Problem([...path, 'command'], 'is required');
  if (typeof v.command === 'string') argv = ['/bin/sh', '-c', str(v.command, [...path, 'command'])];
  else {
    argv = stringList(v.command, [...path, 'command']);
    if (argv.length === 0) throw new Problem([...path, 'command'], 'must not be empty');
  }
  const env: Record<string, string> = {};
  if (v.env !== undefined) {
    if (!isMap(v.env)) throw new Problem([...path, 'env'], 'must be a map of NAME: value');
    for (const [k, val] of Object.entries(v.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Problem([...path, 'env', k], 'is not a valid environment variable name');
      if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
        throw new Problem([...path, 'env', k], 'must be a string, number or boolean');
      }
      env[k] = String(val);
    }
  }
  let replicas = 1;
  if (v.replicas !== undefined) {
    if (typeof v.replicas !== 'number' || !Number.isInteger(v.replicas) || v.replicas < 1 || v.replicas > MAX_REPLICAS) {
      throw new Problem([...path, 'replicas'], `must be an integer 1-${MAX_REPLICAS}`);
    }
    replicas = v.replicas;
  }
  const calls = v.calls === undefined ? [] : stringList(v.calls, [...path, 'calls']);
  let restart: RestartPolicy = 'always';
  if (v.restart !== undefined) {
    if (!RESTART.includes(v.restart as RestartPolicy)) throw new Problem([...path, 'restart'], `must be one of: ${RESTART.join(', ')}`);
    restart = v.restart as RestartPolicy;
  }
  const p = port(v.port, [...path, 'port']);
  const l = port(v.listen, [...path, 'listen']);
  for (const [key, first] of [['port', p], ['listen', l]] as const) {
    if (first !== undefined && first + replicas - 1 > 65535) {
      throw new Problem([...path, key], `with ${replicas} replicas the ports ${first}-${first + replicas - 1} go past 65535`);
    }
  }
  return {
    name,
    argv,
    port: p,
    listen: l,
    env,
    replicas,
    calls: [...new Set(calls)],
    cwd: v.cwd === undefined ? dir : resolve(dir, str(v.cwd, [...path, 'cwd'])),
    restart,
  };
}

function validate(doc: unknown, file: string, dir: string): UpConfig {
  if (!isMap(doc)) throw new Problem([], 'must be a map with a `services` key');
  onlyKeys(doc, [], ['namespace', 'dashboard', 'sidecar', 'services']);

  let namespace = 'default';
  if (doc.namespace !== undefined) {
    namespace = str(doc.namespace, ['namespace']);
    if (!NAME.test(namespace)) throw new Problem(['namespace'], 'must be lower-case letters, digits and "-"');
  }

  let dashboardPort: number | undefined;
  let data = resolve(dir, '.skiff');
  if (doc.dashboard !== undefined) {
    if (!isMap(doc.dashboard)) throw new Problem(['dashboard'], 'must be a map');
    onlyKeys(doc.dashboard, ['dashboard'], ['port', 'data']);
    dashboardPort = port(doc.dashboard.port, ['dashboard', 'port'], true);
    if (doc.dashboard.data !== undefined) data = resolve(dir, str(doc.dashboard.data, ['dashboard', 'data']));
  }

  let reportInterval = '1s';
  let logLevel = 'warn';
  let sidecarArgs: string[] = [];
  if (doc.sidecar !== undefined) {
    if (!isMap(doc.sidecar)) throw new Problem(['sidecar'], 'must be a map');
    onlyKeys(doc.sidecar, ['sidecar'], ['report-interval', 'log-level', 'args']);
    if (doc.sidecar['report-interval'] !== undefined) {
      const text = doc.sidecar['report-interval'];
      const path = ['sidecar', 'report-interval'];
      if (typeof text !== 'string' && typeof text !== 'number') throw new Problem(path, 'must be a duration such as 1s');
      try {
        if (parseDuration(String(text)) <= 0) throw new Error('must be more than 0');
      } catch (err) {
        throw new Problem(path, (err as Error).message);
      }
      reportInterval = String(text);
    }
    if (doc.sidecar['log-level'] !== undefined) {
      const lvl = str(doc.sidecar['log-level'], ['sidecar', 'log-level']);
      if (!LOG_LEVELS.includes(lvl)) throw new Problem(['sidecar', 'log-level'], `must be one of: ${LOG_LEVELS.join(', ')}`);
      logLevel = lvl;
    }
    if (doc.sidecar.args !== undefined) sidecarArgs = stringList(doc.sidecar.args, ['sidecar', 'args']);
  }

  if (doc.services === undefined) throw new Problem(['services'], 'is required: the services to start');
  if (!isMap(doc.services) || Object.keys(doc.services).length === 0) {
    throw new Problem(['services'], 'must be a map of service name to its settings, with at least one service');
  }
  if (Object.keys(doc.services).length > MAX_SERVICES) throw new Problem(['services'], `at most ${MAX_SERVICES} services`);
  const services = Object.entries(doc.services).map(([name, v]) => parseService(name, v, dir));

  const names = new Set(services.map((s) => s.name));
  for (const s of services) {
    s.calls.forEach((c, i) => {
      if (!names.has(c)) throw new Problem(['services', s.name, 'calls', i], `calls "${c}", which is not a service in this file`);
    });
  }
  checkPortClashes(services, dashboardPort);

  return {
    file,
    dir,
    namespace,
    dashboard: { port: dashboardPort, data },
    sidecar: { reportInterval, logLevel, args: sidecarArgs },
    services,
  };
}

/** Two things may not claim one port: apps, sidecars (each replica takes the next port) and the dashboard. */
function checkPortClashes(services: readonly ServiceConfig[], dashboardPort: number | undefined): void {
  const owner = new Map<number, string>();
  const claim = (p: number, path: Path, what: string): void => {
    const prev = owner.get(p);
    if (prev !== undefined) throw new Problem(path, `port ${p}${what} is also used by ${prev}`);
    owner.set(p, showPath(path) + what);
  };
  if (dashboardPort) claim(dashboardPort, ['dashboard', 'port'], '');
  for (const s of services) {
    for (const key of ['port', 'listen'] as const) {
      const first = s[key];
      if (first === undefined) continue;
      for (let i = 0; i < s.replicas; i++) claim(first + i, ['services', s.name, key], i === 0 ? '' : ` (replica ${i + 1})`);
    }
  }
}

/**
 * Parses and validates skiff.yaml text. `file` is how the user named the file (for messages),
 * `dir` the absolute directory relative paths are resolved against.
 * Throws `SkiffError` (SKIFF_ERR_CONFIG_INVALID) with `FILE:LINE: PATH: reason`.
 *
 * @example
 * const config = parseUpConfig(readFileSync('skiff.yaml', 'utf8'), 'skiff.yaml', process.cwd());
 */
export function parseUpConfig(text: string, file: string, dir: string): UpConfig {
  const lineCounter = new LineCounter();
  // uniqueKeys (the default) makes a repeated service name an error rather than a silent overwrite.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lineCounter.linePos(first.pos[0]).line;
    throw new SkiffError(
      ErrorCodes.CONFIG_INVALID,
      `${file}${line ? `:${line}` : ''}: not valid YAML: ${first.message.split('\n')[0] ?? ''}`,
    );
  }
  try {
    return validate(doc.toJS({ maxAliasCount: 100 }), file, dir);
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    // Point at the line of the offending value (or of the nearest ancestor that exists).
    let line: number | undefined;
    for (let n = err.path.length; n > 0 && line === undefined; n--) {
      const node = doc.getIn(err.path.slice(0, n), true);
      if (isNode(node) && node.range) line = lineCounter.linePos(node.range[0]).line;
    }
    const where = err.path.length ? `${showPath(err.path)}: ` : '';
    throw new SkiffError(ErrorCodes.CONFIG_INVALID, `${file}${line ? `:${line}` : ''}: ${where}${err.message}`);
  }
}
