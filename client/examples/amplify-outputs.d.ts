// amplify_outputs.json is written by a deployment (`npx ampx sandbox`); for
// the type check of examples/amplify-gen2/src/iot.ts, its shape: the parts
// Amplify reads, and what the example's backend.ts adds under `custom`.
declare module '*/amplify_outputs.json' {
  const outputs: {
    version: string;
    auth: { aws_region: string; user_pool_id: string; user_pool_client_id: string; identity_pool_id: string };
    custom: { attachIotPolicy: { invokeUrl: string; mode: string } };
  };
  export default outputs;
}
