// Minimum necessary (45 CFR 164.502(b), 164.514(d)): configured FHIR elements removed from
// responses unless the token carries the named scope. Applies to the response resource, to every
// resource in a Bundle (nested Bundles of batch responses too) and to contained resources.
//
// Deliberately not done: meta.security tagging (SUBSETTED) and narrative (text.div) scrubbing;
// mask `text` as well when the narrative may repeat a masked element.
import type { MaskRule } from '../config/gateway.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Calls fn on the resource and on every resource nested in Bundle entries and `contained`. */
export function forEachResource(root: unknown, fn: (resource: Json) => void, depth = 0): void {
  if (!isObject(root) || depth > 8) return;
  fn(root);
  if (root.resourceType === 'Bundle' && Array.isArray(root.entry)) {
    for (const entry of root.entry) if (isObject(entry)) forEachResource(entry.resource, fn, depth + 1);
  }
  if (Array.isArray(root.contained)) for (const c of root.contained) forEachResource(c, fn, depth + 1);
}

function removePath(node: unknown, segments: readonly string[]): number {
  if (Array.isArray(node)) return node.reduce<number>((n, item) => n + removePath(item, segments), 0);
  if (!isObject(node) || segments.length === 0) return 0;
  const [head, ...rest] = segments as [string, ...string[]];
  if (!(head in node)) return 0;
  if (rest.length === 0) {
    delete node[head];
    // FHIR primitive extensions live in "_element".
    delete node[`_${head}`];
    return 1;
  }
  return removePath(node[head], rest);
}

/** Removes masked elements in place; returns how many were removed. */
export function applyMasks(body: unknown, masks: readonly MaskRule[], grantedScopes: readonly string[]): number {
  const active = masks.filter((m) => m.unless_scope === undefined || !grantedScopes.includes(m.unless_scope));
  if (active.length === 0) return 0;
  const rules = active.map((m) => {
    const [type, ...path] = m.path.split('.');
    return { type: type!, path };
  });
  let removed = 0;
  forEachResource(body, (resource) => {
    for (const r of rules) if (resource.resourceType === r.type) removed += removePath(resource, r.path);
  });
  return removed;
}
