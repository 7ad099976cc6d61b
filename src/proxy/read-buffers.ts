/**
 * Where socket reads land.
 *
 * Both sides of the relay read through Node's `onread` mechanism: libuv reads into a buffer we
 * give it and the bytes are handed to a callback, instead of going through the Readable stream
 * (a new buffer per read, `push`, an emitted 'data' event and a `nextTick` per read). On the
 * request path that is several thousand instructions per request (docs/performance.md).
 *
 * The catch with `onread` is that a socket reads into the buffer it was given *after its
 * previous read*, not one chosen at read time. So each socket owns one region of a shared slab
 * and keeps reading into it for as long as nothing from its last read is still referenced. When
 * the relay keeps bytes past a read (a partial head, a pipelined request, a write the kernel has
 * not taken yet), the owner says so (`held`) and the socket moves to a fresh region: the held
 * bytes are never overwritten, and the old region is freed with the slab once nothing refers to
 * it. (A first version bump-allocated reads from one slab without per-socket regions; two sockets
 * could then read into the same bytes — read-buffers.test.ts.)
 *
 * Memory: a region is 64 KiB (Node's own read size) of a 1 MiB slab, but only pages a read
 * actually touches count towards RSS, so an idle keep-alive connection costs a page or two.
 */
import type net from 'node:net';

const SLAB_BYTES = 1024 * 1024;
const REGION_BYTES = 64 * 1024;

let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabOffset = 0;

function takeRegion(): Buffer {
  if (slabOffset + REGION_BYTES > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabOffset = 0;
  }
  const region = slab.subarray(slabOffset, slabOffset + REGION_BYTES);
  slabOffset += REGION_BYTES;
  return region;
}

/** The read buffer of one socket. */
export class ReadRegion {
  #region: Buffer = takeRegion();
  /** Set after a read whose bytes are still referenced: the next read goes to a fresh region. */
  held = false;

  /** The buffer for the socket's next read (Node calls this after every read). */
  readonly next = (): Buffer => {
    if (this.held) {
      this.held = false;
      this.#region = takeRegion();
    }
    return this.#region;
  };
}

interface OnreadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let fields: OnreadFields | null | undefined;

/** The socket fields behind `net.connect({ onread })`, found by their symbols' descriptions. */
function onreadFields(socket: net.Socket): OnreadFields | null {
  if (fields !== undefined) return fields;
  const own = Object.getOwnPropertySymbols(socket);
  const find = (d: string): symbol | undefined => own.find((s) => s.description === d);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const generator = find('kBufferGen');
  fields = buffer && callback && generator ? { buffer, callback, generator } : null;
  return fields;
}

/**
 * Switches an accepted socket to `onread`-style reads into `region`, as `net.connect({ onread })`
 * does for sockets we open. Node offers no option for accepted sockets, so this sets the same
 * fields `net.connect` sets and tells the handle to use the buffer (`useUserBuffer`, which is what
 * `net.connect` calls). Returns false, changing nothing, when this Node does not have them: the
 * caller then reads through 'data' events. `onRead(n, buf)` gets the bytes as `buf[0..n)`.
 * The proxy test suite fails if the direct path is not taken on the pinned Node.
 */
export function readDirect(socket: net.Socket, region: ReadRegion, onRead: (n: number, buf: Uint8Array) => boolean): boolean {
  const f = onreadFields(socket);
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle;
  if (!f || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const first = region.next();
  const s = socket as unknown as Record<symbol, unknown>;
  s[f.buffer] = first;
  s[f.generator] = region.next;
  s[f.callback] = onRead;
  (handle.useUserBuffer as (b: Uint8Array) => void).call(handle, first);
  return true;
}

