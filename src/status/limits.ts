/** How much the status API lets one client take, so that probes keep answering under a flood. */

export interface StatusServerLimits {
  /** Whole request headers must arrive within this (slowloris); also the TLS handshake limit. */
  headersTimeoutMs: number;
  /** The whole request, body included: a body must arrive about as fast as headers do. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Hard limit, TLS handshakes included; beyond it Node refuses connections outright. */
  maxConnections: number;
  /** Past this many open connections, the oldest one not being answered is closed (connections.ts). */
  connectionSlots: number;
  maxBodyBytes: number;
  /** Statement and connect timeout of the queries behind /readyz, /pg/status and /metrics. */
  statementTimeoutMs: number;
}

export const LIMITS: StatusServerLimits = {
  headersTimeoutMs: 3_000,
  requestTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
  // Slots for a flood of the size seen in practice without closing anyone: every connection closed
  // to make room comes back as a new TLS handshake, the server's costliest work.
  maxConnections: 2_048,
  connectionSlots: 1_024,
  maxBodyBytes: 1_024,
  statementTimeoutMs: 2_000,
};
