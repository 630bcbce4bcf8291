// The REST API's CORS configuration, as deploy/template.yaml gives it, for
// the API stand-in to answer preflights with.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

export function templateCors(origin) {
  const template = readFileSync(join(root, 'deploy/template.yaml'), 'utf8');
  const rest = template.split('RestApi:')[1];
  const value = (key) => new RegExp(`${key}: "'([^']*)'"`).exec(rest)[1];
  return { origin, methods: value('AllowMethods'), headers: value('AllowHeaders'), maxAge: value('MaxAge') };
}
