/** Reading /metrics as Prometheus would: samples by name and labels, and promtool's verdict. */
import { execFile } from 'node:child_process';
import { ask } from './status.js';

export interface Scraped {
  text: string;
  /** The sample's value, or undefined when no sample has exactly these labels. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of a family. */
  samples(name: string): { labels: Record<string, string>; value: number }[];
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Scraped {
  const all = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = LINE.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries(
        [...(match[2] ?? '').matchAll(LABEL)].map(([, name, value]) => [
          name!,
          value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
        ]),
      );
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([key, value]) => a[key] === value);
  return {
    text,
    value: (name, labels = {}) => all.find((sample) => sample.name === name && same(sample.labels, labels))?.value,
    samples: (name) => all.filter((sample) => sample.name === name).map(({ labels, value }) => ({ labels, value })),
  };
}

export async function scrape(base: string): Promise<Scraped> {
  const answer = await ask(`${base}/metrics`, { timeoutMs: 30_000 });
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}: ${answer.body}`);
  return parseMetrics(answer.body);
}

/** `promtool check metrics` (Debian package prometheus): its exit code and what it said. */
export function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: typeof error?.code === 'number' ? error.code : 0, output: stdout + stderr });
    });
    child.stdin!.end(text);
  });
}
