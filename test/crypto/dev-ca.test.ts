import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureDevCertificates, loadPeculiarX509 } from '../../src/crypto/dev-ca.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const T0 = new Date('2026-03-01T12:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY_MS);

let root: string;
let dir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'caduceus-dev-ca-'));
  dir = path.join(root, 'certs');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (file: string) => (await stat(file)).mode & 0o777;
const readCert = async (file: string) => new X509Certificate(await readFile(file));
const snapshot = async (files: string[]) => Promise.all(files.map((f) => readFile(f, 'utf8')));

describe('ensureDevCertificates', () => {
  it('creates the CA, the server certificate and its key in a 0700 directory with 0600 key files', async () => {
    const result = await ensureDevCertificates(dir, { now: T0 });

    expect(result).toEqual({
      caFile: path.join(dir, 'ca.pem'),
      certFile: path.join(dir, 'server.pem'),
      keyFile: path.join(dir, 'server-key.pem'),
      created: true,
    });
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(result.keyFile)).toBe(0o600);
    expect(await mode(path.join(dir, 'ca-key.pem'))).toBe(0o600);
    expect(await readFile(result.caFile, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    expect(await readFile(result.keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('issues a server certificate that chains to the development CA and matches its key', async () => {
    const { caFile, certFile, keyFile } = await ensureDevCertificates(dir, { now: T0 });
    const ca = await readCert(caFile);
    const server = await readCert(certFile);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;

    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.verify(stranger)).toBe(false);
    expect(server.checkPrivateKey(createPrivateKey(await readFile(keyFile)))).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.subject).toBe('CN=Caduceus Development CA');
    expect(server.issuer).toBe('CN=Caduceus Development CA');
  });

  it('names exactly localhost, 127.0.0.1 and ::1 in the server certificate', async () => {
    const { certFile } = await ensureDevCertificates(dir, { now: T0 });
    const server = await readCert(certFile);

    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkHost('example.com')).toBeUndefined();
  });

  it('makes an ECDSA P-256 CA that can sign certificates and a P-256 server certificate that cannot', async () => {
    const { caFile, certFile } = await ensureDevCertificates(dir, { now: T0 });
    const ca = await readCert(caFile);
    const server = await readCert(certFile);
    const x509 = await loadPeculiarX509();
    const usages = (pem: string) =>
      new x509.X509Certificate(pem).getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
    const basic = (pem: string) => new x509.X509Certificate(pem).getExtension(x509.BasicConstraintsExtension);

    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(server.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);

    const caPem = ca.toString();
    const serverPem = server.toString();
    expect(usages(caPem) & x509.KeyUsageFlags.keyCertSign).toBe(x509.KeyUsageFlags.keyCertSign);
    expect(usages(serverPem)).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(basic(caPem)).toMatchObject({ ca: true, critical: true });
    expect(basic(serverPem)).toMatchObject({ ca: false, critical: true });
  });

  it('makes the CA valid for one year and the server certificate for 90 days', async () => {
    const { caFile, certFile } = await ensureDevCertificates(dir, { now: T0 });
    const ca = await readCert(caFile);
    const server = await readCert(certFile);

    expect(new Date(ca.validTo).toISOString()).toBe(at(365).toISOString());
    expect(new Date(server.validTo).toISOString()).toBe(at(90).toISOString());
    // Back-dated a few minutes for clock skew, never into the future.
    const skew = T0.getTime() - Date.parse(server.validFrom);
    expect(skew).toBeGreaterThan(0);
    expect(skew).toBeLessThanOrEqual(10 * 60 * 1000);
  });

  it('reuses every file on a second call', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    const files = [first.caFile, first.certFile, first.keyFile, path.join(dir, 'ca-key.pem')];
    const before = await snapshot(files);

    const second = await ensureDevCertificates(dir, { now: at(1) });

    expect(second.created).toBe(false);
    expect(await snapshot(files)).toEqual(before);
  });

  it('keeps a server certificate that still has more than seven days left', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    const before = await readFile(first.certFile, 'utf8');

    const later = await ensureDevCertificates(dir, { now: at(82) });

    expect(later.created).toBe(false);
    expect(await readFile(first.certFile, 'utf8')).toBe(before);
  });

  it('re-issues the server certificate from the same CA when it ends within seven days', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    const [caBefore, caKeyBefore, certBefore, keyBefore] = await snapshot([
      first.caFile,
      path.join(dir, 'ca-key.pem'),
      first.certFile,
      first.keyFile,
    ]);

    const renewed = await ensureDevCertificates(dir, { now: at(84) });

    expect(renewed.created).toBe(true);
    expect(await readFile(first.caFile, 'utf8')).toBe(caBefore);
    expect(await readFile(path.join(dir, 'ca-key.pem'), 'utf8')).toBe(caKeyBefore);
    expect(await readFile(first.certFile, 'utf8')).not.toBe(certBefore);
    expect(await readFile(first.keyFile, 'utf8')).not.toBe(keyBefore);
    const ca = await readCert(first.caFile);
    const server = await readCert(first.certFile);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(new Date(server.validTo).toISOString()).toBe(at(84 + 90).toISOString());
    expect(await mode(first.keyFile)).toBe(0o600);
  });

  it('never issues a server certificate that outlives its CA', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });

    const renewed = await ensureDevCertificates(dir, { now: at(300) });

    const ca = await readCert(first.caFile);
    const server = await readCert(renewed.certFile);
    expect(renewed.created).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.validTo).toBe(ca.validTo);
  });

  it('replaces the CA, and the server certificate with it, when the CA ends within seven days', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    const caBefore = await readFile(first.caFile, 'utf8');

    const renewed = await ensureDevCertificates(dir, { now: at(360) });

    expect(renewed.created).toBe(true);
    expect(await readFile(first.caFile, 'utf8')).not.toBe(caBefore);
    const ca = await readCert(first.caFile);
    const server = await readCert(first.certFile);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.verify(new X509Certificate(caBefore).publicKey)).toBe(false);
  });

  it('replaces an unreadable CA and issues a server certificate from the new one', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    await writeFile(first.caFile, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');

    const repaired = await ensureDevCertificates(dir, { now: at(1) });

    expect(repaired.created).toBe(true);
    const ca = await readCert(first.caFile);
    expect(ca.ca).toBe(true);
    expect((await readCert(first.certFile)).verify(ca.publicKey)).toBe(true);
  });

  it('re-issues the server certificate when its key file no longer matches it', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(first.keyFile, foreign, { mode: 0o600 });

    const repaired = await ensureDevCertificates(dir, { now: at(1) });

    const server = await readCert(first.certFile);
    expect(repaired.created).toBe(true);
    expect(server.checkPrivateKey(createPrivateKey(await readFile(first.keyFile)))).toBe(true);
  });

  it('sets a loosened key file back to 0600 when reusing it', async () => {
    const first = await ensureDevCertificates(dir, { now: T0 });
    await chmod(first.keyFile, 0o644);

    const second = await ensureDevCertificates(dir, { now: at(1) });

    expect(second.created).toBe(false);
    expect(await mode(first.keyFile)).toBe(0o600);
  });

  it('refuses a path that exists and is not a directory', async () => {
    await writeFile(path.join(root, 'not-a-dir'), 'x');

    await expect(ensureDevCertificates(path.join(root, 'not-a-dir'), { now: T0 })).rejects.toMatchObject({
      code: 'ERR_DEV_CERT_DIR',
    });
  });
});
