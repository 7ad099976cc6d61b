/**
 * `skiff webhook`: the mutating admission webhook that injects pods as the cluster creates
 * them (deployed by `skiff install`). HTTPS only; runs until SIGTERM/SIGINT, then lets the
 * reviews in flight finish.
 */
import type { Command } from '../cli/io.ts';
import type { OptionTable } from '../config/options.ts';
import { formatHelp, parseCommand } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import { sidecarOptions, toInjectOptions } from '../inject/options.ts';
import { createLogger, isLogLevel } from '../log.ts';
import { createWebhookServer } from './server.ts';

export const webhookOptions = {
  listen: { type: 'hostport', default: '0.0.0.0:8443', placeholder: 'HOST:PORT', description: 'where the API server reaches the webhook (HTTPS)' },
  'tls-cert': { type: 'string', placeholder: 'FILE', description: 'PEM serving certificate (required; reloaded when the file changes)' },
  'tls-key': { type: 'string', placeholder: 'FILE', description: 'PEM private key of the certificate (required)' },
  ...sidecarOptions,
  'log-level': { type: 'string', default: 'info', description: 'error, warn, info or debug' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;

export const webhookCommand: Command = {
  name: 'webhook',
  summary: 'serve the admission webhook that injects pods',
  async run(io, args) {
    const { values } = parseCommand(webhookOptions, args, io.env);
    if (values.help) {
      io.stdout.write(
        formatHelp(
          'skiff webhook --tls-cert FILE --tls-key FILE [options]',
          'Serve the mutating admission webhook (POST /mutate, GET /healthz) that adds the sidecar to new pods.\n`skiff install` deploys it with a generated certificate. See docs/injection.md.',
          webhookOptions,
        ),
      );
      return 0;
    }
    if (!values['tls-cert'] || !values['tls-key']) throw new UsageError('the webhook serves HTTPS only: --tls-cert and --tls-key are required');
    if (!isLogLevel(values['log-level'])) throw new UsageError(`--log-level: "${values['log-level']}" is not error, warn, info or debug`);
    const log = createLogger(io.stderr, values['log-level'], 'webhook');
    const server = await createWebhookServer({
      listen: values.listen,
      certFile: values['tls-cert'],
      keyFile: values['tls-key'],
      inject: toInjectOptions(values),
      log,
    });
    await new Promise<void>((ok) => {
      if (io.shutdown.aborted) ok();
      else io.shutdown.addEventListener('abort', () => ok(), { once: true });
    });
    log.info('shutting down', { signal: String(io.shutdown.reason) });
    await server.close();
    return 0;
  },
};
