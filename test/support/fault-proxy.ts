// A TCP proxy that injects network faults between Caduceus and a backing service (PostgreSQL,
// Redis), for the resilience tests (test/resilience/). node:net only, loopback only: it listens on
// 127.0.0.1:0 and forwards every accepted connection to one target host:port. The mode can be
// switched at any time, and applies to the connections already open as well as to new ones:
//
//   pass        bytes are forwarded unchanged (the default, and what heal() returns to).
//   drop        every open connection is closed with a FIN on both sides (socket.end()), and every
//               new connection is closed as soon as it is accepted, until healed: a backend that
//               shuts down or restarts cleanly.
//   reset       every open connection is destroyed with a TCP RST on both sides
//               (socket.resetAndDestroy()), and every new one is reset as soon as it is accepted,
//               until healed: a crashed host, a firewall that rejects, a load balancer that kills
//               its flows.
//   blackhole   connections are still accepted and none is closed, but nothing is forwarded in
//               either direction: a network partition. Reading stops, so bytes stay in the kernel's
//               buffers as they would in TCP retransmission queues, and they are delivered, in
//               order, when the partition heals; a connection a peer closed or reset meanwhile is
//               closed on the other side at that point too. A peer learns of the partition only
//               through its own timeouts. Bytes already forwarded are never lost or reordered.
//   slow(ms)    every chunk is delivered ms milliseconds after it arrived (latency, not a
//               bandwidth limit), in order.
//
// Deliberately not modelled: packet loss inside a live stream (TCP never shows it), a refused SYN
// (the listener always accepts), and half-open connections after a partition longer than the
// peers' TCP retransmission timeout.
import { connect, createServer, type Server, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'drop' | 'reset' | 'blackhole' | 'slow';

export interface FaultProxyOptions {
  /** Where every connection is forwarded. */
  target: { host: string; port: number };
  /** After drop's FIN, a connection whose peer does not close is destroyed after this long (ms; default 2000). */
  finGraceMs?: number;
}

export interface FaultProxyStats {
  /** Connections accepted since the start. */
  accepted: number;
  /** Connections refused (closed or reset at once) because of drop or reset. */
  refused: number;
  /** Connections open now. */
  open: number;
  /** Bytes forwarded to the target and back to the clients since the start. */
  bytesToTarget: number;
  bytesToClients: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: FaultMode;
  /** The delay of slow mode (ms), 0 otherwise. */
  readonly delayMs: number;
  /** FIN every open connection; close new ones at once until heal(). */
  drop(): void;
  /** RST every open connection; reset new ones at once until heal(). */
  reset(): void;
  /** Forward nothing, close nothing, until heal(). */
  blackhole(): void;
  /** Deliver every chunk ms after it arrived. */
  slow(ms: number): void;
  /** Back to pass: held bytes are delivered, paused connections resume. */
  heal(): void;
  /**
   * Local ports of the proxy's connections to the target, open now: PostgreSQL shows them as
   * pg_stat_activity.client_port, which tells this proxy's sessions from everyone else's.
   */
  targetLocalPorts(): number[];
  stats(): FaultProxyStats;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

interface Chunk {
  data: Buffer;
  at: number;
}

interface State {
  mode: FaultMode;
  delayMs: number;
  finGraceMs: number;
  stats: FaultProxyStats;
}

/** One direction of a connection: reads from src, writes to dst, through a queue that the mode gates. */
class Direction {
  readonly #queue: Chunk[] = [];
  #srcEnded = false;
  #dstEnded = false;
  #timer: NodeJS.Timeout | undefined;
  #blocked = false;

  constructor(readonly src: Socket, readonly dst: Socket, readonly state: State, readonly count: (n: number) => void) {
    src.on('data', (data: Buffer) => {
      this.#queue.push({ data, at: Date.now() });
      this.pump();
    });
    src.on('end', () => {
      this.#srcEnded = true;
      this.pump();
    });
  }

  /** Forwards what the mode allows; called on every event and on every mode change. */
  pump(): void {
    if (this.#timer || this.#blocked) return;
    const { state } = this;
    while (this.#queue.length > 0) {
      if (state.mode === 'blackhole' || state.mode === 'drop' || state.mode === 'reset') {
        this.src.pause();
        return;
      }
      if (state.mode === 'slow') {
        const wait = this.#queue[0]!.at + state.delayMs - Date.now();
        if (wait > 0) {
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.pump();
          }, wait);
          return;
        }
      }
      const { data } = this.#queue.shift()!;
      if (this.dst.destroyed || this.#dstEnded) continue;
      this.count(data.length);
      if (!this.dst.write(data)) {
        this.#blocked = true;
        this.src.pause();
        this.dst.once('drain', () => {
          this.#blocked = false;
          this.pump();
        });
        return;
      }
    }
    if (state.mode === 'blackhole') {
      this.src.pause();
      return;
    }
    if (this.#srcEnded && !this.#dstEnded) {
      this.#dstEnded = true;
      if (!this.dst.destroyed) this.dst.end();
    }
    if (!this.src.destroyed) this.src.resume();
  }

  /** Forgets queued bytes (the connection is being closed). */
  discard(): void {
    this.#queue.length = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

class Link {
  readonly up: Direction;
  readonly down: Direction;
  #closed = false;
  #failed = false;

  constructor(readonly client: Socket, readonly target: Socket, readonly state: State, readonly onClosed: (link: Link) => void) {
    this.up = new Direction(client, target, state, (n) => { state.stats.bytesToTarget += n; });
    this.down = new Direction(target, client, state, (n) => { state.stats.bytesToClients += n; });
    for (const [socket, peer] of [[client, target], [target, client]] as const) {
      // A socket error (ECONNRESET, ECONNREFUSED, EPIPE) is passed on as a reset of the other side,
      // except during a partition, when nothing crosses: then at heal().
      socket.on('error', () => {
        this.#failed = true;
        if (this.state.mode !== 'blackhole') resetSocket(peer);
      });
      socket.on('close', () => {
        if (client.destroyed && target.destroyed) this.#finish();
        else if (this.#failed && this.state.mode !== 'blackhole') resetSocket(peer);
      });
    }
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.up.discard();
    this.down.discard();
    this.onClosed(this);
  }

  pump(): void {
    if (this.#failed && this.state.mode !== 'blackhole') {
      resetSocket(this.client);
      resetSocket(this.target);
      return;
    }
    this.up.pump();
    this.down.pump();
  }

  /** FIN both ways, reading (and discarding) until the peers close, destroyed after the grace time. */
  fin(): void {
    this.up.discard();
    this.down.discard();
    for (const s of [this.client, this.target]) finSocket(s, this.state.finGraceMs);
  }

  rst(): void {
    this.up.discard();
    this.down.discard();
    resetSocket(this.client);
    resetSocket(this.target);
  }

  destroy(): void {
    this.client.destroy();
    this.target.destroy();
    this.#finish();
  }
}

function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

function finSocket(socket: Socket, graceMs: number): void {
  if (socket.destroyed) return;
  // Reading on (into nothing) keeps the receive buffer empty, so the close is a FIN, never an RST.
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.resume();
  socket.end();
  setTimeout(() => socket.destroy(), graceMs).unref();
}

/** Starts a fault proxy on 127.0.0.1 (a free port) in pass mode. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const state: State = {
    mode: 'pass', delayMs: 0, finGraceMs: options.finGraceMs ?? 2000,
    stats: { accepted: 0, refused: 0, open: 0, bytesToTarget: 0, bytesToClients: 0 },
  };
  const links = new Set<Link>();
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    state.stats.accepted += 1;
    client.on('error', () => undefined);
    if (state.mode === 'drop') {
      state.stats.refused += 1;
      finSocket(client, state.finGraceMs);
      return;
    }
    if (state.mode === 'reset') {
      state.stats.refused += 1;
      resetSocket(client);
      return;
    }
    const target = connect({ host: options.target.host, port: options.target.port, allowHalfOpen: true });
    target.setNoDelay(true);
    client.setNoDelay(true);
    const link = new Link(client, target, state, (l) => {
      links.delete(l);
      state.stats.open = links.size;
    });
    links.add(link);
    state.stats.open = links.size;
    link.pump();
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  const setMode = (mode: FaultMode, delayMs = 0) => {
    state.mode = mode;
    state.delayMs = delayMs;
  };
  return {
    host: '127.0.0.1',
    port,
    get mode() { return state.mode; },
    get delayMs() { return state.delayMs; },
    drop() {
      setMode('drop');
      for (const link of links) link.fin();
    },
    reset() {
      setMode('reset');
      for (const link of links) link.rst();
    },
    blackhole() {
      setMode('blackhole');
      for (const link of links) link.pump();
    },
    slow(ms: number) {
      if (!Number.isInteger(ms) || ms < 0) throw new TypeError('slow(ms): ms must be a whole number of milliseconds >= 0');
      setMode('slow', ms);
      for (const link of links) link.pump();
    },
    heal() {
      setMode('pass');
      for (const link of links) link.pump();
    },
    targetLocalPorts() {
      return [...links].map((l) => l.target.localPort).filter((p): p is number => typeof p === 'number');
    },
    stats() {
      return { ...state.stats, open: links.size };
    },
    close() {
      for (const link of links) link.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A PostgreSQL URL with its host and port replaced by the proxy's (query parameters such as options=-c search_path=… kept). */
export function throughProxy(url: string, proxy: Pick<FaultProxy, 'host' | 'port'>): string {
  const u = new URL(url);
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  return u.toString();
}

/** host and port of a postgres:// or redis:// URL (defaults 5432 / 6379). */
export function targetOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  const fallback = u.protocol.startsWith('redis') ? 6379 : 5432;
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : fallback };
}
