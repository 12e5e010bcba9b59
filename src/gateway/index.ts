// The PHI gateway's public entry points (docs/SECURITY.md, "PHI gateway" sections).
export { registerGateway, type Gateway, type GatewayDeps, type FhirGatewayRoute, type FhirGatewayCall, type FhirGatewayResult, type FhirResponse } from './register.js';
export {
  gatewayConfigSchema, parseGatewayConfig, gatewayConfigProblems, gatewayConfigIssues, type GatewayConfigIssue, GatewayConfigError, DEFAULT_FORWARD_HEADERS, NEVER_FORWARDED_HEADERS,
  type GatewayConfig, type GatewayConfigInput, type GatewayRoute, type GatewayRule, type MaskRule,
} from '../config/gateway.js';
export { gatewayIdentityKey, verifyIdentityHeaders, identityHeaderNames, type CallerIdentity } from './identity.js';
export type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';
export { PATIENT_COMPARTMENT } from './compartment.js';
