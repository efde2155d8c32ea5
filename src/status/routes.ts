/**
 * The status API's routing: a table of rows, each a path, a method and whatever the server keeps
 * with it (its handler, whether it is an operator action). Pure.
 */

export interface RouteRow {
  path: string;
  method: 'GET' | 'POST';
}

export type Route<Row extends RouteRow> =
  { found: true; row: Row } | { found: false; status: 404 } | { found: false; status: 405; allow: string };

export class RouteTable<Row extends RouteRow> {
  /** One path may have a GET (a read) and a POST (an action), as /pg/backup has. */
  private readonly byPath = new Map<string, { rows: Row[]; allow: string }>();

  constructor(readonly rows: readonly Row[]) {
    for (const row of rows) {
      const rowsOfPath = this.byPath.get(row.path)?.rows ?? [];
      if (rowsOfPath.some((other) => other.method === row.method)) {
        throw new Error(`the status API has two ${row.method} routes for ${row.path}`);
      }
      const all = [...rowsOfPath, row];
      this.byPath.set(row.path, { rows: all, allow: all.flatMap(methodsOf).join(', ') });
    }
  }

  /** `url` is the request target; a query string is ignored (Prometheus and kubelets may add one). */
  match(method: string, url: string): Route<Row> {
    const path = url.split('?', 1)[0]!;
    const known = this.byPath.get(path);
    if (!known) return { found: false, status: 404 };
    const row = known.rows.find((candidate) => methodsOf(candidate).includes(method));
    if (!row) return { found: false, status: 405, allow: known.allow };
    return { found: true, row };
  }
}

/** A read answers HEAD too. */
function methodsOf(row: RouteRow): string[] {
  return row.method === 'GET' ? ['GET', 'HEAD'] : ['POST'];
}
