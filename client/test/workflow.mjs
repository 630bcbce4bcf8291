// The real parts the workflow tests stand on (workflow.test.mjs in Node,
// tests/browser in Chromium): moto, patched by tests/moto/server.py, as
// Cognito and IoT, with a user pool, identity pools and the stack's policy;
// and the API stand-in (api.mjs) with the function behind it: the x86_64
// package's `bootstrap`, under @vercel/fun's Lambda Runtime API.
import { execFileSync, spawn } from 'node:child_process';
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
} from '@aws-sdk/client-cognito-identity-provider';
import { CognitoIdentityClient, CreateIdentityPoolCommand } from '@aws-sdk/client-cognito-identity';
import { CreatePolicyCommand, IoTClient, ListTargetsForPolicyCommand } from '@aws-sdk/client-iot';
import { createFunction } from '@vercel/fun';

import { startApi } from './api.mjs';

const root = resolve(import.meta.dirname, '../..');
const PACKAGE = join(root, 'dist/attach-iot-policy-x86_64.zip');
const PYTHON = join(root, '.venv/bin/python');
export const POLICY = 'app-per-identity';
export const ATTRIBUTE = 'custom:iotPolicyIsAttached';
export const PASSWORD = 'Passw0rd!';
const admin = { region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Starts it all; `users` are created with PASSWORD. `cors` is the stand-in's,
 * for a page; `payload` the API's event version, '1.0' (REST) or '2.0' (HTTP).
 */
export async function startWorkflow({ users = ['mat', 'ana'], cors, attributeValue = 'true', payload = '1.0' } = {}) {
  for (const [path, make] of [[PACKAGE, 'make package-x86_64'], [PYTHON, 'make venv']]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run \`${make}\` (make test does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'workflow-'));
  const registry = join(dir, 'identities.json');
  const port = await freePort();
  const moto = spawn(PYTHON, [join(root, 'tests/moto/server.py'), '-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, ATTACH_IOT_POLICY_IDENTITIES: registry },
    stdio: 'ignore',
  });
  let api;
  let fn;
  const close = async () => {
    api?.close();
    await fn?.destroy();
    moto.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
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
    const schema = [{ Name: 'iotPolicyIsAttached', AttributeDataType: 'String', Mutable: true }];
    const pool = (await idp.send(new CreateUserPoolCommand({ PoolName: 'app', Schema: schema }))).UserPool.Id;
    const client = await idp.send(new CreateUserPoolClientCommand({ UserPoolId: pool, ClientName: 'web', ExplicitAuthFlows: ['USER_PASSWORD_AUTH'] }));
    const clientId = client.UserPoolClient.ClientId;
    const provider = `cognito-idp.us-east-1.amazonaws.com/${pool}`;
    // Two identity pools on the one user pool: a user has an identity in each,
    // as after an identity pool is re-created.
    const identityPoolNamed = async (name) =>
      (
        await new CognitoIdentityClient({ ...admin, endpoint }).send(
          new CreateIdentityPoolCommand({
            IdentityPoolName: name,
            AllowUnauthenticatedIdentities: true,
            CognitoIdentityProviders: [{ ProviderName: provider, ClientId: clientId }],
          }),
        )
      ).IdentityPoolId;
    const [identityPool, secondIdentityPool] = [await identityPoolNamed('app'), await identityPoolNamed('app-again')];
    const document = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] };
    await new IoTClient({ ...admin, endpoint }).send(new CreatePolicyCommand({ policyName: POLICY, policyDocument: JSON.stringify(document) }));
    for (const name of users) {
      await idp.send(new AdminCreateUserCommand({ UserPoolId: pool, Username: name }));
      await idp.send(new AdminSetUserPasswordCommand({ UserPoolId: pool, Username: name, Password: PASSWORD, Permanent: true }));
    }
    const env = {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      IOT_POLICY_NAME: POLICY,
      COGNITO_ATTRIBUTE_VALUE: attributeValue,
      AWS_LAMBDA_LOG_LEVEL: 'WARN',
    };
    if (cors) env.CORS_ALLOW_ORIGIN = cors.origin;
    // The Lambda package, unzipped as Lambda would, under a real Runtime API.
    const code = join(dir, 'function');
    execFileSync(PYTHON, ['-m', 'zipfile', '-e', PACKAGE, code]);
    execFileSync('chmod', ['+x', join(code, 'bootstrap')]);
    const { AWS_REGION: Region, AWS_ACCESS_KEY_ID: AccessKeyId, AWS_SECRET_ACCESS_KEY: SecretAccessKey, ...variables } = env;
    fn = await createFunction({
      Code: { Directory: code },
      Handler: 'bootstrap',
      Runtime: 'provided',
      Region,
      AccessKeyId,
      SecretAccessKey,
      MemorySize: 128,
      Environment: { Variables: variables },
    });
    const invoke = async (event) => {
      const result = await fn.invoke({ InvocationType: 'RequestResponse', Payload: JSON.stringify(event) });
      if (result.FunctionError) throw new Error(`the function failed: ${result.Payload}`);
      return JSON.parse(String(result.Payload));
    };
    api = await startApi((key) => JSON.parse(readFileSync(registry, 'utf8'))[key], { invoke, cors, payload });
    const targets = async () => (await new IoTClient({ ...admin, endpoint }).send(new ListTargetsForPolicyCommand({ policyName: POLICY }))).targets ?? [];
    const attributeOf = async (username) =>
      (await idp.send(new AdminGetUserCommand({ UserPoolId: pool, Username: username }))).UserAttributes.find((a) => a.Name === ATTRIBUTE)?.Value;
    return { endpoint, idp, pool, clientId, provider, identityPool, secondIdentityPool, api, url: `${api.origin}/prod/attachIoTPolicy`, targets, attributeOf, close };
  } catch (e) {
    close();
    throw e;
  }
}
