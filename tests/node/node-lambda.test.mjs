// The Node.js Lambda's production handler (node/src/handler.mjs) with the
// conformance corpus: the guest in its worker thread, every import crossing
// the synchronous bridge to async functions, the guard and the host's own
// answers, against the JavaScript simulated account.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseFiles, check, defaults, fixtures, inputs, readJson, root, transpiledGuest } from './fixtures.mjs';
import { SimulatedAccount } from './simulated-account.mjs';

const { createHandler } = await import(join(root, 'node/src/handler.mjs'));
const guestDir = transpiledGuest();
const env = { AWS_REGION: 'us-west-2' };

/** An account whose imports are async, as the SDK's are. */
function asyncImports(account) {
  return Object.fromEntries(Object.entries(account.imports()).map(([op, fn]) => [op, async (...a) => fn(...a.slice(0, fn.length))]));
}

const handlers = [];
after(() => Promise.all(handlers.map((h) => h.close())));

async function handlerFor(c, account) {
  const { config } = inputs(c);
  const h = await createHandler({ env, aws: asyncImports(account), config, guestDir });
  handlers.push(h);
  return h;
}

for (const file of caseFiles()) {
  const c = readJson(join(fixtures, 'cases', file));
  test(`${file}: ${c.description}`, async () => {
    const { event, config, context } = inputs(c);
    const account = new SimulatedAccount(c.account ?? readJson(join(root, defaults.accountFile)), c.faults ?? []);
    const h = await handlerFor(c, account);
    const calls = [];
    const response = await h.invokeText(event, { requestId: context.requestId, cognitoIdentity: context.cognitoIdentity, calls });
    check(c, { response, calls, config });
  });

  // What Lambda's runtime does first: parse the event, and refuse it if it is
  // not JSON. The handler must answer the parsed event as the Rust host
  // answers its bytes, however deep it is.
  let parsed;
  try {
    parsed = JSON.parse(inputs(c).event);
  } catch {
    continue;
  }
  test(`${file}: through the Lambda handler, as Lambda's runtime parsed it`, async () => {
    const { context } = inputs(c);
    const account = new SimulatedAccount(c.account ?? readJson(join(root, defaults.accountFile)), c.faults ?? []);
    const h = await handlerFor(c, account);
    const identity = context.cognitoIdentity ? JSON.parse(context.cognitoIdentity) : undefined;
    const lambdaContext = { awsRequestId: context.requestId, getRemainingTimeInMillis: () => 5000, identity };
    const response = await h.handler(parsed, lambdaContext);
    assert.equal(response.statusCode, c.expect.status, response.body);
    assert.deepEqual(response.headers, c.expect.headers, 'headers');
    if (typeof c.expect.body === 'string') assert.equal(response.body, c.expect.body, 'body');
    else assert.deepEqual(JSON.parse(response.body), c.expect.body, 'body');
  });
}

test('an event too deep for JSON.stringify is written out whole, as JSON.stringify would', async () => {
  const { stringify } = await import(join(root, 'node/src/json.mjs'));
  const shallow = { a: [1, 'x', null, true, { b: undefined, c: 2.5 }], d: {}, e: [], f: '\u2028"' };
  assert.equal(stringify(shallow), JSON.stringify(shallow));
  const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)},"b":{"c":"d"}}`;
  assert.throws(() => JSON.stringify(JSON.parse(deep)), RangeError);
  assert.equal(stringify(JSON.parse(deep)), deep);
});

test('the Lambda handler takes a parsed event and answers in the proxy shape', async () => {
  const c = readJson(join(fixtures, 'cases', 'rest-v1-sub-as-username.json'));
  const account = new SimulatedAccount(c.account, []);
  const h = await handlerFor(c, account);
  const context = { awsRequestId: 'r-1', getRemainingTimeInMillis: () => 5000 };
  const response = await h.handler(c.event, context);
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.headers, c.expect.headers);
  assert.deepEqual(JSON.parse(response.body), c.expect.body);
  // A direct invocation: the identity comes from Lambda's context, not the event.
  const direct = readJson(join(fixtures, 'cases', 'direct-invocation-detach.json'));
  const identity = JSON.parse(direct.context.cognitoIdentity);
  const answer = await h.handler({ action: 'detach' }, { ...context, identity });
  assert.equal(answer.statusCode, 200, answer.body);
  assert.equal(JSON.parse(answer.body).identityId, identity.cognitoIdentityId);
});

test('an AWS call that never answers is cut at the deadline, not waited on forever', async () => {
  const c = readJson(join(fixtures, 'cases', 'rest-v1-sub-as-username.json'));
  const never = { attachPolicy: () => new Promise(() => {}) };
  const h = await createHandler({ env, aws: { ...asyncImports(new SimulatedAccount(c.account)), ...never }, config: inputs(c).config, guestDir });
  handlers.push(h);
  const started = Date.now();
  const response = await h.handler(c.event, { awsRequestId: 'r', getRemainingTimeInMillis: () => 300 - (Date.now() - started) });
  assert.equal(response.statusCode, 502, response.body);
  assert.match(JSON.parse(response.body).message, /unavailable/);
});

test('the package holds the guest transpiled from this very component', () => {
  const pkg = join(root, 'target/node-package/guest');
  const recorded = readFileSync(join(pkg, 'component.sha256'), 'utf8').trim();
  const wasm = readFileSync(join(root, 'target/wasm32-wasip2/guest/attach_iot_policy_guest.wasm'));
  assert.equal(recorded, createHash('sha256').update(wasm).digest('hex'));
  for (const name of ['attacher.js', 'attacher.core.wasm']) {
    assert.deepEqual(readFileSync(join(pkg, name)), readFileSync(join(guestDir, name)), name);
  }
});

test('bad settings fail init with a message that names the variable', async () => {
  for (const [vars, variable] of [
    [{}, 'IOT_POLICY_NAME'],
    [{ IOT_POLICY_NAME: 'a,,b' }, 'IOT_POLICY_NAME'],
    [{ IOT_POLICY_NAME: 'a,b,c,d,e,f,g,h,i,j,k' }, 'IOT_POLICY_NAME'],
    [{ IOT_POLICY_NAME: 'p', COGNITO_ATTRIBUTE_NAME: 'email' }, 'COGNITO_ATTRIBUTE_NAME'],
    [{ IOT_POLICY_NAME: 'p', COGNITO_ATTRIBUTE_VALUE: 'yes' }, 'COGNITO_ATTRIBUTE_VALUE'],
    [{ IOT_POLICY_NAME: 'p', ALLOWED_USER_POOL_IDS: 'us-east-1:x' }, 'ALLOWED_USER_POOL_IDS'],
    [{ IOT_POLICY_NAME: 'p', CORS_ALLOW_ORIGIN: 'https://a.example, https://b.example' }, 'CORS_ALLOW_ORIGIN'],
    [{ IOT_POLICY_NAME: 'p', AWS_LAMBDA_LOG_LEVEL: 'LOUD' }, 'AWS_LAMBDA_LOG_LEVEL'],
    [{ IOT_POLICY_NAME: 'p', AWS_RETRY_MODE: 'adaptive' }, 'AWS_RETRY_MODE'],
    [{ IOT_POLICY_NAME: 'p', AWS_REGION: 'Mars' }, 'AWS_REGION'],
    // The drain's settings too: at init, not when the stack is deleted.
    [{ IOT_POLICY_NAME: 'p', DETACH_RATE: 'fast' }, 'DETACH_RATE'],
    [{ IOT_POLICY_NAME: 'p', DETACH_RATE: '0' }, 'DETACH_RATE'],
    [{ IOT_POLICY_NAME: 'p', CFN_RESPONSE_URL_ALLOWED_ORIGIN: 'null' }, 'CFN_RESPONSE_URL_ALLOWED_ORIGIN'],
    [{ IOT_POLICY_NAME: 'p', CFN_RESPONSE_URL_ALLOWED_ORIGIN: 'foo://x' }, 'CFN_RESPONSE_URL_ALLOWED_ORIGIN'],
  ]) {
    await assert.rejects(createHandler({ env: { AWS_REGION: 'us-east-1', ...vars }, aws: {}, guestDir }), (e) => {
      assert.ok(e.message.startsWith(variable), `${JSON.stringify(vars)}: ${e.message}`);
      return true;
    });
  }
});

/** A loopback ResponseURL: each request's method, Content-Type and parsed body land in `answers`. */
async function responseUrl() {
  const { createServer } = await import('node:http');
  const answers = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      answers.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(body) });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    answers,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test('the stack custom resource: Create and Update change nothing; Delete drains, or fails saying why', async (t) => {
  const { origin, answers, close } = await responseUrl();
  // Closed whatever the outcome: an open server keeps `node --test` from exiting.
  t.after(close);
  const attached = new Set(Array.from({ length: 40 }, (_, i) => `us-east-1:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`));
  let denied = false;
  const aws = {
    listTargetsForPolicy: async (policy, marker) => {
      if (denied) throw { payload: { tag: 'access-denied', val: 'AccessDeniedException' } };
      const all = [...attached];
      const start = Number(marker ?? 0);
      const next = start + 15 < all.length ? String(start + 15) : undefined;
      return { targets: all.slice(start, start + 15), nextMarker: next };
    },
    detachPolicy: async (policy, target) => {
      if (!attached.delete(target)) throw { payload: { tag: 'not-found', val: 'not attached' } };
    },
  };
  const config = { ...defaults.config, policyNames: ['stack-per-identity'] };
  const h = await createHandler({ env: { ...env, CFN_RESPONSE_URL_ALLOWED_ORIGIN: origin, DETACH_RATE: '1000' }, aws, config, guestDir });
  handlers.push(h);
  const request = (RequestType) => ({
    RequestType,
    ResponseURL: `${origin}/response?X-Amz-Signature=x`,
    StackId: 'stack',
    RequestId: `r-${RequestType}`,
    LogicalResourceId: 'PolicyTargetsDrain',
    PhysicalResourceId: 'detach-on-delete-stack-per-identity',
    ResourceProperties: { PolicyName: 'stack-per-identity' },
  });
  const context = { awsRequestId: 'cfn', getRemainingTimeInMillis: () => 60_000 };
  for (const kind of ['Create', 'Update']) {
    await h.handler(request(kind), context);
    assert.equal(answers.at(-1).body.Status, 'SUCCESS');
    assert.equal(attached.size, 40, `${kind} changed nothing`);
  }
  assert.equal(answers.at(-1).method, 'PUT');
  assert.equal(answers.at(-1).contentType, undefined, 'no Content-Type: the presigned URL was signed without one');
  denied = true;
  await h.handler(request('Delete'), context);
  assert.equal(answers.at(-1).body.Status, 'FAILED');
  assert.match(answers.at(-1).body.Reason, /access-denied.*detach-all --policy stack-per-identity/);
  denied = false;
  const fromApp = await h.handler(request('Delete'), { ...context, identity: { cognitoIdentityId: 'x', cognitoIdentityPoolId: 'y' } });
  assert.equal(fromApp.statusCode, 403);
  assert.equal(answers.length, 3, 'an app identity gets no drain and CloudFormation hears nothing');
  await h.handler(request('Delete'), context);
  assert.equal(answers.at(-1).body.Status, 'SUCCESS', answers.at(-1).body.Reason);
  assert.equal(answers.at(-1).body.Data.Detached, 40);
  assert.equal(attached.size, 0);
});

test('the custom resource answers in time when a detach never returns: no call runs into the time kept for the answer', async (t) => {
  const { origin, answers, close } = await responseUrl();
  // Closed whatever the outcome: an open server keeps `node --test` from exiting.
  t.after(close);
  const invocationEnd = Date.now() + 10_500;
  const budgets = [];
  const aws = {
    listTargetsForPolicy: async () => ({ targets: ['a', 'b'], nextMarker: undefined }),
    // As the SDK client does, the call lasts until its budget runs out.
    detachPolicy: async (policy, target, remainingMs) => {
      budgets.push(remainingMs());
      await new Promise((r) => setTimeout(r, Math.max(1, remainingMs())));
      throw { payload: { tag: 'unavailable', val: 'timed out (no HTTP answer)' } };
    },
  };
  const config = { ...defaults.config, policyNames: ['stack-per-identity'] };
  const h = await createHandler({ env: { ...env, CFN_RESPONSE_URL_ALLOWED_ORIGIN: origin, DETACH_RATE: '1000' }, aws, config, guestDir });
  handlers.push(h);
  const context = { awsRequestId: 'cfn', getRemainingTimeInMillis: () => invocationEnd - Date.now() };
  await h.handler(
    {
      RequestType: 'Delete',
      ResponseURL: `${origin}/response`,
      StackId: 'stack',
      RequestId: 'r',
      LogicalResourceId: 'PolicyTargetsDrain',
      PhysicalResourceId: 'detach-on-delete-stack-per-identity',
      ResourceProperties: { PolicyName: 'stack-per-identity' },
    },
    context,
  );
  // Detaches start only in the first 0.5 s, and each ends 4 s before the
  // invocation does (6.5 s from the start), leaving that time for the answer.
  assert.equal(budgets.length, 2);
  assert.ok(budgets.every((b) => b <= 6_500), `${budgets}`);
  assert.ok(Date.now() < invocationEnd, 'answered before the invocation ended');
  assert.equal(answers.length, 1);
  assert.equal(answers[0].body.Status, 'FAILED');
  assert.match(answers[0].body.Reason, /^2 of 2 targets are still attached to stack-per-identity \(a detach failed: unavailable: .*\); run `attach-iot-policy detach-all/);
});

test('an answer that comes after its call gave up is never taken for the next call', async () => {
  const c = readJson(join(fixtures, 'cases', 'rest-v1-sub-as-username.json'));
  const simulated = asyncImports(new SimulatedAccount(c.account));
  let first = true;
  // The first attach answers late (after the invocation's deadline); later calls at once.
  const late = {
    attachPolicy: async (...a) => {
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 400));
        throw { payload: { tag: 'access-denied', val: 'the late answer' } };
      }
      return simulated.attachPolicy(...a);
    },
  };
  const h = await createHandler({ env, aws: { ...simulated, ...late }, config: inputs(c).config, guestDir });
  handlers.push(h);
  const started = Date.now();
  const timedOut = await h.handler(c.event, { awsRequestId: 'a', getRemainingTimeInMillis: () => 200 - (Date.now() - started) });
  assert.equal(timedOut.statusCode, 502);
  assert.match(JSON.parse(timedOut.body).message, /unavailable/);
  await new Promise((r) => setTimeout(r, 300)); // the late answer lands now
  const next = await h.handler(c.event, { awsRequestId: 'b', getRemainingTimeInMillis: () => 5000 });
  assert.equal(next.statusCode, 200, next.body);
});

test('the pause between detaches ends at the deadline, however low the rate', async () => {
  const { drain } = await import(join(root, 'node/src/custom-resource.mjs'));
  const detached = [];
  const aws = {
    listTargetsForPolicy: async () => ({ targets: ['a', 'b', 'c'], nextMarker: undefined }),
    detachPolicy: async (policy, target) => void detached.push(target),
  };
  const started = Date.now();
  // 0.01 a second: 100 s between detaches, and 300 ms to go.
  const summary = await drain(aws, 'p', 0.01, started + 300, () => 5000);
  assert.ok(Date.now() - started < 2000, `it stopped at the deadline, after ${Date.now() - started} ms`);
  assert.equal(summary.stopped, 'the time ran out');
  assert.deepEqual(detached, ['a']);
  assert.equal(summary.remaining, 2);
});

test('a listing whose markers go round ends', async () => {
  const { drain } = await import(join(root, 'node/src/custom-resource.mjs'));
  const pages = { undefined: ['a', 'A'], A: ['b', 'B'], B: ['c', 'A'] };
  const detached = new Set();
  let calls = 0;
  const aws = {
    listTargetsForPolicy: async (policy, marker) => {
      assert.ok(++calls < 10, 'the listing went round');
      const [target, nextMarker] = pages[marker];
      return { targets: detached.has(target) ? [] : [target], nextMarker };
    },
    detachPolicy: async (policy, target) => void detached.add(target),
  };
  const summary = await drain(aws, 'p', 1000, Date.now() + 5000, () => 5000);
  assert.equal(summary.targets, 3);
  assert.equal(summary.detached, 3);
});


test('any cycle of markers is caught, in constant memory', async () => {
  const { markerCycle } = await import(join(root, 'node/src/custom-resource.mjs'));
  for (const [tail, cycle] of [[0, 1], [0, 2], [3, 1], [5, 7], [100, 3], [1, 250]]) {
    const seenBefore = markerCycle();
    let caught = -1;
    for (let i = 0; i < 10_000 && caught < 0; i++) if (seenBefore(i < tail ? `t${i}` : `c${(i - tail) % cycle}`)) caught = i;
    assert.ok(caught >= 0 && caught <= 2 * (tail + cycle) + cycle, `tail ${tail}, cycle ${cycle}: caught at ${caught}`);
  }
});

/** An IoT of `pages` pages of 250, made as asked for; it counts the targets handed out and not yet detached. */
function manyPages(pages, { hangAfter } = {}) {
  const state = { detached: 0, listed: 0, mostHeld: 0 };
  state.aws = {
    listTargetsForPolicy: async (policy, marker) => {
      const n = Number(marker ?? 0);
      if (hangAfter !== undefined && n > hangAfter) return new Promise(() => {});
      if (state.detached >= pages * 250) return { targets: [] };
      const targets = Array.from({ length: 250 }, (_, i) => `us-east-1:${String(n).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`);
      state.listed += 250;
      state.mostHeld = Math.max(state.mostHeld, state.listed - state.detached);
      return { targets, nextMarker: n + 1 < pages ? String(n + 1) : undefined };
    },
    detachPolicy: async () => void state.detached++,
  };
  return state;
}

test('the drain holds a few pages, whatever the count (it used to list every target first)', async () => {
  const { drain } = await import(join(root, 'node/src/custom-resource.mjs'));
  const iot = manyPages(100);
  const summary = await drain(iot.aws, 'p', 10_000, Date.now() + 60_000, () => 60_000);
  assert.deepEqual([summary.detached, summary.remaining, summary.stopped], [25_000, 0, null]);
  // The page being detached, the one fetched ahead, and the detaches on their way.
  assert.ok(iot.mostHeld <= 2 * 250 + 32, `${iot.mostHeld} targets were held at once`);
});

test('a page that never comes stops the drain at the deadline, and the answer says the listing did not end', async () => {
  const { drain, stillAttached } = await import(join(root, 'node/src/custom-resource.mjs'));
  const started = Date.now();
  const summary = await drain(manyPages(10, { hangAfter: 1 }).aws, 'p', 10_000, started + 500, () => 5000);
  assert.ok(Date.now() - started < 3000, `it stopped after ${Date.now() - started} ms`);
  assert.equal(summary.stopped, 'the time ran out');
  assert.equal(summary.detached, 500);
  assert.match(stillAttached('p', summary), /^0 listed targets are still attached to p, and more may be: the listing did not end \(the time ran out\)$/);
});

test('a target listed twice, on overlapping pages, is detached and counted once', async () => {
  const { drain } = await import(join(root, 'node/src/custom-resource.mjs'));
  const attached = new Set(Array.from({ length: 1000 }, (_, i) => `target-${String(i).padStart(4, '0')}`));
  let listing = [];
  const aws = {
    // Each page repeats the last 10 of the one before; a listing reads what was attached at its first page.
    listTargetsForPolicy: async (policy, marker) => {
      if (marker === undefined) listing = [...attached];
      const start = Number(marker ?? 0);
      const end = Math.min(start + 100, listing.length);
      return { targets: listing.slice(Math.max(0, start - 10), end), nextMarker: end < listing.length ? String(end) : undefined };
    },
    // As the simulated account, detaching what is not attached succeeds.
    detachPolicy: async (policy, target) => void attached.delete(target),
  };
  const summary = await drain(aws, 'p', 10_000, Date.now() + 60_000, () => 60_000);
  assert.deepEqual([summary.targets, summary.detached, summary.alreadyDetached, summary.remaining], [1000, 1000, 0, 0]);
  assert.equal(attached.size, 0);
});

const SESSION = {
  AWS_ACCESS_KEY_ID: 'ASIAQUOTEDBACKEXAMPL',
  AWS_SECRET_ACCESS_KEY: 'quotedBackSecret/K7MDENG+bPxRfiCYEXAMPLE',
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDquotedBackSessionToken+dGhlIHNlc3Npb24gdG9rZW4=',
};

function assertNoCredentials(what, text) {
  for (const [name, secret] of Object.entries(SESSION)) {
    assert.ok(!text.includes(secret), `${what} carries ${name}:\n${text}`);
    // Nor a piece of it, as a server that cuts its quote would give.
    assert.ok(!text.includes(secret.slice(secret.length / 4, secret.length / 2)), `${what} carries part of ${name}:\n${text}`);
  }
  assert.match(text, /\[redacted\]/, `${what} never heard the quoting server`);
}

test('redact takes a secret out whole, percent-encoded or in part, and leaves other text', async () => {
  const { redact } = await import(join(root, 'node/src/aws.mjs'));
  const secrets = Object.values(SESSION);
  const token = SESSION.AWS_SESSION_TOKEN;
  assert.equal(redact(`The security token '${token}' is invalid.`, secrets), "The security token '[redacted]' is invalid.");
  assert.equal(redact(`X-Amz-Security-Token=${encodeURIComponent(token)}&x=1`, secrets), '[redacted]&x=1');
  assert.equal(redact(`token ${token.slice(5, 45)}... was cut`, secrets), 'token [redacted]... was cut');
  const plain = 'User: arn:aws:iam::123456789012:user/x is not authorized to perform iot:AttachPolicy';
  assert.equal(redact(plain, secrets), plain);
});

/**
 * Issue 24, finding 2, in the Node.js Lambda: an AWS on loopback that
 * refuses every call and quotes the request's credentials back; the handler
 * runs in a child process with real SDK clients, and neither its answer, nor
 * its log, nor the Reason sent to CloudFormation carries them.
 */
test('a server quoting the credentials is passed on nowhere', async (t) => {
  const { createServer } = await import('node:http');
  const { execFile } = await import('node:child_process');
  const aws = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url.startsWith('/policy-targets/') && !req.url.includes('marker=')) {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ targets: ['us-east-1:00000000-0000-4000-8000-000000000001'], nextMarker: '2' }));
      }
      const token = String(req.headers['x-amz-security-token'] ?? '');
      const message = `The security token included in the request is invalid: ${token} (cut: ${token.slice(0, token.length / 2)}) ${req.headers.authorization}`;
      res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'UnrecognizedClientException' });
      res.end(JSON.stringify({ message }));
    });
  });
  await new Promise((r) => aws.listen(0, '127.0.0.1', r));
  t.after(() => {
    aws.closeAllConnections();
    aws.close();
  });
  const { origin, answers, close } = await responseUrl();
  t.after(close);
  const script = `
    const { createHandler } = await import(process.env.TEST_HANDLER);
    const h = await createHandler({ guestDir: process.env.TEST_GUEST_DIR });
    const out = await h.handler(JSON.parse(process.env.TEST_EVENT), { awsRequestId: 'r', getRemainingTimeInMillis: () => 30000 });
    console.log(JSON.stringify(out));
    await h.close();`;
  // A file, not `-e`: the guest's worker thread would inherit `--input-type`.
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync(join((await import('node:os')).tmpdir(), 'quoting-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'run.mjs'), script);
  const run = (event) =>
    new Promise((resolve) => {
      const args = [join(dir, 'run.mjs')];
      const childEnv = {
        PATH: process.env.PATH,
        TEST_HANDLER: join(root, 'node/src/handler.mjs'),
        TEST_GUEST_DIR: guestDir,
        TEST_EVENT: JSON.stringify(event),
        AWS_REGION: 'us-west-2',
        AWS_ENDPOINT_URL: `http://127.0.0.1:${aws.address().port}`,
        IOT_POLICY_NAME: 'amplify-toolkit-iot-message-viewer',
        CFN_RESPONSE_URL_ALLOWED_ORIGIN: origin,
        AWS_LAMBDA_LOG_LEVEL: 'DEBUG',
        AWS_MAX_ATTEMPTS: '1',
        ...SESSION,
      };
      execFile(process.execPath, args, { env: childEnv, timeout: 60_000 }, (error, stdout, stderr) => resolve({ error, output: stdout + stderr }));
    });

  const event = readJson(join(root, 'examples/event-rest.json'));
  const api = await run(event);
  assert.equal(api.error, null, api.output);
  assert.match(api.output, /"statusCode":502/, api.output);
  assertNoCredentials("the API answer and log", api.output);

  const drain = await run({
    RequestType: 'Delete',
    ResponseURL: `${origin}/response`,
    StackId: 'stack',
    RequestId: 'r',
    LogicalResourceId: 'PolicyTargetsDrain',
    PhysicalResourceId: 'detach-on-delete-amplify-toolkit-iot-message-viewer',
    ResourceProperties: { PolicyName: 'amplify-toolkit-iot-message-viewer' },
  });
  assert.equal(drain.error, null, drain.output);
  assert.equal(answers.at(-1)?.body.Status, 'FAILED', drain.output);
  assertNoCredentials('the Reason sent to CloudFormation', answers.at(-1).body.Reason);
  assertNoCredentials("the custom resource's answer and log", drain.output);
});

test('a custom resource request of the wrong shape gets a 400 naming the field, never quoting the value', async (t) => {
  const { origin, answers, close } = await responseUrl();
  t.after(close);
  const marker = 'QUOTED-VALUE-MARKER';
  const lines = [];
  const config = { ...defaults.config, policyNames: ['stack-policy'] };
  const h = await createHandler({ env: { ...env, CFN_RESPONSE_URL_ALLOWED_ORIGIN: origin }, aws: {}, config, guestDir });
  handlers.push(h);
  const base = () => ({
    RequestType: 'Delete',
    ResponseURL: `${origin}/response`,
    StackId: 'stack',
    RequestId: 'r',
    LogicalResourceId: 'PolicyTargetsDrain',
    ResourceProperties: { PolicyName: 'stack-policy' },
  });
  const context = { awsRequestId: 'cfn', getRemainingTimeInMillis: () => 10_000 };
  // The logs go to stdout and stderr: both are read for the marker.
  const capture = (stream) => {
    const original = stream.write;
    stream.write = (chunk, ...rest) => (lines.push(String(chunk)), original.call(stream, chunk, ...rest));
    t.after(() => (stream.write = original));
  };
  capture(process.stdout);
  capture(process.stderr);
  for (const [field, value] of [['RequestType', { x: marker }], ['ResourceProperties', [marker]], ['StackId', 7]]) {
    const response = await h.handler({ ...base(), [field]: value }, context);
    assert.equal(response.statusCode, 400, response.body);
    assert.ok(response.body.includes(field), response.body);
    assert.ok(!response.body.includes(marker), response.body);
  }
  assert.equal(answers.length, 0, 'no answer can be sent to a request of the wrong shape');
  await h.handler({ ...base(), RequestType: marker }, context);
  assert.equal(answers.at(-1).body.Status, 'FAILED');
  assert.ok(!JSON.stringify(answers.at(-1).body).includes(marker), JSON.stringify(answers.at(-1).body));
  assert.match(lines.join(''), /custom resource request unknown for PolicyTargetsDrain/, 'the log was read');
  assert.ok(!lines.join('').includes(marker), lines.join(''));
});

test('a listing that lags does not detach or count a target again, and a refused target is tried again', async () => {
  const { drain } = await import(join(root, 'node/src/custom-resource.mjs'));
  const all = Array.from({ length: 100 }, (_, i) => `target-${String(i).padStart(4, '0')}`);
  let listings = 0;
  let detaches = 0;
  const lagging = {
    // The first two listings show all 100; AWS has caught up by the third.
    listTargetsForPolicy: async () => ({ targets: listings++ < 2 ? all : [] }),
    detachPolicy: async () => void detaches++,
  };
  const summary = await drain(lagging, 'p', 10_000, Date.now() + 60_000, () => 60_000);
  assert.deepEqual([summary.targets, summary.detached, summary.alreadyDetached, detaches], [100, 100, 0, 100]);

  const attached = new Set(['a', 'b']);
  let refused = false;
  const refusesOnce = {
    listTargetsForPolicy: async () => ({ targets: [...attached] }),
    detachPolicy: async (policy, target) => {
      if (target === 'b' && !refused) {
        refused = true;
        throw { payload: { tag: 'access-denied', val: 'AccessDeniedException: once' } };
      }
      attached.delete(target);
    },
  };
  const retried = await drain(refusesOnce, 'p', 10_000, Date.now() + 60_000, () => 60_000);
  assert.deepEqual([retried.detached, retried.remaining, retried.stopped, attached.size], [2, 0, null, 0]);
});

test("deleting the drained policy waits out IoT's refusals, and stops in time when it never lets go", async () => {
  const { deletePolicy } = await import(join(root, 'node/src/custom-resource.mjs'));
  const conflict = { payload: { tag: 'invalid-request', val: 'DeleteConflictException: detached too recently' } };
  const iot = (refusals) => {
    const calls = [];
    return {
      calls,
      listPolicyVersions: async (p) => (calls.push(`list ${p}`), [{ id: '1', default: true }, { id: '3', default: false }]),
      deletePolicyVersion: async (p, v) => void calls.push(`version ${p} ${v}`),
      deletePolicy: async (p) => {
        calls.push(`delete ${p}`);
        if (refusals-- > 0) throw conflict;
      },
    };
  };
  const far = () => 60_000;
  const slow = iot(2);
  assert.deepEqual(await deletePolicy(slow, 'p', 10, Date.now() + 60_000, far), { tries: 3, versions: 1 });
  assert.deepEqual(slow.calls.slice(0, 3), ['list p', 'version p 3', 'delete p'], 'the other version goes first');
  assert.equal(slow.calls.length, 9);

  // Pauses of 10, 20, 40, 80 and 160 ms fit in 500 ms; a sixth of 320 does not.
  const until = Date.now() + 500;
  const never = await deletePolicy(iot(Infinity), 'p', 10, until, far).catch((e) => e);
  assert.equal(never.stillRefused?.tries, 6, JSON.stringify(never));
  assert.match(never.stillRefused.last, /^DeleteConflictException/);
  assert.ok(Date.now() < until);

  const gone = { listPolicyVersions: async () => Promise.reject({ payload: { tag: 'not-found', val: 'ResourceNotFoundException' } }) };
  assert.deepEqual(await deletePolicy(gone, 'p', 10, Date.now() + 60_000, far), { alreadyGone: true });
  const denied = { listPolicyVersions: async () => Promise.reject({ payload: { tag: 'access-denied', val: 'AccessDeniedException' } }) };
  const started = Date.now();
  const failed = await deletePolicy(denied, 'p', 60_000, Date.now() + 600_000, far).catch((e) => e);
  assert.equal(failed.failed?.payload.tag, 'access-denied');
  assert.ok(Date.now() - started < 60_000, 'not waited on');
});
