#!/usr/bin/env node
/**
 * Reads its stdin the way a container runtime reads a container's stdout (containerd's CRI logger,
 * CRI-O's conmon): line by line, each line written to a file with a write of its own, in the CRI
 * log format `<RFC 3339 time> stdout F <line>` (a line over 16 KiB goes out in `P` pieces). For
 * bench/pgbench.mjs: the manager's stdout meets a reader that costs what a node's does, not a
 * `wc -c` that swallows 64 KiB a read. Prints the lines and bytes it wrote when stdin ends.
 *
 *   node bench/container-log.mjs FILE
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';

const MAX_LINE_BYTES = 16 * 1024;
const out = fs.openSync(process.argv[2], 'w');
let pending = Buffer.alloc(0);
let lines = 0;
let bytes = 0;

function writeRecord(tag, body) {
  const prefix = Buffer.from(`${new Date().toISOString()} stdout ${tag} `);
  bytes += fs.writevSync(out, [prefix, body, Buffer.from('\n')]);
}

function writeLine(line) {
  for (; line.length > MAX_LINE_BYTES; line = line.subarray(MAX_LINE_BYTES))
    writeRecord('P', line.subarray(0, MAX_LINE_BYTES));
  writeRecord('F', line);
  lines++;
}

process.stdin.on('data', (chunk) => {
  let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
  for (let newline = data.indexOf(10); newline !== -1; newline = data.indexOf(10)) {
    writeLine(data.subarray(0, newline));
    data = data.subarray(newline + 1);
  }
  pending = Buffer.from(data); // a copy: the stream's chunk is not ours to keep
});
process.stdin.on('end', () => {
  if (pending.length > 0) writeLine(pending);
  fs.closeSync(out);
  process.stdout.write(`${JSON.stringify({ lines, bytes })}\n`);
});
