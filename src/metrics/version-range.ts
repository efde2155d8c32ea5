/**
 * postgres_exporter's `runonserver` ranges (">=10.0.0", ">=9.6.0 <10.0.0", "<12 || >=14"):
 * comparators joined by spaces (all must hold) and alternatives by `||`. Pure.
 */

type Version = readonly [number, number, number];
type Comparator = { operator: '<' | '<=' | '>' | '>=' | '='; version: Version };

export type VersionRange = readonly (readonly Comparator[])[];

const COMPARATOR = /^(<=|>=|<|>|==|=)?v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/;

/** Undefined when `text` is no range this reads. */
export function parseVersionRange(text: string): VersionRange | undefined {
  const alternatives = text.split('||').map((part) =>
    part
      .trim()
      .split(/\s+/)
      .filter((word) => word !== ''),
  );
  if (alternatives.some((words) => words.length === 0)) return undefined;
  const range: Comparator[][] = [];
  for (const words of alternatives) {
    const comparators: Comparator[] = [];
    for (const word of words) {
      const match = COMPARATOR.exec(word);
      if (!match) return undefined;
      const operator = match[1] === undefined || match[1] === '==' ? '=' : (match[1] as Comparator['operator']);
      const part = (value: string | undefined) => (value === undefined || value === 'x' ? 0 : Number(value));
      const version: Version = [Number(match[2]), part(match[3]), part(match[4])];
      const wildMinor = match[3] === undefined || match[3] === 'x';
      if (operator === '=' && (wildMinor || match[4] === undefined || match[4] === 'x')) {
        // "15", "15.x", "15.2": every version that starts so.
        const upper: Version = wildMinor ? [version[0] + 1, 0, 0] : [version[0], version[1] + 1, 0];
        comparators.push({ operator: '>=', version }, { operator: '<', version: upper });
      } else {
        comparators.push({ operator, version });
      }
    }
    range.push(comparators);
  }
  return range;
}

/** `server_version_num` as postgres_exporter reads it: 150018 is 15.18.0, 90624 is 9.6.24. */
export function serverVersion(versionNum: number): Version {
  const major = Math.floor(versionNum / 10_000);
  return major >= 10 ? [major, versionNum % 10_000, 0] : [major, Math.floor(versionNum / 100) % 100, versionNum % 100];
}

export function inRange(range: VersionRange, version: Version): boolean {
  return range.some((comparators) =>
    comparators.every(({ operator, version: bound }) => holds(operator, compare(version, bound))),
  );
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function holds(operator: Comparator['operator'], order: number): boolean {
  switch (operator) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    case '=':
      return order === 0;
  }
}
