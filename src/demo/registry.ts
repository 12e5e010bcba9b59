// The /demo walkthrough's client. Only the development stack seeds one (src/server/dev-stack.ts
// seedDemo) and hands it to the HTTP application (startServer / buildApp option `demo`);
// production configurations never have one, so buildApp never registers the /demo routes there.

export const WALKTHROUGH_CALLBACK_PATH = '/demo/callback';

export interface WalkthroughClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
  /** The gateway's audience, `${issuer}/fhir`. */
  resource: string;
}
