/** The status API's paths and the methods each accepts. Pure. */

export type Endpoint = 'healthz' | 'readyz' | 'startupz' | 'status' | 'metrics' | 'reload' | 'restart' | 'promote';

const ENDPOINTS: ReadonlyMap<string, { endpoint: Endpoint; method: 'GET' | 'POST' }> = new Map([
  ['/healthz', { endpoint: 'healthz', method: 'GET' }],
  ['/readyz', { endpoint: 'readyz', method: 'GET' }],
  ['/startupz', { endpoint: 'startupz', method: 'GET' }],
  ['/pg/status', { endpoint: 'status', method: 'GET' }],
  ['/metrics', { endpoint: 'metrics', method: 'GET' }],
  ['/pg/reload', { endpoint: 'reload', method: 'POST' }],
  ['/pg/restart', { endpoint: 'restart', method: 'POST' }],
  ['/pg/promote', { endpoint: 'promote', method: 'POST' }],
] as const);

export type Route = { found: true; endpoint: Endpoint } | { found: false; status: 404 } | { found: false; status: 405; allow: string };

/** `url` is the request target; a query string is ignored (Prometheus and kubelets may add one). */
export function route(method: string, url: string): Route {
  const path = url.split('?', 1)[0]!;
  const known = ENDPOINTS.get(path);
  if (!known) return { found: false, status: 404 };
  const allowed = known.method === 'GET' ? ['GET', 'HEAD'] : ['POST'];
  if (!allowed.includes(method)) return { found: false, status: 405, allow: allowed.join(', ') };
  return { found: true, endpoint: known.endpoint };
}

export function isOperatorAction(endpoint: Endpoint): endpoint is 'reload' | 'restart' | 'promote' {
  return endpoint === 'reload' || endpoint === 'restart' || endpoint === 'promote';
}
