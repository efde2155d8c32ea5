/**
 * postgresql.auto.conf, the file ALTER SYSTEM writes and PostgreSQL reads after postgresql.conf:
 * a fixed setting found there is taken out, so the file says what is in force. Pure: text in, text out.
 */
import { withoutComment } from './comments.js';
import { isFixedSetting } from './managed-settings.js';
import { SETTING_LINE } from './settings.js';

export const AUTO_CONF = 'postgresql.auto.conf';

export interface CleanedAutoConf {
  text: string;
  /** The fixed settings taken out, with the line each was on. */
  removed: { name: string; line: number }[];
}

export function withoutFixedSettings(autoConf: string): CleanedAutoConf {
  const removed: CleanedAutoConf['removed'] = [];
  const kept = autoConf.split('\n').filter((raw, index) => {
    const name = SETTING_LINE.exec(withoutComment(raw, "'").trim())?.[1];
    if (name === undefined || !isFixedSetting(name)) return true;
    removed.push({ name: name.toLowerCase(), line: index + 1 });
    return false;
  });
  return { text: kept.join('\n'), removed };
}
