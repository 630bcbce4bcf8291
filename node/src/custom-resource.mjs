// The stack's custom resource, as host/src/custom_resource.rs serves it: on
// `Delete`, detach the stack's IoT policy from every target (listed first,
// then detached at DETACH_RATE a second) before CloudFormation deletes the
// policy; `Create` and `Update` change nothing. The answer is a PUT to the
// ResponseURL, which must be AWS's (or CFN_RESPONSE_URL_ALLOWED_ORIGIN's).
import http from 'node:http';
import https from 'node:https';

// No detach starts later than this before the invocation's deadline, and no
// call runs later than ANSWER_TIME_MS before it: that time is the answer's.
const STOP_STARTING_MS = 10_000;
const ANSWER_TIME_MS = 4_000;
const ANSWER_TRY_MS = 10_000;
const MAX_REASON = 1000;

/** Whether `event` is CloudFormation's custom resource request. */
export function isCustomResource(event) {
  return event !== null && typeof event === 'object' && 'RequestType' in event && 'ResponseURL' in event && 'StackId' in event;
}

/** AWS's presigned URLs, or the one origin the settings allow (checked at init). */
export function allowedResponseUrl(url, responseOrigin) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const aws = parsed.protocol === 'https:' && (parsed.hostname.endsWith('.amazonaws.com') || parsed.hostname.endsWith('.amazonaws.com.cn'));
  return aws || (!!responseOrigin && parsed.origin === responseOrigin);
}

/**
 * Lists every target, then detaches each at `rate` a second until `until`.
 * `remainingMs` is the time each call may take.
 */
export async function drain(aws, policy, rate, until, remainingMs) {
  const targets = [];
  // A marker seen before ends the listing: a cycle (A, B, A) would not.
  const seen = new Set();
  let marker;
  do {
    const page = await aws.listTargetsForPolicy(policy, marker, remainingMs);
    targets.push(...page.targets);
    marker = page.nextMarker && !seen.has(page.nextMarker) ? page.nextMarker : undefined;
    if (marker) seen.add(marker);
  } while (marker);
  const summary = { targets: targets.length, detached: 0, alreadyDetached: 0, remaining: 0, failure: null, stopped: null };
  const interval = 1000 / rate;
  let next = Date.now();
  const inFlight = new Set();
  for (const target of targets) {
    // However low the rate, the pause ends at the deadline.
    const wait = Math.min(next, until) - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (Date.now() >= until) {
      summary.stopped = 'the time ran out';
      break;
    }
    next = Math.max(next, Date.now() - interval) + interval;
    const call = aws
      .detachPolicy(policy, target, remainingMs)
      .then(() => summary.detached++)
      .catch((e) => {
        if (e?.payload?.tag === 'not-found') return summary.alreadyDetached++;
        summary.remaining++;
        summary.failure ??= `${e?.payload?.tag ?? 'other'}: ${e?.payload?.val ?? e}`;
      })
      .finally(() => inFlight.delete(call));
    inFlight.add(call);
    if (inFlight.size >= 32) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  summary.remaining = summary.targets - summary.detached - summary.alreadyDetached;
  return summary;
}

async function decide(event, { aws, config, settings, remainingMs }) {
  const policy = String(event.ResourceProperties?.PolicyName ?? '').trim();
  if (event.RequestType === 'Create' || event.RequestType === 'Update') return ['SUCCESS', 'nothing to do until the stack is deleted', {}];
  if (event.RequestType !== 'Delete') return ['FAILED', `unknown RequestType ${JSON.stringify(event.RequestType)}`, {}];
  if (!policy) return ['SUCCESS', 'no policy to detach', {}];
  if (!config.policyNames.includes(policy)) return ['FAILED', `${policy} is not one of the function's IOT_POLICY_NAME policies`, {}];
  const rate = settings.detachRate;
  const resume = `run \`attach-iot-policy detach-all --policy ${policy}\`, then delete the stack again`;
  let summary;
  try {
    const deadline = Date.now() + remainingMs();
    const callsEnd = deadline - ANSWER_TIME_MS;
    summary = await drain(aws, policy, rate, deadline - STOP_STARTING_MS, () => callsEnd - Date.now());
  } catch (e) {
    if (e?.payload?.tag === 'not-found') return ['SUCCESS', `${policy} does not exist`, {}];
    return ['FAILED', `listing the targets of ${policy} failed (${e?.payload?.tag ?? 'other'}: ${e?.payload?.val ?? e}); ${resume}`, {}];
  }
  if (summary.remaining === 0) {
    return ['SUCCESS', `detached ${policy} from ${summary.targets} targets`, { Detached: summary.detached, AlreadyDetached: summary.alreadyDetached }];
  }
  const why = summary.stopped ?? (summary.failure ? `a detach failed: ${summary.failure}` : 'some detaches failed');
  return [
    'FAILED',
    `${summary.remaining} of ${summary.targets} targets are still attached to ${policy} (${why}); ${resume}`,
    { Detached: summary.detached, Remaining: summary.remaining },
  ];
}

/** Serves one request and answers CloudFormation; returns the invocation's own result. */
export async function serveCustomResource(event, cognitoIdentity, deps) {
  const { settings, log, remainingMs } = deps;
  if (cognitoIdentity) {
    log('warn', 'refused a custom resource request from a Cognito identity');
    return { statusCode: 403, body: JSON.stringify({ error: 'forbidden', message: 'a Cognito identity may not send custom resource requests' }) };
  }
  if (!allowedResponseUrl(event.ResponseURL, settings.responseOrigin)) {
    log('error', 'the ResponseURL is not an https URL of AWS; no answer is sent');
    return { statusCode: 400, body: JSON.stringify({ error: 'invalid-event', message: 'the ResponseURL is not an https URL of AWS' }) };
  }
  log('info', `custom resource request ${event.RequestType} for ${event.LogicalResourceId}`);
  const [status, reason, data] = await decide(event, deps);
  const policy = String(event.ResourceProperties?.PolicyName ?? '');
  const answer = {
    Status: status,
    Reason: reason.slice(0, MAX_REASON),
    PhysicalResourceId: event.PhysicalResourceId ?? `detach-on-delete-${policy}`.slice(0, 200),
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    NoEcho: false,
    Data: data,
  };
  try {
    await put(event.ResponseURL, JSON.stringify(answer), remainingMs);
    log('info', `answered CloudFormation: ${status}`);
  } catch (e) {
    log('error', `could not answer CloudFormation: ${e?.message ?? e}`);
  }
  return { statusCode: 200, body: JSON.stringify(answer) };
}

/**
 * A PUT without Content-Type (the presigned URL was signed without one),
 * tried up to three times while the invocation has time.
 */
async function put(url, body, remainingMs) {
  let last = new Error('no time was left to send it');
  for (let attempt = 1; attempt <= 3; attempt++) {
    const left = remainingMs();
    if (left <= 0) break;
    try {
      const status = await new Promise((resolve, reject) => {
        const request = (url.startsWith('https:') ? https : http).request(
          url,
          { method: 'PUT', headers: { 'content-length': Buffer.byteLength(body) }, timeout: Math.min(left, ANSWER_TRY_MS) },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode));
          },
        );
        request.on('timeout', () => request.destroy(new Error('timed out')));
        request.on('error', reject);
        request.end(body);
      });
      if (status >= 200 && status < 300) return;
      last = new Error(`HTTP ${status}`);
    } catch (e) {
      last = e;
    }
    if (attempt === 3 || remainingMs() <= 500 * attempt) break;
    await new Promise((r) => setTimeout(r, 500 * attempt));
  }
  throw last;
}
