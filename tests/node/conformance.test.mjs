// The conformance corpus (tests/fixtures) in the second host: the same .wasm,
// transpiled by jco, must answer every case exactly as wasmtime does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadHost } from './host.mjs';
import { SimulatedAccount } from './simulated-account.mjs';

const root = resolve(import.meta.dirname, '../..');
const fixtures = join(root, 'tests/fixtures');
const transpiled = process.env.ATTACH_IOT_POLICY_JCO_DIR ?? join(root, 'target/jco');
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const defaults = readJson(join(fixtures, 'defaults.json'));
const host = await loadHost(transpiled);

/** Runs one fixture; returns what the host produced. */
export async function runCase(c) {
  const event = c.event !== undefined ? JSON.stringify(c.event) : c.eventText ?? readFileSync(join(root, c.eventFile), 'utf8');
  const config = { ...defaults.config, ...(c.config ?? {}) };
  const ctx = { ...defaults.context, ...(c.context ?? {}) };
  const context = { requestId: ctx.requestId ?? defaults.context.requestId, cognitoIdentity: ctx.cognitoIdentity ?? undefined };
  const account = new SimulatedAccount(c.account ?? readJson(join(root, defaults.accountFile)), c.faults ?? []);
  const calls = [];
  const response = await host.handle(event, context, config, account.imports(), calls);
  return { response, calls, config };
}

export function check(c, { response, calls, config }) {
  assert.equal(response.statusCode, c.expect.status, 'status');
  assert.deepEqual(Object.fromEntries(response.headers), c.expect.headers, 'headers');
  assert.equal(response.headers.length, Object.keys(c.expect.headers).length, 'no repeated headers');
  if (typeof c.expect.body === 'string') assert.equal(response.body, c.expect.body, 'body');
  else assert.deepEqual(JSON.parse(response.body), c.expect.body, 'body');
  assert.deepEqual(calls, c.expect.calls, 'import calls');
  // The attribute is set only once every policy is attached.
  calls.forEach((call, i) => {
    if (call.op === 'update-attributes' && call.result === 'ok') {
      for (const policy of config.policyNames) {
        assert.ok(
          calls.slice(0, i).some((p) => p.op === 'attach-policy' && p.args[0] === policy && p.result === 'ok'),
          `the attribute was set before ${policy} was attached`,
        );
      }
    }
    // No policy is detached while the attribute may still claim it.
    // (removed, or no such user).
    if (call.op === 'detach-policy') {
      const step = (c) => c.op === 'delete-attributes' || c.op === 'list-users';
      const last = calls.slice(0, i).filter(step).at(-1);
      assert.ok(
        !calls.slice(i).some(step) && (!last || ['ok', 'not-found'].includes(last.result)),
        'a policy was detached while the attribute may still claim it',
      );
    }
  });
}

const cases = readdirSync(join(fixtures, 'cases')).filter((f) => f.endsWith('.json')).sort();
assert.ok(cases.length >= 30, `the corpus went missing: ${cases.length} cases`);

for (const file of cases) {
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
