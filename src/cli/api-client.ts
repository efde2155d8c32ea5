/** A request to the local instance's status API, with the client certificate when given (commands for a person). */
import type http from 'node:http';
import type https from 'node:https';
import { UsageError } from '../errors.js';
import { readFlagFile, readServerCa } from './local-run.js';

export interface ApiFlags {
  url: string;
  cert?: string;
  key?: string;
  ca?: string;
}

export interface ApiAnswer {
  status: number;
  body: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The local instance's status API: IM_STATUS_PORT is set in the pod as it is for `run`. */
export const defaultApiUrl = () => `https://localhost:${process.env.IM_STATUS_PORT ?? 8000}`;

export interface ApiAnswerWithUrl extends ApiAnswer {
  url: string;
}

/** Sends one request; resolves with any answer, rejects when none came. */
export async function callApi(
  flags: ApiFlags,
  apiPath: string,
  method = 'GET',
  body?: string,
): Promise<ApiAnswerWithUrl> {
  let url: URL;
  try {
    url = new URL(apiPath, flags.url);
  } catch {
    throw new UsageError(`--url: "${flags.url}" is not a URL`);
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new UsageError('--cert and --key go together');
  const tls = url.protocol === 'http:' ? undefined : tlsOptions(url, flags);
  // Loaded here: `run` shares this module and needs neither http nor https (with tls) to start.
  const client = tls === undefined ? await import('node:http') : await import('node:https');
  const headers = body === undefined
    ? {}
    : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
  return new Promise<ApiAnswerWithUrl>((resolve, reject) => {
    const onResponse = (response: http.IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text, url: url.href }));
    };
    const request = client.request(url, { ...(tls ?? {}), method, headers }, onResponse);
    request.setTimeout(10_000, () => request.destroy(new Error(`${url.href} did not answer within 10 s`)));
    request.on('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'ECONNREFUSED' ? ' (no manager listens there: pass --url with its status port)' : '';
      reject(new Error(`${url.href}: ${error.message}${hint}`));
    });
    request.end(body);
  });
}

/** Like callApi, but anything other than the expected status is an error naming the answer. */
export async function callApiExpecting(
  flags: ApiFlags,
  apiPath: string,
  expected: number[],
  method = 'GET',
  body?: string,
): Promise<string> {
  const answer = await callApi(flags, apiPath, method, body);
  if (!expected.includes(answer.status)) {
    throw new Error(`${method} ${answer.url} answered ${answer.status}: ${answer.body.trim()}`);
  }
  return answer.body;
}

function tlsOptions(url: URL, flags: ApiFlags): https.RequestOptions {
  if (url.protocol !== 'https:') throw new UsageError(`--url: "${flags.url}" is neither http nor https`);
  return {
    ca: readServerCa(flags.ca),
    ...(flags.cert !== undefined && flags.key !== undefined
      ? { cert: readFlagFile('--cert', flags.cert), key: readFlagFile('--key', flags.key) }
      : {}),
    minVersion: 'TLSv1.3',
    // Inside the pod the server certificate names the pod's DNS names, not localhost; the chain is
    // still checked against the CA.
    ...(LOOPBACK.has(url.hostname) ? { checkServerIdentity: () => undefined } : {}),
  };
}
