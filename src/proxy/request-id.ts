/**
 * X-Request-Id values for requests that arrive without one.
 *
 * UUID-shaped (version 4 layout) so that tools that expect UUIDs accept them: 80 random bits
 * chosen once per process, then a 48-bit counter. Unique within a process and, with
 * overwhelming probability, across processes; not secret (request ids never are). One
 * `randomUUID()` per request cost ~1.5% of the sidecar's CPU; this is a counter increment.
 */
import { randomBytes } from 'node:crypto';

const seed = randomBytes(16);
seed[6] = (seed[6]! & 0x0f) | 0x40; // version 4
seed[8] = (seed[8]! & 0x3f) | 0x80; // RFC 9562 variant
const hex = seed.toString('hex');
const prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-`;
let counter = seed.readUIntBE(10, 6); // start anywhere in the 48-bit space

export function nextRequestId(): string {
  counter = counter >= 0xffffffffffff ? 0 : counter + 1;
  return prefix + counter.toString(16).padStart(12, '0');
}
