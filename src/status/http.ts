/**
 * The HTTP side of the status API, apart from its routes: reading a request's body within a limit,
 * writing a reply, the peer's client certificate and the TLS material served.
 */
import type http from 'node:http';
import tls from 'node:tls';
import type { PeerCertificate } from './auth.js';
import type { TlsMaterial } from './source.js';

export type Reply = {
  status: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
  /**
   * A probe's answer: the kubelet reads its status code only, so it carries Node's own headers
   * (Date, Connection, Content-Length) and none of ours. With `headers` it goes out as any other.
   */
  probe?: boolean;
};

/** A probe's answer: see `Reply.probe`. */
export function probeReply(status: number, body: string): Reply {
  return { status, body, probe: true };
}

export function secureContextOptions(material: TlsMaterial): tls.SecureContextOptions {
  return { cert: material.cert, key: material.key, ca: material.clientCa };
}

export function sameMaterial(a: TlsMaterial, b: TlsMaterial | undefined): boolean {
  return b !== undefined && a.cert === b.cert && a.key === b.key && a.clientCa === b.clientCa;
}

export function peerCertificate(request: http.IncomingMessage): PeerCertificate {
  const socket = request.socket;
  if (!(socket instanceof tls.TLSSocket))
    return { presented: false, verified: false, verifyError: undefined, commonName: undefined };
  const certificate = socket.getPeerCertificate();
  // Node gives an empty object when the client sent no certificate.
  const presented = certificate !== null && Object.keys(certificate).length > 0;
  const commonName = presented && typeof certificate.subject?.CN === 'string' ? certificate.subject.CN : undefined;
  const verifyError =
    socket.authorizationError === null || socket.authorizationError === undefined
      ? undefined
      : String(socket.authorizationError);
  return { presented, verified: presented && socket.authorized, verifyError, commonName };
}

export function send(response: http.ServerResponse, reply: Reply): void {
  if (reply.probe && reply.headers === undefined) {
    // Any header of ours cost a probe 5 to 15% more CPU (docs/benchmarks.md, fifth session): Node
    // validates and encodes it again for every reply, and writes its own without a check.
    response.statusCode = reply.status;
    response.end(reply.body);
    return;
  }
  // An explicit length: without it Node sends chunked encoding, several TLS records per answer.
  response.writeHead(reply.status, {
    'Content-Type': reply.contentType ?? 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(reply.body),
    'Cache-Control': 'no-store',
    ...reply.headers,
  });
  response.end(reply.body);
}

/**
 * From the raw headers: `request.headers` builds an object of every header, lower-cased, at its
 * first use, and a probe needs none of it.
 */
export function announcesBody(request: http.IncomingMessage): boolean {
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length' && Number(raw[i + 1]) > 0) return true;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/**
 * Reads a request body of at most `limit` bytes; stops reading as soon as it passes the limit. A body
 * that trickles in is cut off by the server's request timeout.
 */
export async function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) return 'too-large';
  // The usual case (an action without body) costs nothing to read.
  if (!announcesBody(request)) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request) {
    received += (chunk as Buffer).length;
    if (received > limit) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
