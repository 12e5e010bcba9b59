// Local development certificates: a private CA and a localhost server certificate it signs, so
// `caduceus dev` serves real TLS (Mozilla Server Side TLS intermediate v6.0: ECDSA P-256, leaf
// lifespan 90 days as recommended). Development only: the CA key sits on disk next to the
// certificates, so never trust this CA on a machine other people use.
//
// Files under `dir` (0700): ca.pem, ca-key.pem (0600), server.pem, server-key.pem (0600).
// Existing files are reused. The server certificate is re-issued by the same CA when it is
// missing, unreadable, does not match its key or CA, or ends within RENEW_BEFORE_MS; the CA is
// replaced (and with it the server certificate) only when it is itself unusable or ending.
//
// Deliberately not done: name constraints on the CA (@peculiar/x509 has no builder for them),
// revocation (no CRL/OCSP for a dev CA), and locking against a second process writing `dir` at the
// same time (each file is replaced atomically, so the worst case is one extra re-issue).

import { X509Certificate as NodeX509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as X509 from '@peculiar/x509';
import { InternalError } from '../errors/internal-error.js';

export const DEV_CA_COMMON_NAME = 'Caduceus Development CA';
export const DEV_SERVER_DNS_NAMES = ['localhost'] as const;
export const DEV_SERVER_IP_ADDRESSES = ['127.0.0.1', '::1'] as const;

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_LIFETIME_MS = 365 * DAY_MS;
/** Mozilla: maximum_certificate_lifespan 366 days, recommended 90. */
const SERVER_LIFETIME_MS = 90 * DAY_MS;
const RENEW_BEFORE_MS = 7 * DAY_MS;
/** notBefore is set this far in the past so a slightly slow client clock still accepts it. */
const BACKDATE_MS = 5 * 60 * 1000;

const EC_KEY: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface DevCertificateFiles {
  /** The development CA certificate (PEM): what a client or browser must trust. */
  caFile: string;
  /** The server certificate (PEM), signed by the CA. */
  certFile: string;
  /** The server private key (PKCS#8 PEM, mode 0600). */
  keyFile: string;
  /** True when this call wrote a new CA or server certificate. */
  created: boolean;
}

export interface EnsureDevCertificatesOptions {
  /** The current time; tests pass a fixed one. */
  now?: Date;
}

type X509Module = typeof X509;

interface ReflectMetadataApi {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

let x509Module: Promise<X509Module> | undefined;

/**
 * @peculiar/x509 v2 loads tsyringe, which throws at import time unless `Reflect.getMetadata`
 * exists ("tsyringe requires a reflect polyfill", see the x509 README), and the project has no
 * reflect-metadata package. This installs the three class-level functions tsyringe calls
 * (getMetadata, getOwnMetadata, defineMetadata), only when no polyfill is present, then imports the
 * library. Property-level metadata and Reflect.metadata() decorators are not provided: nothing in
 * @peculiar/x509 uses them. Replace with `import 'reflect-metadata'` once that is a dependency.
 */
export function loadPeculiarX509(): Promise<X509Module> {
  const reflect = Reflect as unknown as ReflectMetadataApi;
  if (typeof reflect.getMetadata !== 'function') {
    const store = new WeakMap<object, Map<unknown, unknown>>();
    const own = (key: unknown, target: object): unknown => store.get(target)?.get(key);
    reflect.getOwnMetadata = own;
    reflect.getMetadata = (key, target) => {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
        const value = own(key, t);
        if (value !== undefined) return value;
      }
      return undefined;
    };
    reflect.defineMetadata = (key, value, target) => {
      let map = store.get(target);
      if (map === undefined) store.set(target, (map = new Map()));
      map.set(key, value);
    };
  }
  x509Module ??= import('@peculiar/x509');
  return x509Module;
}

interface Issued {
  certPem: string;
  keyPem: string;
}

/**
 * Makes sure `dir` holds a development CA and a server certificate for localhost, 127.0.0.1 and
 * ::1 that is valid for more than seven days, creating or re-issuing what is missing or ending.
 */
export async function ensureDevCertificates(
  dir: string,
  options: EnsureDevCertificatesOptions = {},
): Promise<DevCertificateFiles> {
  const now = options.now ?? new Date();
  const files = {
    caFile: path.join(dir, 'ca.pem'),
    caKeyFile: path.join(dir, 'ca-key.pem'),
    certFile: path.join(dir, 'server.pem'),
    keyFile: path.join(dir, 'server-key.pem'),
  };

  await ensurePrivateDirectory(dir);

  // Passed explicitly rather than through x509.cryptoProvider: Node >= 20 has globalThis.crypto and
  // the library would find it, but an explicit provider cannot be changed by another module.
  const webCrypto = globalThis.crypto;
  const x509 = await loadPeculiarX509();

  let created = false;
  let ca = await loadCa(files.caFile, files.caKeyFile, now);
  if (ca === undefined) {
    const issued = await createCa(x509, webCrypto, now);
    await writeAtomic(files.caKeyFile, issued.keyPem, 0o600);
    await writeAtomic(files.caFile, issued.certPem, 0o644);
    ca = issued;
    created = true;
  } else {
    await tightenKeyMode(files.caKeyFile);
  }

  const caCert = new NodeX509Certificate(ca.certPem);
  if (created || !(await serverIsUsable(files.certFile, files.keyFile, caCert, now))) {
    const issued = await createServer(x509, webCrypto, ca, now);
    await writeAtomic(files.keyFile, issued.keyPem, 0o600);
    await writeAtomic(files.certFile, issued.certPem, 0o644);
    created = true;
  } else {
    await tightenKeyMode(files.keyFile);
  }

  return { caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile, created };
}

async function ensurePrivateDirectory(dir: string): Promise<void> {
  const existed = await stat(dir).then(
    (s) => {
      if (!s.isDirectory()) {
        throw new InternalError('ERR_DEV_CERT_DIR', `${dir} exists and is not a directory`);
      }
      return true;
    },
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
  if (!existed) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered through the umask; set it exactly.
    await chmod(dir, 0o700);
  }
}

/** The CA from disk, or undefined when it must be (re)created. */
async function loadCa(certFile: string, keyFile: string, now: Date): Promise<Issued | undefined> {
  const [certPem, keyPem] = await Promise.all([readOptional(certFile), readOptional(keyFile)]);
  if (certPem === undefined || keyPem === undefined) return undefined;
  try {
    const cert = new NodeX509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    const usable =
      cert.ca &&
      cert.checkPrivateKey(key) &&
      cert.checkIssued(cert) &&
      cert.verify(cert.publicKey) &&
      isValidFor(cert, now, RENEW_BEFORE_MS);
    return usable ? { certPem, keyPem } : undefined;
  } catch {
    return undefined;
  }
}

async function serverIsUsable(
  certFile: string,
  keyFile: string,
  caCert: NodeX509Certificate,
  now: Date,
): Promise<boolean> {
  const [certPem, keyPem] = await Promise.all([readOptional(certFile), readOptional(keyFile)]);
  if (certPem === undefined || keyPem === undefined) return false;
  try {
    const cert = new NodeX509Certificate(certPem);
    return (
      !cert.ca &&
      cert.checkPrivateKey(createPrivateKey(keyPem)) &&
      cert.checkIssued(caCert) &&
      cert.verify(caCert.publicKey) &&
      isValidFor(cert, now, RENEW_BEFORE_MS)
    );
  } catch {
    return false;
  }
}

/** Valid at `now` and still valid `marginMs` later. */
function isValidFor(cert: NodeX509Certificate, now: Date, marginMs: number): boolean {
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) return false;
  return notBefore <= now.getTime() && notAfter - now.getTime() > marginMs;
}

async function createCa(x509: X509Module, webCrypto: Crypto, now: Date): Promise<Issued> {
  const keys = await webCrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [DEV_CA_COMMON_NAME] }],
      keys,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        // pathLength 0: this CA signs leaf certificates only.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webCrypto),
      ],
    },
    webCrypto,
  );
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await exportPrivateKey(x509, webCrypto, keys.privateKey) };
}

async function createServer(x509: X509Module, webCrypto: Crypto, ca: Issued, now: Date): Promise<Issued> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webCrypto.subtle.importKey(
    'pkcs8',
    createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' }),
    EC_KEY,
    false,
    ['sign'],
  );
  const keys = await webCrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  // Never outlive the CA that signs it.
  const notAfter = Math.min(now.getTime() + SERVER_LIFETIME_MS, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: [{ CN: ['localhost'] }],
      issuer: caCert.subjectName,
      publicKey: keys.publicKey,
      signingKey: caKey,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(notAfter),
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(
          [
            ...DEV_SERVER_DNS_NAMES.map((value) => ({ type: 'dns' as const, value })),
            ...DEV_SERVER_IP_ADDRESSES.map((value) => ({ type: 'ip' as const, value })),
          ],
          false,
        ),
        await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, webCrypto),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webCrypto),
      ],
    },
    webCrypto,
  );
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await exportPrivateKey(x509, webCrypto, keys.privateKey) };
}

async function exportPrivateKey(x509: X509Module, webCrypto: Crypto, key: CryptoKey): Promise<string> {
  const der = await webCrypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes a new file next to `file` with `mode`, then renames it over `file`. */
async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

/** A reused key file that someone loosened is set back to 0600. */
async function tightenKeyMode(file: string): Promise<void> {
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) await chmod(file, 0o600);
}
