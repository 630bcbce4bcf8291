// The framework-free entry against a loopback API that verifies every
// signature as API Gateway's IAM authorization does (test/api.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { AttachIotPolicyError, ensureIotPolicy, releaseIotPolicy } from '../dist/index.js';
import { startApi } from './api.mjs';
import { ANA, MAT } from './identities.mjs';

const credentialsOf = ({ accessKeyId, secretAccessKey, sessionToken }) => ({ accessKeyId, secretAccessKey, sessionToken });

async function api(t) {
  const api = await startApi({ [MAT.accessKeyId]: MAT, [ANA.accessKeyId]: ANA });
  t.after(api.close);
  return api;
}

const attached = (identityId = MAT.identityId) => [200, {}, { identityId, policies: ['p'], attributeUpdated: true }];

test('an attribute that already says so makes no call; one that does not makes exactly one, signed', async (t) => {
  const server = await api(t);
  const url = `${server.origin}/prod/attachIoTPolicy`;
  const base = { url, region: 'us-east-1', credentials: credentialsOf(MAT), identityId: MAT.identityId };
  const quiet = await ensureIotPolicy({ ...base, attribute: 'true' });
  assert.deepEqual([quiet.called, server.calls.length], [false, 0]);

  let attribute = null;
  server.answer(attached());
  const done = await ensureIotPolicy({
    ...base,
    attribute: async () => {
      const value = attribute;
      attribute = 'true'; // the function set it; the next read sees it
      return value;
    },
  });
  assert.deepEqual(server.refused, []);
  assert.deepEqual([done.called, done.identityId, server.calls.length], [true, MAT.identityId, 1]);
  assert.deepEqual(server.calls[0], { method: 'GET', path: '/prod/attachIoTPolicy', search: '', identityId: MAT.identityId });
});

test('identity-id mode calls when the attribute holds another identity', async (t) => {
  const server = await api(t);
  const base = { url: `${server.origin}/attachIoTPolicy`, region: 'us-east-1', mode: 'identity-id' };
  const same = await ensureIotPolicy({ ...base, credentials: credentialsOf(ANA), identityId: ANA.identityId, attribute: ANA.identityId });
  assert.equal(same.called, false);
  server.answer(attached(ANA.identityId));
  let reads = 0;
  const other = await ensureIotPolicy({
    ...base,
    credentials: credentialsOf(ANA),
    identityId: ANA.identityId,
    attribute: async () => (reads++ === 0 ? MAT.identityId : ANA.identityId),
  });
  assert.deepEqual([other.called, server.calls.length, server.calls[0].identityId], [true, 1, ANA.identityId]);
});

test('a 503 with Retry-After: 1 is tried again once, after a second', async (t) => {
  const server = await api(t);
  server.answer([503, { 'retry-after': '1' }, { error: 'throttled', message: 'AWS throttled a call' }], attached());
  const started = Date.now();
  const done = await ensureIotPolicy({ url: `${server.origin}/attachIoTPolicy`, region: 'us-east-1', credentials: credentialsOf(MAT), identityId: MAT.identityId });
  assert.equal(done.called, true);
  assert.equal(server.calls.length, 2);
  assert.ok(Date.now() - started >= 1000, `it waited ${Date.now() - started} ms`);
});

test('400, 403, 404, 409 and 413 are thrown at once, typed, after one call', async (t) => {
  const server = await api(t);
  for (const [status, code] of [[400, 'invalid-event'], [403, 'identity-pool-not-allowed'], [404, 'user-not-found'], [409, 'iot-policy-limit-exceeded'], [413, 'event-too-large']]) {
    const before = server.calls.length;
    server.answer([status, {}, { error: code, message: 'm' }]);
    const error = await ensureIotPolicy({ url: `${server.origin}/attachIoTPolicy`, region: 'us-east-1', credentials: credentialsOf(MAT), identityId: MAT.identityId }).catch((e) => e);
    assert.ok(error instanceof AttachIotPolicyError, String(error));
    assert.deepEqual([error.status, error.code, error.retryable], [status, code, false]);
    assert.equal(server.calls.length - before, 1, `${status}: one call`);
  }
});

test('retries stop within the budget, and an AbortSignal stops a wait at once', async (t) => {
  const server = await api(t);
  server.answer(...Array.from({ length: 5 }, () => [503, { 'retry-after': '1' }, { error: 'throttled', message: 'm' }]));
  const base = { url: `${server.origin}/attachIoTPolicy`, region: 'us-east-1', credentials: credentialsOf(MAT), identityId: MAT.identityId };
  const budget = await ensureIotPolicy({ ...base, budgetMs: 1500 }).catch((e) => e);
  assert.deepEqual([budget.status, budget.retryable, server.calls.length], [503, true, 2]);

  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('the user left')), 200);
  const started = Date.now();
  const aborted = await ensureIotPolicy({ ...base, signal: controller.signal }).catch((e) => e);
  assert.equal(aborted.message, 'the user left');
  assert.ok(Date.now() - started < 900, `it stopped after ${Date.now() - started} ms`);
});

test('a stage path, a port, another host name and a query string are all signed as sent', async (t) => {
  const server = await api(t);
  const url = `${server.origin.replace('127.0.0.1', 'localhost')}/v1/stage/attachIoTPolicy?client=web&tag=a%20b&tag=c`;
  server.answer(attached());
  const done = await ensureIotPolicy({ url, region: 'us-east-1', credentials: credentialsOf(MAT), identityId: MAT.identityId, attribute: null });
  assert.deepEqual(server.refused, []);
  assert.equal(done.called, true);
  assert.equal(server.calls[0].path, '/v1/stage/attachIoTPolicy');
  assert.equal(server.calls[0].search, '?client=web&tag=a%20b&tag=c');
});

test('the stand-in refuses what API Gateway refuses, so the passing cases mean something', async (t) => {
  const server = await api(t);
  const url = `${server.origin}/attachIoTPolicy`;
  const forged = [
    { ...credentialsOf(MAT), secretAccessKey: 'not-mat-secret' }, // a bad signature
    { ...credentialsOf(MAT), sessionToken: ANA.sessionToken }, // another identity's session token
    { ...credentialsOf(ANA), secretAccessKey: MAT.secretAccessKey }, // one identity's key, another's secret
  ];
  for (const credentials of forged) {
    const error = await ensureIotPolicy({ url, region: 'us-east-1', credentials, identityId: MAT.identityId }).catch((e) => e);
    assert.deepEqual([error.status, error.retryable], [403, false]);
  }
  assert.equal(server.refused.length, 3);
  assert.equal(server.calls.length, 0);
});

test('an attribute that does not change after the call is an error, and a fresh credentials provider is asked each try', async (t) => {
  const server = await api(t);
  server.answer([502, {}, { error: 'aws-error', message: 'm' }], attached());
  let asked = 0;
  const credentials = async () => (asked++, credentialsOf(MAT));
  const error = await ensureIotPolicy({ url: `${server.origin}/attachIoTPolicy`, region: 'us-east-1', credentials, identityId: MAT.identityId, attribute: async () => null }).catch((e) => e);
  assert.deepEqual([error.code, asked, server.calls.length], ['attribute-not-updated', 2, 2]);
});

test('the client IDs are the identity ID, or it with a suffix the policy allows', async (t) => {
  const server = await api(t);
  const done = await ensureIotPolicy({ url: `${server.origin}/x`, region: 'us-east-1', credentials: credentialsOf(MAT), identityId: MAT.identityId, attribute: 'true' });
  assert.equal(done.clientId(), MAT.identityId);
  assert.equal(done.clientId('tab-1'), `${MAT.identityId}-tab-1`);
  assert.throws(() => done.clientId('a/b'), TypeError);
  assert.throws(() => done.clientId(''), TypeError);
});

test('releaseIotPolicy sends a signed DELETE and says what was detached', async (t) => {
  const server = await api(t);
  server.answer([200, {}, { identityId: MAT.identityId, detached: ['p'], notAttached: ['q'], attributeAbsent: true }]);
  const released = await releaseIotPolicy({ url: `${server.origin}/attachIoTPolicy`, region: 'us-east-1', credentials: credentialsOf(MAT) });
  assert.deepEqual(released, { detached: ['p'], notAttached: ['q'] });
  assert.equal(server.calls[0].method, 'DELETE');
});

test('the region is read from an execute-api URL, and asked for otherwise', async () => {
  const credentials = credentialsOf(MAT);
  const error = await ensureIotPolicy({ url: 'https://api.example.com/attachIoTPolicy', credentials, identityId: MAT.identityId }).catch((e) => e);
  assert.ok(error instanceof TypeError && /pass region/.test(error.message), String(error));
  let seen;
  const fetch = async (url, init) => ((seen = init.headers), new Response('{}', { status: 200 }));
  await ensureIotPolicy({ url: 'https://abc123.execute-api.eu-west-3.amazonaws.com/prod/attachIoTPolicy', credentials, identityId: MAT.identityId, fetch });
  assert.match(seen.authorization, /\/eu-west-3\/execute-api\/aws4_request/);
});

test('no answer at all is tried again within the budget, then thrown as a retryable network error', async (t) => {
  let tries = 0;
  const offline = async () => {
    tries++;
    throw new TypeError('Failed to fetch');
  };
  const error = await ensureIotPolicy({ url: 'https://abc.execute-api.us-east-1.amazonaws.com/prod/x', credentials: credentialsOf(MAT), identityId: MAT.identityId, fetch: offline, budgetMs: 1200 }).catch((e) => e);
  assert.deepEqual([error.code, error.status, error.retryable], ['network', 0, true]);
  assert.ok(tries >= 2, `${tries} tries`);
});
