import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import swc from '@swc/core';

/**
 * "After stop() the process can exit" can only be proven in a process of its own. The library is
 * TypeScript, so the files reachable from the entry points are transpiled with swc (as Jest does)
 * into a temporary ESM tree, and plain `node` runs them.
 */
const ROOT = resolve(process.cwd());
const LIB = join(ROOT, 'lib');
let outDir: string;

function transpileGraph(entries: string[]): void {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s+'(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(resolve(dirname(file), `${match[1]}.ts`));
    }
    const { code } = swc.transformSync(source, {
      filename: file,
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'es6' },
    });
    const target = join(outDir, relative(LIB, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, code);
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runNode(args: string[], options: { onStdout?: (text: string, child: ReturnType<typeof spawn>) => void; killAfterMs: number }): Promise<Exit> {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, args, { cwd: outDir, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      done({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), 'sesame-local-broker-'));
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
  transpileGraph([join(LIB, 'testing/index.ts'), join(LIB, 'cli/main.ts')]);
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('LocalBroker in a process of its own', () => {
  it('leaves no handle behind after stop(): held long-polls, expiry timers, scheduled redeliveries and all', async () => {
    const script = `
      import http from 'node:http';
      import { LocalBroker } from './testing/index.js';
      const broker = await LocalBroker.start({ webhookRetry: { baseDelayMs: 60000 } });
      const auth = { authorization: 'Bearer ' + broker.apiKey, 'content-type': 'application/json' };
      // A receiver that always fails, so a redelivery is scheduled a minute ahead.
      const receiver = http.createServer((req, res) => { req.resume(); res.writeHead(500).end(); });
      await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
      const post = (body) => fetch(broker.url + '/v1/approvals', { method: 'POST', headers: auth, body: JSON.stringify(body) }).then((r) => r.json());
      const hooked = await post({ action: 'a', summary: 's', callback_url: 'http://127.0.0.1:' + receiver.address().port + '/' });
      const failed = new Promise((r) => broker.once('webhook.failed', r));
      await broker.approve(hooked.id);
      await failed;
      receiver.close(); receiver.closeAllConnections();
      const held = await post({ action: 'b', summary: 's', expires_in: 604800 });
      const polls = Array.from({ length: 50 }, () => fetch(broker.url + '/v1/approvals/' + held.id + '/wait?timeout=60', { headers: auth }).catch(() => 'closed'));
      await broker.waitForHeldWaits(50);
      const watcher = broker.waitForApproval(() => false, { timeoutMs: 600000 }).catch(() => 'rejected');
      await broker.stop();
      const outcomes = await Promise.all([...polls, watcher]);
      console.log('STOPPED', outcomes.filter((o) => o === 'closed').length, outcomes.at(-1), broker.pendingCount, broker.waitingCount);
    `;
    writeFileSync(join(outDir, 'no-leak.mjs'), script);
    const exit = await runNode(['no-leak.mjs'], { killAfterMs: 8000 });
    expect(exit.stderr).toBe('');
    expect(exit.stdout).toContain('STOPPED 50 rejected 1 0');
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(5000);
  });

  it('the nestjs-sesame launcher (cli/main.js) serves, then exits 0 on SIGTERM', async () => {
    let pinged = false;
    const exit = await runNode(['cli/main.js', 'broker', '--port', '0', '--auto', 'approve'], {
      killAfterMs: 8000,
      onStdout: (text, child) => {
        const url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
        if (!url || pinged) return;
        pinged = true;
        void fetch(`${url}/v1/approvals`, {
          method: 'POST',
          headers: { authorization: 'Bearer sk_test_local', 'content-type': 'application/json' },
          body: JSON.stringify({ action: 'cli.demo', summary: 'From the test' }),
        })
          .then((res) => res.json())
          .then((body: { status?: string }) => {
            console.info(`cli child answered status ${body.status}`);
            child.kill('SIGTERM');
          });
      },
    });
    expect(exit.stderr).toBe('');
    expect(exit.stdout).toMatch(/approval apr_\w+ created: cli\.demo/);
    expect(exit.stdout).toMatch(/approval apr_\w+ approved \(by the decide policy\)/);
    expect(exit.stdout).toContain('SIGTERM received');
    expect(exit.stdout).toContain('Local broker stopped.');
    expect(exit).toMatchObject({ code: 0, signal: null });
  });

  it('the launcher exits 2 on a usage error', async () => {
    const exit = await runNode(['cli/main.js', 'broker', '--frobnicate'], { killAfterMs: 8000 });
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/Unknown option --frobnicate/);
  });

  it('the launcher refuses --host 0.0.0.0 with the public default key: exit 2, saying to pass --api-key, nothing served', async () => {
    const exit = await runNode(['cli/main.js', 'broker', '--host', '0.0.0.0', '--port', '0'], { killAfterMs: 8000 });
    expect(exit).toMatchObject({ code: 2, signal: null });
    expect(exit.stderr).toMatch(/--host 0\.0\.0\.0 is not a loopback address[\s\S]*--api-key/);
    expect(exit.stdout).not.toContain('listening');
  });
});
