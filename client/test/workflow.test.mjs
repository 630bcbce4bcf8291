// The whole workflow, from the app's side, against real parts: moto as
// Cognito (user pool sign-in with USER_PASSWORD_AUTH, identity pool
// credentials of each identity's own, through tests/moto/server.py) and as
// IoT; the AWS SDK v3's clients as the app's; the API stand-in verifying each
// signature and building the REST API's event from the credentials alone;
// and the Lambda package's `bootstrap`, under a real Runtime API, as the
// function behind it. The same in a browser with Amplify is tests/browser.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetUserCommand, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand } from '@aws-sdk/client-cognito-identity';

import { ensureIotPolicy, releaseIotPolicy } from '../dist/index.js';
import { ATTRIBUTE, PASSWORD, POLICY, startWorkflow } from './workflow.mjs';

let setup;
let api;
let targets;

before(async () => {
  setup = await startWorkflow();
  ({ api, targets } = setup);
});

after(() => setup?.close());

/** Signs `name` in as an app does with the SDK v3: the identity, its credentials, and a fresh reader of the attribute. */
async function signIn(name, on = setup) {
  const { idp, clientId, provider, identityPool, endpoint } = on;
  const identity = new CognitoIdentityClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' } });
  const tokens = (await idp.send(new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: name, PASSWORD } }))).AuthenticationResult;
  const logins = { [provider]: tokens.IdToken };
  const { IdentityId: identityId } = await identity.send(new GetIdCommand({ IdentityPoolId: identityPool, Logins: logins }));
  const { Credentials: c } = await identity.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins }));
  const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretKey, sessionToken: c.SessionToken };
  // GetUser with the access token: the attribute as it is now, not as the ID token had it.
  const attribute = async () => (await idp.send(new GetUserCommand({ AccessToken: tokens.AccessToken }))).UserAttributes.find((a) => a.Name === ATTRIBUTE)?.Value;
  return { identityId, credentials, attribute };
}

test('the first sign-in attaches with one call; the next ensure makes none; release detaches and clears', async () => {
  const mat = await signIn('mat');
  const before = api.calls.length;
  const first = await ensureIotPolicy({ url: setup.url, region: 'us-east-1', ...mat });
  assert.deepEqual([first.called, first.identityId, api.calls.length - before], [true, mat.identityId, 1]);
  assert.deepEqual(api.refused, []);
  assert.ok((await targets()).includes(mat.identityId), 'moto shows the policy attached');
  assert.equal(await mat.attribute(), 'true');

  const again = await ensureIotPolicy({ url: setup.url, region: 'us-east-1', ...mat });
  assert.deepEqual([again.called, api.calls.length - before], [false, 1]);

  const released = await releaseIotPolicy({ url: setup.url, region: 'us-east-1', credentials: mat.credentials });
  assert.deepEqual(released, { detached: [POLICY], notAttached: [] });
  assert.ok(!(await targets()).includes(mat.identityId), 'moto shows it detached');
  assert.equal(await mat.attribute(), undefined, 'the attribute is gone');
});

test("a request signed with one identity's key and another's secret changes nothing", async () => {
  const [mat, ana] = [await signIn('mat'), await signIn('ana')];
  const before = [api.calls.length, api.refused.length];
  const forged = { accessKeyId: ana.credentials.accessKeyId, secretAccessKey: mat.credentials.secretAccessKey, sessionToken: ana.credentials.sessionToken };
  const error = await ensureIotPolicy({ url: setup.url, region: 'us-east-1', credentials: forged, identityId: ana.identityId }).catch((e) => e);
  assert.deepEqual([error.status, api.calls.length - before[0], api.refused.length - before[1]], [403, 0, 1]);
  assert.ok(!(await targets()).includes(ana.identityId));
  assert.equal(await setup.attributeOf('ana'), undefined, 'no attribute was set');
});

test("through the HTTP API's event (payload 2.0), the same call attaches", async () => {
  const http = await startWorkflow({ users: ['eve'], payload: '2.0' });
  try {
    const { identityId, credentials } = await signIn('eve', http);
    const outcome = await ensureIotPolicy({ url: http.url, region: 'us-east-1', credentials, identityId, attribute: () => http.attributeOf('eve') });
    assert.equal(outcome.called, true);
    assert.ok((await http.targets()).includes(identityId));
    assert.equal(await http.attributeOf('eve'), 'true');
  } finally {
    await http.close();
  }
});
