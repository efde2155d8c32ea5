/**
 * pg_settings as postgres_exporter exports them (`pg_settings_<name>`, booleans 1/0, times in
 * seconds and sizes in bytes with the unit in the name), so dashboards reading
 * `pg_settings_max_connections` or `pg_settings_shared_buffers_bytes` keep working. Pure.
 */
import type { Family } from './exposition.js';
import type { Row } from './query.js';

export const SETTINGS_SQL = `SELECT name, setting, coalesce(unit, '') AS unit, short_desc, vartype
FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real') ORDER BY name`;

const SECONDS: Readonly<Record<string, number>> = { s: 1, min: 60, h: 3_600, d: 86_400 };
const BYTES: Readonly<Record<string, number>> = {
  B: 1,
  kB: 2 ** 10,
  MB: 2 ** 20,
  GB: 2 ** 30,
  TB: 2 ** 40,
  '8kB': 2 ** 13,
  '16kB': 2 ** 14,
  '32kB': 2 ** 15,
  '16MB': 2 ** 24,
  '32MB': 2 ** 25,
  '64MB': 2 ** 26,
};

/** A setting with a unit this does not know (none in PostgreSQL 13 to 17) is left out rather than guessed. */
export function settingsFamilies(rows: readonly Row[]): Family[] {
  const families: Family[] = [];
  for (const row of rows) {
    const name = String(row.name).replaceAll('.', '_');
    // A metric name may not hold a type's name, whatever its type (promtool): wal_summary_keep_time
    // (17) is left out rather than renamed into a name no dashboard knows.
    if (/(^|_)(counter|gauge|histogram|summary)(_|$)/.test(name)) continue;
    const help = String(row.short_desc ?? '');
    const setting = String(row.setting);
    if (row.vartype === 'bool') {
      families.push(gauge(`pg_settings_${name}`, help, setting === 'on' ? 1 : 0));
      continue;
    }
    const raw = Number(setting);
    const unit = String(row.unit ?? '');
    if (unit === '') {
      families.push(gauge(`pg_settings_${name}`, help, raw));
      continue;
    }
    const converted = convert(raw, unit);
    if (converted === undefined) continue;
    const { unit: suffix, value } = converted;
    families.push(gauge(`pg_settings_${name}_${suffix}`, `${help} [Units converted to ${suffix}.]`, value));
  }
  return families;
}

function convert(raw: number, unit: string): { unit: 'seconds' | 'bytes'; value: number } | undefined {
  // -1 means "disabled" or "the default" for these settings, in any unit.
  const keep = (factor: number) => (raw === -1 ? -1 : raw * factor);
  // Divided, not multiplied by 0.001: 300 ms reads 0.3, not 0.30000000000000004.
  if (unit === 'ms') return { unit: 'seconds', value: raw === -1 ? -1 : raw / 1_000 };
  if (SECONDS[unit] !== undefined) return { unit: 'seconds', value: keep(SECONDS[unit]) };
  if (BYTES[unit] !== undefined) return { unit: 'bytes', value: keep(BYTES[unit]) };
  return undefined;
}

/** `pg_settings_tcp_keepalives_count` is no count of samples: untyped, as the naming rules allow. */
function gauge(name: string, help: string, value: number): Family {
  const reserved = /_(count|sum|bucket|total)$/.test(name);
  return { name, help, type: reserved ? 'untyped' : 'gauge', samples: [{ labels: {}, value }] };
}
