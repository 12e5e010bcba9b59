import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStorage } from '../../src/storage/index.js';
import { loadMasterKey } from '../../src/crypto/master-key.js';
import { verifyClientSecret } from '../../src/crypto/client-secret.js';
import { createDataDir, runCli, type DataDir } from './harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

const addArgs = (id: string, extra: string[] = []) => [
  'client', 'add', '--data', data.dir, '--id', id, '--name', 'Test App',
  '--grant', 'authorization_code', '--grant', 'refresh_token',
  '--redirect-uri', 'https://app.example.test/cb', '--redirect-uri', 'http://127.0.0.1:9000/cb',
  '--scope', 'openid patient/Patient.rs', '--resource', data.demo.resource, '--auth', 'client_secret_basic', ...extra,
];

async function storedClient(id: string) {
  const storage = await openStorage(data.config.storage);
  try {
    return await storage.clients.get(id);
  } finally {
    await storage.close();
  }
}

describe('caduceus client', () => {
  it('client add prints the new client_id and its secret once, saying it is stored only as a digest', async () => {
    const run = await runCli(addArgs('text-app'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('client_id:      text-app');
    const secret = /client_secret:\s+(\S+)/.exec(run.stdout)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(run.stdout.split(secret!).length - 1).toBe(1);
    expect(run.stdout).toMatch(/shown only this once/);
    expect(run.stdout).toMatch(/keyed digest/);
  });

  it('client add --json prints the client metadata with the client_secret, and both grants and redirect URIs', async () => {
    const run = await runCli(addArgs('json-app', ['--json']));
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(out.client_id).toBe('json-app');
    expect(out.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(out.grant_types).toEqual(['authorization_code', 'refresh_token']);
    expect(out.redirect_uris).toEqual(['https://app.example.test/cb', 'http://127.0.0.1:9000/cb']);
    expect(out.resources).toEqual([data.demo.resource]);
    expect(out).not.toHaveProperty('secretDigest');
  });

  it('the stored secretDigest is not the secret but a keyed digest that verifies it', async () => {
    const run = await runCli(addArgs('digest-app', ['--json']));
    expect(run.code, run.stderr).toBe(0);
    const secret = (JSON.parse(run.stdout) as { client_secret: string }).client_secret;
    const stored = await storedClient('digest-app');
    expect(stored?.secretDigest).toBeTruthy();
    expect(stored!.secretDigest).not.toBe(secret);
    expect(stored!.secretDigest).not.toContain(secret);
    const masterKey = loadMasterKey({ env: {}, file: data.config.master_key_file });
    expect(verifyClientSecret(masterKey, secret, stored!.secretDigest!)).toBe(true);
    expect(verifyClientSecret(masterKey, `${secret}x`, stored!.secretDigest!)).toBe(false);
  });

  it('client show prints the client but never its secret nor the secret digest', async () => {
    const added = await runCli(addArgs('show-app', ['--json']));
    expect(added.code, added.stderr).toBe(0);
    const secret = (JSON.parse(added.stdout) as { client_secret: string }).client_secret;
    const digest = (await storedClient('show-app'))!.secretDigest!;
    for (const extra of [[], ['--json']]) {
      const run = await runCli(['client', 'show', 'show-app', '--data', data.dir, ...extra]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('show-app');
      expect(run.stdout).toContain('client_secret_basic');
      expect(run.stdout).not.toContain(secret);
      expect(run.stdout).not.toContain(digest);
      expect(run.stdout).not.toMatch(/digest|client_secret"/i);
    }
  });

  it('client list shows the demo clients and the added ones, without digests', async () => {
    await runCli(addArgs('list-app'));
    const digest = (await storedClient('list-app'))!.secretDigest!;
    const run = await runCli(['client', 'list', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const ids = (JSON.parse(run.stdout) as Array<{ client_id: string }>).map((c) => c.client_id);
    expect(ids).toEqual(expect.arrayContaining([data.demo.client_id, data.demo.cc_client_id, 'list-app']));
    expect(run.stdout).not.toContain(digest);
    const text = await runCli(['client', 'list', '--data', data.dir]);
    expect(text.stdout).toMatch(/^CLIENT_ID\s+AUTH/);
    expect(text.stdout).toContain('list-app');
  });

  it('a public client (auth none) gets no secret', async () => {
    const run = await runCli([
      'client', 'add', '--data', data.dir, '--id', 'public-app', '--name', 'Public', '--grant', 'authorization_code',
      '--redirect-uri', 'https://app.example.test/cb', '--auth', 'none', '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).not.toHaveProperty('client_secret');
    expect((await storedClient('public-app'))?.secretDigest).toBeNull();
  });

  it('a bad redirect URI (http://example.com/cb) exits 1 naming redirect_uris and the fix, and adds nothing', async () => {
    const args = addArgs('bad-redirect');
    args[args.indexOf('https://app.example.test/cb')] = 'http://example.com/cb';
    const run = await runCli(args);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('redirect_uris[0] (--redirect-uri)');
    expect(run.stderr).toMatch(/http is only allowed for loopback.*use https/);
    expect(run.stdout).toBe('');
    expect(await storedClient('bad-redirect')).toBeUndefined();
  });

  it('a resource that is not a configured resource server exits 1 listing the configured ones', async () => {
    const args = addArgs('bad-resource');
    args[args.indexOf(data.demo.resource)] = 'https://elsewhere.example.test/fhir';
    const run = await runCli(args);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--resource https://elsewhere.example.test/fhir: not a configured resource server');
    expect(run.stderr).toContain(data.demo.resource);
    expect(await storedClient('bad-resource')).toBeUndefined();
  });

  it('adding an existing client id exits 1 with ERR_CONFLICT', async () => {
    expect((await runCli(addArgs('twice-app'))).code).toBe(0);
    const run = await runCli(addArgs('twice-app'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('already exists');
    expect(run.stderr).toContain('ERR_CONFLICT');
  });

  it('an unknown flag exits 2 naming the flag', async () => {
    const run = await runCli(addArgs('unknown-flag', ['--colour', 'blue']));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--colour');
    expect(run.stderr).toContain('see --help');
  });

  it('a missing --id exits 2 saying --id is required', async () => {
    const args = addArgs('x');
    args.splice(args.indexOf('--id'), 2);
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--id is required: .*--id my-app/);
  });

  it('an unsupported --auth or --grant value exits 2 listing the accepted values', async () => {
    const auth = await runCli(addArgs('x', ['--auth', 'client_secret_jwt']));
    expect(auth.code).toBe(2);
    expect(auth.stderr).toMatch(/--auth client_secret_jwt: .*private_key_jwt/);
    const grant = await runCli(addArgs('x', ['--grant', 'password']));
    expect(grant.code).toBe(2);
    expect(grant.stderr).toMatch(/--grant password: .*client_credentials/);
  });

  it('--jwks-file with a private key is refused with exit 1', async () => {
    const file = join(data.dir, 'private-jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] }));
    const run = await runCli([
      'client', 'add', '--data', data.dir, '--id', 'jwt-app', '--name', 'JWT', '--grant', 'client_credentials',
      '--auth', 'private_key_jwt', '--jwks-file', file,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/keys\[0\] holds private key material \("d"\); give the public keys only/);
    expect(await storedClient('jwt-app')).toBeUndefined();
  });

  it('client remove deletes an added client; removing it again exits 1', async () => {
    expect((await runCli(addArgs('gone-app'))).code).toBe(0);
    const run = await runCli(['client', 'remove', 'gone-app', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(await storedClient('gone-app')).toBeUndefined();
    const again = await runCli(['client', 'remove', 'gone-app', '--data', data.dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no client "gone-app"');
  });

  it('client show of an unknown id exits 1, and without an id exits 2', async () => {
    expect((await runCli(['client', 'show', 'nobody', '--data', data.dir])).code).toBe(1);
    const missing = await runCli(['client', 'show', '--data', data.dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('caduceus client show ID');
  });
});
