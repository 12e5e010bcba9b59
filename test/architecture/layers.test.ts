// The layering of docs/architecture.md holds in src/: no module imports from a layer above its
// own, and no import cycle exists at run time (type-only imports excepted). The checker itself
// (scripts/import-graph.ts) is tested on small in-memory graphs with a deliberate upward import and
// a deliberate cycle, and on the real src/ with one upward import added, so these tests can fail.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  LAYERS, analyse, buildGraph, describeViolation, importCycles, importsOf, layerViolations, listSources, unitOf,
} from '../../scripts/import-graph.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const sources = listSources(SRC);
const graph = buildGraph(sources);
const report = analyse(graph);

describe('src/', () => {
  test('no module imports from a layer above its own, and every folder is in a layer', () => {
    expect(report.upward.map((v) => describeViolation(v))).toEqual([]);
  });

  test('no import cycle exists at run time', () => {
    expect(report.runtimeCycles).toEqual([]);
  });

  test('every relative import resolves to a module (the checker sees every arrow)', () => {
    expect(report.unresolved).toEqual([]);
    expect(report.modules).toBeGreaterThan(200);
  });

  test('the gateway imports nothing from the interaction pages', () => {
    expect(graph.edges.filter((e) => e.from.startsWith('gateway/') && e.to.startsWith('interaction/'))).toEqual([]);
  });

  test('the application context imports types only', () => {
    const fromContext = graph.edges.filter((e) => e.from.startsWith('context/'));
    expect(fromContext.length).toBeGreaterThan(0);
    expect(fromContext.filter((e) => !e.typeOnly)).toEqual([]);
  });

  test('an upward import added to the real sources is reported', () => {
    const changed = new Map(sources);
    changed.set('config/load.ts', `import { startServer } from '../server/start.js';\n${sources.get('config/load.ts')!}`);
    const violations = analyse(buildGraph(changed)).upward;
    expect(violations.map((v) => describeViolation(v))).toEqual([
      expect.stringMatching(/^config\/load\.ts:1 imports server\/start\.ts: config \(layer \d+\) → server \(layer \d+/),
    ]);
  });

  test('docs/architecture.md lists the layers of scripts/import-graph.ts, bottom up', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/architecture.md', import.meta.url)), 'utf8');
    // The layer table: one row per layer, "| n | `folder`, `folder` | …".
    const rows = [...doc.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)].map((m) => [...m[2]!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!.replace(/\/$/, '')));
    expect(rows).toEqual(LAYERS.map((layer) => [...layer]));
  });
});

describe('the checker', () => {
  const layers = [['config'], ['oauth/checks'], ['oauth'], ['server']] as const;

  test('reports a module that imports from a layer above, and not one that imports below', () => {
    const graph = buildGraph(new Map([
      ['config/schema.ts', "import { start } from '../server/start.js';\nexport const schema = 1;"],
      ['server/start.ts', "import { schema } from '../config/schema.js';\nexport const start = schema;"],
    ]));
    const violations = layerViolations(graph, layers);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ kind: 'upward', fromUnit: 'config', toUnit: 'server', edge: { from: 'config/schema.ts', to: 'server/start.ts', line: 1, typeOnly: false } });
  });

  test('counts a type-only import as an arrow of the layering', () => {
    const graph = buildGraph(new Map([
      ['config/schema.ts', "import type { Start } from '../server/start.js';\nexport type Schema = Start;"],
      ['server/start.ts', 'export type Start = number;'],
    ]));
    expect(layerViolations(graph, layers)).toMatchObject([{ kind: 'upward', edge: { typeOnly: true } }]);
  });

  test('places a module in the longest layer entry that contains it', () => {
    expect(unitOf('oauth/checks/pkce.ts', layers)).toBe('oauth/checks');
    expect(unitOf('oauth/grants/issue.ts', layers)).toBe('oauth');
    expect(unitOf('oauth-extra/x.ts', layers)).toBeUndefined();
    const graph = buildGraph(new Map([
      ['oauth/checks/pkce.ts', "import { issue } from '../grants/issue.js';\nexport const pkce = issue;"],
      ['oauth/grants/issue.ts', "export const issue = 1;"],
    ]));
    expect(layerViolations(graph, layers)).toMatchObject([{ kind: 'upward', fromUnit: 'oauth/checks', toUnit: 'oauth' }]);
  });

  test('reports a folder that is in no layer', () => {
    const graph = buildGraph(new Map([['agents/run.ts', 'export const run = 1;']]));
    expect(layerViolations(graph, layers)).toEqual([{ kind: 'unplaced', folder: 'agents', module: 'agents/run.ts' }]);
  });

  test('reports a runtime cycle, and not a cycle through a type-only import', () => {
    const runtime = buildGraph(new Map([
      ['oauth/a.ts', "import { b } from './b.js';\nexport const a = () => b;"],
      ['oauth/b.ts', "import { c } from './c.js';\nexport const b = () => c;"],
      ['oauth/c.ts', "import { a } from './a.js';\nexport const c = () => a;"],
      ['oauth/d.ts', "import { a } from './a.js';\nexport const d = a;"],
    ]));
    expect(importCycles(runtime)).toEqual([['oauth/a.ts', 'oauth/b.ts', 'oauth/c.ts']]);
    const typeOnly = buildGraph(new Map([
      ['oauth/a.ts', "import { b } from './b.js';\nexport type A = number;\nexport const a = b;"],
      ['oauth/b.ts', "import type { A } from './a.js';\nexport const b: A = 1;"],
    ]));
    expect(importCycles(typeOnly)).toEqual([]);
    expect(importCycles(typeOnly, 'all')).toEqual([['oauth/a.ts', 'oauth/b.ts']]);
  });

  test('counts a dynamic import and a re-export as runtime imports', () => {
    const graph = buildGraph(new Map([
      ['oauth/a.ts', "export { b } from './b.js';"],
      ['oauth/b.ts', "export async function b() { return (await import('./a.js')).b; }"],
    ]));
    expect(importCycles(graph)).toEqual([['oauth/a.ts', 'oauth/b.ts']]);
  });

  test('tells type-only imports from runtime ones', () => {
    const kinds = importsOf('x.ts', [
      "import type { A } from './a.js';",
      "import { type B, type C } from './b.js';",
      "import { type D, e } from './d.js';",
      "import f from './f.js';",
      "import './side-effect.js';",
      "export type { G } from './g.js';",
      "export { h } from './h.js';",
      "export * from './i.js';",
      "let j: import('./j.js').J;",
      "const k = () => import('./k.js');",
    ].join('\n')).map((i) => `${i.specifier} ${i.typeOnly ? 'type' : 'runtime'}`);
    expect(kinds).toEqual([
      './a.js type', './b.js type', './d.js runtime', './f.js runtime', './side-effect.js runtime', './g.js type',
      './h.js runtime', './i.js runtime', './j.js type', './k.js runtime',
    ]);
  });
});
