import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, describe, test } from 'node:test';
import { bitString, generateWebhookCertificates, integer, oid, time, tlv } from './certs.ts';

const hex = (b: Buffer): string => b.toString('hex');

void describe('DER encoding (X.690)', () => {
  void test('lengths: short form below 128, long form from 128', () => {
    assert.equal(hex(tlv(0x04, Buffer.alloc(127))).slice(0, 4), '047f');
    assert.equal(hex(tlv(0x04, Buffer.alloc(128))).slice(0, 6), '048180');
    assert.equal(hex(tlv(0x04, Buffer.alloc(256))).slice(0, 8), '04820100');
    assert.equal(hex(tlv(0x04, Buffer.alloc(65536))).slice(0, 10), '0483010000');
  });

  void test('object identifiers', () => {
    assert.equal(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302'); // ecdsa-with-SHA256
    assert.equal(hex(oid('2.5.29.17')), '0603551d11'); // subjectAltName
    assert.equal(hex(oid('1.3.6.1.5.5.7.3.1')), '06082b06010505070301'); // serverAuth
  });

  void test('integers are minimal and positive', () => {
    assert.equal(hex(integer(0)), '020100');
    assert.equal(hex(integer(2)), '020102');
    assert.equal(hex(integer(127)), '02017f');
    assert.equal(hex(integer(128)), '02020080');
    assert.equal(hex(integer(256)), '02020100');
    assert.equal(hex(integer(Buffer.from([0, 0, 0x81]))), '02020081');
  });

  void test('bit strings carry their unused-bit count; times switch to GeneralizedTime in 2050', () => {
    assert.equal(hex(bitString(Buffer.from([0x80]), 7)), '03020780');
    assert.equal(time(new Date('2049-12-31T23:59:59Z')).toString('latin1').slice(2), '491231235959Z');
    assert.equal(time(new Date('2049-12-31T23:59:59Z'))[0], 0x17);
    assert.equal(time(new Date('2050-01-01T00:00:00Z')).toString('latin1').slice(2), '20500101000000Z');
    assert.equal(time(new Date('2050-01-01T00:00:00Z'))[0], 0x18);
  });
});

void describe('webhook certificates', () => {
  const names = ['skiff-webhook', 'skiff-webhook.skiff', 'skiff-webhook.skiff.svc', 'skiff-webhook.skiff.svc.cluster.local'];
  const now = new Date('2026-11-29T12:00:00Z');
  const certs = generateWebhookCertificates({ dnsNames: names, now });
  const ca = new X509Certificate(certs.caCert);
  const leaf = new X509Certificate(certs.cert);
  const dir = mkdtempSync(join(tmpdir(), 'skiff-certs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('node:crypto parses them: a CA that issued and signed the serving certificate', () => {
    assert.equal(ca.ca, true);
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkIssued(ca), 'issued by the CA');
    assert.ok(leaf.verify(ca.publicKey), 'signed by the CA key');
    assert.ok(ca.verify(ca.publicKey), 'the CA is self-signed');
    assert.equal(leaf.verify(new X509Certificate(generateWebhookCertificates({ dnsNames: names }).caCert).publicKey), false, 'another CA did not sign it');
    assert.equal(leaf.subjectAltName, names.map((n) => `DNS:${n}`).join(', '));
    assert.equal(leaf.checkHost('skiff-webhook.skiff.svc'), 'skiff-webhook.skiff.svc');
    assert.equal(leaf.checkHost('evil.example'), undefined);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(leaf.publicKey.asymmetricKeyType, 'ec');
    assert.equal(new Date(leaf.validFrom).getTime(), now.getTime() - 5 * 60_000);
    assert.equal(new Date(leaf.validTo).getTime(), now.getTime() + 1095 * 86_400_000);
    assert.equal(new Date(ca.validTo).getTime(), now.getTime() + 3650 * 86_400_000);
    assert.notEqual(ca.serialNumber, leaf.serialNumber);
  });

  void test('openssl verifies the chain for TLS server use and reads the extensions', (t) => {
    const which = spawnSync('openssl', ['version']);
    if (which.status !== 0) {
      t.diagnostic('openssl is not installed: this check ran only with node:crypto');
      return;
    }
    writeFileSync(join(dir, 'ca.pem'), certs.caCert);
    writeFileSync(join(dir, 'cert.pem'), certs.cert);
    const verify = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslserver', '-attime', String(now.getTime() / 1000), join(dir, 'cert.pem')], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr + verify.stdout);
    assert.match(verify.stdout, /cert\.pem: OK/);
    const text = spawnSync('openssl', ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-text'], { encoding: 'utf8' }).stdout;
    assert.match(text, /CA:TRUE, pathlen:0/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    const leafText = spawnSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' }).stdout;
    assert.match(leafText, /Version: 3/);
    assert.match(leafText, /ecdsa-with-SHA256/);
    assert.match(leafText, /TLS Web Server Authentication/);
    assert.match(leafText, /CA:FALSE/);
    assert.match(leafText, /X509v3 Authority Key Identifier/);
  });

  void test('a real TLS handshake: trusted by the CA for its names, refused for others', async () => {
    const live = generateWebhookCertificates({ dnsNames: names }); // valid now, whatever today is
    const server = createServer({ cert: live.cert, key: live.key }, (_req, res) => res.end('ok'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as AddressInfo;
    const handshake = (servername: string): Promise<string> =>
      new Promise((ok) => {
        const socket = connect({ host: '127.0.0.1', port, servername, ca: live.caCert }, () => {
          socket.end();
          ok('trusted');
        });
        socket.on('error', (err: NodeJS.ErrnoException) => ok(err.code ?? err.message));
      });
    try {
      assert.equal(await handshake('skiff-webhook.skiff.svc'), 'trusted');
      assert.equal(await handshake('other.skiff.svc'), 'ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
    }
  });
});
