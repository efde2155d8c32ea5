/** The body of `POST /pg/backup`, read into a backup type or refused with why. Pure. */
import { BACKUP_TYPES, isBackupType, type BackupType } from '../backup/index.js';

export type BackupRequest = { ok: true; type: BackupType } | { ok: false; detail: string };

/** `{"type":"full"|"diff"|"incr"}`, or no body at all: `incr`, which pgBackRest makes full when none exists. */
export function parseBackupRequest(body: unknown): BackupRequest {
  if (body === undefined) return { ok: true, type: 'incr' };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, detail: 'the body must be a JSON object like {"type":"full"}' };
  }
  const unknown = Object.keys(body).filter((key) => key !== 'type');
  if (unknown.length > 0) return { ok: false, detail: `unknown field "${unknown[0]}"; only "type" is accepted` };
  const type = (body as { type?: unknown }).type;
  if (type === undefined) return { ok: true, type: 'incr' };
  if (typeof type !== 'string' || !isBackupType(type)) {
    return { ok: false, detail: `"type" must be one of ${BACKUP_TYPES.join(', ')}` };
  }
  return { ok: true, type };
}
