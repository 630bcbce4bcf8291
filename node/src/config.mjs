// The configuration, from the same environment variables as the Rust host,
// validated by the same rules (host/src/config.rs, ids/src/lib.rs). A bad
// value is an error whose message starts with the variable's name.

/** AWS IoT attaches at most this many policies to one Cognito identity. */
export const MAX_POLICIES = 10;
export const DEFAULT_ATTRIBUTE_NAME = 'custom:iotPolicyIsAttached';

export class ConfigError extends Error {
  constructor(variable, problem) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

const ascii = (s, re) => typeof s === 'string' && re.test(s);

export function isRegion(s) {
  return ascii(s, /^[a-z][a-z0-9-]{2,23}[0-9]$/) && s.includes('-') && !s.includes('--');
}

export function isUuid(s) {
  return ascii(s, /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);
}

export function regionOfRegionalUuid(s) {
  const i = s.indexOf(':');
  if (i < 0) return null;
  const [region, id] = [s.slice(0, i), s.slice(i + 1)];
  return isRegion(region) && isUuid(id) ? region : null;
}

export function regionOfUserPoolId(s) {
  const i = s.indexOf('_');
  if (i < 0) return null;
  const [region, suffix] = [s.slice(0, i), s.slice(i + 1)];
  return isRegion(region) && s.length <= 55 && ascii(suffix, /^[A-Za-z0-9]+$/) ? region : null;
}

export function isPolicyName(s) {
  return ascii(s, /^[A-Za-z0-9_+=,.@-]{1,128}$/) && s !== '.' && s !== '..';
}

export function isAttributeName(s) {
  return ascii(s, /^custom:[A-Za-z0-9_]{1,20}$/);
}

export function isOrigin(s) {
  if (s === '*') return true;
  if (typeof s !== 'string' || s.length > 256) return false;
  const m = /^https?:\/\/(?:\[([0-9A-Fa-f:]+)\]|([A-Za-z0-9.-]+))(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) return false;
  const host = m[2];
  if (host !== undefined && (host.startsWith('.') || host.startsWith('-') || host.endsWith('-'))) return false;
  return true;
}

/** A comma-separated list: blanks dropped, duplicates removed, a bad item named by position. */
function list(env, variable, valid, expected) {
  const value = env[variable];
  if (value === undefined || value.trim() === '') return [];
  const items = [];
  const seen = new Set();
  value.split(',').forEach((raw, i) => {
    const item = raw.trim();
    if (!valid(item)) throw new ConfigError(variable, `item ${i + 1} is not ${expected}`);
    if (!seen.has(item)) {
      seen.add(item);
      items.push(item);
    }
  });
  return items;
}

/** The WIT `handler.config`, as jco takes it, from `env`. */
export function configFrom(env) {
  const policyNames = list(env, 'IOT_POLICY_NAME', isPolicyName, 'an IoT policy name ([A-Za-z0-9_+=,.@-], 1-128 characters)');
  if (policyNames.length === 0) {
    throw new ConfigError('IOT_POLICY_NAME', 'is required: the IoT policy (or comma-separated policies) to attach');
  }
  if (policyNames.length > MAX_POLICIES) {
    throw new ConfigError('IOT_POLICY_NAME', `names more than ${MAX_POLICIES} policies, the most AWS IoT attaches to one Cognito identity`);
  }
  const attributeName = env.COGNITO_ATTRIBUTE_NAME?.trim() ?? DEFAULT_ATTRIBUTE_NAME;
  if (!isAttributeName(attributeName)) {
    throw new ConfigError(
      'COGNITO_ATTRIBUTE_NAME',
      'must be a custom user pool attribute such as custom:iotPolicyIsAttached (custom: then 1-20 of [A-Za-z0-9_])',
    );
  }
  const value = (env.COGNITO_ATTRIBUTE_VALUE ?? '').trim().toLowerCase();
  const attributeValue = { '': 'literal-true', true: 'literal-true', 'identity-id': 'identity-id' }[value];
  if (!attributeValue) {
    throw new ConfigError('COGNITO_ATTRIBUTE_VALUE', 'must be true (the attribute holds "true") or identity-id (it holds the identity ID)');
  }
  const corsAllowOrigin = env.CORS_ALLOW_ORIGIN?.trim() ?? '*';
  if (!isOrigin(corsAllowOrigin)) {
    throw new ConfigError('CORS_ALLOW_ORIGIN', 'must be * or one origin such as https://app.example.com');
  }
  return {
    policyNames,
    attributeName,
    allowedIdentityPoolIds: list(env, 'ALLOWED_IDENTITY_POOL_IDS', (s) => regionOfRegionalUuid(s) !== null, 'an identity pool ID (<region>:<uuid>)'),
    allowedUserPoolIds: list(env, 'ALLOWED_USER_POOL_IDS', (s) => regionOfUserPoolId(s) !== null, 'a user pool ID (<region>_<id>)'),
    corsAllowOrigin,
    attributeValue,
  };
}

/** A positive integer setting, or its default. */
function positive(env, variable, fallback, max) {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ConfigError(variable, `must be a whole number from 1 to ${max}`);
  return n;
}

/** AWS IoT's default quota for DetachPolicy, a second. */
const DEFAULT_DETACH_RATE = 15;

/** `CFN_RESPONSE_URL_ALLOWED_ORIGIN`: one http(s) origin and nothing more, as the Rust host takes it. */
function responseOrigin(env) {
  const raw = (env.CFN_RESPONSE_URL_ALLOWED_ORIGIN ?? '').trim().replace(/\/$/, '');
  if (raw === '') return undefined;
  let url;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== raw) {
    throw new ConfigError('CFN_RESPONSE_URL_ALLOWED_ORIGIN', 'must be one http:// or https:// origin, such as http://127.0.0.1:8080');
  }
  return raw;
}

/** What the Node host itself needs, beside the guest's configuration. */
export function settingsFrom(env) {
  const level = (env.AWS_LAMBDA_LOG_LEVEL ?? '').trim().toUpperCase();
  const levels = { '': 'INFO', TRACE: 'TRACE', DEBUG: 'DEBUG', INFO: 'INFO', WARN: 'WARN', ERROR: 'ERROR', FATAL: 'ERROR' };
  if (!(level in levels)) throw new ConfigError('AWS_LAMBDA_LOG_LEVEL', 'must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL');
  const format = (env.AWS_LAMBDA_LOG_FORMAT ?? '').trim().toUpperCase();
  if (!['', 'TEXT', 'JSON'].includes(format)) throw new ConfigError('AWS_LAMBDA_LOG_FORMAT', 'must be Text or JSON');
  const mode = (env.AWS_RETRY_MODE ?? 'standard').trim().toLowerCase();
  if (!['standard', 'legacy'].includes(mode)) {
    throw new ConfigError('AWS_RETRY_MODE', 'must be standard or legacy (adaptive is not supported)');
  }
  if (!(env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? '').trim()) {
    throw new ConfigError('AWS_REGION', 'is not set (nor AWS_DEFAULT_REGION): the region whose IoT endpoint gets the policy, for example us-east-1');
  }
  const region = (env.AWS_REGION || env.AWS_DEFAULT_REGION).trim();
  if (!isRegion(region)) throw new ConfigError('AWS_REGION', 'is not an AWS region name');
  const metrics = (env.ATTACH_IOT_POLICY_METRICS ?? '').trim().toLowerCase();
  if (!['', 'on', 'off'].includes(metrics)) throw new ConfigError('ATTACH_IOT_POLICY_METRICS', 'must be on or off');
  const rateText = (env.DETACH_RATE ?? '').trim();
  const detachRate = rateText === '' ? DEFAULT_DETACH_RATE : Number(rateText);
  if (!(detachRate > 0 && detachRate <= 10_000)) {
    throw new ConfigError('DETACH_RATE', 'must be a number of detaches a second, more than 0 and at most 10000');
  }
  return {
    detachRate,
    responseOrigin: responseOrigin(env),
    metrics: metrics !== 'off',
    functionName: env.AWS_LAMBDA_FUNCTION_NAME || 'local',
    logLevel: levels[level],
    region,
    maxAttempts: positive(env, 'AWS_MAX_ATTEMPTS', 3, 20),
    maxEventBytes: positive(env, 'MAX_EVENT_BYTES', 6 * 1024 * 1024, 64 * 1024 * 1024),
    guestCpuMs: positive(env, 'GUEST_CPU_MS', 1000, 60_000),
  };
}
