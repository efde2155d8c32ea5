/**
 * `instance-manager logs convert [FILE...]`: csvlog files (stdin without one) to the JSON lines the
 * live pipe writes, through the same converter. Every file is checked before anything is written,
 * so a missing file fails with one line and no partial output.
 *
 * `instance-manager logs pretty [FILE]`: the JSON lines (a file, or stdin: `kubectl logs -f`) as
 * lines a person reads, each printed as soon as it is read.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { LEVELS, OutputSink, parseLevel } from '../log.js';
import { CsvlogConverter, LineFormatter, newCounters, UNPARSABLE_MSG, type OutputBuffer } from '../logpipe/index.js';
import { parseSince, PrettyPrinter, type LineFilter } from '../logview/index.js';
import { LineSplitter } from '../process/index.js';
import { parseList } from './parse.js';

const SINCE_EXAMPLE = '2026-11-29T16:00:00Z';
const STDIN_HINT = 'instance-manager: reading JSON lines from stdin (pipe `kubectl logs` into it, or name a file)\n';

/** A JSON line may hold a record of many megabytes; only a longer one is printed in pieces. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

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
      for (const file of inputs) if (file !== '-') checkReadable(file, 'csvlog');
      const sink = new OutputSink();
      try {
        for (const file of inputs) {
          await convertOne(file, sink, new ReportingFormatter(flags.podName, file === '-' ? 'stdin' : file));
        }
      } finally {
        await sink.flush();
      }
    });
  const pretty = logs
    .command('pretty')
    .description('JSON log lines (stdin when no file) as lines a person reads')
    .argument('[file]', 'a file of JSON log lines')
    .option('--level <level>', `the least severe level shown (${LEVELS.join(', ')})`)
    .option('--logger <names>', 'only these loggers (comma list: postgres,pgaudit,instance-manager...)')
    .option('--since <when>', 'only lines from then on: a duration back (90s, 15m, 2h, 1d) or a time (RFC 3339)')
    .addOption(new Option('--color <when>', 'colour the level').choices(['auto', 'always', 'never']).default('auto'))
    .action(async (file: string | undefined, flags: PrettyFlags) => {
      if (file !== undefined) checkReadable(file, 'log');
      else if (process.stdin.isTTY) process.stderr.write(STDIN_HINT);
      const printer = new PrettyPrinter({ color: wantsColor(flags.color) }, lineFilter(flags));
      await prettyPrint(file === undefined ? process.stdin : fs.createReadStream(file), printer);
    });
  // main() turns commander errors into one line and exit 2 for the commands it knows; these are nested.
  for (const command of [convert, pretty]) command.exitOverride().configureOutput({ outputError: () => undefined });
  return logs;
}

function checkReadable(file: string, kind: string): void {
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new UsageError(`${file}: is a directory, not a ${kind} file`);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
}

/**
 * Says once, on stderr, that the input is not (all) csvlog: a stderr-format log given by mistake
 * would otherwise convert silently into nothing but "unparsable csvlog record" lines. Those lines
 * are still written: what can be read is converted.
 */
class ReportingFormatter extends LineFormatter {
  private reported = false;

  constructor(
    pod: string,
    private readonly input: string,
  ) {
    super(pod);
  }

  override unparsable(raw: string, source: string | undefined, out: OutputBuffer): void {
    if (!this.reported) {
      this.reported = true;
      const sample = raw.length > 100 ? `${raw.slice(0, 100)}...` : raw;
      process.stderr.write(
        `instance-manager: ${this.input}: not csvlog: cannot read ${JSON.stringify(sample)} ` +
          '(a stderr-format log? convert reads log_destination = csvlog); ' +
          `such records are written as "${UNPARSABLE_MSG}" lines, the rest is converted\n`,
      );
    }
    super.unparsable(raw, source, out);
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

interface PrettyFlags {
  level?: string;
  logger?: string;
  since?: string;
  color: 'auto' | 'always' | 'never';
}

function lineFilter(flags: PrettyFlags): LineFilter {
  const filter: LineFilter = {};
  if (flags.level !== undefined) {
    filter.level = parseLevel(flags.level);
    if (filter.level === undefined) {
      throw new UsageError(`--level: "${flags.level}" is not one of ${LEVELS.join(', ')}`);
    }
  }
  if (flags.logger !== undefined) filter.loggers = new Set(parseList('--logger', flags.logger));
  if (flags.since !== undefined) {
    filter.since = parseSince(flags.since, new Date());
    if (filter.since === undefined) {
      throw new UsageError(`--since: "${flags.since}" is neither a duration (15m, 2h) nor a time (${SINCE_EXAMPLE})`);
    }
  }
  return filter;
}

/** Colours on a terminal only, and never when NO_COLOR asks for none (https://no-color.org). */
function wantsColor(when: PrettyFlags['color']): boolean {
  if (when !== 'auto') return when === 'always';
  return process.stdout.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/**
 * Prints what each chunk completes as soon as it is read: on a live stream (`kubectl logs -f`)
 * a line shows when it arrives, not when a buffer fills. A reader that went away (`| head`) ends it.
 */
async function prettyPrint(input: NodeJS.ReadableStream, printer: PrettyPrinter): Promise<void> {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));
  let text = '';
  const splitter = new LineSplitter((line) => (text += printer.line(line)), MAX_LINE_BYTES);
  const write = async () => {
    if (text === '') return;
    const accepted = process.stdout.write(text);
    text = '';
    if (!accepted) await new Promise((resolve) => process.stdout.once('drain', resolve));
  };
  for await (const chunk of input) {
    splitter.push(chunk as Buffer);
    await write();
  }
  splitter.end();
  await write();
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
