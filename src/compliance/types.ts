// The vocabulary of the compliance checks (docs/compliance.md): a rule inspects a snapshot of the
// deployment (CheckInput) and returns findings; a report is the findings of one run with the
// catalogue of the rules that ran. Rules are pure functions of their input: everything they need
// from the file system, the database or the running code is collected first
// (src/compliance/input.ts), so each rule is tested with a plain object and no I/O.
import type { CaduceusConfig } from '../config/schema.js';
import type { LedgerVerdict } from '../audit/index.js';
import type { ClientRecord, SigningKeyRecord, UserRecord } from '../storage/types.js';

export type Severity = 'error' | 'warning' | 'note';

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { note: 0, warning: 1, error: 2 };

export interface Finding {
  ruleId: string;
  severity: Severity;
  /** What was found, in one or two sentences. Never a secret or PHI. */
  message: string;
  /** Where: a config path (`tokens.access_token_ttl`, `clients[2].redirect_uris[0]`), `client:<id>`, `signing-key:<kid>`, or a URL for the probe. */
  location: string;
  /** What to do about it. */
  fix: string;
}

/** What the catalogue, the docs and SARIF need to know about a rule. */
export interface RuleDescriptor {
  /** Stable id, e.g. CAD-TOK-001. Never reused for another meaning. */
  id: string;
  title: string;
  /** The most severe level the rule reports. Individual findings may be lower. */
  severity: Severity;
  /** 45 CFR 164.312 paragraph, RFC 9700 section, SMART App Launch section, … */
  citations: string[];
  /** One paragraph: what the rule checks and why. */
  description: string;
}

export interface Rule extends RuleDescriptor {
  check(input: CheckInput): Finding[];
}

/** The state of the audit ledger as the check saw it. */
export interface LedgerFacts {
  /** Full verification (verifyLedger) result; undefined when it was not run (see `skipped`). */
  verified?: LedgerVerdict;
  /** Why verification did not run. */
  skipped?: string;
  /** The ledger could not be read at all (database or master key unavailable). */
  unavailable?: boolean;
  size: number;
  /** Creation time (epoch ms) of the latest signed checkpoint. */
  latestCheckpointTime?: number;
  latestCheckpointSize?: number;
}

export interface CertificateFacts {
  path: string;
  /** Set when the file could not be read or parsed. */
  error?: string;
  validFrom?: number;
  validTo?: number;
  keyType?: string;
  /** RSA modulus bits or EC curve bits. */
  keyBits?: number;
  subject?: string;
}

/** Facts read from files and the environment (never the secret values themselves). */
export interface FileFacts {
  /** Where the master key comes from. */
  masterKeySource?: 'env' | 'file' | 'none';
  masterKeyFile?: string;
  /** st_mode of the key file; undefined when it does not exist. */
  masterKeyMode?: number;
  masterKeyExists?: boolean;
  /** Why the master key could not be loaded, when it could not. */
  masterKeyError?: string;
  tlsCertificate?: CertificateFacts;
  /** Byte length of each environment variable named by a client's client_secret_env (undefined: not set). */
  clientSecretBytes?: Record<string, number | undefined>;
  witnessFileExists?: boolean;
}

/** Facts about the code this configuration runs, read from its modules without a running server. */
export interface ServerFacts {
  /** code_challenge_methods_supported as the metadata endpoint publishes it. */
  codeChallengeMethods: string[];
  /** An authorization request without code_challenge is refused. */
  pkceRequired: boolean;
  /** code_challenge_method=plain is refused. */
  plainRefused: boolean;
  grantTypesSupported: string[];
  responseTypesSupported: string[];
  /** Refresh tokens are rotated on use and a replayed one revokes the family. */
  refreshRotation: boolean;
  /** A second factor can be required at login. */
  mfaSupported: boolean;
  /** Roles that must use a second factor (mfa.required_roles), when MFA is supported. */
  mfaRequiredRoles?: string[];
  /** Administrative routes (audit search, admin API) the HTTP app registers. */
  adminRoutes: string[];
  tls: { minVersion: string; ciphers: string[] };
  /** The ID token / access token signing algorithms the server uses. */
  tokenSigningAlgs: string[];
}

export interface CheckInput {
  config: CaduceusConfig;
  /** Clients in storage (configuration clients included once synced). */
  clients: ClientRecord[];
  users: UserRecord[];
  signingKeys: SigningKeyRecord[];
  ledger: LedgerFacts;
  files: FileFacts;
  server: ServerFacts;
  /** Epoch milliseconds. */
  now: number;
}

export interface ReportSummary {
  error: number;
  warning: number;
  note: number;
}

export interface Report {
  tool: 'caduceus';
  version: string;
  kind: 'check' | 'probe';
  /** The configuration file, data folder or probed issuer. */
  target: string;
  generatedAt: string;
  rules: RuleDescriptor[];
  findings: Finding[];
  summary: ReportSummary;
}
