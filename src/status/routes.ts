/**
 * The status API's routing: a table of rows, each a path, a method and whatever the server keeps
 * with it (its handler, whether it is an operator action). Pure.
 */

export interface RouteRow {
  path: string;
  method: 'GET' | 'POST';
}

export type Route<Row extends RouteRow> = { found: true; row: Row } | { found: false; status: 404 } | { found: false; status: 405; allow: string };

export class RouteTable<Row extends RouteRow> {
  private readonly byPath: ReadonlyMap<string, { row: Row; methods: readonly string[]; allow: string }>;

  constructor(readonly rows: readonly Row[]) {
    this.byPath = new Map(
      rows.map((row) => {
        const methods = row.method === 'GET' ? ['GET', 'HEAD'] : ['POST'];
        return [row.path, { row, methods, allow: methods.join(', ') }];
      }),
    );
    if (this.byPath.size !== rows.length) throw new Error('the status API has two routes for one path');
  }

  /** `url` is the request target; a query string is ignored (Prometheus and kubelets may add one). */
  match(method: string, url: string): Route<Row> {
    const path = url.split('?', 1)[0]!;
    const known = this.byPath.get(path);
    if (!known) return { found: false, status: 404 };
    if (!known.methods.includes(method)) return { found: false, status: 405, allow: known.allow };
    return { found: true, row: known.row };
  }
}
