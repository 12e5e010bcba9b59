// `caduceus agent`: an administrator's decisions about self-registered AI agents from the shell,
// stored (storage.agentDecisions) and recorded in the ledger with the operator as actor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { searchEvents } from '../../src/audit/search.js';
import { createDataDir, runCli, type DataDir } from './harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

const AGENT = 'https://agent.example/cli-agent.json';

async function inStorage<T>(fn: (s: Awaited<ReturnType<typeof openStorage>>) => Promise<T>): Promise<T> {
  const storage = await openStorage(data.config.storage);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

describe('caduceus agent', () => {
  it('approve stores the decision with its scope and writes client.changed (approve) naming the operator', async () => {
    const run = await runCli(['agent', 'approve', AGENT, '--scope', 'offline_access patient/Observation.rs', '--reason', 'pilot', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ client_id: AGENT, decision: 'approved', scope: 'offline_access patient/Observation.rs' });
    const [decision, events] = await inStorage(async (s) => [await s.agentDecisions.get(AGENT), await searchEvents(s.sql, { type: 'client.changed', limit: 5 })] as const);
    expect(decision).toMatchObject({ decision: 'approved', scope: 'offline_access patient/Observation.rs', reason: 'pilot' });
    expect(decision?.decidedBy).toMatch(/^cli:/);
    expect(events[0]).toMatchObject({ action: 'approve', resource: AGENT, outcome: 'success' });
    expect(events[0]?.actor.userId).toMatch(/^cli:/);
  });

  it('list shows the decision; refuse replaces it; withdraw removes it', async () => {
    const listed = await runCli(['agent', 'list', '--data', data.dir, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ client_id: AGENT, source: 'metadata_document', decision: 'approved' }));
    expect((await runCli(['agent', 'refuse', AGENT, '--data', data.dir])).stdout).toBe(`Agent ${AGENT} refused.\n`);
    expect(await inStorage((s) => s.agentDecisions.get(AGENT))).toMatchObject({ decision: 'refused', scope: null });
    expect((await runCli(['agent', 'withdraw', AGENT, '--data', data.dir])).code).toBe(0);
    expect(await inStorage((s) => s.agentDecisions.get(AGENT))).toBeUndefined();
    const again = await runCli(['agent', 'withdraw', AGENT, '--data', data.dir]);
    expect([again.code, again.stderr]).toEqual([1, `caduceus agent: no decision recorded for "${AGENT}" (see caduceus agent list)\n`]);
  });

  it('names the problem and stores nothing for an unknown client_id, a system/ scope, or a missing id', async () => {
    const unknown = await runCli(['agent', 'approve', 'agent_unknownunknownunknown', '--data', data.dir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no self-registered agent has this client_id/);
    const system = await runCli(['agent', 'approve', AGENT, '--scope', 'system/Patient.rs', '--data', data.dir]);
    expect(system.code).toBe(1);
    expect(system.stderr).toMatch(/--scope: "system\/Patient.rs": system\/ scopes are for backend services/);
    expect(await inStorage((s) => s.agentDecisions.list())).toEqual([]);
    const missing = await runCli(['agent', 'approve', '--data', data.dir]);
    expect(missing.code).toBe(2);
  });
});
