// The conformance corpus (tests/fixtures) in the second host: the same .wasm,
// transpiled by jco, must answer every case exactly as wasmtime does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { caseFiles, check, defaults, fixtures, inputs, readJson, root, transpiledGuest } from './fixtures.mjs';
import { loadHost } from './host.mjs';
import { SimulatedAccount } from './simulated-account.mjs';

const transpiled = transpiledGuest();
const host = await loadHost(transpiled);

/** Runs one fixture; returns what the host produced. */
async function runCase(c) {
  const { event, config, context } = inputs(c);
  const account = new SimulatedAccount(c.account ?? readJson(join(root, defaults.accountFile)), c.faults ?? []);
  const calls = [];
  const response = await host.handle(event, context, config, account.imports(), calls);
  return { response, calls, config };
}

for (const file of caseFiles()) {
  const c = readJson(join(fixtures, 'cases', file));
  test(`${file}: ${c.description}`, async () => check(c, await runCase(c)));
}

test('a changed expectation fails here too', async () => {
  const c = readJson(join(fixtures, 'cases', 'rest-v1-sub-as-username.json'));
  const produced = await runCase(c);
  const altered = structuredClone(c);
  altered.expect.body.msg += ' (changed)';
  assert.throws(() => check(altered, produced));
  const reordered = structuredClone(c);
  reordered.expect.calls.reverse();
  assert.throws(() => check(reordered, produced));
});

test('bad inputs behave as in wasmtime', async () => {
  const config = defaults.config;
  const context = { requestId: 'bad-input' };
  const account = () => new SimulatedAccount(readJson(join(root, defaults.accountFile))).imports();
  const status = async (event) => (await host.handle(event, context, config, account())).statusCode;
  assert.equal(await status('not json'), 400);
  assert.equal(await status('['.repeat(10_000) + ']'.repeat(10_000)), 400);
  assert.equal(await status(Buffer.from([0x7b, 0xff, 0x7d])), 400);
  const big = readJson(join(root, 'examples/event-rest.json'));
  big.body = 'x'.repeat(6_000_000);
  assert.equal(await status(JSON.stringify(big)), 200);
  assert.equal(await status('x'.repeat(7 * 1024 * 1024)), 413);
});
