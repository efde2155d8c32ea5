/**
 * The status API: `node:https` with TLS 1.3 and the server certificate (plain HTTP only with
 * `--status-insecure`). Probes and reads are open to anyone; actions need the operator's client
 * certificate. The listener stays up for the manager's whole life, so a certificate rotation swaps
 * the secure context in place and probes keep answering while PostgreSQL is down.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { PostgresMetrics } from '../metrics/index.js';
import { VERSION } from '../version.js';
import { decideOperator } from './auth.js';
import { backupStateReply, parseBackupRequest } from './backup-request.js';
import { ConnectionSlots } from './connections.js';
import { buildStatusDocument, isReady, NOT_ASKED, worthAsking, type LastKnown, type ManagerFacts } from './document.js';
import { StatusMetrics } from './metrics.js';
import { PgStateReader, type PgReading } from './pg-state.js';
import {
  announcesBody,
  peerCertificate,
  probeReply,
  readBody,
  sameMaterial,
  secureContextOptions,
  send,
  type Reply,
} from './http.js';
import { LIMITS } from './limits.js';
import { RouteTable, type RouteRow } from './routes.js';
import type { ActionOutcome, ActionRequest, StatusSource, TlsMaterial } from './source.js';

export interface StatusServerOptions {
  port: number;
  /** Undefined: every interface. */
  host?: string;
  insecure: boolean;
  operatorNames: readonly string[];
  source: StatusSource;
  logger: Logger;
  /** PostgreSQL's metrics on /metrics: the user's queries file and each query's statement timeout. */
  postgresMetrics: { queriesFile: string | undefined; queryTimeoutMs: number };
}

/**
 * One row a path: reads are open to anyone (probes, status, metrics), actions run only for a
 * verified operator certificate. The type makes every row say which it is.
 */
type StatusRoute = RouteRow &
  (
    | { access: 'open'; read: () => Promise<Reply> | Reply }
    | { access: 'operator'; action: (request: ActionRequest) => Promise<ActionOutcome> }
  );

const HEALTHY = probeReply(200, 'ok\n');

/** A read takes no body: one that came with a body is answered, and its connection closed unread. */
function closingIfBody(request: http.IncomingMessage, reply: Reply): Reply {
  return announcesBody(request) ? { ...reply, headers: { ...reply.headers, Connection: 'close' } } : reply;
}

const TLS_VERSION: Pick<tls.SecureContextOptions, 'minVersion' | 'maxVersion'> = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
};

export class StatusServer {
  private readonly server: http.Server | https.Server;
  private readonly limits = LIMITS;
  private readonly reader: PgStateReader;
  private readonly metrics = new StatusMetrics();
  private readonly postgresMetrics: PostgresMetrics;
  private lastKnown: LastKnown | undefined;
  private servedMaterial: TlsMaterial | undefined;
  private readonly slots = new ConnectionSlots(LIMITS.connectionSlots, LIMITS.headersTimeoutMs);
  private readonly routes = new RouteTable<StatusRoute>([
    { path: '/healthz', method: 'GET', access: 'open', read: () => HEALTHY },
    { path: '/startupz', method: 'GET', access: 'open', read: () => this.startupProbe() },
    { path: '/readyz', method: 'GET', access: 'open', read: () => this.readinessProbe() },
    { path: '/pg/status', method: 'GET', access: 'open', read: () => this.statusDocument() },
    { path: '/metrics', method: 'GET', access: 'open', read: () => this.metricsText() },
    {
      path: '/pg/reload',
      method: 'POST',
      access: 'operator',
      action: ({ reason }) => this.options.source.reload(reason),
    },
    {
      path: '/pg/restart',
      method: 'POST',
      access: 'operator',
      action: ({ reason }) => this.options.source.restart(reason),
    },
    { path: '/pg/promote', method: 'POST', access: 'operator', action: ({ reason }) => this.promote(reason) },
    {
      path: '/pg/demote',
      method: 'POST',
      access: 'operator',
      action: (request) => this.options.source.demote(request),
    },
    { path: '/pg/fence', method: 'POST', access: 'operator', action: (request) => this.options.source.fence(request) },
    {
      path: '/pg/unfence',
      method: 'POST',
      access: 'operator',
      action: (request) => this.options.source.unfence(request),
    },
    { path: '/pg/backup', method: 'GET', access: 'open', read: () => backupStateReply(this.options.source.backup()) },
    { path: '/pg/backup', method: 'POST', access: 'operator', action: ({ body }) => this.startBackup(body) },
  ]);

  constructor(private readonly options: StatusServerOptions) {
    this.reader = new PgStateReader(options.source.socketAddress, {
      statementTimeoutMs: this.limits.statementTimeoutMs,
    });
    const { source, logger, postgresMetrics } = options;
    this.postgresMetrics = new PostgresMetrics({ address: source.socketAddress, logger, ...postgresMetrics });
    const httpOptions: http.ServerOptions = {
      headersTimeout: this.limits.headersTimeoutMs,
      requestTimeout: this.limits.requestTimeoutMs,
      keepAliveTimeout: this.limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default): too slow for slowloris.
      connectionsCheckingInterval: 500,
      maxHeaderSize: 8 * 1024,
    };
    const handler = (request: http.IncomingMessage, response: http.ServerResponse) => this.handle(request, response);
    if (options.insecure) {
      this.server = http.createServer(httpOptions, handler);
    } else {
      this.servedMaterial = options.source.tlsMaterial();
      this.server = https.createServer(
        {
          ...httpOptions,
          ...TLS_VERSION,
          ...(this.servedMaterial ? secureContextOptions(this.servedMaterial) : {}),
          // Ask every client for a certificate but let those without one in: probes and reads are
          // open, and the actions answer 401/403 themselves.
          requestCert: true,
          rejectUnauthorized: false,
          handshakeTimeout: this.limits.headersTimeoutMs,
        },
        handler,
      );
      this.server.on('tlsClientError', (error: Error) =>
        options.logger.debug('status API TLS handshake failed', { err: error.message }),
      );
    }
    this.server.maxConnections = this.limits.maxConnections;
    this.server.on(options.insecure ? 'connection' : 'secureConnection', (socket: Socket) => this.slots.admit(socket));
  }

  /** Every endpoint with its method and access, for the configuration reference's drift test. */
  get endpoints(): readonly Pick<StatusRoute, 'path' | 'method' | 'access'>[] {
    return this.routes.rows.map(({ path, method, access }) => ({ path, method, access }));
  }

  async start(): Promise<number> {
    const { logger, port, host, insecure } = this.options;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    if (insecure) {
      logger.warning('status API serves plain HTTP (--status-insecure): for local debugging only, never expose it', {
        port: bound,
      });
    } else {
      logger.info('status API listening (HTTPS, TLS 1.3)', { port: bound });
      // Normal on a first start: the certificates are issued next, and refreshTls() takes them up.
      if (!this.servedMaterial)
        logger.info('status API waits for its server certificate; TLS handshakes fail until it is in place', {
          port: bound,
        });
    }
    return bound;
  }

  /**
   * Serves the current server certificate and client CA to new connections, without closing the
   * listener; existing connections keep the context they were made with. Bad material is refused
   * and the previous keeps serving.
   */
  refreshTls(): void {
    if (this.options.insecure) return;
    const material = this.options.source.tlsMaterial();
    if (!material || sameMaterial(material, this.servedMaterial)) return;
    try {
      (this.server as https.Server).setSecureContext({ ...TLS_VERSION, ...secureContextOptions(material) });
      this.servedMaterial = material;
      this.options.logger.info('status API certificate replaced');
    } catch (error) {
      this.options.logger.error('status API certificate refused; the previous one keeps serving', {
        err: errorMessage(error),
      });
    }
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    await Promise.all([this.reader.close(), this.postgresMetrics.close()]);
  }

  /**
   * A reply that needs no I/O (/healthz, /startupz, a 404) is written in the same tick: an `await`
   * on that path alone cost 10 to 15% more CPU per probe than a bare `node:https` server.
   */
  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.slots.heard(request.socket);
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.answer(request, () => response.once('close', this.slots.answering(request.socket)));
    } catch (error) {
      reply = this.failed(request, error);
    }
    if (reply instanceof Promise)
      reply
        .catch((error: unknown) => this.failed(request, error))
        .then(
          (settled) => send(response, settled),
          () => undefined,
        );
    else send(response, reply);
  }

  private failed(request: http.IncomingMessage, error: unknown): Reply {
    this.options.logger.error('status API request failed', { path: request.url, err: errorMessage(error) });
    return { status: 500, body: 'internal error\n' };
  }

  /** `answering` is called once the request has fully arrived and its answer is being made. */
  private answer(request: http.IncomingMessage, answering: () => void): Reply | Promise<Reply> {
    const target = this.routes.match(request.method ?? '', request.url ?? '');
    if (!target.found) {
      return target.status === 405
        ? { status: 405, body: 'method not allowed\n', headers: { Allow: target.allow } }
        : { status: 404, body: 'not found\n' };
    }
    const route = target.row;
    if (route.access === 'open') {
      const reply = route.read();
      if (!(reply instanceof Promise)) return closingIfBody(request, reply);
      // Only an answer that waits can see its connection chosen to make room meanwhile.
      answering();
      return reply.then((settled) => closingIfBody(request, settled));
    }
    return this.operatorRequest(route, request, answering);
  }

  private async operatorRequest(
    route: StatusRoute & { access: 'operator' },
    request: http.IncomingMessage,
    answering: () => void,
  ): Promise<Reply> {
    const body = await readBody(request, this.limits.maxBodyBytes);
    if (body === 'too-large') {
      return {
        status: 413,
        body: `request body over ${this.limits.maxBodyBytes} bytes\n`,
        headers: { Connection: 'close' },
      };
    }
    answering();
    return this.operatorAction(route, request, body);
  }

  private startupProbe(): Reply {
    const { source } = this.options;
    const fence = source.lifecycle().fence;
    if (fence) return probeReply(503, `fenced by ${fence.by} at ${fence.at}\n`);
    return source.hasStarted ? probeReply(200, 'started\n') : probeReply(503, `not started yet (${source.phase})\n`);
  }

  private async readinessProbe(): Promise<Reply> {
    const facts = this.facts();
    const reading = await this.pgReading(facts);
    if (isReady(facts, reading)) return probeReply(200, 'ready\n');
    const why = reading.ok ? 'in recovery without a streaming WAL receiver' : reading.error;
    return probeReply(503, `not ready (${facts.phase}): ${why}\n`);
  }

  private async statusDocument(): Promise<Reply> {
    const facts = this.facts();
    const [reading, controlData] = await Promise.all([this.pgReading(facts), this.options.source.controlData()]);
    const document = buildStatusDocument(facts, reading, this.lastKnown, controlData);
    return { status: 200, body: `${JSON.stringify(document)}\n`, contentType: 'application/json' };
  }

  private async metricsText(): Promise<Reply> {
    const facts = this.facts();
    this.metrics.recordConnections(this.slots.size, this.slots.evicted);
    const [manager, postgres] = await Promise.all([
      this.pgReading(facts).then((reading) => this.metrics.render(facts, reading, this.options.source.logCounters())),
      this.postgresMetrics.collect(worthAsking(facts)),
    ]);
    return { status: 200, body: manager + postgres, contentType: this.metrics.contentType };
  }

  private async operatorAction(
    route: StatusRoute & { access: 'operator' },
    request: http.IncomingMessage,
    rawBody: Buffer,
  ): Promise<Reply> {
    const { logger, operatorNames } = this.options;
    // The last segment names the action in the log: /pg/restart is 'restart'.
    const action = route.path.slice(route.path.lastIndexOf('/') + 1);
    const remoteAddress = request.socket.remoteAddress;
    const decision = decideOperator(peerCertificate(request), operatorNames);
    if (!decision.allowed) {
      logger.warning('operator action refused', {
        action,
        status: decision.status,
        reason: decision.reason,
        commonName: decision.commonName,
        remoteAddress,
      });
      return {
        status: decision.status,
        body: `${decision.reason}\n`,
        headers: decision.status === 401 ? { 'WWW-Authenticate': 'Mutual' } : {},
      };
    }
    let body: unknown;
    try {
      body = rawBody.length === 0 ? undefined : JSON.parse(rawBody.toString('utf8'));
    } catch {
      return { status: 400, body: 'the request body is not JSON\n' };
    }
    const operator = decision.commonName;
    logger.info('operator action', { action, operator, remoteAddress });
    const outcome = await route.action({
      operator,
      reason: `${action} asked by ${operator} over the status API`,
      body,
    });
    logger.info('operator action finished', { action, operator, ok: outcome.ok, detail: outcome.detail });
    if (!outcome.ok) return { status: outcome.status, body: `${outcome.detail}\n` };
    const status = outcome.status ?? 200;
    if (outcome.json === undefined) return { status, body: `${outcome.detail}\n` };
    return { status, body: `${JSON.stringify(outcome.json)}\n`, contentType: 'application/json' };
  }

  private async promote(reason: string): Promise<ActionOutcome> {
    const fence = this.options.source.lifecycle().fence;
    if (fence) return { ok: false, status: 409, detail: `fenced by ${fence.by} at ${fence.at}: unfence first` };
    const facts = this.facts();
    const reading = await this.pgReading(facts);
    if (!reading.ok)
      return { ok: false, status: 503, detail: `cannot tell whether this instance is a replica: ${reading.error}` };
    if (!reading.snapshot.inRecovery)
      return { ok: false, status: 409, detail: 'already a primary; nothing to promote' };
    return this.options.source.promote(reason);
  }

  private async startBackup(body: unknown): Promise<ActionOutcome> {
    const request = parseBackupRequest(body);
    if (!request.ok) return { ok: false, status: 400, detail: request.detail };
    return this.options.source.startBackup(request.type);
  }

  private facts(): ManagerFacts {
    const { source } = this.options;
    return {
      phase: source.phase,
      intendedRole: source.intendedRole,
      postmaster: source.postmaster,
      acceptingConnections: source.acceptingConnectionsSince !== undefined,
      restarts: source.restarts,
      port: source.port,
      lifecycle: source.lifecycle(),
      certificates: source.certificates(),
      roles: source.roles(),
      backup: source.backup(),
      instanceManagerVersion: VERSION,
    };
  }

  private async pgReading(facts: ManagerFacts): Promise<PgReading> {
    if (!worthAsking(facts)) return NOT_ASKED;
    const reading = await this.reader.read();
    if (reading.ok) this.lastKnown = { pgVersion: reading.snapshot.pgVersion, systemId: reading.snapshot.systemId };
    return reading;
  }
}
