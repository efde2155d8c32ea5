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
  /** Per path, its rows by request method (a read under GET and HEAD), and its Allow header. */
  private readonly byPath = new Map<string, { byMethod: Map<string, Row>; allow: string }>();

  constructor(readonly rows: readonly Row[]) {
    for (const row of rows) {
      const known = this.byPath.get(row.path) ?? { byMethod: new Map<string, Row>(), allow: '' };
      if (known.byMethod.has(row.method)) {
        throw new Error(`the status API has two ${row.method} routes for ${row.path}`);
      }
      for (const method of methodsOf(row)) known.byMethod.set(method, row);
      known.allow = [...known.byMethod.keys()].join(', ');
      this.byPath.set(row.path, known);
    }
  }

  /** `url` is the request target; a query string is ignored (Prometheus and kubelets may add one). */
  match(method: string, url: string): Route<Row> {
    const query = url.indexOf('?');
    const known = this.byPath.get(query === -1 ? url : url.slice(0, query));
    if (!known) return { found: false, status: 404 };
    const row = known.byMethod.get(method);
    if (!row) return { found: false, status: 405, allow: known.allow };
    return { found: true, row };
  }
}

/** A read answers HEAD too. */
function methodsOf(row: RouteRow): string[] {
  return row.method === 'GET' ? ['GET', 'HEAD'] : ['POST'];
}
