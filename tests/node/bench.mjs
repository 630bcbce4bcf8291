// `make bench`, Node.js side: prints Markdown table rows (medians).
//
// 1. The bridge: the same event through the test host (the guest on the main
//    thread, synchronous imports) and through the production handler (the
//    guest in a worker thread, each import an Atomics.wait round trip to
//    asynchronous functions), side by side in one process.
// 2. Both Lambda packages under fun against an AWS on loopback that answers
//    every call at once: the first invocation after the function is created
//    (process start and init included), and warm invocations.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFunction } from '@vercel/fun';
import { defaults, inputs, readJson, root } from './fixtures.mjs';
import { loadHost } from './host.mjs';
import { SimulatedAccount } from './simulated-account.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(2)} ms`;
const µs = (x) => `${(x * 1000).toFixed(0)} µs`;
const rows = [];

// 1. The bridge.
const guestDir = join(root, 'target/jco');
const c = readJson(join(root, 'tests/fixtures/cases/rest-v1-sub-as-username.json'));
const { event, config, context } = inputs(c);
const host = await loadHost(guestDir);
const { createHandler } = await import(join(root, 'node/src/handler.mjs'));
const account = () => new SimulatedAccount(c.account ?? readJson(join(root, defaults.accountFile)));
const asyncImports = (a) => Object.fromEntries(Object.entries(a.imports()).map(([op, fn]) => [op, async (...x) => fn(...x.slice(0, fn.length))]));
const production = await createHandler({ env: { AWS_REGION: 'us-west-2', AWS_LAMBDA_LOG_LEVEL: 'ERROR' }, aws: asyncImports(account()), config, guestDir });
const ROUNDS = 10;
const PER_ROUND = 50;
const direct = [];
const bridged = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const [samples, run] of [
    [direct, () => host.handle(event, context, config, account().imports())],
    [bridged, () => production.invokeText(event, context)],
  ]) {
    for (let i = 0; i < PER_ROUND; i++) {
      const started = performance.now();
      const response = await run();
      samples.push(performance.now() - started);
      if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
    }
  }
}
await production.close();
rows.push(`| jco host, guest on the main thread, synchronous imports (${direct.length} runs, alternating) | ${µs(median(direct))} | | | |`);
rows.push(
  `| production Node handler, guest in a worker, 2 imports over Atomics.wait (${bridged.length} runs) | ${µs(median(bridged))} (${(median(bridged) / median(direct)).toFixed(1)}×) | | | |`,
);

// 2. Both packages under fun.
const aws = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });
});
await new Promise((r) => aws.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${aws.address().port}`;
const unzip = (zip, cjsEntry) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-package-'));
  execFileSync(join(root, '.venv/bin/python'), ['-m', 'zipfile', '-e', join(root, 'dist', zip), dir]);
  if (cjsEntry) {
    writeFileSync(join(dir, 'index.js'), "const ready = import('./index.mjs');\nready.catch(() => {});\nexports.handler = async (e, c) => (await ready).handler(e, c);\n");
  } else {
    execFileSync('chmod', ['+x', join(dir, 'bootstrap')]);
  }
  return dir;
};
const COLD = 5;
const WARM = 50;
const packages = [
  ['Rust `bootstrap` (provided)', unzip('attach-iot-policy-x86_64.zip', false), 'provided', 'bootstrap'],
  ['Node.js package (nodejs)', unzip('attach-iot-policy-node.zip', true), 'nodejs', 'index.handler'],
];
const payload = readFileSync(join(root, 'examples/event-rest.json'), 'utf8');
for (const [name, dir, runtime, handler] of packages) {
  const cold = [];
  const warm = [];
  for (let i = 0; i < COLD; i++) {
    const fn = await createFunction({
      Code: { Directory: dir },
      Handler: handler,
      Runtime: runtime,
      Region: 'us-west-2',
      AccessKeyId: 'AKIDBENCH',
      SecretAccessKey: 'bench-secret',
      MemorySize: 128,
      Environment: {
        Variables: {
          IOT_POLICY_NAME: 'amplify-toolkit-iot-message-viewer',
          AWS_ENDPOINT_URL: endpoint,
          AWS_LAMBDA_LOG_LEVEL: 'ERROR',
          ATTACH_IOT_POLICY_METRICS: 'off',
          NODE_PATH: join(root, 'node/node_modules'),
        },
      },
    });
    try {
      let started = performance.now();
      await fn.invoke({ InvocationType: 'RequestResponse', Payload: payload });
      cold.push(performance.now() - started);
      if (i === 0) {
        for (let j = 0; j < WARM; j++) {
          started = performance.now();
          const result = await fn.invoke({ InvocationType: 'RequestResponse', Payload: payload });
          warm.push(performance.now() - started);
          if (JSON.parse(String(result.Payload)).statusCode !== 200) throw new Error(`${name}: ${result.Payload}`);
        }
      }
    } finally {
      await fn.destroy();
    }
  }
  rows.push(`| ${name} under fun: first invocation, process start and init included (${COLD} runs) | ${ms(median(cold))} | ${ms(Math.min(...cold))} | ${ms(Math.max(...cold))} | |`);
  rows.push(`| ${name} under fun: warm invocation, AWS on loopback (${WARM} runs) | ${ms(median(warm))} | ${ms(Math.min(...warm))} | ${ms(Math.max(...warm))} | |`);
}
aws.close();
for (const [, dir] of packages) rmSync(dir, { recursive: true, force: true });
process.stdout.write(rows.join('\n') + '\n');
