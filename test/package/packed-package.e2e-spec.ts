import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Packs the library like `npm publish` would, installs the tarball into a fresh Nest app outside the
 * repo, and runs a gated route there against the packaged local broker, once as ESM and once as CJS.
 */
describe('the packed package', () => {
  let app: string;

  beforeAll(() => {
    app = mkdtempSync(join(tmpdir(), 'sesame-consumer-'));
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
    execFileSync('npm', ['pack', '--pack-destination', app], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(app).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const pkg = (name: string) => `${name}@${JSON.parse(execFileSync('npm', ['pkg', 'get', `devDependencies.${name}`], { cwd: root }).toString())}`;
    execFileSync(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        `./${tarball}`,
        ...['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'reflect-metadata', 'rxjs'].map(pkg),
      ],
      { cwd: app, stdio: 'pipe' },
    );
  }, 240_000);

  afterAll(() => rmSync(app, { recursive: true, force: true }));

  const consumer = (load: string) => `
${load}
class Refunds {
  refund(body) { return { refunded: body.amount }; }
}
Controller('refunds')(Refunds);
Post()(Refunds.prototype, 'refund', Object.getOwnPropertyDescriptor(Refunds.prototype, 'refund'));
Body()(Refunds.prototype, 'refund', 0);
// What TypeScript's __decorate does: apply, then install the returned descriptor.
Object.defineProperty(Refunds.prototype, 'refund', Reflect.decorate([RequireApproval('payments.refund', { summary: (b) => 'Refund ' + b.amount })], Refunds.prototype, 'refund', Object.getOwnPropertyDescriptor(Refunds.prototype, 'refund')));

const broker = await LocalBroker.start({ decide: (a) => (a.summary === 'Refund 42' ? 'approve' : 'deny') });
class AppModule {}
Module({ imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url })], controllers: [Refunds] })(AppModule);
const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
const url = await app.getUrl();
const post = (amount) => fetch(url + '/refunds', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount }) });
const ok = await post(42);
const denied = await post(7);
console.log(JSON.stringify({ ok: ok.status, body: await ok.json(), denied: denied.status }));
await app.close();
await broker.stop();
`;
  const expected = { ok: 201, body: { refunded: 42 }, denied: 403 };

  it('works when imported as ESM', () => {
    writeFileSync(
      join(app, 'esm.mjs'),
      consumer(`import 'reflect-metadata';
import { Body, Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RequireApproval, SesameModule } from 'nestjs-sesame';
import { LocalBroker } from 'nestjs-sesame/testing';`),
    );
    expect(JSON.parse(execFileSync('node', ['esm.mjs'], { cwd: app }).toString())).toEqual(expected);
  }, 60_000);

  it('works when required as CommonJS', () => {
    writeFileSync(
      join(app, 'cjs.cjs'),
      `(async () => {${consumer(`require('reflect-metadata');
const { Body, Controller, Module, Post } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { RequireApproval, SesameModule } = require('nestjs-sesame');
const { LocalBroker } = require('nestjs-sesame/testing');`)}})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    expect(JSON.parse(execFileSync('node', ['cjs.cjs'], { cwd: app }).toString())).toEqual(expected);
  }, 60_000);
});
