/**
 * Connections to upstreams (the app, or other services for outbound traffic).
 *
 * A client connection holds at most one upstream connection at a time and reuses it for every
 * request it carries (keep-alive on both sides). When the client goes away, a reusable upstream
 * connection goes back to a bounded idle pool, so that short-lived clients (HTTP/1.0,
 * `Connection: close`) do not pay a TCP handshake each. The total number of upstream
 * connections is therefore bounded by the listener's `--max-connections` plus the idle bound.
 */
import net from 'node:net';
import { ReadRegion } from './read-buffers.ts';
import { performance } from 'node:perf_hooks';

export interface Target {
  /** Pool key: the resolved `host:port`. */
  key: string;
  host: string;
  port: number;
  /** Telemetry peer for this destination ('' when unknown). */
  peer: string;
}

/** What an upstream socket's events are delivered to while a client connection owns it. */
export interface UpstreamOwner {
  onUpstreamConnect(up: Upstream): void;
  onUpstreamData(up: Upstream, chunk: Buffer): void;
  onUpstreamEnd(up: Upstream): void;
  onUpstreamClose(up: Upstream, err: Error | undefined): void;
  onUpstreamDrain(up: Upstream): void;
  /** Whether bytes of the last read are still referenced (see read-buffers.ts). */
  holdsReadBytes(): boolean;
}

export class Upstream {
  readonly socket: net.Socket;
  readonly target: Target;
  owner: UpstreamOwner | null = null;
  connected = false;
  /** Requests sent on this connection so far (a reused connection may have been closed by the app meanwhile). */
  uses = 0;
  dead = false;
  error: Error | undefined;
  /** For the idle pool: when it became idle (performance.now()). */
  idleSince = 0;
  readonly #pool: UpstreamPool;
  readonly #region = new ReadRegion();

  constructor(pool: UpstreamPool, target: Target, connectTimeoutMs: number) {
    this.#pool = pool;
    this.target = target;
    // allowHalfOpen: opaque relays must pass a client's half-close through without ending ours.
    // onread: reads are handed to us directly instead of through the Readable stream machinery
    // (push, emit 'data', a nextTick): see read-buffers.ts for where they land.
    const region = this.#region;
    this.socket = net.connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: {
        buffer: region.next,
        callback: (n: number, buf: Uint8Array) => {
          const owner = this.owner;
          if (owner) {
            owner.onUpstreamData(this, Buffer.from(buf.buffer, buf.byteOffset, n));
            region.held = owner.holdsReadBytes();
          } else this.destroy(); // unsolicited bytes on an idle connection: it is not reusable
          return true;
        },
      },
    });
    const socket = this.socket;
    const timer = setTimeout(() => {
      if (!this.connected) {
        const err = new Error(`connect timeout after ${connectTimeoutMs} ms`) as NodeJS.ErrnoException;
        err.code = 'ETIMEDOUT';
        socket.destroy(err);
      }
    }, connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      this.connected = true;
      this.owner?.onUpstreamConnect(this);
    });
    socket.on('end', () => {
      if (this.owner) this.owner.onUpstreamEnd(this);
      else this.destroy();
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain(this));
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      this.dead = true;
      this.#pool.forget(this);
      const owner = this.owner;
      this.owner = null;
      owner?.onUpstreamClose(this, this.error);
    });
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

export interface PoolOptions {
  connectTimeoutMs: number;
  maxIdle: number;
  /** Idle connections older than this are closed (shorter than typical app keep-alive timeouts). */
  idleTimeoutMs: number;
}

export class UpstreamPool {
  readonly #idle = new Map<string, Upstream[]>();
  #idleCount = 0;
  readonly #options: PoolOptions;
  /** Upstream connections that exist now (idle or owned), for metrics and drain. */
  open = 0;
  created = 0;
  reused = 0;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** An idle connection to `target` if one is alive, else a new one (connecting). */
  acquire(target: Target, owner: UpstreamOwner): Upstream {
    const list = this.#idle.get(target.key);
    while (list && list.length > 0) {
      const up = list.pop()!;
      this.#idleCount--;
      if (up.dead || up.socket.destroyed) continue;
      up.owner = owner;
      this.reused++;
      return up;
    }
    return this.acquireFresh(target, owner);
  }

  /** A new connection, never a pooled one (for a retry, or a CONNECT tunnel). */
  acquireFresh(target: Target, owner: UpstreamOwner): Upstream {
    const up = new Upstream(this, target, this.#options.connectTimeoutMs);
    up.owner = owner;
    this.open++;
    this.created++;
    return up;
  }

  /** Returns a connection that finished its last exchange cleanly; closes it if the pool is full. */
  release(up: Upstream): void {
    up.owner = null;
    // Unsent bytes may still point into the last owner's read buffer (read-buffers.ts), and a
    // connection with a request still going out is not idle anyway.
    if (up.dead || !up.connected || up.socket.destroyed || up.socket.writableLength > 0 || this.#idleCount >= this.#options.maxIdle) {
      up.destroy();
      return;
    }
    up.idleSince = performance.now();
    let list = this.#idle.get(up.target.key);
    if (!list) {
      list = [];
      this.#idle.set(up.target.key, list);
    }
    list.push(up);
    this.#idleCount++;
  }

  /** Called when a socket closes, wherever it is. */
  forget(up: Upstream): void {
    this.open--;
    const list = this.#idle.get(up.target.key);
    if (!list) return;
    const i = list.indexOf(up);
    if (i !== -1) {
      list.splice(i, 1);
      this.#idleCount--;
    }
  }

  /** Closes idle connections older than the idle timeout (called by the listener's sweep). */
  sweep(now: number): void {
    if (this.#idleCount === 0) return;
    for (const list of this.#idle.values()) {
      for (const up of [...list]) {
        if (now - up.idleSince > this.#options.idleTimeoutMs) up.destroy();
      }
    }
  }

  get idleCount(): number {
    return this.#idleCount;
  }

  closeIdle(): void {
    for (const list of this.#idle.values()) for (const up of [...list]) up.destroy();
  }
}
