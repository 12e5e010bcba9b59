import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  ECDH_CURVES_FALLBACK,
  ECDH_CURVES_PREFERRED,
  PlainHttpNotAllowedError,
  TLS12_CIPHERS,
  TLS12_CIPHERS_IANA,
  TLS13_CIPHERSUITES,
  TLS_CIPHERS,
  assertPlainHttpAllowed,
  isLoopbackHost,
  tlsServerOptions,
} from '../../src/http/tls.js';

describe('Mozilla intermediate v6.0 constants', () => {
  it('lists exactly the three Mozilla TLS 1.3 suites', () => {
    expect(TLS13_CIPHERSUITES).toEqual(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);
  });

  it('lists exactly the six ECDHE + AEAD TLS 1.2 ciphers in Mozilla order', () => {
    expect(TLS12_CIPHERS).toEqual([
      'ECDHE-ECDSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ]);
  });

  it('gives the IANA name of each TLS 1.2 cipher in the same order', () => {
    const iana = TLS12_CIPHERS.map((name) =>
      name
        .replace(/^ECDHE-(ECDSA|RSA)-/, 'TLS_ECDHE_$1_WITH_')
        .replace(/AES(128|256)-GCM-(SHA\d+)$/, 'AES_$1_GCM_$2')
        .replace(/CHACHA20-POLY1305$/, 'CHACHA20_POLY1305_SHA256'),
    );
    expect(TLS12_CIPHERS_IANA).toEqual(iana);
  });

  it('joins TLS 1.3 suites then TLS 1.2 ciphers into one OpenSSL cipher string', () => {
    expect(TLS_CIPHERS).toBe([...TLS13_CIPHERSUITES, ...TLS12_CIPHERS].join(':'));
  });

  it('prefers X25519MLKEM768 and falls back to X25519, P-256, P-384', () => {
    expect(ECDH_CURVES_PREFERRED).toBe('X25519MLKEM768:X25519:P-256:P-384');
    expect(ECDH_CURVES_FALLBACK).toBe('X25519:P-256:P-384');
  });
});

describe('tlsServerOptions', () => {
  const material = { cert: 'CERT', key: 'KEY' };

  it('sets TLS 1.2 to 1.3, the Mozilla ciphers and the client cipher order', () => {
    expect(tlsServerOptions(material)).toMatchObject({
      cert: 'CERT',
      key: 'KEY',
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      ciphers: TLS_CIPHERS,
      honorCipherOrder: false,
    });
  });

  it('passes ca through only when given', () => {
    expect(tlsServerOptions(material)).not.toHaveProperty('ca');
    expect(tlsServerOptions({ ...material, ca: 'CA' })).toHaveProperty('ca', 'CA');
  });

  it('uses the post-quantum hybrid group exactly when this OpenSSL accepts it', () => {
    let pqAccepted = true;
    try {
      tls.createSecureContext({ ecdhCurve: 'X25519MLKEM768' });
    } catch {
      pqAccepted = false;
    }
    const { ecdhCurve } = tlsServerOptions(material);

    expect(ecdhCurve).toBe(pqAccepted ? ECDH_CURVES_PREFERRED : ECDH_CURVES_FALLBACK);
    expect(() => tls.createSecureContext({ ecdhCurve, ciphers: TLS_CIPHERS })).not.toThrow();
  });

  it('refuses to build options without a certificate or key', () => {
    expect(() => tlsServerOptions({ cert: 'CERT' } as never)).toThrow(/"cert" and "key" are required/);
  });
});

describe('plain HTTP is loopback only', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    '127.0.0.1',
    '127.0.0.53',
    '127.255.255.254',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])('treats %s as loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
    expect(() => assertPlainHttpAllowed(host)).not.toThrow();
  });

  it.each([
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '128.0.0.1',
    '126.255.255.255',
    '::2',
    '::ffff:10.0.0.1',
    'fe80::1%lo',
    'localhost.example.com',
    'foo.localhost',
    '127.0.0.1.nip.io',
    '127.1',
    '',
  ])('does not treat %j as loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('refuses plain HTTP on a public address with a stable code and the config path', () => {
    let thrown: unknown;
    try {
      assertPlainHttpAllowed('0.0.0.0');
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(PlainHttpNotAllowedError);
    expect(thrown).toMatchObject({ code: 'ERR_PLAIN_HTTP_NOT_LOOPBACK' });
    expect((thrown as Error).message).toMatch(/^unsafe\.allow_plain_http: .*loopback.*"0\.0\.0\.0"$/);
  });
});
