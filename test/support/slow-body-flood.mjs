// A slow-body flood in a process of its own (the way an attacker and the kubelet are different
// machines): keeps `connections` TLS connections open, each sending request headers that announce a
// 1000-byte body and then one byte a second, opening a new one whenever the server closes one.
// Usage: node slow-body-flood.mjs PORT CA_FILE CONNECTIONS DURATION_MS; prints {"opened":N} at the end.
import fs from 'node:fs';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import tls from 'node:tls';

const [port, caFile, connections, durationMs] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const open = new Set();
let opened = 0;
let flooding = true;

function keepOne() {
  if (!flooding) return;
  const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca }, () => {
    socket.write('POST /pg/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  });
  opened++;
  open.add(socket);
  socket.on('error', () => undefined);
  socket.resume();
  socket.once('close', () => {
    open.delete(socket);
    setTimeout(keepOne, 10);
  });
}

for (let i = 0; i < Number(connections); i++) keepOne();
const trickle = setInterval(() => {
  for (const socket of open) if (!socket.destroyed && socket.writable) socket.write('x');
}, 1_000);
setTimeout(() => {
  flooding = false;
  clearInterval(trickle);
  for (const socket of open) socket.destroy();
  process.stdout.write(`${JSON.stringify({ opened })}\n`);
}, Number(durationMs));
