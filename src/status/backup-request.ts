/** `/pg/backup`: the body of a POST read into a backup type or refused with why, and the GET answer. Pure. */
import { BACKUP_TYPES, isBackupType, type BackupStatus, type BackupType } from '../backup/index.js';

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

/** `{"running": B|null, "last": B|null}`, or 404 without a repository. */
export function backupStateReply(backup: BackupStatus | undefined): {
  status: number;
  body: string;
  contentType?: string;
} {
  if (!backup) return { status: 404, body: 'no backup repository is configured (--backup-repo)\n' };
  const body = `${JSON.stringify({ running: backup.running, last: backup.last })}\n`;
  return { status: 200, body, contentType: 'application/json' };
}
