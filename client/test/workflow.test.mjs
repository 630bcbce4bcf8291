// The whole workflow, from the app's side, against real parts: moto as
// Cognito (user pool sign-in with USER_PASSWORD_AUTH, identity pool
// credentials of each identity's own, through tests/moto/server.py) and as
// IoT; the AWS SDK v3's clients as the app's; the API stand-in verifying each
// signature and building the REST API's event from the credentials alone;
// and the release `attach-iot-policy invoke` as the function behind it.
// Not here yet (issue 21): the same in a browser through Amplify v6, and the
// `bootstrap` under a Runtime API in place of `invoke`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AdminCreateUserCommand,
  AdminGetUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  GetUserCommand,
  InitiateAuthCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CognitoIdentityClient, CreateIdentityPoolCommand, GetCredentialsForIdentityCommand, GetIdCommand } from '@aws-sdk/client-cognito-identity';
import { CreatePolicyCommand, IoTClient, ListTargetsForPolicyCommand } from '@aws-sdk/client-iot';

import { ensureIotPolicy, releaseIotPolicy } from '../dist/index.js';
import { startApi } from './api.mjs';

const root = resolve(import.meta.dirname, '../..');
const CLI = join(root, 'target/release/attach-iot-policy');
const PYTHON = join(root, '.venv/bin/python');
const POLICY = 'app-per-identity';
const ATTRIBUTE = 'custom:iotPolicyIsAttached';
const admin = { region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };

let moto;
let dir;
let api;
let setup;

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

before(async () => {
  for (const [path, make] of [[CLI, 'make build'], [PYTHON, 'make venv']]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run \`${make}\` (make test does)`);
  }
  dir = mkdtempSync(join(tmpdir(), 'workflow-'));
  const registry = join(dir, 'identities.json');
  const port = await freePort();
  moto = spawn(PYTHON, [join(root, 'tests/moto/server.py'), '-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, ATTACH_IOT_POLICY_IDENTITIES: registry },
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${endpoint}/moto-api/`);
      break;
    } catch (e) {
      if (i > 300) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const idp = new CognitoIdentityProviderClient({ ...admin, endpoint });
  const identity = new CognitoIdentityClient({ ...admin, endpoint });
  const pool = (
    await idp.send(
      new CreateUserPoolCommand({
        PoolName: 'app',
        Schema: [{ Name: 'iotPolicyIsAttached', AttributeDataType: 'String', Mutable: true }],
      }),
    )
  ).UserPool.Id;
  const clientId = (await idp.send(new CreateUserPoolClientCommand({ UserPoolId: pool, ClientName: 'web', ExplicitAuthFlows: ['USER_PASSWORD_AUTH'] }))).UserPoolClient.ClientId;
  const provider = `cognito-idp.us-east-1.amazonaws.com/${pool}`;
  const identityPool = (
    await identity.send(
      new CreateIdentityPoolCommand({
        IdentityPoolName: 'app',
        AllowUnauthenticatedIdentities: true,
        CognitoIdentityProviders: [{ ProviderName: provider, ClientId: clientId }],
      }),
    )
  ).IdentityPoolId;
  await new IoTClient({ ...admin, endpoint }).send(
    new CreatePolicyCommand({ policyName: POLICY, policyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }) }),
  );
  for (const name of ['mat', 'ana']) {
    await idp.send(new AdminCreateUserCommand({ UserPoolId: pool, Username: name }));
    await idp.send(new AdminSetUserPasswordCommand({ UserPoolId: pool, Username: name, Password: 'Passw0rd!', Permanent: true }));
  }
  // The function, behind the API: the release CLI against moto, one process a request.
  const invoke = (event) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        CLI,
        ['invoke', '--event', '-'],
        {
          env: { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', IOT_POLICY_NAME: POLICY },
          timeout: 30_000,
        },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
      );
      child.stdin.end(JSON.stringify(event));
    });
  api = await startApi((key) => JSON.parse(readFileSync(registry, 'utf8'))[key], { invoke });
  setup = { endpoint, idp, identity, pool, clientId, provider, identityPool, url: `${api.origin}/prod/attachIoTPolicy` };
});

after(() => {
  api?.close();
  moto?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Signs `name` in as an app does with the SDK v3: the identity, its credentials, and a fresh reader of the attribute. */
async function signIn(name) {
  const { idp, identity, clientId, provider, identityPool } = setup;
  const tokens = (await idp.send(new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: name, PASSWORD: 'Passw0rd!' } }))).AuthenticationResult;
  const logins = { [provider]: tokens.IdToken };
  const { IdentityId: identityId } = await identity.send(new GetIdCommand({ IdentityPoolId: identityPool, Logins: logins }));
  const { Credentials: c } = await identity.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins }));
  const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretKey, sessionToken: c.SessionToken };
  // GetUser with the access token: the attribute as it is now, not as the ID token had it.
  const attribute = async () => (await idp.send(new GetUserCommand({ AccessToken: tokens.AccessToken }))).UserAttributes.find((a) => a.Name === ATTRIBUTE)?.Value;
  return { identityId, credentials, attribute };
}

async function targets() {
  const out = await new IoTClient({ ...admin, endpoint: setup.endpoint }).send(new ListTargetsForPolicyCommand({ policyName: POLICY }));
  return out.targets ?? [];
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
  const user = await setup.idp.send(new AdminGetUserCommand({ UserPoolId: setup.pool, Username: 'ana' }));
  assert.ok(!user.UserAttributes.some((a) => a.Name === ATTRIBUTE), 'no attribute was set');
});
