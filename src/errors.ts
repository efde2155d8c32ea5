/**
 * Bad usage or bad input: the CLI prints the message as one line and exits 2.
 * The message names the input that is wrong (a flag, a file, a key).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
