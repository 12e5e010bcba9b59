// A child process for the multi-process ledger tests (processes.test.ts), run with
// `node --import tsx test/audit-cli/append-worker.ts …`:
//
//   --url STORAGE_URL --seed HEX --origin ORIGIN   openStorage + a Ledger configured like the server's
//   --data DIR                                     the dev stack's server sink itself (openAuditSink)
//   --label L                                      written into each event's details
//   --count N | --forever                          append N events, or until killed
//   --in-flight K                                  appends kept waiting at once (default 32)
//
// Prints "ready" once the ledger is open, then waits for a line on standard input before
// appending, so that several workers start together. Prints "<seq> <label> <i>" for an event only
// after append() resolved, i.e. after its transaction committed: every printed seq must survive
// a SIGKILL. Prints "done" after a clean close.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Ledger } from '../../src/audit/ledger.js';
import { openAuditSink } from '../../src/audit/sink.js';
import { loadMasterKey } from '../../src/crypto/master-key.js';
import { openStorage } from '../../src/storage/index.js';
import { resolveConfig } from '../../src/cli/context.js';
import type { Storage } from '../../src/storage/types.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seed: { type: 'string' },
    origin: { type: 'string' },
    data: { type: 'string' },
    label: { type: 'string', default: 'w' },
    count: { type: 'string' },
    forever: { type: 'boolean', default: false },
    'in-flight': { type: 'string', default: '32' },
  },
});

const label = values.label!;
const count = values.forever ? Infinity : Number(values.count);
const inFlight = Number(values['in-flight']);

let storage: Storage;
let ledger: Ledger;
if (values.data !== undefined) {
  const io = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {} };
  const config = await resolveConfig({ data: values.data }, io);
  storage = await openStorage(config.storage);
  ledger = await openAuditSink(storage.sql, config, loadMasterKey({ env: {}, file: config.master_key_file }), Date.now);
} else {
  storage = await openStorage(values.url!, { migrate: false });
  ledger = new Ledger(storage.sql, { origin: values.origin!, signingKey: Buffer.from(values.seed!, 'hex'), checkpointIntervalMs: 50 });
}

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
lines.close();

let next = 0;
async function lane(): Promise<void> {
  while (next < count) {
    const i = next++;
    const event = await ledger.append({
      type: 'phi.accessed',
      actor: { userId: `user-${label}`, clientId: `client-${label}` },
      patient: `Patient/${i % 17}`,
      resource: `Observation/${label}-${i}`,
      action: 'read',
      outcome: 'success',
      requestId: `${label}-${i}`,
      details: { writer: label, i },
    });
    process.stdout.write(`${event.seq} ${label} ${i}\n`);
  }
}

await Promise.all(Array.from({ length: inFlight }, lane));
await ledger.close();
await storage.close();
process.stdout.write('done\n');
