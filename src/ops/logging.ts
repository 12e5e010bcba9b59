// Structured JSON logs: one line per event, written to a sink (stderr by default; tests inject one).
//
// What a line may hold is decided here, by construction: the request line is built from the
// server-generated request id, the method, the ROUTE PATTERN (never the raw URL, so no query
// string, code, state or path identifier), the status and the duration. Headers, query strings,
// bodies, tokens, secrets, usernames, client addresses and any PHI are never passed to the logger
// (45 CFR 164.312(b) is served by the audit ledger, not by these logs). Field values are limited
// to short strings, numbers and booleans; a string longer than MAX_FIELD_LENGTH is cut.
//
// Deliberately not here: log levels configured at run time, sampling, shipping to a collector
// (run the process under a supervisor that forwards stderr).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogValue = string | number | boolean | null;
export type LogFields = Readonly<Record<string, LogValue | undefined>>;

/** Receives one complete JSON line (with its trailing newline). */
export type LogSink = (line: string) => void;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
}

/** Longest string value written; longer values are cut (a guard, not a redaction mechanism). */
export const MAX_FIELD_LENGTH = 200;

export const stderrSink: LogSink = (line) => {
  process.stderr.write(line);
};

export function createLogger(sink: LogSink = stderrSink, clock: () => number = Date.now): Logger {
  return {
    log(level, msg, fields = {}) {
      const record: Record<string, LogValue> = { time: new Date(clock()).toISOString(), level, msg };
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined || key in record) continue;
        record[key] = typeof value === 'string' && value.length > MAX_FIELD_LENGTH ? `${value.slice(0, MAX_FIELD_LENGTH)}…` : value;
      }
      try {
        sink(`${JSON.stringify(record)}\n`);
      } catch {
        // A failing log sink must not fail the request it describes.
      }
    },
  };
}

export interface RequestLogEntry {
  requestId: string;
  method: string;
  /** The route pattern (e.g. /interaction/:id), or null when no route matched. */
  route: string | null;
  status: number;
  durationMs: number;
}

/** The one line per request. Level: error for 5xx, info otherwise. */
export function logRequest(logger: Logger, entry: RequestLogEntry): void {
  logger.log(entry.status >= 500 ? 'error' : 'info', 'request', {
    requestId: entry.requestId,
    method: entry.method,
    route: entry.route,
    status: entry.status,
    durationMs: Math.round(entry.durationMs * 100) / 100,
  });
}
