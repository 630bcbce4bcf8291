// Runs an unzipped Lambda package under @vercel/fun, a real Lambda Runtime
// API, and prints what each invocation returned as JSON on stdout.
//
// stdin: {"directory", "region", "accessKeyId", "secretAccessKey",
//         "environment": {...}, "payloads": ["<raw payload>", ...],
//         "runtime": "provided" (default) or "nodejs", "handler": "bootstrap" (default),
//         "output": a file for the results (default: stdout)}
import { createFunction } from '@vercel/fun';
import { readFileSync, writeFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const fn = await createFunction({
  Code: { Directory: input.directory },
  Handler: input.handler ?? 'bootstrap',
  Runtime: input.runtime ?? 'provided',
  Region: input.region,
  AccessKeyId: input.accessKeyId,
  SecretAccessKey: input.secretAccessKey,
  Environment: { Variables: input.environment },
  MemorySize: 128,
});
const results = [];
try {
  for (const payload of input.payloads) {
    const result = await fn.invoke({ InvocationType: 'RequestResponse', Payload: payload });
    results.push({
      functionError: result.FunctionError ?? null,
      payload: String(result.Payload),
    });
  }
} finally {
  await fn.destroy();
}
// The function's own stdout is fun's, and so this process's: a Node.js
// handler's console writes there. So the results may go to a file instead.
if (input.output) writeFileSync(input.output, JSON.stringify(results));
else process.stdout.write(JSON.stringify(results));
