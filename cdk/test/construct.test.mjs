// The construct, with aws-cdk-lib/assertions and cdk-nag: its resources, its
// IAM (checked against deploy/stack-settings.json, the list the SAM template
// is checked against too), its routes and their authorization, and the
// order in which the stack comes down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AttachIotPolicy } from 'attach-iot-policy-cdk';

const SETTINGS = JSON.parse(readFileSync(new URL('../../deploy/stack-settings.json', import.meta.url), 'utf8'));
const POOL_ID = 'us-east-1_Example1';
const IDENTITY_POOL_ID = 'us-east-1:00000000-0000-4000-8000-000000000000';

/** A stack with only the construct, on an imported user pool and role. */
function synth(props = {}) {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'us-east-1' } });
  const attach = new AttachIotPolicy(stack, 'Attach', {
    userPool: cognito.UserPool.fromUserPoolId(stack, 'Users', POOL_ID),
    identityPoolId: IDENTITY_POOL_ID,
    authenticatedRole: iam.Role.fromRoleName(stack, 'Authenticated', 'app-authenticated'),
    architecture: lambda.Architecture.X86_64,
    ...props,
  });
  const template = Template.fromStack(stack);
  return { stack, attach, template, resources: template.toJSON().Resources };
}

const ofType = (resources, type) => Object.entries(resources).filter(([, r]) => r.Type === type);
const only = (resources, type) => {
  const found = ofType(resources, type);
  assert.equal(found.length, 1, `one ${type}`);
  return found[0];
};
const asList = (v) => (Array.isArray(v) ? v : [v]);
/** The statements of the role a function runs as. */
function statementsOf(resources, functionId) {
  const role = resources[functionId].Properties.Role['Fn::GetAtt'][0];
  return ofType(resources, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r) => r.Ref === role))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}
function functions(resources) {
  const all = ofType(resources, 'AWS::Lambda::Function');
  const drain = all.find(([, f]) => f.Properties.Timeout === SETTINGS.drain.timeout);
  const api = all.find(([, f]) => f.Properties.Timeout === SETTINGS.function.timeout);
  assert.ok(drain && api && all.length === 2, 'the function and the drain');
  return { api, drain };
}

test('the function has exactly the actions of the list, each on the narrowest resource, and the same settings as the SAM template', () => {
  for (const runtime of ['rust', 'nodejs']) {
    const { resources } = synth({ runtime });
    const { api, drain } = functions(resources);
    const [apiId, fn] = api;
    assert.equal(fn.Properties.Runtime, SETTINGS.function.runtime[runtime]);
    assert.equal(fn.Properties.Handler, SETTINGS.function.handler[runtime]);
    assert.equal(fn.Properties.MemorySize, SETTINGS.function.memorySize[runtime]);
    assert.deepEqual(Object.keys(fn.Properties.Environment.Variables).sort(), [...SETTINGS.function.environment].sort());
    // The attribute's defaults are the template's: its name, and the first of its values.
    assert.equal(fn.Properties.Environment.Variables.COGNITO_ATTRIBUTE_NAME, SETTINGS.attribute.name);
    assert.equal(fn.Properties.Environment.Variables.COGNITO_ATTRIBUTE_VALUE, SETTINGS.attribute.values[0]);
    assert.deepEqual(drain[1].Properties.Environment.Variables.DETACH_RATE, SETTINGS.drain.environment.DETACH_RATE);
    assert.equal(drain[1].Properties.Runtime, SETTINGS.function.runtime[runtime]);

    const statements = statementsOf(resources, apiId);
    assert.deepEqual(new Set(statements.flatMap((s) => asList(s.Action))), new Set(SETTINGS.function.actions));
    for (const s of statements) {
      for (const action of asList(s.Action)) {
        if (!SETTINGS.unnarrowable.includes(action)) assert.notEqual(s.Resource, '*', `${action} supports a narrower resource`);
      }
      if (asList(s.Action).some((a) => a.startsWith('cognito-idp:'))) {
        assert.match(JSON.stringify(s.Resource), new RegExp(`userpool/${POOL_ID}`));
      }
    }
  }
});

test("the drain has exactly the list's actions, its own calls on the stack's policy alone", () => {
  const { resources } = synth();
  const { drain } = functions(resources);
  const statements = statementsOf(resources, drain[0]);
  assert.deepEqual(new Set(statements.flatMap((s) => asList(s.Action))), new Set(SETTINGS.drain.actions));
  const [policyId] = only(resources, 'AWS::IoT::Policy');
  for (const s of statements) {
    if (asList(s.Action).some((a) => SETTINGS.drain.onThePolicyAlone.includes(a))) {
      assert.deepEqual(asList(s.Action).sort(), [...SETTINGS.drain.onThePolicyAlone].sort());
      const arn = JSON.stringify(s.Resource);
      assert.match(arn, /:policy\//);
      assert.ok(arn.includes(`{"Ref":"${policyId}"}`), arn);
    } else {
      assert.deepEqual(asList(s.Action), ['iot:DetachPolicy']);
    }
  }
});

test('GET and DELETE /attachIoTPolicy require AWS_IAM on both APIs, and the authenticated role may invoke exactly those', () => {
  const { resources, template } = synth({ httpApi: true });
  const methods = ofType(resources, 'AWS::ApiGateway::Method').map(([, m]) => m.Properties);
  const byVerb = Object.fromEntries(methods.map((m) => [m.HttpMethod, m]));
  assert.deepEqual(Object.keys(byVerb).sort(), ['DELETE', 'GET', 'OPTIONS']);
  for (const verb of SETTINGS.api.methods) assert.equal(byVerb[verb].AuthorizationType, 'AWS_IAM', verb);
  const [, path] = only(resources, 'AWS::ApiGateway::Resource');
  assert.equal(path.Properties.PathPart, SETTINGS.api.path);
  template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: SETTINGS.api.restStage });
  // The account-wide logging role is the account owner's, not a construct's.
  assert.equal(ofType(resources, 'AWS::ApiGateway::Account').length, 0);

  const routes = ofType(resources, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
  assert.deepEqual(routes.map((r) => r.RouteKey).sort(), SETTINGS.api.methods.map((m) => `${m} /${SETTINGS.api.path}`).sort());
  for (const route of routes) assert.equal(route.AuthorizationType, 'AWS_IAM', route.RouteKey);

  // The inline policy on the imported role: execute-api:Invoke on four ARNs, each a method of the path.
  const invoke = ofType(resources, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r) => r === 'app-authenticated'));
  assert.equal(invoke.length, 1);
  const [statement, ...more] = invoke[0][1].Properties.PolicyDocument.Statement;
  assert.equal(more.length, 0);
  assert.equal(statement.Action, 'execute-api:Invoke');
  const arns = statement.Resource.map((r) => JSON.stringify(r));
  assert.equal(arns.length, 4);
  for (const verb of SETTINGS.api.methods) {
    assert.equal(arns.filter((a) => a.includes(`/${verb}/${SETTINGS.api.path}`)).length, 2, `${verb}: ${arns}`);
  }
  assert.ok(arns.every((a) => !a.includes('/*/') && !a.endsWith('*"]]}')), `no wildcard method or path: ${arns}`);
});

test('CORS: the methods, headers and max age of the list, on both APIs, for the given origin', () => {
  const { resources } = synth({ httpApi: true, corsAllowOrigin: 'https://app.example.com' });
  const options = ofType(resources, 'AWS::ApiGateway::Method').find(([, m]) => m.Properties.HttpMethod === 'OPTIONS')[1];
  const headers = options.Properties.Integration.IntegrationResponses[0].ResponseParameters;
  assert.equal(headers['method.response.header.Access-Control-Allow-Origin'], "'https://app.example.com'");
  assert.equal(headers['method.response.header.Access-Control-Allow-Methods'], `'${SETTINGS.api.cors.allowMethods.join(',')}'`);
  assert.equal(headers['method.response.header.Access-Control-Allow-Headers'], `'${SETTINGS.api.cors.allowHeaders.join(',')}'`);
  assert.equal(headers['method.response.header.Access-Control-Max-Age'], `'${SETTINGS.api.cors.maxAge}'`);
  const [, http] = only(resources, 'AWS::ApiGatewayV2::Api');
  const cors = http.Properties.CorsConfiguration;
  assert.deepEqual(cors.AllowOrigins, ['https://app.example.com']);
  assert.deepEqual(cors.AllowMethods, SETTINGS.api.cors.allowMethods);
  assert.deepEqual(cors.AllowHeaders, SETTINGS.api.cors.allowHeaders.map((h) => h.toLowerCase()));
  assert.equal(cors.MaxAge, SETTINGS.api.cors.maxAge);
  const { api } = functions(resources);
  assert.equal(api[1].Properties.Environment.Variables.CORS_ALLOW_ORIGIN, 'https://app.example.com');
});

test('the stack comes down in order: the API function, then the drain (which detaches and deletes the policy), then the policy', () => {
  const { resources } = synth();
  const [drainId, drain] = only(resources, SETTINGS.drain.resourceType);
  const [policyId] = only(resources, 'AWS::IoT::Policy');
  const { api, drain: drainFunction } = functions(resources);
  assert.deepEqual(drain.Properties.PolicyName, { Ref: policyId }, 'a Ref: CloudFormation deletes the drain before the policy');
  assert.equal(drain.Properties.DeletePolicy, 'true');
  assert.equal(Number(drain.Properties.ServiceTimeout), SETTINGS.drain.serviceTimeout);
  assert.deepEqual(drain.Properties.ServiceToken, { 'Fn::GetAtt': [drainFunction[0], 'Arn'] });
  assert.ok(asList(api[1].DependsOn).includes(drainId), 'the API function goes first, so nothing attaches during the drain');
  assert.deepEqual(drainFunction[1].Properties.Environment.Variables.IOT_POLICY_NAME, { Ref: policyId });
  assert.deepEqual(api[1].Properties.Environment.Variables.IOT_POLICY_NAME, { Ref: policyId });
  // Everything the API reaches the function through goes before it too.
  for (const [id, permission] of ofType(resources, 'AWS::Lambda::Permission')) {
    assert.deepEqual(permission.Properties.FunctionName, { 'Fn::GetAtt': [api[0], 'Arn'] }, id);
  }
});

test('the per-identity policy confines each identity to its own client IDs and topics', () => {
  const { resources } = synth();
  const [, policy] = only(resources, 'AWS::IoT::Policy');
  const own = '${cognito-identity.amazonaws.com:sub}';
  const byAction = {};
  for (const s of policy.Properties.PolicyDocument.Statement) {
    for (const a of asList(s.Action)) byAction[a] = asList(s.Resource).map((r) => JSON.stringify(r));
  }
  assert.deepEqual(Object.keys(byAction).sort(), ['iot:Connect', 'iot:Publish', 'iot:Receive', 'iot:Subscribe']);
  assert.equal(byAction['iot:Connect'].length, 2);
  assert.ok(byAction['iot:Connect'][0].endsWith(`:client/${own}"]]}`), byAction['iot:Connect'][0]);
  assert.ok(byAction['iot:Connect'][1].endsWith(`:client/${own}-*"]]}`), byAction['iot:Connect'][1]);
  assert.ok(byAction['iot:Publish'][0].endsWith(`:topic/users/${own}/*"]]}`));
  assert.ok(byAction['iot:Subscribe'][0].endsWith(`:topicfilter/users/${own}/*"]]}`));
});

test('existing policies only: no policy is created, and the drain is given nothing to detach or delete', () => {
  const { resources, attach } = synth({ createDefaultPolicy: false, policyNames: ['fleet-a', 'fleet-b'] });
  assert.equal(ofType(resources, 'AWS::IoT::Policy').length, 0);
  const { api, drain } = functions(resources);
  assert.equal(api[1].Properties.Environment.Variables.IOT_POLICY_NAME, 'fleet-a,fleet-b');
  assert.deepEqual(statementsOf(resources, drain[0]), [], 'the drain may touch no policy');
  assert.equal(only(resources, SETTINGS.drain.resourceType)[1].Properties.PolicyName, '');
  assert.deepEqual(attach.policyNames, ['fleet-a', 'fleet-b']);
  // Another construct's policy, by its Ref (a token, known only at deploy), is taken as given.
  const app = new App();
  const stack = new Stack(app, 'Tokens');
  const fleet = new iot.CfnPolicy(stack, 'Fleet', { policyDocument: {} });
  const withToken = new AttachIotPolicy(stack, 'Attach', {
    userPool: cognito.UserPool.fromUserPoolId(stack, 'Users', POOL_ID),
    identityPoolId: IDENTITY_POOL_ID,
    authenticatedRole: iam.Role.fromRoleName(stack, 'Authenticated', 'app-authenticated'),
    architecture: lambda.Architecture.X86_64,
    policyNames: [fleet.ref],
  });
  const env = Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(withToken.function.node.defaultChild)].Properties.Environment;
  const ours = { Ref: stack.getLogicalId(withToken.policy) };
  assert.deepEqual(env.Variables.IOT_POLICY_NAME, { 'Fn::Join': ['', [ours, ',', { Ref: stack.getLogicalId(fleet) }]] });
});

test('props that cannot work are refused at synth, naming the prop', () => {
  assert.throws(() => synth({ attributeName: 'iotPolicyIsAttached' }), /attributeName must be custom:/);
  assert.throws(() => synth({ attributeValue: 'yes' }), /attributeValue must be/);
  for (const value of SETTINGS.attribute.values) assert.doesNotThrow(() => synth({ attributeValue: value }), value);
  assert.throws(() => synth({ createDefaultPolicy: false }), /no policy to attach/);
  assert.throws(() => synth({ policyNames: ['a policy'] }), /policyNames: "a policy" is not an IoT policy name/);
  assert.throws(() => synth({ runtime: 'python' }), /runtime must be 'rust' or 'nodejs'/);
  assert.throws(() => synth({ codePath: '/nonexistent/bootstrap.zip' }), /Cannot find asset|nonexistent/);
});

test('cdk-nag AwsSolutions: no finding left unaddressed, each accepted one acknowledged with its reason', () => {
  for (const props of [{}, { httpApi: true, runtime: 'nodejs' }]) {
    const { stack } = synth(props);
    const report = new AwsSolutionsChecks(stack).validateScope(stack);
    const findings = report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`);
    assert.deepEqual(findings, [], JSON.stringify(props));
  }
  // And the check can fail: an unacknowledged wildcard of this stack's own is found.
  const { stack } = synth();
  new iam.Policy(stack, 'Loose', { statements: [new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] })], roles: [iam.Role.fromRoleName(stack, 'Other', 'other')] });
  const loose = new AwsSolutionsChecks(stack).validateScope(stack).violations;
  assert.ok(loose.some((v) => v.ruleName.startsWith('AwsSolutions-IAM5')), JSON.stringify(loose.map((v) => v.ruleName)));
});
