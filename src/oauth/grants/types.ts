// What every grant handler receives and returns (RFC 6749 §5.1 token response).
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';
import type { Params } from '../checks/duplicate-params.js';

export interface GrantRequest {
  ctx: AppContext;
  client: ClientRecord;
  params: Params;
  requestId: string;
  sourceAddress: string;
  /** The key of a verified DPoP proof sent with the request (RFC 9449 §5); tokens get bound to it. */
  dpop?: { jkt: string };
}

export interface TokenResponse {
  access_token: string;
  /** RFC 9449 §5: DPoP for tokens bound to a DPoP key. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  /** SMART launch context: the patient's FHIR id. */
  patient?: string;
  /** SMART launch context (src/smart/launch-context.ts launchResponseFields). */
  encounter?: string;
  fhirContext?: unknown[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
  /** Break-glass: HL7 v3 PurposeOfUse ETREAT. */
  purpose_of_use?: string;
}
