// A Node.js host for the attach-iot-policy component, transpiled by jco.
//
//   const host = await loadHost('target/jco');        // once per process
//   const response = await host.handle(eventText, context, config, aws, calls);
//
// `aws` supplies the five AWS imports as plain functions; an error is thrown
// as { payload: { tag: 'not-found' | 'access-denied' | …, val: message } }.
// When `calls` is an array, each import call is recorded in it, as
// { op, args, result }, the way the fixtures list them.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
// The production handler's guard and error answer: the same rules in both Node hosts.
import { guarded, hostError } from '../../node/src/handler.mjs';
import { IMPORTS, OPERATIONS } from '../../node/src/operations.mjs';

/** Lambda's synchronous payload limit, as in the wasmtime host. */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;

export async function loadHost(transpiledDir, { log = () => {} } = {}) {
  const dir = resolve(transpiledDir);
  const { instantiate } = await import(pathToFileURL(join(dir, 'attacher.js')).href);
  // Compile the core modules once; instantiate per invocation, like a fresh Store.
  const modules = new Map();
  for (const name of ['attacher.core.wasm', 'attacher.core2.wasm', 'attacher.core3.wasm']) {
    modules.set(name, await WebAssembly.compile(await readFile(join(dir, name))));
  }

  async function handle(event, context, config, aws, calls = []) {
    const text = typeof event === 'string' ? event : decodeUtf8(event);
    if (text === null) return hostError(400, 'invalid-event', 'the event is not valid UTF-8', config);
    if (Buffer.byteLength(text) > MAX_EVENT_BYTES) {
      return hostError(413, 'event-too-large', `the event is larger than ${MAX_EVENT_BYTES} bytes`, config);
    }
    // The guest imports nothing from WASI: it reaches out only through these.
    const awsImports = recorded(guarded(aws, config), calls);
    const logImports = { write: (level, message) => log(level, message) };
    const imports = {
      'attach-iot-policy:core/aws': awsImports,
      'attach-iot-policy:core/aws@0.2.0': awsImports,
      'attach-iot-policy:core/log': logImports,
      'attach-iot-policy:core/log@0.2.0': logImports,
    };
    try {
      const component = await instantiate((name) => modules.get(name), imports);
      const response = component.handler.handle(text, context, config);
      return { statusCode: response.statusCode, headers: response.headers, body: response.body };
    } catch (e) {
      log('error', `the component failed: ${e?.message ?? e}`);
      return hostError(500, 'internal-error', 'the invocation failed', config);
    }
  }

  return { handle };
}

/** Records each call as the fixtures list it: `ok`, or the error case. */
function recorded(aws, calls) {
  const wrap = (name) => (...a) => {
    const { op, args } = OPERATIONS[name];
    const entry = { op, args: args(...a), result: 'ok' };
    try {
      return aws[name](...a);
    } catch (e) {
      entry.result = e?.payload?.tag ?? 'other';
      throw e;
    } finally {
      calls.push(entry);
    }
  };
  return Object.fromEntries(IMPORTS.map((name) => [name, wrap(name)]));
}

function decodeUtf8(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
