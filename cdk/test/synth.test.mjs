// `cdk synth` of the example app, and the Amplify Gen 2 example synthesized
// offline as Amplify's tooling does it; cfn-lint on every template, and each
// template read by aws-cdk-lib/assertions, which refuses a dependency cycle
// (CloudFormation would refuse it only at deploy, between nested stacks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Template } from 'aws-cdk-lib/assertions';

const run = promisify(execFile);
const here = fileURLToPath(new URL('..', import.meta.url));
const root = join(here, '..');
const cfnLint = join(root, '.venv/bin/cfn-lint');
const SETTINGS = JSON.parse(readFileSync(join(root, 'deploy/stack-settings.json'), 'utf8'));
// No telemetry, notices or version checks: nothing leaves the machine.
const env = { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' };

/** Every template in a cloud assembly, nested stacks' too, by file name. */
function templates(dir) {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8'))]),
  );
}

/** cfn-lint on the templates. W3005 (a DependsOn a GetAtt already implies) is how CDK writes every function's role. */
async function lint(dir, files) {
  const result = await run(cfnLint, ['--ignore-checks', 'W3005', '--', ...files.map((f) => join(dir, f))]).catch((e) => e);
  assert.equal(result.code ?? 0, 0, `${result.stdout}${result.stderr}`);
}

const resourcesOf = (template, type) => Object.values(template.Resources ?? {}).filter((r) => r.Type === type);

test('cdk synth of the example app: both runtimes, and cfn-lint passes on what it synthesizes', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'aip-cdk-synth-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const cdk = join(here, 'node_modules/.bin/cdk');
  const args = ['synth', '--app', 'node examples/app.mjs', '-o', out, '--quiet', '--no-notices', '--no-version-reporting'];
  await run(cdk, args, { cwd: here, env });
  const found = templates(out);
  assert.deepEqual(Object.keys(found).sort(), ['AttachIotPolicyNode.template.json', 'AttachIotPolicyRust.template.json']);
  for (const [file, template] of Object.entries(found)) {
    Template.fromJSON(template);
    const runtime = file.includes('Node') ? 'nodejs' : 'rust';
    const fns = resourcesOf(template, 'AWS::Lambda::Function');
    assert.deepEqual(fns.map((f) => f.Properties.Runtime), [SETTINGS.function.runtime[runtime], SETTINGS.function.runtime[runtime]], file);
    assert.equal(resourcesOf(template, 'AWS::ApiGatewayV2::Route').length, 2, file);
    assert.equal(resourcesOf(template, SETTINGS.drain.resourceType).length, 1, file);
  }
  // The packages are the ones `make package-x86_64` and `make package-node` build.
  const assets = readdirSync(out).filter((f) => f.startsWith('asset.') && f.endsWith('.zip'));
  assert.equal(assets.length, 2, `${assets}`);
  await lint(out, Object.keys(found));
});

test('the Amplify Gen 2 example synthesizes offline, with the context Amplify passes, and cfn-lint passes', async (t) => {
  // Inside cdk/, so that the backend's other imports resolve to this package's node_modules.
  mkdirSync(join(here, '.synth'), { recursive: true });
  const project = mkdtempSync(join(here, '.synth', 'amplify-'));
  t.after(() => rmSync(project, { recursive: true, force: true }));
  cpSync(join(root, 'examples/amplify-gen2/amplify'), join(project, 'amplify'), { recursive: true });
  // As the example's `file:` dependency installs it: a link to this package.
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(here, join(project, 'node_modules/attach-iot-policy-cdk'), 'dir');
  // Amplify's deployer type-checks the backend with its tsconfig before it synthesizes.
  const tsc = await run(join(here, 'node_modules/.bin/tsc'), ['--noEmit', '-p', join(project, 'amplify/tsconfig.json')]).catch((e) => e);
  assert.equal(tsc.code ?? 0, 0, `${tsc.stdout}${tsc.stderr}`);
  const out = join(project, '.amplify/artifacts/cdk.out');
  mkdirSync(out, { recursive: true });
  await run(process.execPath, [join(here, 'test/amplify-synth.mjs'), join(project, 'amplify/backend.ts'), out, 'attach-iot-policy-example', 'sandbox-user'], {
    cwd: project,
    env,
  });
  const found = templates(out);
  const all = Object.values(found);
  for (const template of all) Template.fromJSON(template);
  // The user pool's attribute: mutable, and long enough for an identity ID.
  const [pool] = all.flatMap((t) => resourcesOf(t, 'AWS::Cognito::UserPool'));
  const attribute = pool.Properties.Schema.find((a) => a.Name === 'iotPolicyIsAttached');
  assert.equal(attribute.Mutable, true);
  assert.ok(Number(attribute.StringAttributeConstraints.MaxLength) >= SETTINGS.attribute.identityIdMinLength, JSON.stringify(attribute));
  // The construct, in its own nested stack, in identity-id mode.
  const [ours] = all.filter((t) => resourcesOf(t, SETTINGS.drain.resourceType).length === 1);
  assert.ok(ours, 'the drain is synthesized');
  const fn = resourcesOf(ours, 'AWS::Lambda::Function').find((f) => f.Properties.Timeout === SETTINGS.function.timeout);
  assert.equal(fn.Properties.Environment.Variables.COGNITO_ATTRIBUTE_VALUE, 'identity-id');
  assert.equal(resourcesOf(ours, 'AWS::IoT::Policy').length, 1);
  // The invoke URL reaches amplify_outputs.json through the root stack's custom outputs.
  const rootTemplate = all.find((t) => JSON.stringify(t.Outputs ?? {}).includes('customOutputs'));
  assert.ok(rootTemplate, 'the root stack publishes custom outputs');
  assert.match(JSON.stringify(rootTemplate.Outputs.customOutputs), /attachIotPolicy.*invokeUrl/);
  await lint(out, Object.keys(found));
});
