/**
 * Keeps the sidecar's memory flat while it relays large bodies.
 *
 * Every socket read is a new Buffer whose memory lives outside the JS heap. The proxy drops
 * each one as soon as it is written on, but V8 only frees such memory when it collects the small
 * JS objects that own it, and with little JS allocation going on that happens late: relaying
 * 1 GiB grew the process by ~70 MiB of dead buffers. So the relay counts the bytes it moves and,
 * every `everyBytes`, asks V8 for a minor (young generation) collection, which frees those
 * buffers in well under a millisecond. Small-request traffic never reaches the threshold often
 * enough to matter; bulk transfers pay about one scavenge per 8 MiB (measured: 1 GiB upload grows RSS by ~20 MiB instead of ~70).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8 settings for a sidecar process, applied when `skiff proxy` starts (before the relay code
 * warms up). Maglev, V8's mid-tier compiler, is turned off: the relay's hot functions reach
 * TurboFan either way, and without the extra tier the process touches less of V8's code and
 * allocates less compiler memory — peak RSS under load ~4 MiB lower, with no measurable change
 * in CPU per request (docs/performance.md). Set at run time rather than as node flags so that
 * every way of starting the sidecar (image, local mesh, `npx skiff proxy`, the bench) gets it.
 */
const SIDECAR_V8_FLAGS: readonly string[] = ['--no-maglev'];

export function tuneV8ForSidecar(): void {
  for (const flag of SIDECAR_V8_FLAGS) setFlagsFromString(flag);
}

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

function exposeGc(): GcFunction | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    return null;
  }
}

export class GcPacer {
  readonly #everyBytes: number;
  readonly #gc: GcFunction | null;
  #since = 0;
  /** Collections requested so far (for tests and metrics). */
  collections = 0;

  constructor(everyBytes = 8 * 1024 * 1024) {
    this.#everyBytes = everyBytes;
    this.#gc = exposeGc();
  }

  /** Called with the size of every chunk relayed. */
  account(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.#everyBytes || this.#gc === null) return;
    this.#since = 0;
    this.collections++;
    this.#gc({ type: 'minor' });
  }
}
