// attach-iot-policy as an AWS CDK construct: what deploy/template.yaml builds,
// for a CDK app or an Amplify Gen 2 backend. The settings both must agree on
// are in deploy/stack-settings.json; the tests check both against it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Aws, CustomResource, Duration, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, IConstruct } from 'constructs';

/** What the user's attribute holds once the policies are attached. */
export type AttributeValue = 'true' | 'identity-id';

export interface AttachIotPolicyProps {
  /** The user pool whose users are marked; the only one the function accepts. */
  readonly userPool: cognito.IUserPool;
  /** The identity pool whose identities may call; the only one the function accepts. */
  readonly identityPoolId: string;
  /** The identity pool's authenticated role: it may invoke exactly the API's two methods. */
  readonly authenticatedRole: iam.IRole;
  /**
   * Create the per-identity IoT policy (each identity connects as itself and
   * uses only `users/<identity ID>/` topics), attach it, and delete it with
   * the stack. Default: true.
   */
  readonly createDefaultPolicy?: boolean;
  /** Existing IoT policies to attach as well (never detached or deleted by the stack). */
  readonly policyNames?: string[];
  /** The custom attribute, `custom:<name>`. Default: `custom:iotPolicyIsAttached`. */
  readonly attributeName?: string;
  /**
   * `true`, or `identity-id` (the attribute holds the identity ID the
   * policies are attached to; its MaxLength must be at least 55). Default: `true`.
   */
  readonly attributeValue?: AttributeValue;
  /** `rust` (the bootstrap on provided.al2023) or `nodejs` (nodejs22.x). Default: `rust`. */
  readonly runtime?: 'rust' | 'nodejs';
  /**
   * The package: for `rust`, the bootstrap zip of `make package`; for
   * `nodejs`, the zip of `make package-node`. Default: the one for the
   * runtime and architecture in this package's `assets/`, else in the
   * repository's `dist/`.
   */
  readonly codePath?: string;
  /** Default: ARM_64. */
  readonly architecture?: lambda.Architecture;
  /** The browser origin allowed to call, such as `https://app.example.com`. Default: `*`. */
  readonly corsAllowOrigin?: string;
  /** Also create an HTTP API (payload 2.0) with IAM authorization on the same function. Default: false. */
  readonly httpApi?: boolean;
}

const PATH = 'attachIoTPolicy';
const STAGE = 'prod';
const METHODS = ['GET', 'DELETE'] as const;
const CORS_HEADERS = ['Authorization', 'Content-Type', 'X-Amz-Date', 'X-Amz-Security-Token', 'X-Amz-Content-Sha256', 'X-Amz-User-Agent'];
const ATTRIBUTE = /^custom:\w{1,20}$/;
const POLICY_NAME = /^[\w+=,.@-]+$/;
const RUNTIMES = {
  rust: { runtime: lambda.Runtime.PROVIDED_AL2023, handler: 'bootstrap', memorySize: 128 },
  nodejs: { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', memorySize: 256 },
};

/**
 * An AWS_IAM-authorized API that attaches the IoT policies to the calling
 * Cognito identity and marks the user in the user pool (`DELETE` detaches),
 * with a drain that detaches and deletes the per-identity policy before the
 * stack is deleted.
 */
export class AttachIotPolicy extends Construct {
  /** The REST API; `GET` and `DELETE /attachIoTPolicy` under AWS_IAM. */
  readonly api: apigw.RestApi;
  /** `https://<id>.execute-api.<region>.amazonaws.com/prod/attachIoTPolicy`: what the app calls. */
  readonly invokeUrl: string;
  /** The HTTP API, when `httpApi` is set. */
  readonly httpApi?: apigwv2.HttpApi;
  /** Its invoke URL, when `httpApi` is set. */
  readonly httpApiInvokeUrl?: string;
  /** The function behind both APIs. */
  readonly function: lambda.Function;
  /** The function that serves the drain's custom resource. */
  readonly drainFunction: lambda.Function;
  /** The per-identity IoT policy, when `createDefaultPolicy` is not false. */
  readonly policy?: iot.CfnPolicy;
  /** Every policy the function attaches. */
  readonly policyNames: string[];

  constructor(scope: Construct, id: string, props: AttachIotPolicyProps) {
    super(scope, id);
    const runtimeName = props.runtime ?? 'rust';
    const settings = RUNTIMES[runtimeName];
    if (!settings) throw new Error(`runtime must be 'rust' or 'nodejs', not ${JSON.stringify(props.runtime)}`);
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const attributeName = props.attributeName ?? 'custom:iotPolicyIsAttached';
    // A token (another construct's attribute) is known only at deploy: not checked here.
    if (!Token.isUnresolved(attributeName) && !ATTRIBUTE.test(attributeName)) throw new Error(`attributeName must be custom:<1 to 20 word characters>, not ${attributeName}`);
    const attributeValue = props.attributeValue ?? 'true';
    if (attributeValue !== 'true' && attributeValue !== 'identity-id') throw new Error(`attributeValue must be 'true' or 'identity-id'`);
    const existing = props.policyNames ?? [];
    const bad = existing.find((name) => !Token.isUnresolved(name) && !POLICY_NAME.test(name));
    if (bad !== undefined) throw new Error(`policyNames: ${JSON.stringify(bad)} is not an IoT policy name`);
    const createPolicy = props.createDefaultPolicy ?? true;
    if (!createPolicy && existing.length === 0) throw new Error('no policy to attach: set createDefaultPolicy, or give policyNames');
    const origin = props.corsAllowOrigin ?? '*';
    const code = lambda.Code.fromAsset(props.codePath ?? defaultPackage(runtimeName, architecture));
    const iotArn = (resource: string) => `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;

    // Each identity may connect only as itself and use only its own topics.
    // ${cognito-identity.amazonaws.com:sub} is the identity ID (not the user pool sub).
    if (createPolicy) {
      const own = '${cognito-identity.amazonaws.com:sub}';
      this.policy = new iot.CfnPolicy(this, 'PerIdentityIotPolicy', {
        policyDocument: {
          Version: '2012-10-17',
          Statement: [
            // The identity ID as the client ID, or it with a suffix: one client ID per tab or device.
            { Effect: 'Allow', Action: 'iot:Connect', Resource: [iotArn(`client/${own}`), iotArn(`client/${own}-*`)] },
            { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: iotArn(`topic/users/${own}/*`) },
            { Effect: 'Allow', Action: 'iot:Subscribe', Resource: iotArn(`topicfilter/users/${own}/*`) },
          ],
        },
      });
    }
    this.policyNames = [...(this.policy ? [this.policy.ref] : []), ...existing];

    this.function = new lambda.Function(this, 'Function', {
      ...settings,
      code,
      architecture,
      timeout: Duration.seconds(10),
      environment: {
        IOT_POLICY_NAME: this.policyNames.join(','),
        COGNITO_ATTRIBUTE_NAME: attributeName,
        COGNITO_ATTRIBUTE_VALUE: attributeValue,
        ALLOWED_IDENTITY_POOL_IDS: props.identityPoolId,
        ALLOWED_USER_POOL_IDS: props.userPool.userPoolId,
        CORS_ALLOW_ORIGIN: origin,
      },
    });
    // AttachPolicy's resource types are cert and thinggroup; a Cognito
    // identity is neither, so IAM cannot narrow this statement by ARN. The
    // function itself refuses any policy not in IOT_POLICY_NAME.
    this.function.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'AttachAndDetachConfiguredIotPolicies', actions: ['iot:AttachPolicy', 'iot:DetachPolicy'], resources: ['*'] }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'MarkUsersInTheUserPool',
        actions: ['cognito-idp:AdminUpdateUserAttributes', 'cognito-idp:AdminDeleteUserAttributes', 'cognito-idp:ListUsers'],
        resources: [props.userPool.userPoolArn],
      }),
    );

    // The drain: on the stack's deletion, detach the per-identity policy from
    // every target, then delete it (waiting while IoT refuses after the
    // detaches), so CloudFormation's own delete finds it gone.
    this.drainFunction = new lambda.Function(this, 'PolicyDrainFunction', {
      ...settings,
      code,
      architecture,
      timeout: Duration.seconds(900),
      environment: { IOT_POLICY_NAME: this.policy?.ref ?? 'unused', DETACH_RATE: '15' },
    });
    if (this.policy) {
      this.drainFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ListAndDeleteThePolicy',
          actions: ['iot:ListTargetsForPolicy', 'iot:ListPolicyVersions', 'iot:DeletePolicyVersion', 'iot:DeletePolicy'],
          resources: [iotArn(`policy/${this.policy.ref}`)],
        }),
      );
      // DetachPolicy's resource types are cert and thinggroup; the function refuses any other policy.
      this.drainFunction.addToRolePolicy(new iam.PolicyStatement({ sid: 'DetachThePolicy', actions: ['iot:DetachPolicy'], resources: ['*'] }));
    }
    const drain = new CustomResource(this, 'PolicyTargetsDrain', {
      serviceToken: this.drainFunction.functionArn,
      resourceType: 'Custom::DetachPolicyTargets',
      serviceTimeout: Duration.seconds(900),
      properties: { PolicyName: this.policy?.ref ?? '', DeletePolicy: 'true' },
    });
    // Deleted before the drain runs, so no identity attaches the policy again meanwhile.
    this.function.node.addDependency(drain);

    const allowHeaders = CORS_HEADERS;
    this.api = new apigw.RestApi(this, 'RestApi', {
      description: 'attach-iot-policy: attaches the IoT policy to the calling Cognito identity',
      deployOptions: { stageName: STAGE },
      // Not the account-wide API Gateway logging role (AWS::ApiGateway::Account):
      // one per account and region, not a construct's to create or delete.
      cloudWatchRole: false,
      defaultCorsPreflightOptions: {
        allowOrigins: [origin],
        allowMethods: ['GET', 'DELETE', 'OPTIONS'],
        allowHeaders,
        maxAge: Duration.seconds(600),
      },
    });
    const resource = this.api.root.addResource(PATH);
    const integration = new apigw.LambdaIntegration(this.function);
    const methods = METHODS.map((method) => resource.addMethod(method, integration, { authorizationType: apigw.AuthorizationType.IAM }));
    this.invokeUrl = this.api.urlForPath(`/${PATH}`);
    const invokable = METHODS.map((method) => this.api.arnForExecuteApi(method, `/${PATH}`, STAGE));

    if (props.httpApi) {
      this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
        description: 'attach-iot-policy, payload 2.0',
        corsPreflight: {
          allowOrigins: [origin],
          allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.DELETE, apigwv2.CorsHttpMethod.OPTIONS],
          allowHeaders: allowHeaders.map((h) => h.toLowerCase()),
          maxAge: Duration.seconds(600),
        },
      });
      this.httpApi.addRoutes({
        path: `/${PATH}`,
        methods: [apigwv2.HttpMethod.GET, apigwv2.HttpMethod.DELETE],
        integration: new HttpLambdaIntegration('Integration', this.function),
        authorizer: new HttpIamAuthorizer(),
      });
      this.httpApiInvokeUrl = `${this.httpApi.apiEndpoint}/${PATH}`;
      for (const method of METHODS) invokable.push(this.httpApi.arnForExecuteApi(method, `/${PATH}`, '$default'));
    }

    // The identity pool's authenticated role may invoke exactly these methods.
    const mayInvoke = new iam.Policy(this, 'AuthRoleMayInvoke', {
      statements: [new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: invokable })],
    });
    props.authenticatedRole.attachInlinePolicy(mayInvoke);

    acknowledgeNagFindings(this, methods);
  }
}

/** The package `make package` (or `make package-node`) builds, as this package ships it or the repository holds it. */
function defaultPackage(runtime: 'rust' | 'nodejs', architecture: lambda.Architecture): string {
  const file = runtime === 'nodejs' ? 'attach-iot-policy-node.zip' : `attach-iot-policy-${architecture === lambda.Architecture.X86_64 ? 'x86_64' : 'arm64'}.zip`;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'assets', file), join(here, '..', '..', 'dist', file)];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    const make = runtime === 'nodejs' ? 'make package-node' : `make package-${file.includes('x86_64') ? 'x86_64' : 'arm64'}`;
    throw new Error(`the function's package ${file} is in neither ${candidates.join(' nor ')}: run \`${make}\` in the attach-iot-policy repository, or pass codePath`);
  }
  return found;
}

/**
 * cdk-nag's AwsSolutions findings that this construct accepts, each
 * acknowledged with its reason through CDK's own `Validations` (which
 * cdk-nag v3 reads; cdk-nag is not a dependency).
 */
function acknowledgeNagFindings(root: AttachIotPolicy, methods: apigw.Method[]): void {
  const acknowledge = (construct: IConstruct, id: string, reason: string) => Validations.of(construct).acknowledge({ id, reason });
  for (const fn of [root.function, root.drainFunction]) {
    acknowledge(fn, 'AwsSolutions-L1', 'the runtime the package is built and tested for (provided.al2023, or nodejs22.x as in the SAM template)');
    acknowledge(
      fn,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "AWSLambdaBasicExecutionRole grants only the writes to the function's own CloudWatch Logs log group",
    );
    acknowledge(
      fn,
      'AwsSolutions-IAM5[Resource::*]',
      'iot:AttachPolicy and iot:DetachPolicy take only cert and thinggroup resources; a Cognito identity is neither, so * is the narrowest. The function refuses any policy not in IOT_POLICY_NAME',
    );
  }
  const api = root.api;
  acknowledge(api, 'AwsSolutions-APIG2', 'the function validates every request itself (method, identity, pools), with typed errors; it reads no request body');
  acknowledge(api, 'AwsSolutions-APIG1', 'access logging needs the account-wide API Gateway CloudWatch role, which a construct must not create; the function logs every request');
  acknowledge(api, 'AwsSolutions-APIG3', "a WAF web ACL is the account owner's choice: associate one with the stage if the API needs it");
  acknowledge(api, 'AwsSolutions-APIG6', 'execution logging needs the same account-wide role; the function logs every request');
  for (const method of methods) {
    acknowledge(method, 'AwsSolutions-COG4', 'AWS_IAM authorization: the caller signs with its identity pool credentials, which a user pool authorizer cannot check');
  }
  // The CORS preflight, which browsers send without credentials.
  for (const child of api.root.node.findAll()) {
    if (child instanceof apigw.Method && child.httpMethod === 'OPTIONS') {
      acknowledge(child, 'AwsSolutions-APIG4', 'the CORS preflight, which browsers send without credentials');
      acknowledge(child, 'AwsSolutions-COG4', 'the CORS preflight, which browsers send without credentials');
    }
  }
  if (root.httpApi) {
    acknowledge(root.httpApi, 'AwsSolutions-APIG1', 'the function logs every request; access logs are the account owner\'s choice');
  }
}
