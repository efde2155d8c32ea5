/**
 * What a failed connection to the primary means, from libpq's and pg_basebackup's own words, so a
 * person reading the log learns which certificate or setting to fix. Pure: text in, verdict out.
 */

export type FailureCause =
  | 'slot-exists'
  | 'slot-active'
  | 'primary-without-tls'
  | 'primary-certificate-untrusted'
  | 'primary-name-mismatch'
  | 'client-certificate-refused'
  | 'local-certificate-missing'
  | 'role-missing'
  | 'not-allowed-by-hba'
  | 'primary-unreachable'
  | 'other';

export interface FailureVerdict {
  cause: FailureCause;
  /** One sentence for the log line, saying what to fix where there is something to fix. */
  explanation: string;
}

const RULES: [RegExp, FailureVerdict][] = [
  [
    /replication slot "[^"]+" already exists/,
    {
      cause: 'slot-exists',
      explanation: "this replica's slot already exists on the primary (left by an earlier attempt); it is reused",
    },
  ],
  [
    /replication slot "[^"]+" is active/,
    {
      cause: 'slot-active',
      explanation:
        "this replica's slot is in use on the primary by another connection (an older pod of the same name?)",
    },
  ],
  [
    /server does not support SSL/,
    {
      cause: 'primary-without-tls',
      explanation: 'the primary does not offer TLS; a replica never connects without it',
    },
  ],
  [
    /does not match host name/,
    {
      cause: 'primary-name-mismatch',
      explanation: "the primary's server certificate does not name the host given in --replica-of",
    },
  ],
  [
    /certificate verify failed/,
    {
      cause: 'primary-certificate-untrusted',
      explanation: "the primary's server certificate is not signed by the server CA (server-ca/ca.crt)",
    },
  ],
  [
    anyOf(
      /alert unknown ca|alert bad certificate|alert certificate required|alert certificate unknown/,
      /alert decrypt error|certificate authentication failed|requires a valid client certificate/,
    ),
    {
      cause: 'client-certificate-refused',
      explanation:
        'the primary refused the streaming_replica client certificate ' +
        "(replication-tls/ must be signed by the primary's client CA, with CN streaming_replica)",
    },
  ],
  [
    anyOf(
      /could not open certificate file|could not load private key/,
      /root certificate file .* does not exist|could not read root certificate file/,
      /private key file .* (does not exist|has group or world access)/,
    ),
    {
      cause: 'local-certificate-missing',
      explanation: "this replica's own certificate files are missing or unusable (run-dir/certificates/)",
    },
  ],
  [
    /role "streaming_replica" does not exist/,
    {
      cause: 'role-missing',
      explanation: 'the primary has no streaming_replica role yet (is it managed by instance-manager and started?)',
    },
  ],
  [
    /no pg_hba\.conf entry/,
    {
      cause: 'not-allowed-by-hba',
      explanation: "the primary's pg_hba.conf does not admit streaming_replica over TLS with a certificate",
    },
  ],
  [
    anyOf(
      /Connection refused|could not translate host name|timeout expired|No route to host|Network is unreachable/,
      /the database system is (starting up|shutting down|in recovery mode)/,
      /server closed the connection unexpectedly|Connection timed out/,
    ),
    { cause: 'primary-unreachable', explanation: 'the primary is not reachable yet' },
  ],
];

/** One pattern matching any of `patterns`: long alternations stay readable, one group a line. */
function anyOf(...patterns: RegExp[]): RegExp {
  return new RegExp(patterns.map((pattern) => pattern.source).join('|'));
}

export function classifyFailure(message: string): FailureVerdict {
  for (const [pattern, verdict] of RULES) if (pattern.test(message)) return verdict;
  return { cause: 'other', explanation: 'see the error' };
}
