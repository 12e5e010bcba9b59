// What every grant handler receives and returns (RFC 6749 §5.1 token response).
import type { AppContext } from '../../server/context.js';
import type { ClientRecord } from '../../storage/types.js';
import type { Params } from '../checks/duplicate-params.js';

export interface GrantRequest {
  ctx: AppContext;
  client: ClientRecord;
  params: Params;
  requestId: string;
  sourceAddress: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  /** SMART launch context: the patient's FHIR id. */
  patient?: string;
}
