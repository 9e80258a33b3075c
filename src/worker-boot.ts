// Worker threads started from TypeScript sources (tests, tsx) register the tsx loader before
// importing their entry; it is found from this package, not from the caller's folder.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Boot code (for `new Worker(code, { eval: true })`) that loads `entry` through tsx. */
export function tsWorkerBoot(entry: URL): string {
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const mjs = cjs.replace(/\.cjs$/, '.mjs');
  const api = pathToFileURL(existsSync(mjs) ? mjs : cjs).href;
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
}
