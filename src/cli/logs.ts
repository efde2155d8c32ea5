/**
 * `instance-manager logs convert [FILE...]`: csvlog files (stdin without one) to the JSON lines the
 * live pipe writes, through the same converter. Every file is checked before anything is written,
 * so bad input fails with one line and no partial output.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { OutputSink } from '../log.js';
import { CsvlogConverter, LineFormatter, newCounters } from '../logpipe/index.js';

/** Its output (some 2.5 times the input) fits the converter's first slab; 1 MiB peaked 4 MiB higher, no faster. */
const READ_BUFFER_BYTES = 256 * 1024;

export function logsCommand(): Command {
  const logs = new Command('logs').description('PostgreSQL logs');
  const convert = logs
    .command('convert')
    .description('csvlog (stdin when no file) to JSON lines on stdout')
    .argument('[file...]', 'csvlog files')
    .option('--pod-name <name>', 'logging_pod on every line', process.env.POD_NAME ?? os.hostname())
    .action(async (files: string[], flags: { podName: string }) => {
      const inputs = files.length === 0 ? ['-'] : files;
      for (const file of inputs) if (file !== '-') checkReadable(file);
      const sink = new OutputSink();
      try {
        for (const file of inputs) await convertOne(file, sink, new LineFormatter(flags.podName));
      } finally {
        await sink.flush();
      }
    });
  // main() turns commander errors into one line and exit 2 for the commands it knows; this one is nested.
  convert.exitOverride().configureOutput({ outputError: () => undefined });
  return logs;
}

function checkReadable(file: string): void {
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new UsageError(`${file}: is a directory, not a csvlog file`);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** Each file ends its own records: a cut-short last record is written as unparsable, not glued to the next file. */
async function convertOne(file: string, sink: OutputSink, formatter: LineFormatter): Promise<void> {
  const source = file === '-' ? undefined : file;
  const converter = new CsvlogConverter(sink, formatter, newCounters(), source);
  for await (const chunk of file === '-' ? process.stdin : chunksOf(file)) {
    if (!converter.push(chunk as Buffer)) await new Promise((resolve) => sink.once('drain', resolve));
  }
  converter.finish();
}

/**
 * A file's bytes, read again and again into one buffer (the converter keeps no reference to a chunk):
 * a stream's new buffer per read is garbage outside V8's heap, collected only every 64 MiB or so.
 */
async function* chunksOf(file: string): AsyncGenerator<Buffer> {
  const handle = await fs.promises.open(file);
  try {
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
