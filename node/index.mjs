// The Lambda entry point (handler setting `index.handler`). Init runs once per
// execution environment: a bad setting fails it with a message that names the
// variable.
import { createHandler } from './src/handler.mjs';

export const { handler } = await createHandler();
