/**
 * The Prometheus text format (version 0.0.4), written by hand: PostgreSQL's families change shape
 * at every scrape (databases, standbys, slots come and go), which a registry of long-lived metric
 * objects would have to reset and refill each time. Pure.
 */

export type MetricType = 'gauge' | 'counter' | 'histogram' | 'untyped';

export interface Sample {
  labels: Readonly<Record<string, string>>;
  value: number;
  /** A histogram's series: `_bucket` (with an `le` label), `_sum`, `_count`. */
  suffix?: '_bucket' | '_sum' | '_count';
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

export function isLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

/** Families in the order given, each with HELP and TYPE; a family without samples is left out. */
export function renderFamilies(families: readonly Family[]): string {
  // A row's labels object is shared by its samples in every family: rendered once.
  const rendered = new WeakMap<object, string>();
  const labelsOf = (labels: Sample['labels']) => {
    let text = rendered.get(labels);
    if (text === undefined) rendered.set(labels, (text = renderLabels(labels)));
    return text;
  };
  let text = '';
  for (const family of families) {
    if (family.samples.length === 0) continue;
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      text += `${family.name}${sample.suffix ?? ''}${labelsOf(sample.labels)} ${formatValue(sample.value)}\n`;
    }
  }
  return text;
}

function renderLabels(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(help: string): string {
  return help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

/**
 * Joins families from several queries (or one query run in several databases) into one list with
 * a single entry per name, as the format requires. A family whose name another query already
 * produced, or a sample whose labels repeat one already there, is dropped and reported: the first
 * one wins, so a scrape never carries a duplicate that Prometheus would reject whole.
 */
export interface FamilyGroup {
  owner: string;
  families: readonly Family[];
  /** Rows known to differ in their labels (the defaults): not checked, which a scrape would feel. */
  distinct?: boolean;
}

export function mergeFamilies(groups: readonly FamilyGroup[]): { families: Family[]; conflicts: string[] } {
  const byName = new Map<string, { owner: string; family: Family; seen: Set<string> }>();
  const conflicts: string[] = [];
  for (const { owner, families, distinct } of groups) {
    for (const family of families) {
      const known = byName.get(family.name);
      if (known && known.owner !== owner) {
        conflicts.push(`metric ${family.name} of query ${owner} is already produced by ${known.owner}; dropped`);
        continue;
      }
      if (!known && distinct) {
        byName.set(family.name, { owner, family, seen: new Set() });
        continue;
      }
      const entry = known ?? { owner, family: { ...family, samples: [] }, seen: new Set<string>() };
      byName.set(family.name, entry);
      let repeated = 0;
      for (const sample of family.samples) {
        const key = sampleKey(sample);
        if (entry.seen.has(key)) {
          repeated++;
          continue;
        }
        entry.seen.add(key);
        entry.family.samples.push(sample);
      }
      if (repeated > 0) {
        conflicts.push(
          `metric ${family.name} of query ${owner}: ${repeated} rows repeat the labels of another; ` +
            'dropped (add a LABEL column that tells them apart)',
        );
      }
    }
  }
  return { families: [...byName.values()].map((entry) => entry.family), conflicts };
}

/** Label names and values in name order; NUL never occurs in a label value PostgreSQL sends. */
function sampleKey(sample: Sample): string {
  const names = Object.keys(sample.labels).sort();
  let key = sample.suffix ?? '';
  for (const name of names) key += `\u0000${name}\u0000${sample.labels[name]}`;
  return key;
}
