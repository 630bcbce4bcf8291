// `make bench`'s row for the package: what an app ships of it without
// Amplify, the framework-free entry bundled and minified for a browser, with
// its signer, and that gzipped.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const bundled = await build({
  entryPoints: [new URL('./dist/index.js', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  write: false,
  logLevel: 'silent',
});
const bytes = bundled.outputFiles[0].contents;
const kb = (n) => `${(n / 1000).toFixed(1)} kB`;
console.log(`| \`attach-iot-policy-client\` without Amplify, bundled and minified for a browser (gzipped) | ${kb(bytes.length)} (${kb(gzipSync(bytes).length)}) | | | ≤ 10 kB gzipped |`);
