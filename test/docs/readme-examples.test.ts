// The examples of the README's "Use it from your own code" section, run as written against a test
// stack: each code block marked `<!-- example: ID -->` (`file=NAME`: a file to save) is taken from
// README.md and run in a temporary folder laid out like the checkout while `npm start` runs
// (data/demo-credentials.json with the test stack's credentials, data/tls/ca.pem, node_modules).
// The only change to the text is the loopback port of the examples' own listeners (8765 becomes
// a free port, which the server accepts for a loopback redirect URI, RFC 8252 §7.3), so that tests
// running side by side do not collide. The sign-in and consent pages are driven by the form driver
// (test/support/browserless.ts), playing the person at the browser.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';
import { Browser, formAction, hiddenCsrf, patientChoices, scopeBoxes, type Step } from '../support/browserless.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SECTION_TITLE = '## Use it from your own code';
/** The loopback port the examples listen on (a redirect URI registered for the demo client). */
const EXAMPLE_PORT = '8765';
/** How long one example may take: the machine running the suite may be busy. */
const EXAMPLE_TIMEOUT_MS = 60_000;

interface Example { id: string; file?: string; lang: string; code: string }

function section(md: string, title: string): string {
  const start = md.indexOf(`\n${title}\n`);
  if (start < 0) throw new Error(`README.md has no "${title}" section`);
  const end = md.indexOf('\n## ', start + title.length + 2);
  return md.slice(start, end < 0 ? undefined : end);
}

function examples(md: string): Map<string, Example> {
  const out = new Map<string, Example>();
  for (const m of md.matchAll(/<!-- example: ([\w-]+)(?: file=(\S+))? -->\n```(\w*)\n([\s\S]*?)\n```/g)) {
    out.set(m[1]!, { id: m[1]!, ...(m[2] ? { file: m[2] } : {}), lang: m[3]!, code: `${m[4]!}\n` });
  }
  return out;
}

const EXAMPLES = examples(section(README, SECTION_TITLE));
function example(id: string): Example {
  const e = EXAMPLES.get(id);
  if (!e) throw new Error(`README.md "${SECTION_TITLE}" has no block marked <!-- example: ${id} -->`);
  return e;
}

interface Run { child: ChildProcess; output: () => string; exited: Promise<number | null> }

/** Runs a shell block with bash in `cwd`; its process group is killed after the time limit. */
function runShell(code: string, cwd: string): Run {
  const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], {
    cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    // The environment of a person's terminal, not the test runner's (no NODE_OPTIONS, no VITEST_*).
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', TMPDIR: tmpdir() },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const timer = setTimeout(() => kill(child), EXAMPLE_TIMEOUT_MS);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => { clearTimeout(timer); resolve(code); }));
  return { child, output: () => out, exited };
}

function kill(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
}

async function waitForOutput(run: Run, pattern: RegExp): Promise<RegExpExecArray> {
  const deadline = Date.now() + EXAMPLE_TIMEOUT_MS;
  for (;;) {
    const m = pattern.exec(run.output());
    if (m) return m;
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} in the output:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the README examples of "Use it from your own code"', () => {
  let stack: TestStack;
  let cwd: string;
  let port: string;
  const runs: Run[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    // The checkout as `npm start` leaves it: the credentials file and the CA where the examples read them.
    cwd = mkdtempSync(join(tmpdir(), 'caduceus-readme-'));
    mkdirSync(join(cwd, 'data', 'tls'), { recursive: true });
    writeFileSync(join(cwd, 'data', 'tls', 'ca.pem'), stack.ca);
    writeFileSync(join(cwd, 'data', 'demo-credentials.json'), JSON.stringify({ ...stack.demo, ca_file: join(cwd, 'data', 'tls', 'ca.pem') }, null, 2), { mode: 0o600 });
    symlinkSync(join(ROOT, 'node_modules'), join(cwd, 'node_modules'), 'dir');
    port = String(await freePort());
  });

  afterAll(async () => {
    for (const run of runs) kill(run.child);
    await Promise.all(runs.map((r) => r.exited));
    await stack?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  /** The example's text with only its listener's port changed; a `file=` example is saved in cwd. */
  function prepare(id: string): string {
    const e = example(id);
    const code = e.code.replaceAll(EXAMPLE_PORT, port);
    if (e.file) writeFileSync(join(cwd, e.file), code);
    return code;
  }

  function start(id: string): Run {
    const e = example(id);
    expect(e.lang).toBe('sh');
    const run = runShell(prepare(id), cwd);
    runs.push(run);
    return run;
  }

  /** The person at the browser: from `url`, signs in as the demo user and allows, until the redirect back to the app. */
  async function signInAndAllow(browser: Browser, url: string): Promise<Step> {
    const origin = new URL(stack.issuer).origin;
    let step = await browser.follow(url, origin);
    for (let i = 0; i < 5 && step.status < 300; i++) {
      if (step.body.includes('type="password"')) {
        step = await browser.follow(formAction(step), origin, { form: { csrf: hiddenCsrf(step), username: stack.demo.username, password: stack.demo.password } });
      } else if (step.body.includes('name="decision"')) {
        step = await browser.follow(formAction(step), origin, {
          form: { csrf: hiddenCsrf(step), scope: scopeBoxes(step), decision: 'allow', ...(patientChoices(step).length ? { patient: patientChoices(step)[0]! } : {}) },
        });
      } else {
        break;
      }
    }
    if (!step.location) throw new Error(`no redirect back to the app: ${step.status} ${step.body.slice(0, 500)}`);
    expect(step.location.startsWith(`http://127.0.0.1:${port}/callback?`)).toBe(true);
    return step;
  }

  test('every example is marked, and they use only the stack `npm start` runs', () => {
    expect([...EXAMPLES.keys()].sort()).toEqual([
      'curl-client-credentials', 'fhirclient-run', 'fhirclient-standalone-launch', 'openid-client-code-flow', 'openid-client-run',
    ]);
    for (const e of EXAMPLES.values()) {
      // The credentials come from the file, never pasted in; no second stack is started.
      expect(e.code).not.toMatch(/demo-(app|backend)-[0-9a-f]{6}|caduceus dev/);
      if (e.lang === 'js') expect(e.code).toContain("readFileSync('data/demo-credentials.json'");
    }
  });

  test('curl: client_credentials, then a FHIR read and search through the gateway', async () => {
    const run = start('curl-client-credentials');
    const code = await run.exited;
    const out = run.output();
    expect(code, out).toBe(0);
    // jq . of the Patient: demo-1, with its identifiers masked (no phi.identifiers scope).
    const patient = JSON.parse(out.slice(out.indexOf('{'), out.indexOf('\n}\n') + 2)) as Record<string, unknown>;
    expect(patient).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    expect(patient.identifier).toBeUndefined();
    // Four observations of the patient, one line each.
    expect(out.trimEnd().split('\n').slice(-4).every((line) => /^[^:{}]+: [\d.]+ \S+$/.test(line)), out).toBe(true);
  }, EXAMPLE_TIMEOUT_MS + 10_000);

  test('openid-client: code flow with PKCE, the callback listener, a FHIR read and a refresh', async () => {
    prepare('openid-client-code-flow');
    const run = start('openid-client-run');
    const [url] = await waitForOutput(run, /https:\/\/\S+\/authorize\?\S+/);
    const browser = new Browser(trustingDispatcher(stack.ca));
    const back = await signInAndAllow(browser, url);
    // The browser lands on the example's listener, which gets the code.
    const page = await browser.request(back.location!);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Signed in');
    const code = await run.exited;
    const out = run.output();
    expect(code, out).toBe(0);
    expect(out).toMatch(/^Signed in: sub \S+, scope "[^"]*patient\/Patient\.rs[^"]*", patient demo-1$/m);
    expect(out).toContain('GET /fhir/Patient/demo-1: 200');
    expect(out).toContain('"resourceType": "Patient"');
    expect(out).toContain('"id": "demo-1"');
    expect(out).toContain('Refreshed: new access token true, new refresh token true');
  }, 2 * EXAMPLE_TIMEOUT_MS);

  test('fhirclient: SMART standalone launch, the launch context patient read through the gateway', async () => {
    prepare('fhirclient-standalone-launch');
    const run = start('fhirclient-run');
    const [launch] = await waitForOutput(run, /http:\/\/127\.0\.0\.1:\d+\/launch/);
    const browser = new Browser(trustingDispatcher(stack.ca));
    // The app's /launch discovers the SMART configuration and redirects to /authorize.
    const toAuthorize = await browser.request(launch);
    expect(toAuthorize.status, toAuthorize.body).toBe(302);
    const authorize = new URL(toAuthorize.location!);
    expect(authorize.href.startsWith(`${stack.issuer}/authorize?`)).toBe(true);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('aud')).toBe(stack.demo.resource);
    const back = await signInAndAllow(browser, authorize.href);
    const page = await browser.request(back.location!);
    expect(page.status, page.body).toBe(200);
    expect(JSON.parse(page.body)).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
  }, 2 * EXAMPLE_TIMEOUT_MS);
});
