/**
 * `skiff proxy`: the sidecar process. Parses options, builds the recorder, the sidecar and the
 * reporter, then waits for SIGTERM/SIGINT and drains.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { Command } from '../cli/io.ts';
import { formatHelp, formatHostPort, parseCommand } from '../config/options.ts';
import { SkiffError, ErrorCodes, UsageError, describeError } from '../errors.ts';
import { createLogger, isLogLevel } from '../log.ts';
import { createRecorder } from '../telemetry/recorder.ts';
import { resolveIdentity } from '../telemetry/identity.ts';
import { createReporter } from '../telemetry/reporter.ts';
import { readResources } from '../telemetry/resources.ts';
import { proxyOptions } from './options.ts';
import { buildSidecarConfig } from './config.ts';
import { createSidecar } from './sidecar.ts';
import { tuneV8ForSidecar } from './memory.ts';
import { createSidecarTap } from '../live/sidecar-tap.ts';
import type { MetricFamily } from '../telemetry/prometheus.ts';

/**
 * The admin URL the dashboard should use for live taps: loopback stays loopback (a local
 * mesh); a wildcard bind is advertised at the pod's IP (Downward API `POD_IP`) or, failing
 * that, this host's first non-internal IPv4 address.
 */
export function advertisedAdmin(address: string, port: number, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const wildcard = address === '0.0.0.0' || address === '::';
  let host = address;
  if (wildcard) {
    host = env.POD_IP ?? '';
    if (!host) {
      for (const list of Object.values(networkInterfaces())) {
        const a = list?.find((i) => i.family === 'IPv4' && !i.internal);
        if (a) {
          host = a.address;
          break;
        }
      }
    }
    if (!host) return undefined;
  }
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'run the sidecar in front of an app',
  async run(io, args) {
    const started = performance.now();
    const { values: v } = parseCommand(proxyOptions, args, io.env);
    if (v.help) {
      io.stdout.write(formatHelp('skiff proxy [options]', 'Runs the sidecar: receives traffic meant for the app, forwards it, and records every call.', proxyOptions));
      return 0;
    }
    if (!isLogLevel(v['log-level'])) throw new UsageError(`--log-level must be error, warn, info or debug`);
    tuneV8ForSidecar();
    const log = createLogger(io.stderr, v['log-level'], 'proxy');
    const identity = resolveIdentity({ service: v.service, namespace: v.namespace, pod: v.pod }, io.env, hostname());
    const config = buildSidecarConfig(v, identity);

    const recorder = createRecorder({ identity, routeBudget: v['route-budget'], resources: () => readResources() });
    // The live tap (GET /tap on the admin port; docs/live.md): costs nothing until a client attaches.
    const tap = createSidecarTap({
      recorder,
      identity,
      token: io.env.SKIFF_TOKEN,
      allowHeaders: v['tap-headers'],
      allowBodies: v['tap-bodies'],
      bodyBytes: v['tap-body-bytes'],
      redactHeaders: v['redact-headers'],
      redactFields: v['redact-fields'],
      log: log.child('tap'),
    });
    let sidecar;
    try {
      sidecar = await createSidecar(config, { sink: recorder, metrics: () => recorder.metrics(), log, adminRoutes: new Map([['/tap', tap.handler]]) });
    } catch (err) {
      throw new SkiffError(ErrorCodes.LISTEN_FAILED, `cannot listen: ${describeError(err)}`, { cause: err });
    }
    const s = sidecar;
    recorder.addCollector((): MetricFamily[] => [
      { name: 'skiff_proxy_client_connections', help: 'Client connections open now, over all listeners.', type: 'gauge', samples: [{ labels: {}, value: s.connectionCount() }] },
    ]);

    let reporter: ReturnType<typeof createReporter> | null = null;
    if (v.dashboard) {
      reporter = createReporter({
        url: v.dashboard,
        ...(io.env.SKIFF_TOKEN ? { token: io.env.SKIFF_TOKEN } : {}),
        intervalMs: v['report-interval'],
        queueBytes: v['report-queue-bytes'],
        identity,
        takeDelta: () => recorder.takeDelta(),
        readResources: () => readResources(),
        log: log.child('reporter'),
        admin: v['admin-url'] ?? advertisedAdmin(sidecar.admin.address, sidecar.admin.port, io.env),
      });
      recorder.addCollector(() => reporter?.families() ?? []);
      reporter.start();
    }

    log.info('ready', {
      service: identity.service,
      namespace: identity.namespace,
      pod: identity.pod,
      inbound: formatHostPort({ host: sidecar.inbound.address, port: sidecar.inbound.port }),
      app: formatHostPort(config.app),
      admin: formatHostPort({ host: sidecar.admin.address, port: sidecar.admin.port }),
      outbound: sidecar.outbound ? formatHostPort({ host: sidecar.outbound.address, port: sidecar.outbound.port }) : undefined,
      dashboard: v.dashboard,
      startup_ms: Math.round(performance.now() - started),
    });

    await new Promise<void>((resolve) => {
      if (io.shutdown.aborted) resolve();
      else io.shutdown.addEventListener('abort', () => resolve(), { once: true });
    });
    log.info('draining', { signal: String(io.shutdown.reason), connections: sidecar.connectionCount(), timeout_ms: v['drain-timeout'] });
    tap.close(); // live taps are not traffic: end them first so they do not hold the drain
    const result = await sidecar.drain(v['drain-timeout']);
    if (reporter) await reporter.stop();
    log.info(result === 'drained' ? 'drained' : 'drain timeout: closed remaining connections');
    return 0;
  },
};
