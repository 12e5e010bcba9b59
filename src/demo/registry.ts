// Which application contexts have the /demo walkthrough: only those the development stack seeded
// (src/server/dev-stack.ts seedDemo). Production configurations never call it, so buildApp never
// registers the /demo routes there.
import type { AppContext } from '../server/context.js';

export const WALKTHROUGH_CALLBACK_PATH = '/demo/callback';

export interface WalkthroughClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
  /** The gateway's audience, `${issuer}/fhir`. */
  resource: string;
}

const enabled = new WeakMap<AppContext, WalkthroughClient>();

export function enableDemoWalkthrough(ctx: AppContext, client: WalkthroughClient): void {
  enabled.set(ctx, client);
}

export function demoWalkthroughOf(ctx: AppContext): WalkthroughClient | undefined {
  return enabled.get(ctx);
}
