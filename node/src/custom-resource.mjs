// The stack's custom resource, as host/src/custom_resource.rs serves it: on
// `Delete`, detach the stack's IoT policy from every target (each page of
// the listing detached at DETACH_RATE a second as it comes) before
// CloudFormation deletes the policy, and with DeletePolicy "true" delete the
// policy too, waiting out IoT's refusals after a detach
// (host/src/teardown.rs); `Create` and `Update` change nothing. The answer
// is a PUT to the ResponseURL, which must be AWS's (or
// CFN_RESPONSE_URL_ALLOWED_ORIGIN's).
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

/**
 * The first field of the wrong type, named (host/src/custom_resource.rs
 * `shape`): where, never what, so no value of the request is echoed.
 */
export function wrongShape(event) {
  for (const field of ['RequestType', 'ResponseURL', 'StackId', 'RequestId', 'LogicalResourceId']) {
    if (typeof event[field] !== 'string') return `${field} is missing or not a string`;
  }
  if (event.PhysicalResourceId !== undefined && typeof event.PhysicalResourceId !== 'string') return 'PhysicalResourceId is missing or not a string';
  const properties = event.ResourceProperties;
  if (properties === undefined) return null;
  if (properties === null || typeof properties !== 'object' || Array.isArray(properties)) return 'ResourceProperties is missing or not an object';
  if (properties.PolicyName !== undefined && typeof properties.PolicyName !== 'string') return 'ResourceProperties.PolicyName is missing or not a string';
  if (properties.DeletePolicy !== undefined && typeof properties.DeletePolicy !== 'string') return 'ResourceProperties.DeletePolicy is missing or not a string';
  return null;
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

const IN_FLIGHT = 32;
// Targets remembered to skip one listed again on a nearby page (host/src/drain.rs).
const RECENT_TARGETS = 1000;
const TIME_RAN_OUT = Symbol('the time ran out');

/**
 * Brent's cycle detection over the listing's markers, in constant memory:
 * one marker is kept, and replaced after 1, 2, 4, 8… steps.
 */
export function markerCycle() {
  let kept;
  let power = 1;
  let steps = 0;
  return (marker) => {
    if (marker === kept) return true;
    if (++steps >= power) {
      kept = marker;
      power *= 2;
      steps = 0;
    }
    return false;
  };
}

/** The listing's pages, each with whether it is the last; the next is fetched while one is detached. */
async function* pages(aws, policy, remainingMs) {
  const seenBefore = markerCycle();
  let next = aws.listTargetsForPolicy(policy, undefined, remainingMs);
  while (next) {
    const page = await next;
    const marker = page.nextMarker && !seenBefore(page.nextMarker) ? page.nextMarker : undefined;
    next = marker ? aws.listTargetsForPolicy(policy, marker, remainingMs) : null;
    // Its failure is read when its turn comes, or not at all if the drain stops first.
    next?.catch(() => {});
    yield { targets: page.targets ?? [], last: !next };
  }
}

/**
 * Detaches every target of `policy` at `rate` a second until `until`, as
 * host/src/drain.rs does: pages stream into detaches, a page ahead, so
 * memory holds a few pages whatever the count; a pass that detached anything
 * is followed by another (a listing read while its targets go may skip
 * some). `remainingMs` is the time each call may take.
 */
export async function drain(aws, policy, rate, until, remainingMs) {
  const summary = { targets: 0, detached: 0, alreadyDetached: 0, remaining: 0, failure: null, stopped: null, listedAll: false };
  const interval = 1000 / rate;
  // At high rates the timer's millisecond grain would stall the schedule.
  const slack = Math.max(interval, 5);
  let next = Date.now();
  // Kept across passes: a listing that lags lists the last detaches again.
  const recent = new Set();
  const firstTime = (target) => {
    if (recent.has(target)) return false;
    recent.add(target);
    if (recent.size > RECENT_TARGETS) recent.delete(recent.values().next().value);
    return true;
  };
  for (let pass = 1; ; pass++) {
    const detachedBefore = summary.detached;
    Object.assign(summary, { remaining: 0, failure: null, listedAll: false });
    const inFlight = new Set();
    const listing = pages(aws, policy, remainingMs);
    let listed = 0;
    try {
      listing: for (;;) {
        let timer;
        const timeUp = new Promise((resolve) => {
          timer = setTimeout(resolve, Math.max(0, until - Date.now()), TIME_RAN_OUT);
        });
        const step = await Promise.race([listing.next(), timeUp]).finally(() => clearTimeout(timer));
        if (step === TIME_RAN_OUT) {
          summary.stopped = 'the time ran out';
          break;
        }
        if (step.done) break;
        summary.listedAll = step.value.last;
        const targets = step.value.targets.filter(firstTime);
        for (const [i, target] of targets.entries()) {
          listed++;
          // A start due at or after the deadline will not come: stop now,
          // rather than wait for a timer that may fire a little early.
          const wait = next - Date.now();
          if (next < until && wait > 0) await new Promise((r) => setTimeout(r, wait));
          if (next >= until || Date.now() >= until) {
            summary.stopped = 'the time ran out';
            // This target and the rest of its page are known and still attached.
            summary.remaining += targets.length - i;
            break listing;
          }
          next = Math.max(next, Date.now() - slack) + interval;
          const call = aws
            .detachPolicy(policy, target, remainingMs)
            .then(() => summary.detached++)
            .catch((e) => {
              if (e?.payload?.tag === 'not-found') return summary.alreadyDetached++;
              // The next pass tries it again.
              recent.delete(target);
              summary.remaining++;
              summary.failure ??= `${e?.payload?.tag ?? 'other'}: ${e?.payload?.val ?? e}`;
            })
            .finally(() => inFlight.delete(call));
          inFlight.add(call);
          if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
        }
      }
    } catch (e) {
      // Nothing was done: the caller tells "no such policy" from the rest.
      if (pass === 1 && listed === 0) throw e;
      summary.stopped = `listing the targets failed (${e?.payload?.tag ?? 'other'}: ${e?.payload?.val ?? e})`;
    }
    await Promise.all(inFlight);
    if (summary.stopped || summary.detached === detachedBefore) break;
  }
  summary.targets = summary.detached + summary.alreadyDetached + summary.remaining;
  return summary;
}

/** What an incomplete drain left, in a sentence (host/src/drain.rs `still_attached`). */
export function stillAttached(policy, summary) {
  if (summary.stopped && !summary.listedAll) {
    return `${summary.remaining} listed targets are still attached to ${policy}, and more may be: the listing did not end (${summary.stopped})`;
  }
  const why = summary.stopped ?? (summary.failure ? `a detach failed: ${summary.failure}` : null);
  return `${summary.remaining} of ${summary.targets} targets are still attached to ${policy}${why ? ` (${why})` : ''}`;
}

// The pauses after IoT refuses to delete the policy: from the first, doubling up to the last.
export const FIRST_PAUSE_MS = 2_000;
const MAX_PAUSE_MS = 30_000;
const isDeleteConflict = (e) => e?.payload?.tag === 'invalid-request' && String(e.payload.val).startsWith('DeleteConflictException');

/**
 * Deletes `policy`'s other versions, then `policy`, trying again after a
 * DeleteConflictException until no pause fits before `until`
 * (host/src/teardown.rs). Resolves { tries, versions } or { alreadyGone };
 * rejects with { stillRefused: { tries, seconds, last } } or { failed: error }.
 */
export async function deletePolicy(aws, policy, firstPauseMs, until, remainingMs) {
  const started = Date.now();
  let pause = firstPauseMs;
  for (let tries = 1; ; tries++) {
    try {
      let versions = 0;
      for (const version of await aws.listPolicyVersions(policy, remainingMs)) {
        if (version.default) continue;
        try {
          await aws.deletePolicyVersion(policy, version.id, remainingMs);
          versions++;
        } catch (e) {
          if (e?.payload?.tag !== 'not-found') throw e;
        }
      }
      await aws.deletePolicy(policy, remainingMs);
      return { tries, versions };
    } catch (e) {
      // Gone at the first look; or, later, deleted by a try whose answer was lost.
      if (e?.payload?.tag === 'not-found') return tries === 1 ? { alreadyGone: true } : { tries, versions: 0 };
      if (!isDeleteConflict(e)) throw { failed: e };
      if (Date.now() + pause >= until) throw { stillRefused: { tries, seconds: Math.floor((Date.now() - started) / 1000), last: e.payload.val } };
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }
}

async function decide(event, { aws, config, settings, remainingMs }) {
  const policy = String(event.ResourceProperties?.PolicyName ?? '').trim();
  if (event.RequestType === 'Create' || event.RequestType === 'Update') return ['SUCCESS', 'nothing to do until the stack is deleted', {}];
  // Not quoted: the value is the request's, and goes to CloudFormation and the log.
  if (event.RequestType !== 'Delete') return ['FAILED', 'the RequestType is not Create, Update or Delete', {}];
  if (!policy) return ['SUCCESS', 'no policy to detach', {}];
  if (!config.policyNames.includes(policy)) return ['FAILED', `${policy} is not one of the function's IOT_POLICY_NAME policies`, {}];
  const rate = settings.detachRate;
  const resume = `run \`attach-iot-policy detach-all --policy ${policy}\`, then delete the stack again`;
  const deadline = Date.now() + remainingMs();
  const callsEnd = deadline - ANSWER_TIME_MS;
  const until = deadline - STOP_STARTING_MS;
  const callsLeft = () => callsEnd - Date.now();
  let summary;
  try {
    summary = await drain(aws, policy, rate, until, callsLeft);
  } catch (e) {
    if (e?.payload?.tag === 'not-found') return ['SUCCESS', `${policy} does not exist`, {}];
    return ['FAILED', `listing the targets of ${policy} failed (${e?.payload?.tag ?? 'other'}: ${e?.payload?.val ?? e}); ${resume}`, {}];
  }
  if (summary.remaining !== 0 || summary.stopped) {
    return ['FAILED', `${stillAttached(policy, summary)}; ${resume}`, { Detached: summary.detached, Remaining: summary.remaining }];
  }
  const detached = `detached ${policy} from ${summary.targets} targets`;
  const data = { Detached: summary.detached, AlreadyDetached: summary.alreadyDetached };
  if (event.ResourceProperties?.DeletePolicy !== 'true') return ['SUCCESS', detached, data];
  try {
    const deleted = await deletePolicy(aws, policy, FIRST_PAUSE_MS, until, callsLeft);
    const refused = deleted.tries === 2 ? 'once' : `${deleted.tries - 1} times`;
    const how = deleted.alreadyGone ? 'it was already deleted' : deleted.tries === 1 ? 'deleted it' : `deleted it after IoT refused ${refused}`;
    return ['SUCCESS', `${detached}, and ${how}`, { ...data, PolicyDeleted: true }];
  } catch (e) {
    if (e.stillRefused) {
      const { tries, seconds, last } = e.stillRefused;
      return [
        'FAILED',
        `${detached}, but IoT still refused to delete it after ${tries} tries over ${seconds} s (${last}): IoT can refuse for up to five minutes after a detach. Wait a few minutes, then delete the stack again`,
        data,
      ];
    }
    const error = e.failed ?? e;
    const why = `deleting it failed (${error?.payload?.tag ?? 'other'}: ${error?.payload?.val ?? error})`;
    if (error?.payload?.tag === 'access-denied') {
      return ['FAILED', `${detached}, but ${why}: the drain's function needs iot:ListPolicyVersions, iot:DeletePolicyVersion and iot:DeletePolicy on ${policy}. Grant them, then delete the stack again`, data];
    }
    return ['FAILED', `${detached}, but ${why}; delete the stack again`, data];
  }
}

/** Serves one request and answers CloudFormation; returns the invocation's own result. */
export async function serveCustomResource(event, cognitoIdentity, deps) {
  const { settings, log, remainingMs } = deps;
  if (cognitoIdentity) {
    log('warn', 'refused a custom resource request from a Cognito identity');
    return { statusCode: 403, body: JSON.stringify({ error: 'forbidden', message: 'a Cognito identity may not send custom resource requests' }) };
  }
  const wrong = wrongShape(event);
  if (wrong) {
    const message = `a custom resource request of the wrong shape: ${wrong}`;
    log('error', `${message}; no answer can be sent`);
    return { statusCode: 400, body: JSON.stringify({ error: 'invalid-event', message }) };
  }
  if (!allowedResponseUrl(event.ResponseURL, settings.responseOrigin)) {
    log('error', 'the ResponseURL is not an https URL of AWS; no answer is sent');
    return { statusCode: 400, body: JSON.stringify({ error: 'invalid-event', message: 'the ResponseURL is not an https URL of AWS' }) };
  }
  // Only the known values: anything else is the request's own, not logged.
  const requestType = ['Create', 'Update', 'Delete'].includes(event.RequestType) ? event.RequestType : 'unknown';
  log('info', `custom resource request ${requestType} for ${event.LogicalResourceId}`);
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
