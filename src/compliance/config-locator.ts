// Maps a finding's location (`tokens.access_token_ttl`, `clients[2].redirect_uris[0]`,
// `client:<id>`) to a line of the YAML configuration file, for SARIF physical locations. Falls
// back to the nearest enclosing key that is present in the file; undefined when none is.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';

type Path = Array<string | number>;

function parsePath(location: string): Path | undefined {
  if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*|\[\d+\])*$/i.test(location)) return undefined;
  const out: Path = [];
  for (const m of location.matchAll(/([a-z_][a-z0-9_]*)|\[(\d+)\]/gi)) out.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return out;
}

export function configLocator(text: string): (location: string) => { startLine: number; startColumn: number } | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const nodeAt = (path: Path): Node | undefined => {
    const n = doc.getIn(path, true) as Node | undefined;
    return n && typeof n === 'object' && 'range' in n ? n : undefined;
  };
  const clientIndex = (id: string): number | undefined => {
    const clients = doc.get('clients', true);
    if (!isSeq(clients)) return undefined;
    const i = clients.items.findIndex((item) => isMap(item) && item.get('client_id') === id);
    return i < 0 ? undefined : i;
  };
  return (location) => {
    let path: Path | undefined;
    const client = /^client:(.*)$/.exec(location);
    if (client) {
      const i = clientIndex(client[1]!);
      path = i === undefined ? undefined : ['clients', i];
    } else {
      path = parsePath(location);
    }
    for (let p = path; p && p.length; p = p.slice(0, -1)) {
      const node = nodeAt(p);
      if (node?.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { startLine: pos.line, startColumn: pos.col };
      }
    }
    return undefined;
  };
}

export function configLocatorForFile(path: string): ((location: string) => { startLine: number; startColumn: number } | undefined) | undefined {
  try {
    return configLocator(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}
