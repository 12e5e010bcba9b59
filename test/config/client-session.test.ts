// `clients[].session`: per-client automatic logoff (45 CFR 164.312(a)(2)(iii)) in the configuration
// file; errors name the path and the fix.
import { configProblems } from '../support/config-problems.js';
import { describe, expect, test } from 'vitest';
import { validateConfig } from '../../src/config/schema.js';

const base = { issuer: 'https://as.example', storage: 'sqlite:./data/x.db', tls: { cert: 'c.pem', key: 'k.pem' } };
const withSession = (session: unknown) => ({
  ...base, clients: [{ client_id: 'app1', name: 'App', redirect_uris: ['https://app.example/cb'], client_secret_env: 'APP1_SECRET', session }],
});

const problems = configProblems;

const NOT_SECONDS = 'must be a whole number of seconds greater than 0';

describe('clients[].session', () => {
  test('is optional: a client without it has no session key', () => {
    const c = validateConfig({ ...base, clients: [{ client_id: 'app1', name: 'App', redirect_uris: ['https://app.example/cb'], client_secret_env: 'S' }] });
    expect(c.clients[0]).not.toHaveProperty('session');
  });

  test('takes either limit alone, or both', () => {
    expect(validateConfig(withSession({ idle_timeout: 60 })).clients[0]!.session).toEqual({ idle_timeout: 60 });
    expect(validateConfig(withSession({ absolute_timeout: 600 })).clients[0]!.session).toEqual({ absolute_timeout: 600 });
    expect(validateConfig(withSession({ idle_timeout: 60, absolute_timeout: 600 })).clients[0]!.session).toEqual({ idle_timeout: 60, absolute_timeout: 600 });
  });

  test('a value above the global limit is accepted as written (it is capped when enforced, never refused)', () => {
    const c = validateConfig({ ...withSession({ idle_timeout: 3600, absolute_timeout: 86_400 }), session: { idle_timeout: 900, absolute_timeout: 43_200 } });
    expect(c.clients[0]!.session).toEqual({ idle_timeout: 3600, absolute_timeout: 86_400 });
  });

  test('zero, negative, fractional and text values are refused with the path and the fix', () => {
    for (const value of [0, -60, 1.5, '60']) {
      expect(problems(withSession({ idle_timeout: value })), String(value)).toEqual([
        `clients[0].session.idle_timeout: ${NOT_SECONDS}, e.g. 300; leave it out to use the global session limit`,
      ]);
    }
    expect(problems(withSession({ absolute_timeout: 0 }))).toEqual([
      `clients[0].session.absolute_timeout: ${NOT_SECONDS}, e.g. 3600; leave it out to use the global session limit`,
    ]);
  });

  test('an idle limit above the same client\'s absolute limit is refused', () => {
    expect(problems(withSession({ idle_timeout: 600, absolute_timeout: 300 }))).toEqual([
      'clients[0].session.idle_timeout: must not exceed this client\'s session.absolute_timeout (300); lower it or raise absolute_timeout',
    ]);
  });

  test('unknown keys and a non-mapping are refused', () => {
    expect(problems(withSession({ idle: 60 }))).toEqual([
      'clients[0].session: unknown key "idle"; remove or fix the spelling (see docs/configuration.md)',
    ]);
    expect(problems(withSession(60))).toEqual([
      'clients[0].session: must be a mapping with idle_timeout and/or absolute_timeout in seconds, e.g. {idle_timeout: 300}',
    ]);
  });
});
