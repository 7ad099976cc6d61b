/**
 * `skiff proxy` options. Flags over `SKIFF_*` env over defaults; docs/configuration.md is
 * generated from this table. The token for the dashboard is env-only (`SKIFF_TOKEN`): a flag
 * would show in `ps` output.
 */
import type { OptionTable } from '../config/options.ts';

export const proxyOptions = {
  listen: { type: 'hostport', default: '0.0.0.0:15001', placeholder: 'HOST:PORT', description: 'inbound listener: where traffic meant for the app arrives' },
  app: { type: 'hostport', default: '127.0.0.1:8080', placeholder: 'HOST:PORT', description: 'the app the inbound traffic is forwarded to' },
  admin: { type: 'hostport', default: '127.0.0.1:15000', placeholder: 'HOST:PORT', description: 'admin listener (/livez, /readyz, /metrics, /tap); keep it on loopback unless scraped from outside' },
  'admin-url': { type: 'string', placeholder: 'URL', defaultDoc: 'http://127.0.0.1:PORT for a loopback --admin, else http://$POD_IP:PORT', description: 'where the dashboard reaches this admin port for live taps (sent in reports)' },
  service: { type: 'string', placeholder: 'NAME', defaultDoc: 'SKIFF_SERVICE, else the pod name without its hash suffixes, else the hostname', description: 'service name used in telemetry' },
  namespace: { type: 'string', placeholder: 'NAME', defaultDoc: 'POD_NAMESPACE, else "default"', description: 'namespace used in telemetry' },
  pod: { type: 'string', placeholder: 'NAME', defaultDoc: 'POD_NAME, else the hostname', description: 'pod name used in telemetry' },
  outbound: { type: 'hostport', placeholder: 'HOST:PORT', description: 'outbound HTTP proxy listener for the app (point HTTP_PROXY at it); off when unset' },
  upstream: { type: 'list', placeholder: 'NAME=HOST:PORT[@TARGET]', description: 'a local port that forwards to service NAME (repeatable); TARGET is HOST:PORT of NAME, default NAME at the same port' },
  resolve: { type: 'list', placeholder: 'NAME=HOST:PORT', description: 'where service NAME is reached for outbound calls (repeatable), instead of DNS' },
  'opaque-ports': { type: 'list', placeholder: 'PORT,…', description: 'destination ports relayed as opaque TCP with no HTTP detection (e.g. 3306,5432)' },
  'connect-timeout': { type: 'duration', default: '2s', description: 'how long to wait for the app to accept a connection' },
  timeout: { type: 'duration', default: '30s', description: 'how long to wait for the response head once the request is sent (504 after)' },
  'header-timeout': { type: 'duration', default: '10s', description: 'how long a client may take to send a request head (408 after: slowloris)' },
  'idle-timeout': { type: 'duration', default: '60s', description: 'close client keep-alive connections idle this long' },
  'drain-timeout': { type: 'duration', default: '20s', description: 'on SIGTERM, how long to let in-flight requests finish before exiting' },
  'max-header-bytes': { type: 'integer', default: '16384', description: 'largest request head accepted (431 above)' },
  'max-headers': { type: 'integer', default: '100', description: 'most header fields accepted in a request (431 above)' },
  'max-connections': { type: 'integer', default: '10000', description: 'most concurrent client connections per listener (each holds at most one app connection)' },
  'max-idle-upstream': { type: 'integer', default: '64', description: 'idle keep-alive connections to the app kept for reuse' },
  'route-budget': { type: 'integer', default: '200', description: 'distinct route templates per service; the rest are recorded as "other"' },
  dashboard: { type: 'string', placeholder: 'URL', description: 'dashboard to send reports to (token from SKIFF_TOKEN); off when unset' },
  'report-interval': { type: 'duration', default: '5s', description: 'how often a report is sent to the dashboard' },
  'report-queue-bytes': { type: 'integer', default: '4194304', description: 'most bytes of unsent reports kept while the dashboard is unreachable (oldest dropped first)' },
  'tap-headers': { type: 'boolean', description: 'allow taps to request headers (sensitive ones are always redacted)' },
  'tap-bodies': { type: 'boolean', description: 'allow taps to sample request and response bodies (token holders only)' },
  'tap-body-bytes': { type: 'integer', default: '4096', description: 'most body bytes sampled per message when body sampling is on' },
  'redact-headers': { type: 'list', placeholder: 'NAME,…', description: 'headers redacted in taps, in addition to authorization, cookie, set-cookie, proxy-authorization' },
  'redact-fields': { type: 'list', placeholder: 'FIELD,…', description: 'JSON fields redacted in sampled bodies (e.g. password,token)' },
  'log-level': { type: 'string', default: 'info', description: 'error, warn, info or debug' },
  help: { type: 'boolean', short: 'h', env: false, description: 'show this help' },
} as const satisfies OptionTable;
