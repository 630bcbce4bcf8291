// attach-iot-policy-client for Amplify JS v6: the session's identity and
// credentials come from `fetchAuthSession()`, the attribute from
// `fetchUserAttributes()` (Cognito's GetUser, not the cached ID token, which
// keeps the old value after the function changed it).
import { fetchAuthSession, fetchUserAttributes } from 'aws-amplify/auth';

import * as core from './index.js';

export { AttachIotPolicyError } from './index.js';
export type { Mode, Outcome } from './index.js';

export interface AmplifyOptions {
  /** The API's invoke URL for the resource. */
  url: string;
  /** What the attribute holds once attached (`'true'`, the default, or `'identity-id'`). */
  mode?: core.Mode;
  /** Call whatever the attribute says. */
  force?: boolean;
  /** The attribute's name (`custom:iotPolicyIsAttached`). */
  attributeName?: string;
  /** The API's region, when its URL is not an `execute-api` one. */
  region?: string;
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal;
  budgetMs?: number;
}

const DEFAULT_ATTRIBUTE = 'custom:iotPolicyIsAttached';

/** The signed-in (or guest) identity and its credentials; Amplify refreshes them when they expire. */
async function session(): Promise<{ identityId: string; credentials: core.Credentials; signedIn: boolean }> {
  const { identityId, credentials, tokens } = await fetchAuthSession();
  if (!identityId || !credentials) {
    throw new core.AttachIotPolicyError(0, 'no-identity', false, 'Amplify has no Cognito identity: configure an identity pool and sign in');
  }
  // A guest identity has no user pool tokens, so no user and no attribute.
  return { identityId, credentials, signedIn: tokens !== undefined };
}

/** `ensureIotPolicy` with what Amplify knows: the identity, its credentials, and the user's attribute read fresh. */
export async function ensureIotPolicy(options: AmplifyOptions): Promise<core.Outcome> {
  const { identityId, signedIn } = await session();
  const name = options.attributeName ?? DEFAULT_ATTRIBUTE;
  return core.ensureIotPolicy({
    url: options.url,
    region: options.region,
    identityId,
    credentials: async () => (await session()).credentials,
    attribute: signedIn ? async () => (await fetchUserAttributes())[name] : undefined,
    mode: options.mode,
    force: options.force,
    fetch: options.fetch,
    signal: options.signal,
    budgetMs: options.budgetMs,
  });
}

/** `releaseIotPolicy` for the current identity. */
export async function releaseIotPolicy(
  options: Pick<AmplifyOptions, 'url' | 'region' | 'fetch' | 'signal' | 'budgetMs'>,
): Promise<{ detached: string[]; notAttached: string[] }> {
  return core.releaseIotPolicy({ ...options, credentials: async () => (await session()).credentials });
}
