// What both Node conformance tests share: the corpus (tests/fixtures) and
// the check of one case's outcome against its expectation.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';

export const root = resolve(import.meta.dirname, '../..');
export const fixtures = join(root, 'tests/fixtures');
export const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
export const defaults = readJson(join(fixtures, 'defaults.json'));

// The published response bodies (docs/responses.schema.json): every body a
// case expects, and every body a host gives, must fit it.
const ajv = new Ajv2020({ allErrors: true, strict: true });
const fitsSchema = ajv.compile(readJson(join(root, 'docs/responses.schema.json')));

/** Fails unless `body` (a parsed response body) fits the published schema. */
export function assertFitsSchema(body, what) {
  assert.ok(fitsSchema(body), `${what} does not fit docs/responses.schema.json: ${ajv.errorsText(fitsSchema.errors)}\n${JSON.stringify(body)}`);
}

/**
 * The transpiled guest's directory (`ATTACH_IOT_POLICY_JCO_DIR`, else
 * target/jco). A missing one fails the file at once, naming the make target
 * that builds it, rather than every test one by one.
 */
export function transpiledGuest() {
  const dir = process.env.ATTACH_IOT_POLICY_JCO_DIR ?? join(root, 'target/jco');
  const entry = join(dir, 'attacher.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`make target/jco/attacher.js\` (make test does)`);
  return dir;
}

/** Every case file, sorted; the corpus must not go missing. */
export function caseFiles() {
  const cases = readdirSync(join(fixtures, 'cases')).filter((f) => f.endsWith('.json')).sort();
  assert.ok(cases.length >= 30, `the corpus went missing: ${cases.length} cases`);
  return cases;
}

/** A case's event text, configuration and context, as the hosts take them. */
export function inputs(c) {
  const event = c.event !== undefined ? JSON.stringify(c.event) : c.eventText ?? readFileSync(join(root, c.eventFile), 'utf8');
  const config = { ...defaults.config, ...(c.config ?? {}) };
  const ctx = { ...defaults.context, ...(c.context ?? {}) };
  const context = { requestId: ctx.requestId ?? defaults.context.requestId, cognitoIdentity: ctx.cognitoIdentity ?? undefined };
  return { event, config, context };
}

export function check(c, { response, calls, config }) {
  assert.equal(response.statusCode, c.expect.status, 'status');
  assert.deepEqual(Object.fromEntries(response.headers), c.expect.headers, 'headers');
  assert.equal(response.headers.length, Object.keys(c.expect.headers).length, 'no repeated headers');
  if (typeof c.expect.body === 'string') assert.equal(response.body, c.expect.body, 'body');
  else {
    assertFitsSchema(c.expect.body, 'the expected body');
    assertFitsSchema(JSON.parse(response.body), 'the body');
    assert.deepEqual(JSON.parse(response.body), c.expect.body, 'body');
  }
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

