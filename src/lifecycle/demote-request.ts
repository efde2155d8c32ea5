/** The body of `POST /pg/demote`. Pure. */
import type { PrimaryAddress } from '../replication/index.js';
import { parseAddress } from './decide.js';

/** `{"primary":"HOST[:PORT]","reclone":false}`; a string says what is wrong. */
export function parseDemoteBody(body: unknown): { primary: PrimaryAddress; reclone: boolean } | string {
  if (typeof body !== 'object' || body === null) return 'the body must be {"primary":"HOST[:PORT]"}';
  const { primary, reclone } = body as Record<string, unknown>;
  if (typeof primary !== 'string') return '"primary" must be a string HOST[:PORT]';
  const address = parseAddress(primary);
  if (!address) return `"primary": "${primary}" is not HOST[:PORT]`;
  if (reclone !== undefined && typeof reclone !== 'boolean') return '"reclone" must be true or false';
  return { primary: address, reclone: reclone ?? false };
}
