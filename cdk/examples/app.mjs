// A whole CDK app with attach-iot-policy: a user pool with the attribute, an
// identity pool with its authenticated role, and the construct, on each
// runtime. `cdk synth --app "node examples/app.mjs"` synthesizes it offline.
import { App, CfnOutput, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AttachIotPolicy } from 'attach-iot-policy-cdk';

const app = new App();

function appStack(id, runtime) {
  const stack = new Stack(app, id);
  const userPool = new cognito.UserPool(stack, 'Users', {
    signInAliases: { email: true },
    // Long enough for an identity ID, for attributeValue 'identity-id'.
    customAttributes: { iotPolicyIsAttached: new cognito.StringAttribute({ mutable: true, maxLen: 64 }) },
  });
  const client = userPool.addClient('App');
  const identityPool = new cognito.CfnIdentityPool(stack, 'Identities', {
    allowUnauthenticatedIdentities: false,
    cognitoIdentityProviders: [{ clientId: client.userPoolClientId, providerName: userPool.userPoolProviderName }],
  });
  const authenticatedRole = new iam.Role(stack, 'Authenticated', {
    assumedBy: new iam.FederatedPrincipal(
      'cognito-identity.amazonaws.com',
      {
        StringEquals: { 'cognito-identity.amazonaws.com:aud': identityPool.ref },
        'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': 'authenticated' },
      },
      'sts:AssumeRoleWithWebIdentity',
    ),
  });
  new cognito.CfnIdentityPoolRoleAttachment(stack, 'Roles', {
    identityPoolId: identityPool.ref,
    roles: { authenticated: authenticatedRole.roleArn },
  });
  const attach = new AttachIotPolicy(stack, 'AttachIotPolicy', {
    userPool,
    identityPoolId: identityPool.ref,
    authenticatedRole,
    attributeValue: 'identity-id',
    runtime,
    architecture: lambda.Architecture.X86_64,
    corsAllowOrigin: 'https://app.example.com',
    httpApi: true,
  });
  new CfnOutput(stack, 'InvokeUrl', { value: attach.invokeUrl });
  new CfnOutput(stack, 'HttpApiInvokeUrl', { value: attach.httpApiInvokeUrl });
}

appStack('AttachIotPolicyRust', 'rust');
appStack('AttachIotPolicyNode', 'nodejs');
