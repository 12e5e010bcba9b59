// The `caduceus` command: dispatches to one subcommand; turns known errors into a clear message
// and an exit code (0 success, 1 failure, 2 usage error). No stack traces for expected errors.
import { ConfigError } from '../config/schema.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliCommand, type CliIo } from './command.js';
import { devCommand } from './dev.js';
import { serveCommand } from './serve.js';
import { clientCommand } from './client.js';
import { userCommand } from './user.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { purgeCommand } from './purge.js';
import { auditCommand } from './audit.js';
import { checkCommand } from './check.js';
import { probeCommand } from './probe.js';
import { reportCommand } from './report.js';
import { breakglassCommand } from './breakglass.js';
import { agentCommand } from './agent.js';

export const COMMANDS: CliCommand[] = [devCommand, serveCommand, clientCommand, userCommand, keysCommand, migrateCommand, purgeCommand, auditCommand, checkCommand, probeCommand, reportCommand, breakglassCommand, agentCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: caduceus <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run "caduceus <command> --help" for a command's options.
`;
}

export const defaultIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
};

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name ? EXIT_OK : EXIT_USAGE;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(`caduceus: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`caduceus ${name}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      io.stderr(`caduceus ${name}: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_')) {
      io.stderr(`caduceus ${name}: ${(err as Error).message} (${code})\n`);
      return EXIT_FAILURE;
    }
    io.stderr(`caduceus ${name}: unexpected failure: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
}
