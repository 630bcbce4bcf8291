// The guest's thread. jco's component imports are synchronous and the AWS SDK
// is not, so the guest runs here: an import call posts the request to the
// main thread and waits on a SharedArrayBuffer (Atomics.wait, with a time
// limit, so it never waits forever) until the main thread has put the answer
// on the reply port. A fresh instance per invocation; modules compiled once.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

const { guestDir, signal, replies } = workerData;
const flag = new Int32Array(signal);
const { instantiate } = await import(pathToFileURL(join(guestDir, 'attacher.js')).href);
const modules = new Map();
for (const name of ['attacher.core.wasm', 'attacher.core2.wasm', 'attacher.core3.wasm']) {
  modules.set(name, await WebAssembly.compile(await readFile(join(guestDir, name))));
}

let seq = 0;

/**
 * One import call, answered by the main thread, or an `unavailable` past
 * `waitMs`. Calls are numbered: an answer that comes after its call gave up
 * waiting is dropped, never taken for a later call's.
 */
function call(op, args, waitMs) {
  const id = ++seq;
  const until = Date.now() + waitMs;
  Atomics.store(flag, 0, 0);
  parentPort.postMessage({ type: 'call', seq: id, op, args });
  for (;;) {
    // Read before waiting: an answer posted since the flag was last cleared is here.
    let reply;
    while ((reply = receiveMessageOnPort(replies)?.message) !== undefined) {
      if (reply.seq !== id) continue;
      if (reply.error) throw { payload: reply.error };
      return reply.value;
    }
    const left = until - Date.now();
    if (left <= 0 || Atomics.wait(flag, 0, 0, left) === 'timed-out') {
      throw { payload: { tag: 'unavailable', val: 'the host did not answer the call before the deadline' } };
    }
    Atomics.store(flag, 0, 0);
  }
}

parentPort.on('message', async ({ event, context, config, waitMs }) => {
  const aws = {
    attachPolicy: (policyName, target) => call('attachPolicy', [policyName, target], waitMs),
    detachPolicy: (policyName, target) => call('detachPolicy', [policyName, target], waitMs),
    listUsers: (userPoolId, filter) => call('listUsers', [userPoolId, filter], waitMs),
    updateAttributes: (userPoolId, username, attributes) => call('updateAttributes', [userPoolId, username, attributes], waitMs),
    deleteAttributes: (userPoolId, username, names) => call('deleteAttributes', [userPoolId, username, names], waitMs),
  };
  const log = { write: (level, message) => parentPort.postMessage({ type: 'log', level, message }) };
  const imports = {
    'attach-iot-policy:core/aws': aws,
    'attach-iot-policy:core/aws@0.2.0': aws,
    'attach-iot-policy:core/log': log,
    'attach-iot-policy:core/log@0.2.0': log,
  };
  try {
    const component = await instantiate((name) => modules.get(name), imports);
    const response = component.handler.handle(event, context, config);
    parentPort.postMessage({ type: 'done', response });
  } catch (e) {
    parentPort.postMessage({ type: 'trap', message: String(e?.message ?? e) });
  }
});
parentPort.postMessage({ type: 'ready' });
