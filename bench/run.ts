// `npm run bench`: every benchmark, one after another, on loopback. Each prints its own table
// with ratios to a ceiling measured in the same run and saves JSON under bench/results/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const BENCHES: Array<[string, string[]]> = [
  ['bench/jwt-sign.ts', []],
  ['bench/ledger.ts', ['3']],
  ['bench/token-endpoint.ts', ['4000', '16']],
  ['bench/gateway.ts', []],
];

const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
let failed = 0;
for (const [file, args] of BENCHES) {
  if (!existsSync(file)) continue;
  console.log(`\n=== ${file} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
process.exit(failed ? 1 : 0);
