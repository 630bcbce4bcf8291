// The whole workflow in a real browser: headless Chromium, pages bundled by
// esbuild on one origin, signing in against moto's Cognito (tests/moto/
// server.py gives each identity credentials of its own) with Amplify JS v6
// (`/`) or with the AWS SDK v3's clients (`/sdk`), and the package calling
// the API stand-in on another origin, which verifies the signature and runs
// the Lambda package's bootstrap, under a real Runtime API, against moto.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';

import { PASSWORD, POLICY, startWorkflow } from '../../client/test/workflow.mjs';
import { launch, prerequisites, servePages, templateCors } from './pages.mjs';

const root = resolve(import.meta.dirname, '../..');
let browser;
let page;
let pages;
let setup;

before(async () => {
  prerequisites([join(root, 'client/dist/amplify.js'), 'make client']);
  // `/` is the Amplify page, `/sdk` the SDK v3 page.
  pages = await servePages({ '/': 'amplify-page.mjs', '/sdk': 'sdk-page.mjs' });
  const cors = templateCors(pages.origin);
  setup = await startWorkflow({ users: ['mat', 'ana', 'eve'], cors });
  setup.cors = cors;
  setup.url = setup.url.replace('127.0.0.1', 'localhost');
  browser = await launch();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(pages.origin);
  await page.waitForFunction(() => window.app !== undefined);
  const { pool, clientId, identityPool, endpoint } = setup;
  await page.evaluate((c) => window.app.configure(c), { pool, clientId, identityPool, endpoint });
});

after(async () => {
  await browser?.close();
  await setup?.close();
  pages?.close();
});

/** Signs in and runs `call` ('ensure' or 'release') in the page; its outcome, or the error's fields. */
function inPage(username, call, options = {}) {
  return page.evaluate(
    async ({ username, password, call, options }) => {
      try {
        if (username) await window.app.signIn(username, password);
        if (call === 'release') return await window.app.client.releaseIotPolicy(options);
        const outcome = await window.app.client.ensureIotPolicy(options);
        return { called: outcome.called, identityId: outcome.identityId, clientId: outcome.clientId('tab-1') };
      } catch (e) {
        return { error: { name: e.name, status: e.status, code: e.code, message: e.message } };
      }
    },
    { username, password: PASSWORD, call, options },
  );
}

test('Amplify in the browser: the first sign-in attaches with one call, and the attribute is set', async () => {
  const before = setup.api.calls.length;
  const outcome = await inPage('mat', 'ensure', { url: setup.url, region: 'us-east-1' });
  assert.equal(outcome.error, undefined, JSON.stringify(outcome));
  assert.equal(outcome.called, true);
  assert.equal(setup.api.calls.length - before, 1);
  assert.deepEqual(setup.api.refused, []);
  assert.ok((await setup.targets()).includes(outcome.identityId), 'moto shows the policy attached');
  assert.equal(outcome.clientId, `${outcome.identityId}-tab-1`);
  // Read fresh: the second ensure sees the attribute and makes no call.
  const again = await inPage(null, 'ensure', { url: setup.url, region: 'us-east-1' });
  assert.deepEqual([again.called, setup.api.calls.length - before], [false, 1]);
});

test('Amplify in the browser: release detaches the identity and clears the attribute', async () => {
  const mat = await inPage(null, 'ensure', { url: setup.url, region: 'us-east-1' });
  assert.equal(mat.called, false, JSON.stringify(mat));
  const released = await inPage(null, 'release', { url: setup.url, region: 'us-east-1' });
  assert.deepEqual(released, { detached: [POLICY], notAttached: [] });
  assert.ok(!(await setup.targets()).includes(mat.identityId));
  assert.equal(await setup.attributeOf('mat'), undefined);
});

test("Amplify in the browser, identity-id mode: the same user's identity in a second identity pool calls again", async () => {
  const other = await startWorkflow({ cors: setup.cors, attributeValue: 'identity-id' });
  try {
    other.url = other.url.replace('127.0.0.1', 'localhost');
    const configure = (identityPool) =>
      page.evaluate((c) => window.app.configure(c), { pool: other.pool, clientId: other.clientId, identityPool, endpoint: other.endpoint });
    await configure(other.identityPool);
    const first = await inPage('ana', 'ensure', { url: other.url, region: 'us-east-1', mode: 'identity-id' });
    assert.equal(first.called, true, JSON.stringify(first));
    assert.equal(await other.attributeOf('ana'), first.identityId);
    await configure(other.secondIdentityPool);
    const second = await inPage('ana', 'ensure', { url: other.url, region: 'us-east-1', mode: 'identity-id' });
    assert.equal(second.called, true, JSON.stringify(second));
    assert.notEqual(second.identityId, first.identityId);
    assert.equal(await other.attributeOf('ana'), second.identityId);
    assert.equal(other.api.calls.length, 2);
  } finally {
    await other.close();
  }
});

test('the framework-free entry in the browser, with the AWS SDK v3 clients: attach, no second call, release', async () => {
  const sdk = await browser.newPage();
  try {
    await sdk.goto(`${pages.origin}/sdk`);
    await sdk.waitForFunction(() => window.app !== undefined);
    const { endpoint, clientId, provider, identityPool } = setup;
    const identityId = await sdk.evaluate((c) => window.app.signIn(c), { endpoint, clientId, provider, identityPool, username: 'eve', password: PASSWORD });
    const before = setup.api.calls.length;
    const run = (call, options) =>
      sdk.evaluate(
        async ({ call, options }) => {
          const outcome = await window.app[call](options);
          return call === 'ensure' ? { called: outcome.called, identityId: outcome.identityId } : outcome;
        },
        { call, options },
      );
    const options = { url: setup.url, region: 'us-east-1' };
    assert.deepEqual(await run('ensure', options), { called: true, identityId });
    assert.ok((await setup.targets()).includes(identityId));
    assert.equal(await setup.attributeOf('eve'), 'true');
    assert.deepEqual(await run('ensure', options), { called: false, identityId });
    assert.equal(setup.api.calls.length - before, 1);
    assert.deepEqual(await run('release', options), { detached: [POLICY], notAttached: [] });
    assert.ok(!(await setup.targets()).includes(identityId));
    assert.equal(await setup.attributeOf('eve'), undefined);
  } finally {
    await sdk.close();
  }
});
