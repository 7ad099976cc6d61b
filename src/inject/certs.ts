/**
 * A certificate authority and a TLS serving certificate for the admission webhook, made with
 * node:crypto alone. Node can sign and parse X.509 but not build it, so this file holds a small
 * DER encoder (ITU-T X.690) and the certificate layout of RFC 5280; keys are ECDSA P-256 and
 * signatures ecdsa-with-SHA256 (RFC 5758 §3.2).
 *
 * The API server verifies the webhook's certificate against the `caBundle` of the
 * MutatingWebhookConfiguration, by the Service's DNS name (SANs only: Go ignores the CN).
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

// --- DER (X.690 §8, with the DER restrictions of §10) ---

/** Tag, definite length (short form below 128, else long form), contents. */
export function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content);
const octetString = (b: Buffer): Buffer => tlv(0x04, b);
const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const boolTrue = (): Buffer => tlv(0x01, Buffer.from([0xff]));

/** A non-negative INTEGER from big-endian bytes: minimal, with a 0x00 when the top bit is set. */
export function integer(bytes: Buffer | number): Buffer {
  const hex = typeof bytes === 'number' ? bytes.toString(16) : '';
  let b = typeof bytes === 'number' ? Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex') : bytes;
  let start = 0;
  while (start < b.length - 1 && b[start] === 0) start += 1;
  b = b.subarray(start);
  if (b.length === 0) b = Buffer.from([0]);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

/** OBJECT IDENTIFIER (X.690 §8.19): first two arcs as 40·a+b, then base-128 with continuation bits. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const values = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const chunk = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift((x & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** BIT STRING with its count of unused bits in the last byte. */
export function bitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always UTC, seconds, `Z`. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-11-29T13:20:00.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z'; // 20261129132000Z
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

/** Reads one TLV at `offset` (enough DER to take a SubjectPublicKeyInfo apart). */
function readTlv(buf: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i += 1) len = len * 256 + buf[start + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}

// --- X.509 (RFC 5280 §4.1) ---

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256)); // parameters absent (RFC 5758 §3.2)

function name(cn: string): Buffer {
  return sequence(
    set(sequence(oid(OID.organization), utf8String('skiff'))),
    set(sequence(oid(OID.commonName), utf8String(cn))),
  );
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolTrue()] : []), octetString(value));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bits. */
function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const algorithm = readTlv(spki, outer.start);
  const bits = readTlv(spki, algorithm.end);
  return createHash('sha1').update(spki.subarray(bits.start + 1, bits.end)).digest();
}

function serialNumber(): Buffer {
  // RFC 5280 §4.1.2.2: positive, unique per CA, at most 20 octets.
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b;
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}

function certificate(s: CertSpec): Buffer {
  const spki = s.publicKey.export({ type: 'spki', format: 'der' });
  const tbs = sequence(
    explicit(0, integer(2)), // version: v3 (the value 2)
    integer(serialNumber()),
    signatureAlgorithm,
    name(s.issuer),
    sequence(time(s.notBefore), time(s.notAfter)),
    name(s.subject),
    spki,
    explicit(3, sequence(...s.extensions)),
  );
  // ECDSA-Sig-Value as a DER SEQUENCE { r, s } (RFC 5758 §3.2), which dsaEncoding 'der' gives.
  const signature = sign('sha256', tbs, { key: s.signingKey, dsaEncoding: 'der' });
  return sequence(tbs, signatureAlgorithm, bitString(signature));
}

export interface WebhookCertificates {
  /** PEM: the CA certificate (what goes, base64-encoded, into `caBundle`). */
  caCert: string;
  /** PEM: the serving certificate and its PKCS#8 private key (the webhook's --tls-cert/--tls-key). */
  cert: string;
  key: string;
}

export interface CertificateOptions {
  /** DNS names the serving certificate is valid for (subjectAltName). */
  dnsNames: readonly string[];
  now?: Date;
  /** Validity of the CA; default 10 years. */
  caDays?: number;
  /** Validity of the serving certificate; default 3 years (re-run `skiff install` to rotate). */
  days?: number;
}

const DAY_MS = 86_400_000;

/**
 * A fresh CA (its private key is used once and dropped: nothing can issue more certificates
 * later) and a serving certificate for `dnsNames`, signed by it.
 *
 * @example
 * const { caCert, cert, key } = generateWebhookCertificates({ dnsNames: ['skiff-webhook.skiff.svc'] });
 */
export function generateWebhookCertificates(options: CertificateOptions): WebhookCertificates {
  const now = options.now ?? new Date();
  // Backdated a little: nodes whose clocks lag must not see a certificate from the future.
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caSki = keyIdentifier(ca.publicKey.export({ type: 'spki', format: 'der' }));
  const leafSki = keyIdentifier(leaf.publicKey.export({ type: 'spki', format: 'der' }));
  const caName = 'skiff webhook CA';
  const caDer = certificate({
    subject: caName,
    issuer: caName,
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    notBefore,
    notAfter: new Date(now.getTime() + (options.caDays ?? 3650) * DAY_MS),
    extensions: [
      // cA TRUE, pathLenConstraint 0: it signs end-entity certificates only.
      extension(OID.basicConstraints, true, sequence(boolTrue(), integer(0))),
      // keyCertSign (bit 5) and cRLSign (bit 6): 0b0000011x → 0x06 with 1 unused bit.
      extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)),
      extension(OID.subjectKeyIdentifier, false, octetString(caSki)),
    ],
  });
  const [first] = options.dnsNames;
  if (first === undefined) throw new Error('a serving certificate needs at least one DNS name');
  const leafDer = certificate({
    subject: first,
    issuer: caName,
    publicKey: leaf.publicKey,
    signingKey: ca.privateKey,
    notBefore,
    notAfter: new Date(now.getTime() + (options.days ?? 1095) * DAY_MS),
    extensions: [
      extension(OID.basicConstraints, true, sequence()),
      // digitalSignature (bit 0): 0x80 with 7 unused bits (ECDHE-ECDSA key exchange signs).
      extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
      extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
      // dNSName is [2] IMPLICIT IA5String (RFC 5280 §4.2.1.6).
      extension(OID.subjectAltName, false, sequence(...options.dnsNames.map((n) => tlv(0x82, Buffer.from(n, 'ascii'))))),
      extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, caSki))),
      extension(OID.subjectKeyIdentifier, false, octetString(leafSki)),
    ],
  });
  return {
    caCert: pem('CERTIFICATE', caDer),
    cert: pem('CERTIFICATE', leafDer),
    key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
