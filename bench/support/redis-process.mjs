import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { freePort } from './free-port.mjs';

/**
 * A real `redis-server` for a benchmark, on a free loopback port, without persistence (as
 * test/support/redis-server.ts starts one for the tests). `stop()` kills it; a benchmark that fails
 * does not leave it running either.
 */
export async function startRedis({ readyTimeoutMs = 10_000 } = {}) {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  await new Promise((resolve, reject) => {
    child.once('error', (error) => reject(error.code === 'ENOENT' ? new Error('redis-server is not installed (apt-get install redis-server)') : error));
    child.once('exit', (code) => reject(new Error(`redis-server exited (code ${code}) before answering PING:\n${output}`)));
    const deadline = Date.now() + readyTimeoutMs;
    const poll = () =>
      ping(port).then(resolve, (error) => {
        if (Date.now() > deadline) reject(new Error(`redis-server did not answer PING within ${readyTimeoutMs} ms (${error.message}):\n${output}`));
        else setTimeout(poll, 20);
      });
    poll();
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    /** CPU time (user + system, ms) the server used so far, from /proc; null where there is none. */
    cpuMs: () => processCpuMs(child.pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
    },
  };
}

function processCpuMs(pid) {
  try {
    // Fields 14 and 15 (utime, stime) after the parenthesised command name, in clock ticks (100 per second on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

function ping(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(1000, () => socket.destroy(new Error('no answer')));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (chunk) => {
      socket.end();
      if (chunk.toString().startsWith('+PONG')) resolve();
      else reject(new Error(`answered ${JSON.stringify(chunk.toString())}`));
    });
    socket.once('error', reject);
  });
}
