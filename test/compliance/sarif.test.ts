import { describe, expect, it } from 'vitest';
import { runStaticCheck } from '../../src/compliance/check.js';
import { configLocator } from '../../src/compliance/config-locator.js';
import { STATIC_RULES } from '../../src/compliance/rules/index.js';
import { toSarif } from '../../src/compliance/sarif.js';
import { compliantInput } from './fixtures.js';
import { sarifProblems } from './sarif-validate.js';

function failingReport() {
  const input = compliantInput();
  input.config.unsafe.allow_plain_http = true;
  input.config.session.idle_timeout = 1800;
  input.config.resources[0]!.scopes.push('patient/*.rs');
  return runStaticCheck(input, { target: 'caduceus.yaml' });
}

describe('SARIF 2.1.0 output', () => {
  it('has the schema, version, driver name and one rule per catalogue entry with citations as tags', () => {
    const sarif = toSarif(failingReport()) as any;
    expect(sarifProblems(sarif)).toEqual([]);
    expect(sarif.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(sarif.version).toBe('2.1.0');
    const driver = sarif.runs[0].tool.driver;
    expect(driver.name).toBe('caduceus');
    expect(driver.rules.map((r: any) => r.id)).toEqual(STATIC_RULES.map((r) => r.id));
    for (const [i, rule] of driver.rules.entries()) {
      expect(rule.shortDescription.text).toBe(STATIC_RULES[i]!.title);
      expect(rule.properties.tags).toEqual(STATIC_RULES[i]!.citations);
      expect(rule.helpUri).toMatch(new RegExp(`docs/compliance\\.md#${STATIC_RULES[i]!.id.toLowerCase()}$`));
    }
  });

  it('maps findings to results with their level and a logical location', () => {
    const sarif = toSarif(failingReport(), { docsUrl: 'https://example.org/docs/compliance.md' }) as any;
    const results = sarif.runs[0].results as any[];
    const unsafe = results.find((r) => r.ruleId === 'CAD-UNS-001');
    expect(unsafe.level).toBe('error');
    expect(unsafe.locations[0].logicalLocations[0].fullyQualifiedName).toBe('unsafe.allow_plain_http');
    expect(results.find((r) => r.ruleId === 'CAD-SCP-001').level).toBe('warning');
    expect(sarif.runs[0].tool.driver.rules[0].helpUri).toBe('https://example.org/docs/compliance.md#cad-tok-001');
    expect(sarifProblems(sarif)).toEqual([]);
  });

  it('points results at the line of the configuration file when one is given', () => {
    const yaml = 'issuer: https://auth.example.org\nsession:\n  idle_timeout: 1800\nunsafe:\n  allow_plain_http: true\n';
    const sarif = toSarif(failingReport(), { artifact: { uri: 'deploy/caduceus.yaml', locate: configLocator(yaml) } }) as any;
    const results = sarif.runs[0].results as any[];
    const session = results.find((r) => r.ruleId === 'CAD-SES-001');
    expect(session.locations[0].physicalLocation).toEqual({ artifactLocation: { uri: 'deploy/caduceus.yaml' }, region: { startLine: 3, startColumn: 17 } });
    const unsafe = results.find((r) => r.ruleId === 'CAD-UNS-001');
    expect(unsafe.locations[0].physicalLocation.region.startLine).toBe(5);
    expect(sarif.runs[0].artifacts).toEqual([{ location: { uri: 'deploy/caduceus.yaml' } }]);
    expect(sarifProblems(sarif)).toEqual([]);
  });

  it('the validator itself catches a broken log', () => {
    expect(sarifProblems({ version: '2.0.0', runs: [{ tool: { driver: {} }, results: [{ level: 'fatal' }] }] })).toEqual(expect.arrayContaining([
      'version must be "2.1.0"', 'runs[0].tool.driver.name is required', 'runs[0].results[0]: message needs text or id', 'runs[0].results[0].level is invalid',
    ]));
  });
});
