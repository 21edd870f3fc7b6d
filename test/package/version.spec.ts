import { readFileSync } from 'node:fs';
import { SESAME_PACKAGE_VERSION } from '../../lib/version.js';

it('the User-Agent version matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(SESAME_PACKAGE_VERSION).toBe(pkg.version);
});
