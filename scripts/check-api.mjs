/**
 * `npm run api:check` (in `npm test`): fails when the public API of `nestjs-sesame` or
 * `nestjs-sesame/testing` differs from its recorded report in etc/. `npm run api:update` rewrites the
 * reports after an intended change; commit them with it, so a change to the API is a decision.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const update = process.argv.includes('--update');
const bin = (name) => `${root}node_modules/.bin/${name}`;

rmSync(`${root}.tmp/api-types`, { recursive: true, force: true });
execFileSync(bin('tsc'), ['-p', 'tsconfig.build.json', '--emitDeclarationOnly', '--outDir', '.tmp/api-types'], { cwd: root, stdio: 'inherit' });
let failed = false;
for (const config of ['api-extractor.json', 'api-extractor.testing.json']) {
  try {
    execFileSync(bin('api-extractor'), ['run', '--config', config, ...(update ? ['--local'] : [])], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (error) {
    failed = true;
    process.stderr.write(String(error.stdout ?? ''));
  }
}
if (failed) {
  console.error('api:check: the public API differs from etc/*.api.md. If the change is intended, run `npm run api:update` and commit the reports.');
  process.exit(1);
}
console.log(`api:${update ? 'update' : 'check'}: etc/nestjs-sesame.api.md and etc/nestjs-sesame-testing.api.md ${update ? 'written' : 'match'}`);
