// Real handshakes against a real https server built from tlsServerOptions (Mozilla intermediate
// v6.0). Every refusal is checked three ways: the client sees an alert, the server itself reports
// why it refused, and a deliberately permissive control server accepts the very same client
// options, so a refusal cannot come from a client that was unable to offer what it claims.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevCertificates, loadPeculiarX509 } from '../../src/crypto/dev-ca.js';
import { HSTS_MIN_MAX_AGE, securityHeaders } from '../../src/http/security-headers.js';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES, tlsServerOptions } from '../../src/http/tls.js';

interface Listening {
  server: https.Server;
  port: number;
  ca: Buffer | string;
}

type Handshake =
  | { ok: true; protocol: string | null; cipher: string }
  | { ok: false; code: string | undefined; message: string };

const HOST = '127.0.0.1';

async function listen(options: https.ServerOptions, ca: Buffer | string): Promise<Listening> {
  const server = https.createServer(options, (_req, res) => {
    res.writeHead(200, { ...securityHeaders('api'), 'content-type': 'text/plain' });
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return { server, port: (server.address() as AddressInfo).port, ca };
}

function handshake(target: Listening, options: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: HOST, port: target.port, ca: target.ca, ...options }, () => {
      resolve({ ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.destroy();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, code: error.code, message: error.message }));
  });
}

/** The next handshake error the server reports itself; a bare connection reset is not one. */
function nextServerTlsError(target: Listening): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') return;
      done(error);
    };
    const timer = setTimeout(() => done(undefined), 2_000);
    const done = (error: NodeJS.ErrnoException | undefined) => {
      clearTimeout(timer);
      target.server.off('tlsClientError', onError);
      resolve(error);
    };
    target.server.on('tlsClientError', onError);
  });
}

async function refusal(target: Listening, options: tls.ConnectionOptions) {
  const serverError = nextServerTlsError(target);
  const client = await handshake(target, options);
  return { client, server: await serverError };
}

let workDir: string;
/** ECDSA P-256 dev certificate, Mozilla intermediate options. */
let strict: Listening;
/** Same certificate, TLS 1.0 and up, every cipher at security level 0, CCM enabled for TLS 1.3. */
let permissive: Listening;
/** RSA 2048 certificate, Mozilla intermediate options. */
let strictRsa: Listening;
/** Same RSA certificate with static-RSA key exchange allowed. */
let permissiveRsa: Listening;

async function createRsaCertificate(): Promise<{ cert: string; key: string }> {
  const x509 = await loadPeculiarX509();
  const webCrypto = globalThis.crypto;
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  };
  const keys = await webCrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=127.0.0.1',
      keys,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // keyEncipherment too, so static RSA is not refused because of the certificate.
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: HOST }]),
      ],
    },
    webCrypto,
  );
  const pkcs8 = await webCrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'caduceus-tls-'));
  const files = await ensureDevCertificates(path.join(workDir, 'certs'));
  const [cert, key, ca] = await Promise.all([
    readFile(files.certFile),
    readFile(files.keyFile),
    readFile(files.caFile),
  ]);
  strict = await listen(tlsServerOptions({ cert, key }), ca);
  permissive = await listen(
    {
      cert,
      key,
      minVersion: 'TLSv1',
      ciphers: 'TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256:ALL:@SECLEVEL=0',
    },
    ca,
  );

  const rsa = await createRsaCertificate();
  strictRsa = await listen(tlsServerOptions({ cert: rsa.cert, key: rsa.key }), rsa.cert);
  permissiveRsa = await listen(
    { cert: rsa.cert, key: rsa.key, minVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256:ALL:@SECLEVEL=0' },
    rsa.cert,
  );
});

afterAll(async () => {
  for (const target of [strict, permissive, strictRsa, permissiveRsa]) {
    if (target !== undefined) await new Promise<void>((resolve) => target.server.close(() => resolve()));
  }
  await rm(workDir, { recursive: true, force: true });
});

describe('TLS listener (Mozilla intermediate v6.0)', () => {
  describe('accepts', () => {
    it('negotiates TLS 1.3 with one of the three Mozilla suites', async () => {
      const result = await handshake(strict);

      expect(result).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
      expect(TLS13_CIPHERSUITES).toContain(result.ok ? result.cipher : '');
    });

    it.each(TLS13_CIPHERSUITES)('negotiates TLS 1.3 with %s when the client offers only that suite', async (suite) => {
      expect(await handshake(strict, { minVersion: 'TLSv1.3', ciphers: suite })).toEqual({
        ok: true,
        protocol: 'TLSv1.3',
        cipher: suite,
      });
    });

    it('negotiates TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256', async () => {
      expect(
        await handshake(strict, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
      ).toEqual({ ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    });

    it('negotiates TLS 1.2 with ECDHE-ECDSA-CHACHA20-POLY1305', async () => {
      expect(
        await handshake(strict, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }),
      ).toEqual({ ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-CHACHA20-POLY1305' });
    });

    it('negotiates TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 on an RSA certificate', async () => {
      expect(
        await handshake(strictRsa, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }),
      ).toEqual({ ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
    });

    it("follows the client's cipher order, not the server's (server_preferred_order false)", async () => {
      // The server lists AES128-GCM before AES256-GCM; honorCipherOrder true would pick AES128.
      expect(TLS12_CIPHERS.indexOf('ECDHE-ECDSA-AES128-GCM-SHA256')).toBeLessThan(
        TLS12_CIPHERS.indexOf('ECDHE-ECDSA-AES256-GCM-SHA384'),
      );
      expect(
        await handshake(strict, {
          maxVersion: 'TLSv1.2',
          ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256',
        }),
      ).toMatchObject({ ok: true, cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384' });
    });

    it('serves HSTS for at least two years, nosniff and no-store over the TLS connection', async () => {
      const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
        https
          .get({ host: HOST, port: strict.port, path: '/', ca: strict.ca }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.headers));
          })
          .on('error', reject);
      });

      const hsts = String(headers['strict-transport-security']);
      const maxAge = Number(/(?:^|;)\s*max-age=(\d+)\s*(?:;|$)/i.exec(hsts)?.[1]);
      expect(maxAge).toBeGreaterThanOrEqual(HSTS_MIN_MAX_AGE);
      expect(maxAge).toBeGreaterThanOrEqual(63_072_000);
      expect(hsts).toMatch(/;\s*includeSubDomains\s*$/);
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['cache-control']).toBe('no-store');
    });
  });

  describe('refuses', () => {
    it.each([
      ['TLS 1.0', 'TLSv1'],
      ['TLS 1.1', 'TLSv1.1'],
    ] as const)('%s with a protocol_version alert from the server', async (_label, version) => {
      // SECLEVEL=0 lets this client really offer TLS 1.0/1.1, so the refusal is the server's.
      const client: tls.ConnectionOptions = {
        minVersion: version,
        maxVersion: version,
        ciphers: 'DEFAULT@SECLEVEL=0',
      };

      const result = await refusal(strict, client);

      expect(result.client).toMatchObject({ ok: false, code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
      expect(result.server?.code).toBe('ERR_SSL_UNSUPPORTED_PROTOCOL');
      expect(await handshake(permissive, client)).toMatchObject({ ok: true, protocol: version });
    });

    it.each(['ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES128-SHA'])(
      'TLS 1.2 with the CBC suite %s',
      async (cipher) => {
        const client: tls.ConnectionOptions = { maxVersion: 'TLSv1.2', ciphers: cipher };

        const result = await refusal(strict, client);

        expect(result.client).toMatchObject({ ok: false, code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
        expect(result.server?.code).toBe('ERR_SSL_NO_SHARED_CIPHER');
        expect(await handshake(permissive, client)).toEqual({ ok: true, protocol: 'TLSv1.2', cipher });
      },
    );

    it('static-RSA key exchange (AES128-GCM-SHA256) even with an RSA certificate', async () => {
      const client: tls.ConnectionOptions = { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' };

      const result = await refusal(strictRsa, client);

      expect(result.client).toMatchObject({ ok: false, code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
      expect(result.server?.code).toBe('ERR_SSL_NO_SHARED_CIPHER');
      expect(await handshake(permissiveRsa, client)).toEqual({
        ok: true,
        protocol: 'TLSv1.2',
        cipher: 'AES128-GCM-SHA256',
      });
    });

    it('the TLS 1.3 CCM suite TLS_AES_128_CCM_SHA256', async () => {
      const client: tls.ConnectionOptions = { minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_CCM_SHA256' };

      const result = await refusal(strict, client);

      expect(result.client).toMatchObject({ ok: false, code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
      expect(result.server?.code).toBe('ERR_SSL_NO_SHARED_CIPHER');
      expect(await handshake(permissive, client)).toEqual({
        ok: true,
        protocol: 'TLSv1.3',
        cipher: 'TLS_AES_128_CCM_SHA256',
      });
    });

    it('a client whose only key-exchange group is P-521, which Mozilla does not list', async () => {
      const client: tls.ConnectionOptions = { minVersion: 'TLSv1.3', ecdhCurve: 'P-521' };

      const result = await refusal(strict, client);

      expect(result.client).toMatchObject({ ok: false, code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
      expect(result.server?.code).toBe('ERR_SSL_NO_SUITABLE_KEY_SHARE');
      expect(await handshake(permissive, client)).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
    });
  });
});
