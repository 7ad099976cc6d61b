/**
 * X-Request-Id values for requests that arrive without one.
 *
 * UUID-shaped (version 4 layout) so that tools that expect UUIDs accept them: 74 random bits
 * chosen once per process, then a 48-bit counter. Unique within a process and, with
 * overwhelming probability, across processes; not secret (request ids never are). One
 * `randomUUID()` per request cost ~1.5% of the sidecar's CPU; this is a counter increment.
 * The seed comes from `Math.random()` (V8 seeds it per process from the OS's entropy), not
 * node:crypto: loading OpenSSL's generator costs every sidecar ~1.7 MiB of RSS.
 *
 * The counter is kept as two 24-bit halves and printed through a byte table: `n.toString(16)`
 * of a number above 2^31 goes through V8's double-to-radix path (one `fmod` per digit), which
 * cost ~2.4k instructions per request.
 */
const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex6 = (n: number): string => HEX2[(n >>> 16) & 0xff]! + HEX2[(n >>> 8) & 0xff]! + HEX2[n & 0xff]!;

/** A generator of ids from 16 seed bytes: the first 10 (with the version and variant bits set) are fixed, the last 6 start the counter. */
export function requestIdGenerator(seedBytes: Uint8Array): () => string {
  const seed = Buffer.from(seedBytes.subarray(0, 16));
  seed[6] = (seed[6]! & 0x0f) | 0x40; // version 4
  seed[8] = (seed[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = seed.toString('hex');
  const prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-`;
  let high = seed.readUIntBE(10, 3);
  let low = seed.readUIntBE(13, 3);
  let highText = prefix + hex6(high);
  return () => {
    low = (low + 1) & 0xffffff;
    if (low === 0) {
      high = (high + 1) & 0xffffff;
      highText = prefix + hex6(high);
    }
    return highText + hex6(low);
  };
}

// Start anywhere in the 48-bit space.
export const nextRequestId = requestIdGenerator(Uint8Array.from({ length: 16 }, () => Math.floor(Math.random() * 256)));
