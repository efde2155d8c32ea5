/**
 * The baseline for bench/status-api.mjs: the least an HTTPS server in Node can do (TLS 1.3, the same
 * certificate, a fixed 200), so the status API's figures can be read against this machine's load.
 * Listens on a port the OS picks, on 127.0.0.1, and prints it.
 * Usage: node bench/bare-https-server.mjs CERT KEY
 */
import fs from 'node:fs';
import https from 'node:https';

const [cert, key] = process.argv.slice(2);
const server = https.createServer(
  { cert: fs.readFileSync(cert), key: fs.readFileSync(key), minVersion: 'TLSv1.3' },
  (request, response) => response.end('ok\n'),
);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
