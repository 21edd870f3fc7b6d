/**
 * Loader hooks of loaded-packages.mjs: posts every package resolved under node_modules, with whether
 * the importing module is one of this repo's lib/ files.
 */
let port;
const lib = new URL('../../lib/', import.meta.url).href;

export function initialize(data) {
  port = data.port;
}

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(result.url);
  if (match) port.postMessage({ name: match[1], fromLib: context.parentURL?.startsWith(lib) === true });
  return result;
}
