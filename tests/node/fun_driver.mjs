// Runs an unzipped Lambda package under @vercel/fun, a real Lambda Runtime
// API, and prints what each invocation returned as JSON on stdout.
//
// stdin: {"directory", "region", "accessKeyId", "secretAccessKey",
//         "environment": {...}, "payloads": ["<raw payload>", ...]}
import { createFunction } from '@vercel/fun';
import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const fn = await createFunction({
  Code: { Directory: input.directory },
  Handler: 'bootstrap',
  Runtime: 'provided',
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
process.stdout.write(JSON.stringify(results));
