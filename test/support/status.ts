/** A client for the status API that reports what a kubelet or an operator would see. */
import http from 'node:http';
import https from 'node:https';

export interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  elapsedMs: number;
}

export interface AskOptions {
  method?: string;
  /** PEM: the CA to verify the server with, and the client certificate to present. */
  ca?: string;
  cert?: string;
  key?: string;
  /** A keep-alive agent to reuse a connection; a fresh connection per request otherwise. */
  agent?: http.Agent;
  timeoutMs?: number;
  body?: string;
}

export function ask(url: string, options: AskOptions = {}): Promise<Answer> {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const headers = options.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(options.body)) };
    const common = {
      method: options.method ?? 'GET',
      agent: options.agent ?? false,
      timeout: options.timeoutMs ?? 5_000,
      headers,
    };
    const onResponse = (response: http.IncomingMessage) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode!,
          body,
          headers: response.headers,
          elapsedMs: performance.now() - began,
        }),
      );
    };
    const request = url.startsWith('https:')
      ? https.request(url, { ...common, ca: options.ca, cert: options.cert, key: options.key }, onResponse)
      : http.request(url, common, onResponse);
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer within ${common.timeout} ms`)));
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * An operator's request: the server verified with `tls.ca`, the operator's certificate presented,
 * `body` sent as JSON, and time for an action that waits on PostgreSQL.
 */
export function askAsOperator(
  url: string,
  tls: { ca: string; cert: string; key: string },
  method = 'GET',
  body?: unknown,
): Promise<Answer> {
  return ask(url, { method, ...tls, timeoutMs: 30_000, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** Polls until the status API answers at all (it starts a moment after the process). */
export async function waitForStatusApi(base: string, options: AskOptions = {}, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await ask(`${base}/healthz`, { ...options, timeoutMs: 1_000 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
