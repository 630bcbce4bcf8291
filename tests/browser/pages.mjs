// What the browser tests share: pages bundled by esbuild and served from one
// origin, Debian's headless Chromium, and the REST API's CORS configuration
// from deploy/template.yaml for the API stand-in on another origin.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '../..');
const BROWSER = process.env.CHROMIUM ?? '/usr/bin/chromium-headless-shell';

/** Fails at once, naming the make target, when a prerequisite is missing. */
export function prerequisites(...paths) {
  for (const [path, make] of [[BROWSER, 'make chromium'], ...paths]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run \`${make}\` (make test does)`);
  }
}

/**
 * Serves `routes` (a path such as `/` → a script in tests/browser), each as a
 * page that loads its bundle. The package's dependencies (Amplify, the SDK,
 * the signer) come from client/node_modules.
 */
export async function servePages(routes) {
  const scripts = {};
  for (const [path, file] of Object.entries(routes)) {
    const bundle = await build({
      entryPoints: [join(import.meta.dirname, file)],
      bundle: true,
      format: 'esm',
      write: false,
      logLevel: 'silent',
      nodePaths: [join(root, 'client/node_modules')],
    });
    scripts[`${path}.js`.replace('/.js', '/index.js')] = bundle.outputFiles[0].contents;
  }
  const server = createServer((req, res) => {
    const script = scripts[req.url];
    if (script) {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(script);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    const src = `${req.url}.js`.replace('/.js', '/index.js');
    res.end(`<!doctype html><script type="module" src="${src}"></script>`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Headless Chromium, as root on these machines. */
export function launch() {
  return chromium.launch({ executablePath: BROWSER, args: ['--no-sandbox', '--disable-gpu'] });
}

/** The REST API's CORS configuration, as deploy/template.yaml gives it. */
export function templateCors(origin) {
  const template = readFileSync(join(root, 'deploy/template.yaml'), 'utf8');
  const rest = template.split('RestApi:')[1];
  const value = (key) => new RegExp(`${key}: "'([^']*)'"`).exec(rest)[1];
  return { origin, methods: value('AllowMethods'), headers: value('AllowHeaders'), maxAge: value('MaxAge') };
}
