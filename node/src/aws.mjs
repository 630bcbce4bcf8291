// The WIT's `aws` imports on the AWS SDK for JavaScript v3, with the Rust
// host's semantics: the same mapping from AWS errors to the WIT's cases
// (host/src/aws/errors.rs), retries in the SDKs' standard mode that never
// retry LimitExceededException, every call bounded by the invocation's
// remaining time, and one log line per call.
//
// The SDK comes from the Lambda runtime (it ships v3), so the package leaves
// it out; `createRequire` resolves it through NODE_PATH as the runtime sets it.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

import { OPERATIONS } from './operations.mjs';

const require = createRequire(import.meta.url);

/** Time kept back from the invocation's deadline for answering. */
const ANSWER_MARGIN_MS = 500;
const COGNITO_NOT_FOUND = ['ResourceNotFoundException', 'UserNotFoundException', 'NotFoundException', 'UserPoolNotFoundException'];
const ACCESS_DENIED = [
  'AccessDeniedException', 'AccessDenied', 'UnauthorizedException', 'NotAuthorizedException', 'InvalidSignatureException',
  'SignatureDoesNotMatch', 'IncompleteSignature', 'UnrecognizedClientException', 'InvalidClientTokenId',
  'ExpiredTokenException', 'ExpiredToken', 'MissingAuthenticationToken',
];
const THROTTLING = [
  'ThrottlingException', 'TooManyRequestsException', 'Throttling', 'ThrottledException', 'RequestLimitExceeded',
  'RequestThrottled', 'RequestThrottledException', 'SlowDown',
];
const UNAVAILABLE = ['ServiceUnavailableException', 'InternalFailureException', 'InternalErrorException', 'InternalException'];

/** A WIT `aws.error` case, thrown as jco expects it. */
export function witError(tag, val) {
  return { payload: { tag, val } };
}

/** Logged codes keep letters, digits, `.`, `_` and `-` only. */
const shortCode = (code) => String(code).split('#').pop().split(':')[0].replace(/[^A-Za-z0-9._-]/g, '').slice(0, 100);
const clip = (message) => String(message ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 300);

// The shortest piece of a secret taken out when it shows on its own.
const MIN_PIECE = 16;
const WORD = /[A-Za-z0-9+/=%_-]+/g;

/**
 * `text` with every word that holds one of `secrets` (the credentials'
 * values), whole, percent-encoded or a piece of 16 characters, replaced by
 * `[redacted]`, as host/src/aws/redact.rs does: a server may quote them.
 */
export function redact(text, secrets) {
  const values = secrets.filter((s) => typeof s === 'string' && s.length > 0);
  if (values.length === 0) return text;
  const pieces = new Set(values.flatMap((s) => Array.from({ length: Math.max(0, s.length - MIN_PIECE + 1) }, (_, i) => s.slice(i, i + MIN_PIECE))));
  const holds = (word) => {
    if (values.some((s) => word.includes(s))) return true;
    for (let i = 0; i + MIN_PIECE <= word.length; i++) if (pieces.has(word.slice(i, i + MIN_PIECE))) return true;
    return false;
  };
  const decoded = (word) => {
    try {
      return decodeURIComponent(word);
    } catch {
      return word;
    }
  };
  return String(text).replace(WORD, (word) => (holds(word) || holds(decoded(word)) ? '[redacted]' : word));
}

/**
 * An SDK error as the WIT case the Rust host would give for the same answer;
 * `secrets` (the credentials it was signed with) are taken out first.
 */
export function classify(e, secrets = []) {
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) {
    // No HTTP answer.
    const code = e?.code ?? e?.cause?.code ?? '';
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) return witError('other', `TLS: ${shortCode(code)} (no HTTP answer)`);
    if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return witError('unavailable', 'timed out (no HTTP answer)');
    if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH/.test(code)) return witError('unavailable', 'could not connect (no HTTP answer)');
    return witError('unavailable', 'the connection failed (no HTTP answer)');
  }
  const known = e?.$fault !== undefined && e?.name && e.name !== 'Error' && e.name !== 'UnknownError';
  const code = known ? shortCode(redact(e.name, secrets)) : null;
  const message = clip(redact(e?.message ?? '', secrets));
  const text = code ? (message && message !== code ? `${code}: ${message}` : code) : `HTTP ${status} with no AWS error code`;
  if (COGNITO_NOT_FOUND.includes(code)) return witError('not-found', text);
  if (ACCESS_DENIED.includes(code)) return witError('access-denied', text);
  if (THROTTLING.includes(code)) return witError('throttled', text);
  if (code === 'LimitExceededException') return witError('limit-exceeded', text);
  if (UNAVAILABLE.includes(code)) return witError('unavailable', text);
  if (status === 429) return witError('throttled', text);
  if (status >= 500) return witError('unavailable', text);
  if (status === 401 || status === 403) return witError('access-denied', text);
  if (code && status >= 400 && status < 500) return witError('invalid-request', text);
  return witError('other', text);
}

/**
 * The SDKs' standard retry mode, with its retry quota (500 tokens; a retry
 * takes 5, or 10 after a timeout; a success gives 1 back), except that a
 * full quota (LimitExceededException, which the SDK counts as throttling)
 * and client errors are never retried.
 */
export class RetryStrategy {
  mode = 'standard';
  #tokens = 500;

  constructor(maxAttempts) {
    this.maxAttempts = maxAttempts;
  }

  async acquireInitialRetryToken() {
    return token(0, 0, 0);
  }

  async refreshRetryTokenForRetry(previous, info) {
    const attempts = previous.getRetryCount() + 1;
    const limit = info.error?.name === 'LimitExceededException';
    const retryable = ['THROTTLING', 'TRANSIENT', 'SERVER_ERROR'].includes(info.errorType) && !limit;
    const cost = info.errorType === 'TRANSIENT' ? 10 : 5;
    if (!retryable || attempts >= this.maxAttempts || this.#tokens < cost) throw new Error('not retried');
    this.#tokens -= cost;
    const base = info.errorType === 'THROTTLING' ? 500 : 100;
    const delay = Math.floor(Math.random() * Math.min(20_000, base * 2 ** (attempts - 1)));
    return token(attempts, delay, cost);
  }

  recordSuccess(t) {
    this.#tokens = Math.min(500, this.#tokens + (t.cost || 1));
  }
}

function token(count, delay, cost) {
  return { cost, getRetryCount: () => count, getRetryDelay: () => delay };
}

/** The SDK clients, built once per process; Cognito's per user pool region. */
export function sdkAws(settings, env, log) {
  const {
    IoTClient,
    AttachPolicyCommand,
    DetachPolicyCommand,
    ListTargetsForPolicyCommand,
    ListPolicyVersionsCommand,
    DeletePolicyVersionCommand,
    DeletePolicyCommand,
  } = require('@aws-sdk/client-iot');
  const cognito = require('@aws-sdk/client-cognito-identity-provider');
  const retryStrategy = new RetryStrategy(settings.maxAttempts);
  const common = { maxAttempts: settings.maxAttempts, retryStrategy, requestHandler: requestHandler(env) };
  const iot = new IoTClient({ ...common, region: settings.region });
  const cognitoClients = new Map();
  const cognitoIn = (userPoolId) => {
    const region = userPoolId.split('_')[0];
    if (!cognitoClients.has(region)) cognitoClients.set(region, new cognito.CognitoIdentityProviderClient({ ...common, region }));
    return cognitoClients.get(region);
  };

  /** Sends one command within the time left, logging it as the Rust host does. */
  const send = async (client, command, name, remainingMs) => {
    const started = Date.now();
    const budget = Math.max(1, remainingMs() - ANSWER_MARGIN_MS);
    try {
      const output = await client.send(command, { abortSignal: AbortSignal.timeout(budget) });
      const { httpStatusCode: status, attempts } = output.$metadata;
      log('debug', `aws call: ok operation="${name}" status=${status} attempts=${attempts ?? 1} duration_ms=${Date.now() - started}`);
      return output;
    } catch (e) {
      const error = classify(e, await secretsOf(client));
      const { httpStatusCode: status, attempts } = e?.$metadata ?? {};
      log(
        'warn',
        `aws call failed: ${error.payload.val} operation="${name}" status=${status ?? 'none'} attempts=${attempts ?? 1} duration_ms=${Date.now() - started} error=${error.payload.tag}`,
      );
      throw error;
    }
  };

  return {
    attachPolicy: (policyName, target, remainingMs) =>
      send(iot, new AttachPolicyCommand({ policyName, target }), OPERATIONS.attachPolicy.action, remainingMs).then(() => undefined),
    detachPolicy: (policyName, target, remainingMs) =>
      send(iot, new DetachPolicyCommand({ policyName, target }), OPERATIONS.detachPolicy.action, remainingMs).then(() => undefined),
    listUsers: async (userPoolId, filter, remainingMs) => {
      const out = await send(cognitoIn(userPoolId), new cognito.ListUsersCommand({ UserPoolId: userPoolId, Filter: filter }), OPERATIONS.listUsers.action, remainingMs);
      return (out.Users ?? []).map((u) => u.Username);
    },
    updateAttributes: (userPoolId, username, attributes, remainingMs) =>
      send(
        cognitoIn(userPoolId),
        new cognito.AdminUpdateUserAttributesCommand({
          UserPoolId: userPoolId,
          Username: username,
          UserAttributes: attributes.map((a) => ({ Name: a.name, Value: a.value })),
        }),
        OPERATIONS.updateAttributes.action,
        remainingMs,
      ).then(() => undefined),
    // Not a WIT import: the stack's custom resource drains a policy with it.
    listTargetsForPolicy: async (policyName, marker, remainingMs) => {
      const out = await send(iot, new ListTargetsForPolicyCommand({ policyName, marker, pageSize: 250 }), OPERATIONS.listTargetsForPolicy.action, remainingMs);
      return { targets: out.targets ?? [], nextMarker: out.nextMarker || undefined };
    },
    // Not WIT imports either: the custom resource deletes the drained policy.
    listPolicyVersions: async (policyName, remainingMs) => {
      const out = await send(iot, new ListPolicyVersionsCommand({ policyName }), OPERATIONS.listPolicyVersions.action, remainingMs);
      return (out.policyVersions ?? []).map((v) => ({ id: v.versionId, default: v.isDefaultVersion === true }));
    },
    deletePolicyVersion: (policyName, policyVersionId, remainingMs) =>
      send(iot, new DeletePolicyVersionCommand({ policyName, policyVersionId }), OPERATIONS.deletePolicyVersion.action, remainingMs).then(() => undefined),
    deletePolicy: (policyName, remainingMs) =>
      send(iot, new DeletePolicyCommand({ policyName }), OPERATIONS.deletePolicy.action, remainingMs).then(() => undefined),
    deleteAttributes: (userPoolId, username, names, remainingMs) =>
      send(
        cognitoIn(userPoolId),
        new cognito.AdminDeleteUserAttributesCommand({ UserPoolId: userPoolId, Username: username, UserAttributeNames: names }),
        OPERATIONS.deleteAttributes.action,
        remainingMs,
      ).then(() => undefined),
  };
}

/** The values of the credentials `client` signs with, to take out of what its servers say. */
async function secretsOf(client) {
  try {
    const c = await client.config.credentials();
    return [c.accessKeyId, c.secretAccessKey, c.sessionToken];
  } catch {
    return [];
  }
}

/** `AWS_CA_BUNDLE`, as the Rust host reads it: extra roots beside Node's own. */
function requestHandler(env) {
  const bundle = env.AWS_CA_BUNDLE?.trim();
  if (!bundle) return undefined;
  const { NodeHttpHandler } = require('@smithy/node-http-handler');
  const https = require('node:https');
  let pem;
  try {
    pem = readFileSync(bundle, 'utf8');
  } catch (e) {
    throw new Error(`AWS_CA_BUNDLE: ${bundle} could not be read (${e.code ?? e.message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`AWS_CA_BUNDLE: ${bundle} holds no certificate`);
  return new NodeHttpHandler({ httpsAgent: new https.Agent({ keepAlive: true, ca: [...rootCertificates, pem] }) });
}
