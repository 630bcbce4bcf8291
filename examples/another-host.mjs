// A host for the attach-iot-policy component in a dozen lines, with nothing
// from this project but the component and its WIT: jco's transpiled output
// and an object of import functions.
//
//   make guest && npx jco transpile target/wasm32-wasip2/guest/attach_iot_policy_guest.wasm \
//       --instantiation async --name attacher -o target/jco
//   node examples/another-host.mjs target/jco examples/event-rest.json
//
// It prints the response and the AWS calls the guest asked for. The AWS here
// is a stand-in that knows one user; a real host makes the calls. A real host
// must also keep the WIT's host duties (see wit/attach-iot-policy.wit):
// UTF-8 and size checks, a validated configuration, and refusing policy or
// attribute names outside it.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir = 'target/jco', eventFile = 'examples/event-rest.json'] = process.argv.slice(2);
const { instantiate } = await import(pathToFileURL(resolve(dir, 'attacher.js')).href);
const compile = async (name) => WebAssembly.compile(await readFile(join(dir, name)));
const modules = { 'attacher.core.wasm': 0, 'attacher.core2.wasm': 0, 'attacher.core3.wasm': 0 };
for (const name of Object.keys(modules)) modules[name] = await compile(name);

const calls = [];
const aws = {
  // Each returns its result, or throws the WIT error case as { tag, val }.
  attachPolicy(policyName, target) {
    calls.push(['attach-policy', policyName, target]);
  },
  listUsers(userPoolId, filter) {
    calls.push(['list-users', userPoolId, filter]);
    return ['mat@example.com'];
  },
  updateAttributes(userPoolId, username, attributes) {
    calls.push(['update-attributes', userPoolId, username, attributes]);
    if (username !== 'mat@example.com') throw { tag: 'not-found', val: 'UserNotFoundException' };
  },
  detachPolicy(policyName, target) {
    calls.push(['detach-policy', policyName, target]);
  },
  deleteAttributes(userPoolId, username, names) {
    calls.push(['delete-attributes', userPoolId, username, names]);
    if (username !== 'mat@example.com') throw { tag: 'not-found', val: 'UserNotFoundException' };
  },
};
const log = { write: (level, message) => console.error(`${level}: ${message}`) };
// jco's generated code reads the unversioned keys; its .d.ts names the
// versioned ones. Give both.
const imports = {
  'attach-iot-policy:core/aws': aws,
  'attach-iot-policy:core/log': log,
  'attach-iot-policy:core/aws@0.2.0': aws,
  'attach-iot-policy:core/log@0.2.0': log,
};

const config = {
  policyNames: ['amplify-toolkit-iot-message-viewer'],
  attributeName: 'custom:iotPolicyIsAttached',
  allowedIdentityPoolIds: [],
  allowedUserPoolIds: [],
  corsAllowOrigin: '*',
  attributeValue: 'literal-true', // or 'identity-id'
};
// A fresh instance per invocation, as the wasmtime host makes a fresh Store.
const { handler } = await instantiate((name) => modules[name], imports);
const response = handler.handle(await readFile(eventFile, 'utf8'), { requestId: 'example' }, config);
console.log(JSON.stringify({ response, calls }, null, 2));
