/**
 * Option tables of `skiff inject` and `skiff uninject` (docs/configuration.md is generated from
 * them), and the sidecar options `skiff webhook` shares with `skiff inject`.
 */
import type { OptionTable, Resolved } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import type { InjectOptions } from './inject.ts';
import { DEFAULT_ADMIN_PORT, DEFAULT_IMAGE, DEFAULT_INBOUND_PORT, DEFAULT_SECRET } from './sidecar.ts';

/** How the sidecar is built: shared by `skiff inject` and `skiff webhook`. */
export const sidecarOptions = {
  image: { type: 'string', default: DEFAULT_IMAGE, placeholder: 'IMAGE', description: 'the proxy image (per workload: annotation skiff.io/proxy-image)' },
  'native-sidecar': {
    type: 'boolean',
    default: 'true',
    description: 'add the proxy as a native sidecar (init container with restartPolicy: Always, Kubernetes >= 1.29); --native-sidecar=false adds a classic container',
  },
  dashboard: {
    type: 'string',
    placeholder: 'URL',
    description: "dashboard URL written into pods (per workload: skiff.io/dashboard); when unset, pods read it from the Secret's url key",
  },
  secret: {
    type: 'string',
    default: DEFAULT_SECRET,
    placeholder: 'NAME',
    description: 'Secret in the workload\'s namespace whose url and token keys configure reporting (optional in the pod; "" for none)',
  },
  openshift: { type: 'boolean', description: "leave runAsUser out, so OpenShift's restricted SCC assigns the namespace's user id" },
  'inbound-port': { type: 'integer', default: String(DEFAULT_INBOUND_PORT), placeholder: 'PORT', description: "the sidecar's inbound port (Services are retargeted to it)" },
  'admin-port': { type: 'integer', default: String(DEFAULT_ADMIN_PORT), placeholder: 'PORT', description: "the sidecar's admin port (/livez, /readyz, /metrics) on the pod IP" },
} as const satisfies OptionTable;

const fileOption = {
  file: { type: 'list', short: 'f', env: false, placeholder: 'FILE|DIR|-', description: 'manifest to read (repeatable; directories are walked for .yaml, .yml and .json; - is stdin)' },
} as const satisfies OptionTable;

const helpOption = { help: { type: 'boolean', short: 'h', env: false, description: 'show this help' } } as const satisfies OptionTable;

export const injectOptions = { ...fileOption, ...sidecarOptions, ...helpOption } as const satisfies OptionTable;
export const uninjectOptions = { ...fileOption, ...helpOption } as const satisfies OptionTable;

function port(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${name}: ${n} is not a port (1-65535)`);
  return n;
}

/** Turns resolved sidecar options into the injector's options, checking what the table cannot. */
export function toInjectOptions(v: Resolved<typeof sidecarOptions>): InjectOptions {
  const inboundPort = port('inbound-port', v['inbound-port']);
  const adminPort = port('admin-port', v['admin-port']);
  if (inboundPort === adminPort) throw new UsageError('--inbound-port and --admin-port must differ');
  if (v.image.trim() === '') throw new UsageError('--image must name an image');
  if (v.dashboard !== undefined && v.dashboard !== '' && !/^https?:\/\/[^\s/]+/.test(v.dashboard)) {
    throw new UsageError(`--dashboard: "${v.dashboard}" is not an http(s) URL`);
  }
  return {
    image: v.image,
    nativeSidecar: v['native-sidecar'],
    ...(v.dashboard ? { dashboard: v.dashboard } : {}),
    ...(v.secret ? { secret: v.secret } : {}),
    openshift: v.openshift,
    inboundPort,
    adminPort,
  };
}
