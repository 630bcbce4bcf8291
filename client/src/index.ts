// The app's half of attach-iot-policy, framework-free: call the function
// when the user's attribute says the policies are not attached, signed with
// the Cognito identity's own credentials, and give the MQTT client IDs the
// stack's default policy accepts. `attach-iot-policy-client/amplify` wraps
// it for Amplify JS v6.
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** What the attribute holds once the policies are attached: the function's `COGNITO_ATTRIBUTE_VALUE`. */
export type Mode = 'true' | 'identity-id';

/** The Cognito identity's temporary credentials, as Amplify and the AWS SDK give them. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Credentials, or a function that gives fresh ones (they expire within the hour). */
export type CredentialsSource = Credentials | (() => Promise<Credentials>);

/** The attribute's value as the app read it, or a function that reads it fresh (not from a cached ID token). */
export type AttributeSource = string | null | undefined | (() => Promise<string | null | undefined>);

export interface CallOptions {
  /** The API's invoke URL for the resource, such as `https://abc.execute-api.us-east-1.amazonaws.com/prod/attachIoTPolicy`. */
  url: string;
  /** The API's region; by default the one in an `execute-api` URL. */
  region?: string;
  credentials: CredentialsSource;
  /** `fetch`, by default the global one. */
  fetch?: typeof globalThis.fetch;
  /** Stops the call and any wait between tries. */
  signal?: AbortSignal;
  /** The most time spent on tries and the waits between them, in milliseconds (20 000). */
  budgetMs?: number;
}

export interface EnsureOptions extends CallOptions {
  /** The Cognito identity ID the credentials belong to. */
  identityId: string;
  /** The user's attribute (`custom:iotPolicyIsAttached`); unset for a caller with no user pool user. */
  attribute?: AttributeSource;
  /** What the attribute holds once attached (`'true'`, the default, or `'identity-id'`). */
  mode?: Mode;
  /** Call whatever the attribute says: after MQTT refused a connection the attribute claims should work. */
  force?: boolean;
}

export interface Outcome {
  /** The identity the policies are attached to. */
  identityId: string;
  /** Whether the API was called. */
  called: boolean;
  /** An MQTT client ID the default policy accepts: the identity ID, or `<identity ID>-<suffix>` for a second connection. */
  clientId(suffix?: string): string;
}

/** Every failure: `status` is the HTTP status (0 when there was none), `code` the API's `error` field. */
export class AttachIotPolicyError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryable: boolean;

  constructor(status: number, code: string, retryable: boolean, message: string) {
    super(message);
    this.name = 'AttachIotPolicyError';
    this.status = status;
    this.code = code;
    this.retryable = retryable;
  }
}

const RETRIED = new Set([429, 502, 503]);
const DEFAULT_BUDGET_MS = 20_000;
// Suffixes stay short: MQTT client IDs are at most 128 bytes, and the identity ID takes up to 55.
const SUFFIX = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Makes sure the identity has its IoT policies: calls `GET` on the API when
 * the attribute is not what `mode` expects (or when `force`), then reads the
 * attribute again, when it can, to check that it now is.
 */
export async function ensureIotPolicy(options: EnsureOptions): Promise<Outcome> {
  const expected = options.mode === 'identity-id' ? options.identityId : 'true';
  const attribute = options.attribute;
  const current = typeof attribute === 'function' ? await attribute() : attribute;
  if (!options.force && current === expected) return outcome(options.identityId, false);
  const body = (await call('GET', options)) as { identityId?: string; attributeUpdated?: boolean };
  const identityId = typeof body.identityId === 'string' ? body.identityId : options.identityId;
  if (identityId !== options.identityId) {
    throw new AttachIotPolicyError(200, 'identity-changed', false, `the function attached the policies to ${identityId}, not to ${options.identityId}: sign in again`);
  }
  // A caller with a user pool user has its attribute set; read it fresh.
  if (body.attributeUpdated === true && typeof attribute === 'function') {
    const fresh = await attribute();
    if (fresh !== expected) {
      throw new AttachIotPolicyError(200, 'attribute-not-updated', true, `the attribute reads ${JSON.stringify(fresh ?? null)} after the call, not ${JSON.stringify(expected)}`);
    }
  }
  return outcome(identityId, true);
}

/** Detaches the identity's IoT policies (`DELETE`), and the attribute is removed first. */
export async function releaseIotPolicy(options: CallOptions): Promise<{ detached: string[]; notAttached: string[] }> {
  const body = (await call('DELETE', options)) as { detached?: string[]; notAttached?: string[] };
  return { detached: body.detached ?? [], notAttached: body.notAttached ?? [] };
}

function outcome(identityId: string, called: boolean): Outcome {
  return {
    identityId,
    called,
    clientId(suffix?: string) {
      if (suffix === undefined) return identityId;
      if (!SUFFIX.test(suffix)) throw new TypeError('a client ID suffix is 1-64 of A-Z, a-z, 0-9, _ and -');
      return `${identityId}-${suffix}`;
    },
  };
}

/** One signed call, tried again on 429, 502 and 503 within the budget; the parsed body of its 2xx. */
async function call(method: 'GET' | 'DELETE', options: CallOptions): Promise<unknown> {
  const fetch = options.fetch ?? globalThis.fetch;
  const deadline = Date.now() + (options.budgetMs ?? DEFAULT_BUDGET_MS);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    const credentials = typeof options.credentials === 'function' ? await options.credentials() : options.credentials;
    const headers = await sign(method, options.url, options.region ?? regionOf(options.url), credentials);
    let response: Response;
    try {
      response = await fetch(options.url, { method, headers, signal: options.signal });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      // No answer at all (offline, DNS, a reset): tried again like a 503.
      const error = new AttachIotPolicyError(0, 'network', true, `the API could not be reached: ${(e as Error).message}`);
      const wait = waitBefore(attempt, null);
      if (Date.now() + wait > deadline) throw error;
      await sleep(wait, options.signal);
      continue;
    }
    const text = await response.text();
    const body = parse(text);
    if (response.ok) return body ?? {};
    const fields = (body ?? {}) as { error?: unknown; message?: unknown };
    const code = typeof fields.error === 'string' ? fields.error : `http-${response.status}`;
    const message = typeof fields.message === 'string' ? fields.message : `the API answered ${response.status}`;
    const retryable = RETRIED.has(response.status);
    const error = new AttachIotPolicyError(response.status, code, retryable, message);
    const wait = retryable ? waitBefore(attempt, response.headers.get('retry-after')) : undefined;
    if (wait === undefined || Date.now() + wait > deadline) throw error;
    await sleep(wait, options.signal);
  }
}

/** `Retry-After` in seconds, else 0.5 s doubling; with up to 25% more, so that clients spread out. */
function waitBefore(attempt: number, retryAfter: string | null): number {
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
  const base = seconds !== undefined ? seconds * 1000 : 500 * 2 ** (attempt - 1);
  return base * (1 + Math.random() * 0.25);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `https://<id>.execute-api.<region>.amazonaws.com/…` names its region; another host must be told. */
function regionOf(url: string): string {
  const match = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname);
  if (!match?.[1]) throw new TypeError(`the region cannot be read from ${new URL(url).host}: pass region`);
  return match[1];
}

/**
 * SigV4 for `execute-api`, over exactly what `fetch` sends: the host with
 * its port, the path with the stage in it, and the query string.
 */
async function sign(method: string, url: string, region: string, credentials: Credentials): Promise<Record<string, string>> {
  const target = new URL(url);
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of target.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const signer = new SignatureV4({ credentials, region, service: 'execute-api', sha256: Sha256 });
  const signed = await signer.sign({
    method,
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port ? Number(target.port) : undefined,
    path: target.pathname,
    query,
    headers: { host: target.host },
  });
  // Browsers set Host themselves, and refuse to be told.
  const { host: _, ...headers } = signed.headers as Record<string, string>;
  return headers;
}
