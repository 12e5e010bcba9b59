// The admin listener (config `admin`): Prometheus metrics, liveness and readiness on a separate
// port, off by default and on loopback by default. It is never the public listener: /metrics is
// not served there (404), so request volumes and timings are not published to the internet.
//
// Plain HTTP without authentication, by design of Prometheus scraping: bind it to loopback or a
// private network only. It serves GET/HEAD of three paths and nothing else; the metrics hold no
// identifiers (src/ops/metrics.ts).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeReadiness, readinessResponse, type ReadinessTarget } from './health.js';
import { scrape } from './metrics.js';

export interface AdminListener {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}

const json = (value: unknown): string => JSON.stringify(value);

async function handle(ctx: ReadinessTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'application/json; charset=utf-8', json({ error: 'method_not_allowed' }), head);
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics': {
      const { contentType, body } = await scrape();
      send(res, 200, contentType, body, head);
      return;
    }
    case '/healthz':
      send(res, 200, 'application/json; charset=utf-8', json({ status: 'ok' }), head);
      return;
    case '/readyz': {
      const { status, body } = readinessResponse(await probeReadiness(ctx));
      send(res, status, 'application/json; charset=utf-8', json(body), head);
      return;
    }
    default:
      send(res, 404, 'application/json; charset=utf-8', json({ error: 'not_found' }), head);
  }
}

export async function startAdminListener(ctx: ReadinessTarget, options: { host: string; port: number }): Promise<AdminListener> {
  const server = createServer((req, res) => {
    handle(ctx, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'application/json; charset=utf-8', json({ error: 'server_error' }), false);
      else res.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
