import { defineBackend } from '@aws-amplify/backend';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { AttachIotPolicy } from 'attach-iot-policy-cdk';
import { auth } from './auth/resource.js';

const backend = defineBackend({ auth });
const { userPool, authenticatedUserIamRole, cfnResources } = backend.auth.resources;

// The API that attaches the per-identity IoT policy to each signed-in
// identity: nothing to attach by hand, and no AWSIoTConfigAccess for the
// authenticated role. Deleting the sandbox detaches and deletes the policy.
const attach = new AttachIotPolicy(backend.createStack('attach-iot-policy'), 'AttachIotPolicy', {
  userPool,
  identityPoolId: cfnResources.cfnIdentityPool.ref,
  authenticatedRole: authenticatedUserIamRole,
  attributeValue: 'identity-id',
  // X86_64 runs the package `make package-x86_64` builds; ARM_64 (the
  // construct's default) costs less and needs `make package-arm64`.
  architecture: Architecture.X86_64,
});

// In amplify_outputs.json, for the app: custom.attachIotPolicy.
backend.addOutput({
  custom: { attachIotPolicy: { invokeUrl: attach.invokeUrl, mode: 'identity-id' } },
});
