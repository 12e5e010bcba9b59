// The shape of a `caduceus` subcommand. Exit codes: 0 success, 1 failure or findings, 2 usage error.

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads all of standard input (passwords are read from here, never from argv). */
  readStdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
}

export interface CliCommand {
  name: string;
  summary: string;
  /** Full --help text. */
  help: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A usage error: the message names the flag and the fix; main() prints it and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
