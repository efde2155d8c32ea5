/**
 * The shape of src/ that reviews keep asking for, checked on every run: no import cycle (type-only
 * imports included), no file over 400 lines, no line over 120 characters (Prettier breaks code, not
 * strings and comments).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports and re-exports, `import type` and dynamic `import()` included. */
function localImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g),
  ];
  return specifiers.map((match) => path.resolve(path.dirname(file), (match[1] ?? match[2])!.replace(/\.js$/, '.ts')));
}

/** Every cycle's files, each cycle once, found by depth-first search. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'visiting')
        cycles.push(stack.slice(stack.indexOf(next)).map((file) => path.relative(SRC, file)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('src/', () => {
  const files = sourceFiles(SRC);

  it('has no import cycle', () => {
    const graph = new Map(files.map((file) => [file, localImports(file)]));
    expect(findCycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one (the check itself)', () => {
    expect(
      findCycles(
        new Map([
          ['/a', ['/b']],
          ['/b', ['/c']],
          ['/c', ['/a']],
        ]),
      ),
    ).toHaveLength(1);
  });

  it('has no file over 400 lines', () => {
    const long = files
      .map((file) => ({ file: path.relative(SRC, file), lines: fs.readFileSync(file, 'utf8').split('\n').length }))
      .filter(({ lines }) => lines > 400);
    expect(long).toEqual([]);
  });

  it('has no line over 120 characters', () => {
    const wide = files.flatMap((file) =>
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, index) => (line.length > 120 ? [`${path.relative(SRC, file)}:${index + 1}`] : [])),
    );
    expect(wide).toEqual([]);
  });
});
