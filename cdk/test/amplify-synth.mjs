// Synthesizes an Amplify Gen 2 backend offline, as Amplify's own deployer
// (@aws-amplify/backend-deployer's CDKDeployer) does for `ampx sandbox`: it
// imports amplify/backend.ts with tsx, with the backend's identity in the CDK
// context, then sends the 'amplifySynth' message that @aws-amplify/backend's
// default stack waits for. Nothing is deployed; no AWS account is reached.
//
// argv: <the backend.ts> <the cloud assembly directory> <namespace> <name>
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const [backend, outdir, namespace, name] = process.argv.slice(2);
// What the toolkit's assembly builder hands the app: the output directory and the context.
process.env.CDK_OUTDIR = outdir;
process.env.CDK_CONTEXT_JSON = JSON.stringify({
  'amplify-backend-namespace': namespace,
  'amplify-backend-name': name,
  'amplify-backend-type': 'sandbox',
});
await tsImport(pathToFileURL(backend).href, import.meta.url);
process.emit('message', 'amplifySynth', undefined);
