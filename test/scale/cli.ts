// Runs the `caduceus` command from the TypeScript sources (node --import tsx test/scale/cli.ts …),
// so the scale tests exercise the code under test rather than whatever dist/ holds.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
