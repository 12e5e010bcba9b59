// The import graph of src/: which folder imports which, the arrows that point up the layer order
// of docs/architecture.md, and the import cycles that exist at run time. Run it with
//   npx tsx scripts/import-graph.ts [--json]
// test/architecture/layers.test.ts runs the same functions over src/ and expects no upward arrow
// and no runtime cycle.
//
// An import is type-only when it is `import type …` / `export type … from`, when every named
// specifier carries `type`, or when it is an `import('…')` type query; it disappears from the
// emitted JavaScript, so it cannot take part in a runtime cycle. It still counts as an arrow for the
// layering: a lower folder does not name a higher folder's types either. Everything else, including
// a side-effect import, a re-export and a dynamic `await import('…')`, is a runtime import.
// Deliberately not checked: bare specifiers (packages, node:*), which are outside src/.
import ts from 'typescript';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, posix, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layers of src/, bottom up (docs/architecture.md explains each). A module may import from its
 * own layer and the layers below it, never from a layer above. An entry names a top-level folder of
 * src/ (`oauth`), a sub-folder (`oauth/checks`) or a module without .ts (`smart/scopes`); a module
 * belongs to the longest entry that contains it. Keep docs/architecture.md in step with this list.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['util', 'errors'],
  ['crypto', 'storage'],
  ['oauth/checks', 'smart/scopes'],
  ['config'],
  ['audit', 'oauth/client-metadata'],
  ['identity'],
  ['ops'],
  ['http'],
  ['context'],
  ['oauth', 'smart'],
  ['interaction', 'gateway', 'audit-api', 'admin', 'breakglass', 'demo', 'fhir-demo'],
  ['agents', 'admin/console', 'admin/api'],
  ['server'],
  ['compliance'],
  ['cli'],
];

export interface ImportEdge {
  /** Importing module, relative to the source root, posix separators (`oauth/grants/issue.ts`). */
  from: string;
  /** Imported module, same form. */
  to: string;
  typeOnly: boolean;
  /** The specifier as written, and its line (1-based). */
  specifier: string;
  line: number;
}

export interface ImportGraph {
  modules: string[];
  edges: ImportEdge[];
  /** Relative specifiers that resolve to no file under the source root. */
  unresolved: { from: string; specifier: string; line: number }[];
}

/** Every .ts file under dir (recursively), as paths relative to dir with posix separators. */
export function listSources(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.set(relative(dir, full).split(sep).join('/'), readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

interface RawImport { specifier: string; typeOnly: boolean; line: number }

/** The module specifiers a file imports, each marked type-only or runtime. */
export function importsOf(fileName: string, text: string): RawImport[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: RawImport[] = [];
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  for (const stmt of sf.statements) {
    if (ts.isImportDeclaration(stmt) && ts.isStringLiteral(stmt.moduleSpecifier)) {
      const clause = stmt.importClause;
      let typeOnly = false;
      if (clause) {
        if (clause.isTypeOnly) typeOnly = true;
        else if (!clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings)) {
          const elements = clause.namedBindings.elements;
          typeOnly = elements.length > 0 && elements.every((e) => e.isTypeOnly);
        }
      }
      found.push({ specifier: stmt.moduleSpecifier.text, typeOnly, line: lineOf(stmt) });
    } else if (ts.isExportDeclaration(stmt) && stmt.moduleSpecifier && ts.isStringLiteral(stmt.moduleSpecifier)) {
      let typeOnly = stmt.isTypeOnly;
      if (!typeOnly && stmt.exportClause && ts.isNamedExports(stmt.exportClause)) {
        const elements = stmt.exportClause.elements;
        typeOnly = elements.length > 0 && elements.every((e) => e.isTypeOnly);
      }
      found.push({ specifier: stmt.moduleSpecifier.text, typeOnly, line: lineOf(stmt) });
    } else if (ts.isImportEqualsDeclaration(stmt) && ts.isExternalModuleReference(stmt.moduleReference) && ts.isStringLiteral(stmt.moduleReference.expression)) {
      found.push({ specifier: stmt.moduleReference.expression.text, typeOnly: stmt.isTypeOnly, line: lineOf(stmt) });
    }
  }
  // Dynamic imports (runtime) and import('…') type queries (type-only), anywhere in the file.
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) found.push({ specifier: arg.text, typeOnly: false, line: lineOf(node) });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true, line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Resolves a relative specifier of `from` to a module of the set (`./x.js` → `x.ts`, `./d` → `d/index.ts`). */
export function resolveSpecifier(from: string, specifier: string, modules: ReadonlySet<string>): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}/index.ts`, base.replace(/\.js$/, '/index.ts')];
  return candidates.find((c) => modules.has(c));
}

/** The graph of a set of sources (path relative to the source root → text). */
export function buildGraph(sources: ReadonlyMap<string, string>): ImportGraph {
  const modules = [...sources.keys()].sort();
  const set = new Set(modules);
  const edges: ImportEdge[] = [];
  const unresolved: ImportGraph['unresolved'] = [];
  for (const from of modules) {
    for (const imp of importsOf(from, sources.get(from)!)) {
      if (!imp.specifier.startsWith('.')) continue;
      const to = resolveSpecifier(from, imp.specifier, set);
      if (!to) unresolved.push({ from, specifier: imp.specifier, line: imp.line });
      else edges.push({ from, to, typeOnly: imp.typeOnly, specifier: imp.specifier, line: imp.line });
    }
  }
  return { modules, edges, unresolved };
}

/** The layer name of a module: its top-level folder, or the file's name without .ts at the root. */
export function folderOf(module: string): string {
  const slash = module.indexOf('/');
  return slash === -1 ? module.replace(/\.ts$/, '') : module.slice(0, slash);
}

export interface FolderArrow { from: string; to: string; runtime: number; typeOnly: number }

/** Folder-to-folder arrows with how many imports (runtime and type-only) each carries. */
export function folderArrows(graph: ImportGraph): FolderArrow[] {
  const arrows = new Map<string, FolderArrow>();
  for (const e of graph.edges) {
    const from = folderOf(e.from);
    const to = folderOf(e.to);
    if (from === to) continue;
    const key = `${from}\0${to}`;
    const arrow = arrows.get(key) ?? { from, to, runtime: 0, typeOnly: 0 };
    if (e.typeOnly) arrow.typeOnly++;
    else arrow.runtime++;
    arrows.set(key, arrow);
  }
  return [...arrows.values()].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}

export type LayerViolation =
  | { kind: 'upward'; edge: ImportEdge; fromUnit: string; toUnit: string; fromLayer: number; toLayer: number }
  | { kind: 'unplaced'; folder: string; module: string };

/**
 * The layer entry a module belongs to: the longest entry of `layers` that is the module's folder, a
 * folder above it, or the module itself without .ts; undefined when no entry contains it.
 */
export function unitOf(module: string, layers: readonly (readonly string[])[] = LAYERS): string | undefined {
  const stem = module.replace(/\.ts$/, '');
  let best: string | undefined;
  for (const entry of layers.flat()) {
    if ((stem === entry || stem.startsWith(`${entry}/`)) && (best === undefined || entry.length > best.length)) best = entry;
  }
  return best;
}

/** Index of a layer entry in the layer order, or -1 when it is in no layer. */
export function layerOf(unit: string, layers: readonly (readonly string[])[] = LAYERS): number {
  return layers.findIndex((l) => l.includes(unit));
}

/** Imports that point to a higher layer, and folders that are in no layer. */
export function layerViolations(graph: ImportGraph, layers: readonly (readonly string[])[] = LAYERS): LayerViolation[] {
  const out: LayerViolation[] = [];
  const reported = new Set<string>();
  for (const m of graph.modules) {
    const folder = folderOf(m);
    if (unitOf(m, layers) === undefined && !reported.has(folder)) {
      reported.add(folder);
      out.push({ kind: 'unplaced', folder, module: m });
    }
  }
  for (const edge of graph.edges) {
    const fromUnit = unitOf(edge.from, layers);
    const toUnit = unitOf(edge.to, layers);
    if (fromUnit === undefined || toUnit === undefined) continue;
    const fromLayer = layerOf(fromUnit, layers);
    const toLayer = layerOf(toUnit, layers);
    if (toLayer > fromLayer) out.push({ kind: 'upward', edge, fromUnit, toUnit, fromLayer, toLayer });
  }
  return out;
}

/**
 * Strongly connected components of more than one module (or a module importing itself), over the
 * given imports: `runtime` (default) ignores type-only imports, which are erased from the output.
 */
export function importCycles(graph: ImportGraph, which: 'runtime' | 'all' = 'runtime'): string[][] {
  const next = new Map<string, string[]>(graph.modules.map((m) => [m, []]));
  const selfLoops = new Set<string>();
  for (const e of graph.edges) {
    if (which === 'runtime' && e.typeOnly) continue;
    if (e.from === e.to) selfLoops.add(e.from);
    const list = next.get(e.from);
    if (list && !list.includes(e.to)) list.push(e.to);
  }
  // Tarjan's algorithm, iterative (deep chains would overflow the call stack).
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  for (const root of graph.modules) {
    if (indices.has(root)) continue;
    const work: { node: string; i: number }[] = [{ node: root, i: 0 }];
    indices.set(root, index); low.set(root, index); index++;
    stack.push(root); onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const succ = next.get(frame.node) ?? [];
      if (frame.i < succ.length) {
        const w = succ[frame.i++]!;
        if (!indices.has(w)) {
          indices.set(w, index); low.set(w, index); index++;
          stack.push(w); onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, indices.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === indices.get(frame.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.node);
        if (component.length > 1 || selfLoops.has(frame.node)) components.push(component.sort());
      }
    }
  }
  return components.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

export interface GraphReport {
  modules: number;
  imports: { runtime: number; typeOnly: number };
  arrows: FolderArrow[];
  upward: LayerViolation[];
  runtimeCycles: string[][];
  /** Cycles that exist only through type-only imports (harmless at run time; listed for reading). */
  typeCycles: string[][];
  unresolved: ImportGraph['unresolved'];
}

export function analyse(graph: ImportGraph, layers: readonly (readonly string[])[] = LAYERS): GraphReport {
  const runtimeCycles = importCycles(graph, 'runtime');
  const runtimeKeys = new Set(runtimeCycles.map((c) => c.join('\0')));
  return {
    modules: graph.modules.length,
    imports: { runtime: graph.edges.filter((e) => !e.typeOnly).length, typeOnly: graph.edges.filter((e) => e.typeOnly).length },
    arrows: folderArrows(graph),
    upward: layerViolations(graph, layers),
    runtimeCycles,
    typeCycles: importCycles(graph, 'all').filter((c) => !runtimeKeys.has(c.join('\0'))),
    unresolved: graph.unresolved,
  };
}

/** The graph of the repository's src/. */
export function sourceGraph(root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src')): ImportGraph {
  return buildGraph(listSources(root));
}

export function describeViolation(v: LayerViolation, layers: readonly (readonly string[])[] = LAYERS): string {
  if (v.kind === 'unplaced') return `${v.folder}/ (${v.module}) is in no layer: add it to LAYERS in scripts/import-graph.ts and to docs/architecture.md`;
  const e = v.edge;
  return `${e.from}:${e.line} imports ${e.to}${e.typeOnly ? ' (type only)' : ''}: ${v.fromUnit} (layer ${v.fromLayer}) → ${v.toUnit} (layer ${v.toLayer}: ${layers[v.toLayer]!.join(', ')})`;
}

function printReport(report: GraphReport): void {
  const out: string[] = [];
  const upward = report.upward.filter((v) => v.kind === 'upward');
  const upwardArrows = new Set(upward.map((v) => v.kind === 'upward' ? `${v.fromUnit} → ${v.toUnit}` : ''));
  out.push(`${report.modules} modules, ${report.imports.runtime} runtime and ${report.imports.typeOnly} type-only imports inside src/`);
  out.push('', `Folder arrows (${report.arrows.length}; runtime/type-only imports):`);
  for (const a of report.arrows) {
    const up = upward.some((v) => v.kind === 'upward' && folderOf(v.edge.from) === a.from && folderOf(v.edge.to) === a.to) ? '   UP' : '';
    out.push(`  ${a.from} → ${a.to}  ${a.runtime}/${a.typeOnly}${up}`);
  }
  const unplaced = report.upward.length - upward.length;
  out.push('', `Upward arrows: ${upwardArrows.size} between layer entries, ${upward.length} imports${unplaced ? `; ${unplaced} folders in no layer` : ''}`);
  for (const v of report.upward) out.push(`  ${describeViolation(v)}`);
  out.push('', `Runtime import cycles: ${report.runtimeCycles.length}`);
  for (const c of report.runtimeCycles) out.push(`  ${c.join(' ↔ ')}`);
  out.push('', `Cycles through type-only imports: ${report.typeCycles.length}`);
  for (const c of report.typeCycles) out.push(`  ${c.join(' ↔ ')}`);
  if (report.unresolved.length) {
    out.push('', `Unresolved relative imports: ${report.unresolved.length}`);
    for (const u of report.unresolved) out.push(`  ${u.from}:${u.line} ${u.specifier}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

const invokedDirectly = process.argv[1] !== undefined && existsSync(process.argv[1]) && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const report = analyse(sourceGraph());
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printReport(report);
  if (report.upward.length || report.runtimeCycles.length) process.exitCode = 1;
}
