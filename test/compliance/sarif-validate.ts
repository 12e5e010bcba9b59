// The parts of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json, OASIS sarif-v2.1.0-os) that
// code-scanning uploads depend on, checked field by field: returns the problems found.
export function sarifProblems(doc: unknown): string[] {
  const p: string[] = [];
  const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const message = (m: unknown, where: string) => {
    if (!isObj(m) || (typeof m.text !== 'string' && typeof m.id !== 'string')) p.push(`${where}: message needs text or id`);
  };
  if (!isObj(doc)) return ['the log is not an object'];
  if (doc.version !== '2.1.0') p.push('version must be "2.1.0"');
  if (typeof doc.$schema !== 'string' || !/sarif.*2\.1\.0/.test(doc.$schema)) p.push('$schema must name the 2.1.0 schema');
  if (!Array.isArray(doc.runs)) return [...p, 'runs must be an array'];
  doc.runs.forEach((run: unknown, r: number) => {
    if (!isObj(run)) {
      p.push(`runs[${r}] is not an object`);
      return;
    }
    const driver = run.tool?.driver;
    if (!isObj(driver) || typeof driver.name !== 'string' || !driver.name) p.push(`runs[${r}].tool.driver.name is required`);
    const rules: any[] = driver?.rules ?? [];
    if (!Array.isArray(rules)) p.push(`runs[${r}].tool.driver.rules must be an array`);
    const ids = new Set<string>();
    rules.forEach((rule, i) => {
      const w = `runs[${r}].tool.driver.rules[${i}]`;
      if (typeof rule?.id !== 'string' || !rule.id) p.push(`${w}.id is required`);
      if (ids.has(rule.id)) p.push(`${w}.id ${rule.id} is duplicated`);
      ids.add(rule.id);
      if (rule.shortDescription !== undefined) message(rule.shortDescription, `${w}.shortDescription`);
      if (rule.fullDescription !== undefined) message(rule.fullDescription, `${w}.fullDescription`);
      if (rule.helpUri !== undefined && !URL.canParse(rule.helpUri)) p.push(`${w}.helpUri must be an absolute URI`);
      const level = rule.defaultConfiguration?.level;
      if (level !== undefined && !['none', 'note', 'warning', 'error'].includes(level)) p.push(`${w}.defaultConfiguration.level is invalid`);
      const tags = rule.properties?.tags;
      if (tags !== undefined && (!Array.isArray(tags) || tags.some((t: unknown) => typeof t !== 'string') || new Set(tags).size !== tags.length)) {
        p.push(`${w}.properties.tags must be unique strings`);
      }
    });
    if (run.results !== undefined && !Array.isArray(run.results)) p.push(`runs[${r}].results must be an array`);
    (run.results ?? []).forEach((res: any, i: number) => {
      const w = `runs[${r}].results[${i}]`;
      message(res?.message, w);
      if (res.level !== undefined && !['none', 'note', 'warning', 'error'].includes(res.level)) p.push(`${w}.level is invalid`);
      if (res.kind !== undefined && !['notApplicable', 'pass', 'fail', 'review', 'open', 'informational'].includes(res.kind)) p.push(`${w}.kind is invalid`);
      if (res.ruleIndex !== undefined) {
        if (!Number.isInteger(res.ruleIndex) || res.ruleIndex < -1 || res.ruleIndex >= rules.length) p.push(`${w}.ruleIndex out of range`);
        else if (res.ruleIndex >= 0 && rules[res.ruleIndex].id !== res.ruleId) p.push(`${w}.ruleIndex points at another rule`);
      }
      if (res.ruleId !== undefined && !ids.has(res.ruleId)) p.push(`${w}.ruleId ${res.ruleId} is not in the rules`);
      for (const [j, loc] of (res.locations ?? []).entries()) {
        const pl = loc.physicalLocation;
        if (pl !== undefined) {
          if (typeof pl.artifactLocation?.uri !== 'string') p.push(`${w}.locations[${j}].physicalLocation.artifactLocation.uri is required`);
          if (pl.region !== undefined && (!Number.isInteger(pl.region.startLine) || pl.region.startLine < 1)) p.push(`${w}.locations[${j}].region.startLine must be >= 1`);
        }
        for (const ll of loc.logicalLocations ?? []) {
          if (typeof ll.fullyQualifiedName !== 'string' && typeof ll.name !== 'string') p.push(`${w}.locations[${j}].logicalLocations needs a name`);
        }
      }
      if (res.partialFingerprints !== undefined && !Object.values(res.partialFingerprints).every((v) => typeof v === 'string')) p.push(`${w}.partialFingerprints values must be strings`);
    });
  });
  return p;
}
