/**
 * `skiff run --name NAME --app-port PORT [options] -- COMMAND ARGS…`: one local process with its
 * sidecar in front of it. The app gets PORT and the outbound proxy settings (HTTP_PROXY,
 * NODE_USE_ENV_PROXY, SKIFF_UPSTREAM_<NAME>); SIGINT/SIGTERM are forwarded to it; when it
 * exits the sidecar drains, and `skiff run` exits with the app's exit code (128+N for signal N).
 * The app's stdout stays stdout; its stderr and the sidecar's log go to stderr.
 */
import type { Command } from '../cli/io.ts';
import { formatHelp, formatHostPort, parseCommand, type HostPort, type OptionTable } from '../config/options.ts';
import { ErrorCodes, SkiffError, UsageError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { appEnv, skiffEnv, upstreamEnvName } from './plan.ts';
import { bindProblem, freePort, tryBind } from './ports.ts';
import { waitReady } from './ready.ts';
import { resolveRuntime } from './runtime.ts';
import { ManagedProcess, SpawnError, type ExitInfo } from './supervisor.ts';

export const runOptions = {
  name: { type: 'string', placeholder: 'NAME', description: 'the service name: in telemetry, and what other services call it by (required)' },
  'app-port': { type: 'integer', placeholder: 'PORT', description: 'the port the app listens on, given to it as PORT (required)' },
  listen: { type: 'hostport', default: '127.0.0.1:15001', placeholder: 'HOST:PORT', description: 'the sidecar\'s inbound listener: where callers reach the app' },
  admin: { type: 'hostport', default: '127.0.0.1:0', placeholder: 'HOST:PORT', description: 'the sidecar\'s admin listener (/readyz, /metrics, /tap); port 0 picks a free port' },
  outbound: { type: 'hostport', default: '127.0.0.1:0', placeholder: 'HOST:PORT', description: 'the sidecar\'s outbound HTTP proxy, the app\'s HTTP_PROXY; port 0 picks a free port' },
  resolve: { type: 'list', placeholder: 'NAME=HOST:PORT', description: 'where service NAME is reached when the app calls http://NAME/ (repeatable)' },
  upstream: { type: 'list', placeholder: 'NAME=HOST:PORT[@TARGET]', description: 'a local port that forwards to service NAME, given to the app as SKIFF_UPSTREAM_<NAME> (repeatable)' },
  dashboard: { type: 'string', placeholder: 'URL', description: 'dashboard the sidecar reports to (token from SKIFF_TOKEN); off when unset' },
  'report-interval': { type: 'duration', default: '5s', description: 'how often the sidecar reports to the dashboard' },
  namespace: { type: 'string', placeholder: 'NAME', defaultDoc: '"default"', description: 'namespace used in telemetry' },
  pod: { type: 'string', placeholder: 'NAME', defaultDoc: 'the hostname', description: 'pod name used in telemetry' },
  'stop-timeout': { type: 'duration', default: '10s', description: 'after forwarding SIGINT/SIGTERM, how long the app may take to exit before SIGKILL' },
  node: { type: 'string', placeholder: 'PATH', defaultDoc: 'node_modules/.bin/node of this skiff, else node on PATH', description: 'the Node binary that runs the sidecar (also first on the app\'s PATH)' },
  'log-level': { type: 'string', default: 'info', description: 'the sidecar\'s log level: error, warn, info or debug' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

const USAGE = 'skiff run --name NAME --app-port PORT [options] -- COMMAND ARGS…';
const SUMMARY = 'Run COMMAND with a sidecar in front of it: callers reach it at --listen, and it reaches\nother services through the sidecar (HTTP_PROXY). Exits with the app\'s exit code.';
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Checks a fixed port is free, or picks a free one for port 0. */
async function claim(hp: HostPort, flag: string, taken: Set<number>): Promise<HostPort> {
  if (hp.port === 0) {
    const port = await freePort(hp.host, taken);
    taken.add(port);
    return { host: hp.host, port };
  }
  if (taken.has(hp.port)) throw new SkiffError(ErrorCodes.LISTEN_FAILED, `port ${hp.port} is given to ${flag} and to another option`);
  const problem = await tryBind(hp.host, hp.port);
  if (problem) throw new SkiffError(ErrorCodes.LISTEN_FAILED, `${bindProblem(problem, hp.port)} (${flag})`);
  taken.add(hp.port);
  return hp;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run a local process with its sidecar',
  async run(io, args) {
    const { values: o, rest } = parseCommand(runOptions, args, io.env);
    if (o.help) {
      io.stdout.write(formatHelp(USAGE, SUMMARY, runOptions));
      return 0;
    }
    if (!o.name) throw new UsageError('--name is required');
    if (!NAME.test(o.name)) throw new UsageError(`--name "${o.name}" must be lower-case letters, digits and "-" (other services call http://NAME/)`);
    const appPort = o['app-port'];
    if (appPort === undefined) throw new UsageError('--app-port is required (the port your app listens on)');
    if (appPort < 1 || appPort > 65535) throw new UsageError('--app-port must be 1-65535');
    if (rest.length === 0) throw new UsageError('give the command to run after --, e.g. skiff run --name web --app-port 3000 -- node server.js');
    const upstreams = o.upstream.map((u) => {
      const m = /^([a-z0-9][a-z0-9-]*)=([^@]+)(@.+)?$/.exec(u);
      if (!m) throw new UsageError(`--upstream "${u}" is not NAME=HOST:PORT[@TARGET]`);
      return { name: m[1]!, listen: m[2]! };
    });
    const log = createLogger(io.stderr, 'info', 'run');

    // Every port is checked before anything starts, so a clash is one clear line, not a crash.
    const taken = new Set<number>();
    const app = await claim({ host: '127.0.0.1', port: appPort }, '--app-port: is the app already running?', taken);
    const listen = await claim(o.listen, '--listen', taken);
    const admin = await claim(o.admin, '--admin', taken);
    const outbound = await claim(o.outbound, '--outbound', taken);

    const runtime = resolveRuntime(o.node, io.cwd);
    const env = appEnv(io.env, {
      service: o.name,
      pod: o.pod ?? o.name,
      appPort: app.port,
      outbound: outbound.port,
      callees: [],
      nodeDir: runtime.nodeDir,
      extra: Object.fromEntries(upstreams.map((u) => [upstreamEnvName(u.name), `http://${u.listen}`])),
    });
    const sidecarArgs = [
      'proxy',
      '--listen', formatHostPort(listen),
      '--app', formatHostPort(app),
      '--admin', formatHostPort(admin),
      '--outbound', formatHostPort(outbound),
      '--service', o.name,
      '--log-level', o['log-level'],
      ...(o.namespace ? ['--namespace', o.namespace] : []),
      ...(o.pod ? ['--pod', o.pod] : []),
      ...o.resolve.flatMap((r) => ['--resolve', r]),
      ...o.upstream.flatMap((u) => ['--upstream', u]),
      ...(o.dashboard ? ['--dashboard', o.dashboard, '--report-interval', `${o['report-interval']}ms`] : []),
    ];

    const appProc = new ManagedProcess(
      { label: o.name, argv: rest, env, cwd: io.cwd, restart: 'never', stopTimeoutMs: o['stop-timeout'] },
      { onLine: (_label, line, stream) => (stream === 'stdout' ? io.stdout : io.stderr).write(line + '\n') },
    );
    const sidecar = new ManagedProcess(
      {
        label: 'sidecar',
        argv: [...runtime.skiff, ...sidecarArgs],
        env: skiffEnv(io.env, io.env.SKIFF_TOKEN),
        cwd: io.cwd,
        restart: 'never',
        stopTimeoutMs: 30_000,
      },
      { onLine: (_label, line) => io.stderr.write(line + '\n') },
    );

    // The app first: a command that does not exist fails here, before any sidecar is started.
    try {
      await appProc.start();
    } catch (err) {
      if (err instanceof SpawnError) throw new SkiffError(ErrorCodes.COMMAND_FAILED, err.message, { cause: err });
      throw err;
    }
    try {
      const appExit = appProc.nextExit();
      const sidecarExit = (async (): Promise<ExitInfo> => {
        await sidecar.start();
        return sidecar.nextExit();
      })();
      void waitReady(`http://${formatHostPort(admin)}/readyz`, {
        timeoutMs: 60_000,
        signal: io.shutdown,
        stillWorthWaiting: () => appProc.pid !== undefined,
      }).then((ok) => {
        if (ok) log.info('ready', { service: o.name, listen: `http://${formatHostPort(listen)}`, app: formatHostPort(app), outbound: `http://${formatHostPort(outbound)}` });
      });

      const shutdown = new Promise<'signal'>((resolve) => {
        if (io.shutdown.aborted) resolve('signal');
        else io.shutdown.addEventListener('abort', () => resolve('signal'), { once: true });
      });

      let code: number;
      const first = await Promise.race([appExit.then(() => 'app' as const), sidecarExit.then(() => 'sidecar' as const), shutdown]);
      if (first === 'signal') {
        // Forward the very signal we got; the app decides how to end (its exit code is ours).
        const signal = (typeof io.shutdown.reason === 'string' && /^SIG[A-Z]+$/.test(io.shutdown.reason) ? io.shutdown.reason : 'SIGTERM') as NodeJS.Signals;
        appProc.signal(signal);
        const exited = await Promise.race([appExit, new Promise<undefined>((r) => setTimeout(() => r(undefined), o['stop-timeout']).unref())]);
        code = (exited ?? (await appProc.stop('SIGKILL')) ?? { exitCode: 1 }).exitCode;
      } else if (first === 'sidecar') {
        const s = await sidecarExit;
        log.error('the sidecar exited; stopping the app', { code: s.code ?? undefined, signal: s.signal ?? undefined });
        await appProc.stop();
        code = 1;
      } else {
        code = (await appExit).exitCode;
      }
      // The app is gone: let the sidecar finish what is in flight and send its last report.
      await sidecar.stop();
      return code;
    } finally {
      // On any way out (a sidecar that cannot start, say), nothing we started stays behind.
      await appProc.stop();
      await sidecar.stop();
    }
  },
};
