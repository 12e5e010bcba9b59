// What the console needs from layers above it, passed in by the composition root (src/server/) and
// built where those layers live (src/compliance/console.ts): layers only point down.

/** One finding of the static compliance check, as `caduceus check` prints it. */
export interface ConsoleFinding {
  ruleId: string;
  severity: 'error' | 'warning' | 'note';
  message: string;
  location: string;
  fix: string;
}

export interface ComplianceProvider {
  /** The static check of the running configuration and stored state (no ledger verification: that is a job). */
  findings(): Promise<ConsoleFinding[]>;
  /** The evidence report of `caduceus report`: printable HTML, or JSON. */
  evidenceReport(format: 'html' | 'json'): Promise<string>;
}

export interface AdminConsoleOptions {
  /** Absent (e.g. in a test app without the compliance layer): the overview says so. */
  compliance?: ComplianceProvider;
}
