// examples/another-host.mjs, the README's "another host", is run as a user
// would run it: it must work with nothing but jco's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { root, transpiledGuest } from './fixtures.mjs';

const transpiled = transpiledGuest();

test('the example host runs the guest with a plain import object', () => {
  const out = execFileSync(process.execPath, ['examples/another-host.mjs', transpiled, 'examples/event-rest.json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { response, calls } = JSON.parse(out);
  assert.equal(response.statusCode, 200, response.body);
  assert.equal(JSON.parse(response.body).attributeUpdated, true);
  // The first update was refused with a thrown { tag: 'not-found' }, which the
  // guest understood: it looked the user up and updated by username.
  assert.deepEqual(
    calls.map((c) => c[0]),
    ['attach-policy', 'update-attributes', 'list-users', 'update-attributes'],
  );
});
