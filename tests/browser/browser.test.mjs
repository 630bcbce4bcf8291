// attach-iot-policy-client in a real browser: Debian's headless Chromium
// (`chromium-headless-shell`), driven by playwright-core, on a page bundled by
// esbuild and served from one origin, calling an API of another origin, so
// every call passes a real CORS preflight. The API is client/test/api.mjs,
// which verifies each SigV4 signature as API Gateway's IAM authorization does
// and answers preflights with deploy/template.yaml's CORS configuration.
//
// Amplify and the SDK v3 against moto and the real function: workflow.test.mjs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { startApi } from '../../client/test/api.mjs';
import { ANA, MAT } from '../../client/test/identities.mjs';
import { launch, prerequisites, servePages, templateCors } from './pages.mjs';

const root = resolve(import.meta.dirname, '../..');
const credentials = { accessKeyId: MAT.accessKeyId, secretAccessKey: MAT.secretAccessKey, sessionToken: MAT.sessionToken };

/** The headers the guest gives a throttled answer, from the conformance corpus. */
function throttledHeaders() {
  const c = JSON.parse(readFileSync(join(root, 'tests/fixtures/cases/attach-policy-throttled.json'), 'utf8'));
  const { 'Content-Type': _, 'Access-Control-Allow-Origin': __, ...headers } = c.expect.headers;
  return headers;
}

let browser;
let page;
let pages;
let api;

before(async () => {
  prerequisites([join(root, 'client/dist/index.js'), 'make client']);
  pages = await servePages({ '/': 'page.mjs' });
  // Another host name, so another origin: the browser sends real preflights.
  api = await startApi({ [MAT.accessKeyId]: MAT, [ANA.accessKeyId]: ANA }, { cors: templateCors(pages.origin) });
  api.url = `${api.origin.replace('127.0.0.1', 'localhost')}/prod/attachIoTPolicy`;
  browser = await launch();
  page = await browser.newPage();
  await page.goto(pages.origin);
  await page.waitForFunction(() => window.client !== undefined);
});

after(async () => {
  await browser?.close();
  api?.close();
  pages?.close();
});

/** Runs `ensureIotPolicy` in the page; what it returned, or the error's fields. */
function ensure(options) {
  return page.evaluate(async (options) => {
    try {
      const outcome = await window.client.ensureIotPolicy(options);
      return { called: outcome.called, identityId: outcome.identityId, clientId: outcome.clientId('tab-1') };
    } catch (e) {
      return { error: { name: e.name, status: e.status, code: e.code, retryable: e.retryable, message: e.message } };
    }
  }, options);
}

test('in the browser: the first call is signed, passes the preflight, and is made once', async () => {
  const before = api.calls.length;
  api.answer([200, {}, { identityId: MAT.identityId, policies: ['p'], attributeUpdated: false }]);
  const outcome = await ensure({ url: api.url, region: 'us-east-1', credentials, identityId: MAT.identityId, attribute: null });
  assert.deepEqual(outcome, { called: true, identityId: MAT.identityId, clientId: `${MAT.identityId}-tab-1` });
  assert.equal(api.calls.length - before, 1);
  assert.deepEqual(api.refused, []);
  const preflight = api.preflights.at(-1);
  assert.equal(preflight?.method, 'GET', 'the browser sent a preflight');
  for (const header of preflight.headers.split(',')) {
    assert.ok(templateCors('').headers.toLowerCase().split(',').includes(header.trim()), `${header} is not allowed by the template`);
  }
  const again = await ensure({ url: api.url, region: 'us-east-1', credentials, identityId: MAT.identityId, attribute: 'true' });
  assert.equal(again.called, false);
  assert.equal(api.calls.length - before, 1, 'no second call');
});

test("in the browser: a 503 with the guest's own headers waits the Retry-After it can read, then succeeds", async () => {
  const before = api.calls.length;
  api.answer([503, throttledHeaders(), { error: 'throttled', message: 'm' }], [200, {}, { identityId: MAT.identityId, attributeUpdated: false }]);
  const started = Date.now();
  const outcome = await ensure({ url: api.url, region: 'us-east-1', credentials, identityId: MAT.identityId });
  assert.equal(outcome.called, true, JSON.stringify(outcome));
  assert.equal(api.calls.length - before, 2, 'exactly one retry');
  // Unexposed, Retry-After would read as null and the wait would be 0.5 s.
  assert.ok(Date.now() - started >= 1000, `it waited ${Date.now() - started} ms`);
});

test('in the browser: a 403 is a typed error after one call, and forged requests reach nothing', async () => {
  const before = api.calls.length;
  api.answer([403, {}, { error: 'identity-pool-not-allowed', message: 'the identity pool is not allowed to call' }]);
  const refused = await ensure({ url: api.url, region: 'us-east-1', credentials, identityId: MAT.identityId });
  assert.deepEqual(refused.error && [refused.error.name, refused.error.status, refused.error.code, refused.error.retryable], ['AttachIotPolicyError', 403, 'identity-pool-not-allowed', false]);
  assert.equal(api.calls.length - before, 1);
  const forgeries = [
    [{ ...credentials, secretAccessKey: 'forged' }, 'signature does not match'],
    [{ ...credentials, sessionToken: ANA.sessionToken }, 'wrong session token'],
    // One identity's request, signed with another identity's key.
    [{ accessKeyId: ANA.accessKeyId, secretAccessKey: MAT.secretAccessKey, sessionToken: ANA.sessionToken }, 'signature does not match'],
  ];
  for (const [forgery, why] of forgeries) {
    const forged = await ensure({ url: api.url, region: 'us-east-1', credentials: forgery, identityId: MAT.identityId });
    assert.equal(forged.error?.status, 403);
    assert.equal(api.refused.at(-1), why);
  }
  assert.equal(api.calls.length - before, 1, 'no forged request reached the function');
});
