import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

/**
 * Load for a WebSocket gateway (autocannon speaks HTTP only): `clients` sockets, each sending
 * `message` and awaiting the answer in a loop until `durationS` has passed. Every answer must be
 * `expected` (as text); a different one counts as a mismatch. Each client's last round trip may end
 * after the deadline, so the rate is over the time until the last one ended.
 *
 * Resolves with `{ roundTrips, mismatches, seconds, first }` (`first`: the first mismatching answer).
 */
export async function wsLoad(url, { clients, durationS, message, expected }) {
  const sockets = await Promise.all(Array.from({ length: clients }, () => openSocket(url)));
  const payload = JSON.stringify(message);
  let running = true;
  let roundTrips = 0;
  let mismatches = 0;
  let first;
  const started = performance.now();
  const loops = sockets.map(
    (socket) =>
      new Promise((resolve, reject) => {
        socket.once('close', () => reject(new Error(`${url}: a socket closed during the load`)));
        socket.on('message', (data) => {
          const text = data.toString();
          if (text === expected) roundTrips++;
          else {
            mismatches++;
            first ??= text;
          }
          if (running) socket.send(payload);
          else resolve();
        });
        socket.send(payload);
      }),
  );
  const timer = setTimeout(() => (running = false), durationS * 1000);
  try {
    await Promise.all(loops);
  } finally {
    clearTimeout(timer);
    running = false;
  }
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(sockets.map(closeSocket));
  return { roundTrips, mismatches, seconds, first };
}

function openSocket(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('open', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function closeSocket(socket) {
  socket.removeAllListeners('close');
  if (socket.readyState === WebSocket.CLOSED) return undefined;
  return new Promise((resolve) => {
    socket.once('close', resolve);
    socket.close();
  });
}

/** Sends one message on a socket of its own; resolves with the first answer, as text. */
export async function wsRequest(url, message) {
  const socket = await openSocket(url);
  try {
    return await new Promise((resolve, reject) => {
      socket.once('close', () => reject(new Error(`${url}: the socket closed before an answer`)));
      socket.once('message', (data) => resolve(data.toString()));
      socket.send(JSON.stringify(message));
    });
  } finally {
    await closeSocket(socket);
  }
}
