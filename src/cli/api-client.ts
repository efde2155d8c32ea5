/** A request to the local instance's status API, with the client certificate when given (commands for a person). */
import fs from 'node:fs';
import type http from 'node:http';
import type https from 'node:https';
import path from 'node:path';
import { UsageError } from '../errors.js';

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

/** Sends one request; resolves with any answer, rejects when none came. */
export async function callApi(flags: ApiFlags, apiPath: string, method = 'GET', body?: string): Promise<ApiAnswer> {
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
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
  return new Promise<ApiAnswer>((resolve, reject) => {
    const onResponse = (response: http.IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    };
    const request = client.request(url, { ...(tls ?? {}), method, headers }, onResponse);
    request.setTimeout(10_000, () => request.destroy(new Error(`${url.href} did not answer within 10 s`)));
    request.on('error', (error) => reject(new Error(`${url.href}: ${error.message}`)));
    request.end(body);
  });
}

/** Like callApi, but anything other than the expected status is an error naming the answer. */
export async function callApiExpecting(flags: ApiFlags, apiPath: string, expected: number[], method = 'GET', body?: string): Promise<string> {
  const answer = await callApi(flags, apiPath, method, body);
  if (!expected.includes(answer.status)) throw new Error(`${method} ${apiPath} answered ${answer.status}: ${answer.body.trim()}`);
  return answer.body;
}

function tlsOptions(url: URL, flags: ApiFlags): https.RequestOptions {
  if (url.protocol !== 'https:') throw new UsageError(`--url: "${flags.url}" is neither http nor https`);
  const caFile = flags.ca ?? path.join(process.env.IM_RUN_DIR ?? '/controller', 'certificates', 'server-ca.crt');
  const read = (file: string, flag: string) => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new UsageError(`${flag} ${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
    }
  };
  return {
    ca: read(caFile, '--ca'),
    ...(flags.cert !== undefined && flags.key !== undefined ? { cert: read(flags.cert, '--cert'), key: read(flags.key, '--key') } : {}),
    minVersion: 'TLSv1.3',
    // Inside the pod the server certificate names the pod's DNS names, not localhost; the chain is
    // still checked against the CA.
    ...(LOOPBACK.has(url.hostname) ? { checkServerIdentity: () => undefined } : {}),
  };
}
