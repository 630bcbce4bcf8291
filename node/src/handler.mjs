// The Node.js host: the Lambda handler around the guest, with the Rust host's
// duties (wit/attach-iot-policy.wit): UTF-8 and size checks, a validated
// configuration, the guard on policy and attribute names, a trap or a guest
// past its CPU budget answered with 500, and a fresh instance per invocation.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { configFrom, settingsFrom } from './config.mjs';
import { sdkAws, witError } from './aws.mjs';
import { isCustomResource, serveCustomResource } from './custom-resource.mjs';
import { stringify } from './json.mjs';
import { IMPORTS, OPERATIONS } from './operations.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where `make package-node` puts the transpiled guest. */
export const DEFAULT_GUEST_DIR = join(HERE, '..', 'guest');
const LEVELS = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/** A logger with `AWS_LAMBDA_LOG_LEVEL`'s filter, on the runtime's console. */
export function logger(level = 'INFO') {
  const min = LEVELS[level] ?? LEVELS.INFO;
  const sink = { debug: console.debug, info: console.info, warn: console.warn, error: console.error };
  return (lvl, message) => {
    if (LEVELS[lvl.toUpperCase()] >= min) sink[lvl](message);
  };
}

/** The host keeps its side of the contract: only configured policies and attributes. */
export function guarded(aws, config) {
  const refuse = (what) => {
    throw witError('invalid-request', `the host refuses ${what} that is not in its configuration`);
  };
  const policy = (name) => config.policyNames.includes(name) || refuse('a policy name');
  return {
    attachPolicy: (p, t, ms) => (policy(p), aws.attachPolicy(p, t, ms)),
    detachPolicy: (p, t, ms) => (policy(p), aws.detachPolicy(p, t, ms)),
    listUsers: (u, f, ms) => aws.listUsers(u, f, ms),
    updateAttributes: (u, n, attrs, ms) =>
      attrs.every((a) => a.name === config.attributeName) ? aws.updateAttributes(u, n, attrs, ms) : refuse('an attribute name'),
    deleteAttributes: (u, n, names, ms) =>
      names.every((x) => x === config.attributeName) ? aws.deleteAttributes(u, n, names, ms) : refuse('an attribute name'),
    listTargetsForPolicy: (p, marker, ms) => (policy(p), aws.listTargetsForPolicy(p, marker, ms)),
    listPolicyVersions: (p, ms) => (policy(p), aws.listPolicyVersions(p, ms)),
    deletePolicyVersion: (p, v, ms) => (policy(p), aws.deletePolicyVersion(p, v, ms)),
    deletePolicy: (p, ms) => (policy(p), aws.deletePolicy(p, ms)),
  };
}

/** Records each import call as the fixtures list them: `ok`, or the error case. */
export function recorded(aws, calls) {
  return Object.fromEntries(
    IMPORTS.map((name) => [
      name,
      async (...a) => {
        const { op, args } = OPERATIONS[name];
        const entry = { op, args: args(...a), result: 'ok' };
        try {
          return await aws[name](...a);
        } catch (e) {
          entry.result = e?.payload?.tag ?? 'other';
          throw e;
        } finally {
          calls?.push(entry);
        }
      },
    ]),
  );
}

export function hostError(statusCode, error, message, config) {
  return {
    statusCode,
    headers: [
      ['Content-Type', 'application/json'],
      ['Access-Control-Allow-Origin', config.corsAllowOrigin],
    ],
    body: JSON.stringify({ error, message }),
  };
}

/**
 * One CloudWatch Embedded Metric Format line, as the Rust host writes it
 * (host/src/metrics.rs). Written to stdout as it is: the runtime's console
 * would wrap it in its own log format.
 */
export function metricsLine(functionName, statusCode, { awsCalls, awsWaitMs, guestMs }) {
  const round = (x) => Math.round(x * 1000) / 1000;
  return {
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [
        {
          Namespace: 'attach-iot-policy',
          Dimensions: [['FunctionName', 'StatusClass']],
          Metrics: [
            { Name: 'Invocations', Unit: 'Count' },
            { Name: 'AwsCalls', Unit: 'Count' },
            { Name: 'AwsWaitTime', Unit: 'Milliseconds' },
            { Name: 'GuestTime', Unit: 'Milliseconds' },
          ],
        },
      ],
    },
    FunctionName: functionName,
    StatusClass: `${Math.floor(statusCode / 100)}xx`,
    Invocations: 1,
    AwsCalls: awsCalls,
    AwsWaitTime: round(awsWaitMs),
    GuestTime: round(guestMs),
  };
}

/** Lambda's longest timeout. */
const MAX_LAMBDA_TIMEOUT_MS = 15 * 60 * 1000;
/** The budget when the deadline Lambda gave cannot be right, as in the Rust host. */
export const FALLBACK_BUDGET_MS = 10_000;

/** The time left, from the context; a fixed budget when it is not plausible. */
export function remaining(context, log) {
  const left = context?.getRemainingTimeInMillis?.();
  if (Number.isFinite(left) && left > 0 && left <= MAX_LAMBDA_TIMEOUT_MS) return () => context.getRemainingTimeInMillis();
  log('warn', `the deadline is not a plausible time; using a ${FALLBACK_BUDGET_MS / 1000} s budget`);
  const until = Date.now() + FALLBACK_BUDGET_MS;
  return () => until - Date.now();
}

/** The guest's worker thread, started again if it dies. One invocation at a time. */
class GuestThread {
  #worker;
  #ready;
  #queue = Promise.resolve();

  constructor(guestDir) {
    this.guestDir = guestDir;
    this.#start();
  }

  #start() {
    this.signal = new SharedArrayBuffer(4);
    const { port1, port2 } = new MessageChannel();
    this.replies = port2;
    this.#worker = new Worker(join(HERE, 'guest-worker.mjs'), {
      workerData: { guestDir: this.guestDir, signal: this.signal, replies: port1 },
      transferList: [port1],
    });
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.once('message', (m) => (m.type === 'ready' ? resolve() : reject(new Error('the guest thread did not start'))));
      this.#worker.once('error', reject);
    });
    this.#ready.catch(() => {});
  }

  ready() {
    return this.#ready;
  }

  run(job) {
    const next = this.#queue.then(() => this.#run(job));
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Runs one invocation; resolves with the response, or with `{ trap }`. */
  async #run({ event, context, config, waitMs, cpuMs, aws, log }) {
    await this.#ready;
    const worker = this.#worker;
    const flag = new Int32Array(this.signal);
    return new Promise((resolve) => {
      let budget;
      let finished = false;
      const running = () => {
        if (!finished) budget = setTimeout(() => finish({ trap: 'the guest ran past its CPU budget' }, true), cpuMs);
      };
      const finish = (outcome, restart = false) => {
        if (finished) return;
        finished = true;
        clearTimeout(budget);
        worker.off('message', onMessage);
        worker.off('error', onError);
        if (restart) {
          worker.terminate();
          this.#start();
        }
        resolve(outcome);
      };
      const onError = (e) => finish({ trap: `the guest thread failed: ${e?.message ?? e}` }, true);
      const onMessage = async (m) => {
        if (m.type === 'log') return log(m.level, m.message);
        if (m.type === 'done') return finish({ response: m.response });
        if (m.type === 'trap') return finish({ trap: m.message });
        if (m.type !== 'call') return;
        clearTimeout(budget); // waiting on AWS is not the guest's time
        let reply;
        try {
          reply = { value: await aws[m.op](...m.args) };
        } catch (e) {
          reply = { error: e?.payload ?? { tag: 'other', val: 'the host failed to make the call' } };
        }
        // An answer after the invocation ended (its call gave up) is posted
        // all the same: the guest drops it by its number.
        this.replies.postMessage({ seq: m.seq, ...reply });
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
        running();
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      running();
      worker.postMessage({ event, context, config, waitMs });
    });
  }

  close() {
    return this.#worker.terminate();
  }
}

/**
 * Builds the handler: configuration and settings validated (an error names
 * the variable), the AWS clients and the guest's thread started. Tests pass
 * `aws` (the simulated account) and `config` (a WIT config, as fixtures
 * write it) instead.
 */
export async function createHandler({ env = process.env, aws, config, guestDir = DEFAULT_GUEST_DIR } = {}) {
  const settings = settingsFrom(env);
  const cfg = config ?? configFrom(env);
  const log = logger(settings.logLevel);
  const backend = guarded(aws ?? sdkAws(settings, env, log), cfg);
  const thread = new GuestThread(guestDir);
  await thread.ready();
  let coldStart = true;

  /** The event as text, as the Rust host takes it. */
  async function invokeText(text, { requestId = '', cognitoIdentity, remainingMs = () => 10_000, calls, stats = {} } = {}) {
    Object.assign(stats, { awsCalls: 0, awsWaitMs: 0, guestMs: 0 });
    if (typeof text !== 'string') {
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(text);
      } catch {
        return hostError(400, 'invalid-event', 'the event is not valid UTF-8', cfg);
      }
    }
    if (Buffer.byteLength(text) > settings.maxEventBytes) {
      return hostError(413, 'event-too-large', `the event is larger than ${settings.maxEventBytes} bytes`, cfg);
    }
    // The guest gets its imports only, not the host's own calls.
    const imports = Object.fromEntries(IMPORTS.map((name) => [name, backend[name]]));
    const started = performance.now();
    const timed = (fn) => async (...a) => {
      const callStarted = performance.now();
      try {
        return await fn(...a, remainingMs);
      } finally {
        stats.awsCalls += 1;
        stats.awsWaitMs += performance.now() - callStarted;
      }
    };
    const aws = recorded(Object.fromEntries(Object.entries(imports).map(([op, fn]) => [op, timed(fn)])), calls);
    const context = { requestId, cognitoIdentity };
    const outcome = await thread.run({
      event: text,
      context,
      config: cfg,
      waitMs: Math.max(1, remainingMs()),
      cpuMs: settings.guestCpuMs,
      aws,
      log,
    });
    stats.guestMs = Math.max(0, performance.now() - started - stats.awsWaitMs);
    if (outcome.trap !== undefined) {
      log('error', `the component failed: ${outcome.trap}`);
      return hostError(500, 'internal-error', 'the invocation failed', cfg);
    }
    return outcome.response;
  }

  /** The Lambda handler: an API Gateway proxy response. */
  async function handler(event, context) {
    log('info', `invocation cold_start=${coldStart}`);
    coldStart = false;
    const identity = context?.identity;
    const cognitoIdentity = identity?.cognitoIdentityId
      ? JSON.stringify({ cognitoIdentityId: identity.cognitoIdentityId, cognitoIdentityPoolId: identity.cognitoIdentityPoolId })
      : undefined;
    if (isCustomResource(event)) {
      // The host's own, as in the Rust host: never the component's.
      const deps = { aws: backend, config: cfg, settings, log, remainingMs: remaining(context, log) };
      const answer = await serveCustomResource(event, cognitoIdentity, deps);
      return { ...answer, headers: { 'Content-Type': 'application/json' } };
    }
    const stats = {};
    const response = await invokeText(stringify(event), {
      requestId: context?.awsRequestId ?? '',
      cognitoIdentity,
      remainingMs: remaining(context, log),
      stats,
    });
    log('info', `response status=${response.statusCode}`);
    if (settings.metrics) process.stdout.write(`${JSON.stringify(metricsLine(settings.functionName, response.statusCode, stats))}\n`);
    return { statusCode: response.statusCode, headers: Object.fromEntries(response.headers), body: response.body };
  }

  return { handler, invokeText, close: () => thread.close() };
}
