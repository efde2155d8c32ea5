/**
 * A configuration line without its `#` comment. postgresql.conf quotes values with `'`, pg_hba.conf
 * quotes tokens with `"`: a `#` inside quotes is text, not a comment.
 */
export function withoutComment(line: string, quote: "'" | '"'): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === quote) quoted = !quoted;
    else if (line[i] === '#' && !quoted) return line.slice(0, i);
  }
  return line;
}
