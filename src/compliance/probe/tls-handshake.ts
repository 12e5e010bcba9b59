// TLS handshakes from the outside (node:tls): which protocol versions and cipher suites a server
// accepts. Certificates are not verified here (rejectUnauthorized false): these handshakes test
// what the server negotiates, the HTTP requests of the probe verify the certificate.
import net from 'node:net';
import tls from 'node:tls';

export type HandshakeResult =
  | { ok: true; protocol: string; cipher: string; standardName: string }
  | { ok: false; error: string };

export interface HandshakeTarget {
  host: string;
  port: number;
}

/** OpenSSL names of TLS 1.2 CBC suites (ECDHE and static RSA), offered one group at a time. */
export const CBC_SUITES = [
  'ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA384',
  'DHE-RSA-AES128-SHA', 'DHE-RSA-AES256-SHA', 'DHE-RSA-AES128-SHA256', 'DHE-RSA-AES256-SHA256',
];
/** Static-RSA key exchange suites (no forward secrecy), AEAD and CBC. */
export const STATIC_RSA_SUITES = ['AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-SHA256', 'AES256-SHA256', 'AES128-SHA', 'AES256-SHA'];
/** Everything OpenSSL can still do, for the legacy protocol versions. */
export const ANY_SUITE = 'ALL:@SECLEVEL=0';

export function handshake(target: HandshakeTarget, options: { minVersion: tls.SecureVersion; maxVersion: tls.SecureVersion; ciphers: string }, timeoutMs = 5000): Promise<HandshakeResult> {
  const host = target.host.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: HandshakeResult) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(r);
    };
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({
        host,
        port: target.port,
        ...(net.isIP(host) ? {} : { servername: host }),
        rejectUnauthorized: false,
        minVersion: options.minVersion,
        maxVersion: options.maxVersion,
        ciphers: options.ciphers,
      }, () => {
        const cipher = socket.getCipher();
        done({ ok: true, protocol: socket.getProtocol() ?? 'unknown', cipher: cipher.name, standardName: cipher.standardName });
      });
    } catch (err) {
      resolve({ ok: false, error: (err as Error).message });
      return;
    }
    socket.setTimeout(timeoutMs, () => done({ ok: false, error: 'timeout' }));
    socket.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
  });
}
