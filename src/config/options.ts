/**
 * Command options: one declarative table per command, resolved as flags > env > defaults.
 *
 * The same tables generate docs/configuration.md (see scripts/gen-docs.ts), and a test checks
 * that the committed file matches, so the reference can never drift from the code.
 *
 * Env names are `SKIFF_` plus the flag in upper snake case (`--drain-timeout` → `SKIFF_DRAIN_TIMEOUT`).
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';

export type OptionType = 'string' | 'boolean' | 'integer' | 'duration' | 'hostport' | 'list';

export interface OptionSpec {
  readonly type: OptionType;
  readonly description: string;
  /** Default as the user would write it (parsed like a flag value). */
  readonly default?: string;
  /** Where the default comes from when it is computed at run time (shown in the docs). */
  readonly defaultDoc?: string;
  readonly short?: string;
  /** Set to false for options that must not come from the environment. */
  readonly env?: false | string;
  readonly placeholder?: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

export interface HostPort {
  host: string;
  port: number;
}

type ValueOf<T extends OptionType> = T extends 'boolean'
  ? boolean
  : T extends 'integer' | 'duration'
    ? number
    : T extends 'hostport'
      ? HostPort
      : T extends 'list'
        ? string[]
        : string;

/** Values after resolution; an option without default and not given is `undefined`. */
export type Resolved<T extends OptionTable> = {
  [K in keyof T]: T[K] extends { default: string } | { type: 'boolean' } | { type: 'list' }
    ? ValueOf<T[K]['type']>
    : ValueOf<T[K]['type']> | undefined;
};

export function envName(flag: string): string {
  return `SKIFF_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** Parses `500ms`, `5s`, `2m`, `1h`, `1d` (or a bare number of seconds) into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration (examples: 500ms, 5s, 2m, 1h, 7d)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000;
  return Math.round(n * factor);
}

/** Parses `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT`; an empty host means all interfaces. */
export function parseHostPort(text: string, defaultHost = '0.0.0.0'): HostPort {
  const t = text.trim();
  let host = defaultHost;
  let portText = t;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (t.includes(':')) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i) || defaultHost;
    portText = t.slice(i + 1);
  }
  if (!/^\d+$/.test(portText)) throw new Error(`"${text}" is not HOST:PORT`);
  const port = Number(portText);
  if (port > 65535) throw new Error(`"${text}": port ${port} is out of range`);
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

function convert(spec: OptionSpec, raw: string | boolean | string[], source: string): unknown {
  try {
    switch (spec.type) {
      case 'boolean': {
        if (typeof raw === 'boolean') return raw;
        const v = String(raw).toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(v)) return true;
        if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
        throw new Error(`"${String(raw)}" is not a boolean (true or false)`);
      }
      case 'integer': {
        const v = String(raw);
        if (!/^-?\d+$/.test(v)) throw new Error(`"${v}" is not an integer`);
        return Number(v);
      }
      case 'duration':
        return parseDuration(String(raw));
      case 'hostport':
        return parseHostPort(String(raw));
      case 'list':
        return (Array.isArray(raw) ? raw : [String(raw)])
          .flatMap((v) => v.split(','))
          .map((v) => v.trim())
          .filter(Boolean);
      case 'string':
        return String(raw);
    }
  } catch (err) {
    throw new UsageError(`${source}: ${(err as Error).message}`);
  }
}

export interface ParsedCommand<T extends OptionTable> {
  values: Resolved<T>;
  positionals: string[];
  /** Arguments after a literal `--` (for `skiff run -- COMMAND ARGS…`). */
  rest: string[];
}

/**
 * Resolves a command's options: flags over `SKIFF_*` env over defaults.
 * Unknown flags and bad values throw `UsageError` (exit code 2).
 */
export function parseCommand<T extends OptionTable>(
  table: T,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  opts: { allowPositionals?: boolean } = {},
): ParsedCommand<T> {
  const dd = argv.indexOf('--');
  const args = dd === -1 ? [...argv] : argv.slice(0, dd);
  const rest = dd === -1 ? [] : argv.slice(dd + 1);
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(table)) {
    parseOptions[name] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.type === 'list' ? { multiple: true } : {}),
    };
  }
  // `--flag=false` for booleans is friendlier than parseArgs' `--no-flag` form alone.
  const normalized: string[] = [];
  for (const a of args) {
    const m = /^--([a-z0-9-]+)=(true|false)$/i.exec(a);
    if (m && table[m[1]!]?.type === 'boolean') {
      normalized.push(m[2]!.toLowerCase() === 'true' ? `--${m[1]!}` : `--no-${m[1]!}`);
    } else normalized.push(a);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: normalized,
      options: parseOptions,
      allowPositionals: opts.allowPositionals ?? false,
      allowNegative: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const values: Record<string, unknown> = {};
  const given = parsed.values as Record<string, string | boolean | string[] | undefined>;
  for (const [name, spec] of Object.entries(table)) {
    const flag = given[name];
    const envKey = spec.env === false ? undefined : (spec.env ?? envName(name));
    const fromEnv = envKey ? env[envKey] : undefined;
    if (flag !== undefined) values[name] = convert(spec, flag, `--${name}`);
    else if (fromEnv !== undefined && fromEnv !== '') values[name] = convert(spec, fromEnv, `${envKey!} (--${name})`);
    else if (spec.default !== undefined) values[name] = convert(spec, spec.default, `default of --${name}`);
    else if (spec.type === 'boolean') values[name] = false;
    else if (spec.type === 'list') values[name] = [];
    else values[name] = undefined;
  }
  return { values: values as Resolved<T>, positionals: parsed.positionals, rest };
}

/** Renders a command's options as help text (for `skiff COMMAND --help`). */
export function formatHelp(usage: string, summary: string, table: OptionTable): string {
  const lines = [`Usage: ${usage}`, '', summary, '', 'Options:'];
  for (const [name, spec] of Object.entries(table)) {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'boolean' ? '' : ` ${spec.placeholder ?? spec.type.toUpperCase()}`}`;
    const def = spec.default !== undefined ? ` (default: ${spec.default})` : spec.defaultDoc ? ` (default: ${spec.defaultDoc})` : '';
    const env = spec.env === false ? '' : ` [${spec.env ?? envName(name)}]`;
    lines.push(`  ${flag.padEnd(34)} ${spec.description}${def}${env}`);
  }
  return lines.join('\n') + '\n';
}
