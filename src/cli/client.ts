/**
 * A client of the status API for the CLI's operator commands: TLS 1.3, the server verified against
 * the CA (a local run's by default), the operator's client certificate presented.
 */
import type http from 'node:http';
import { errorMessage, UsageError } from '../errors.js';
import { tlsOptions, type StatusFlags } from './status.js';

export type ClientFlags = StatusFlags;

export interface ApiAnswer {
  status: number;
  body: string;
}

export interface CallOptions {
  method: 'GET' | 'POST';
  body?: unknown;
  timeoutMs?: number;
}

export function endpoint(base: string, pathname: string, flag = '--url'): URL {
  try {
    return new URL(pathname, base);
  } catch {
    throw new UsageError(`${flag}: "${base}" is not a URL`);
  }
}

/** Resolves with any answer; rejects only when there is none (refused, timed out, TLS failed). */
export async function callStatusApi(flags: ClientFlags, pathname: string, options: CallOptions): Promise<ApiAnswer> {
  const url = endpoint(flags.url, pathname);
  const tls = url.protocol === 'http:' ? undefined : tlsOptions(url, flags);
  const client = tls === undefined ? await import('node:http') : await import('node:https');
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise<ApiAnswer>((resolve, reject) => {
    const onResponse = (response: http.IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text.trim() }));
    };
    const headers =
      payload === undefined
        ? {}
        : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) };
    const request = client.request(url, { ...tls, method: options.method, headers }, onResponse);
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    request.on('error', (error) => reject(new Error(`${url.href}: ${errorMessage(error)}`)));
    request.end(payload);
  });
}
