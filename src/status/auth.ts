/**
 * Who may call the operator actions: the holder of a client certificate the client CA signed, whose
 * CN is one of `--operator-names`. Pure: the TLS socket's verdict goes in, an HTTP status comes out.
 */

export interface PeerCertificate {
  /** The client sent a certificate at all. */
  presented: boolean;
  /** OpenSSL verified it against the client CA. */
  verified: boolean;
  /** OpenSSL's reason when it did not (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE). */
  verifyError: string | undefined;
  commonName: string | undefined;
}

export type OperatorDecision =
  | { allowed: true; commonName: string }
  | { allowed: false; status: 401 | 403; reason: string; commonName: string | undefined };

export function decideOperator(peer: PeerCertificate, operatorNames: readonly string[]): OperatorDecision {
  if (!peer.presented) return { allowed: false, status: 401, reason: 'no client certificate', commonName: undefined };
  // An unverified certificate proves no identity (anyone can write any CN into one), so it counts as
  // no credentials at all: 401, not 403, and its CN is reported only as what it claimed.
  if (!peer.verified) {
    return {
      allowed: false,
      status: 401,
      reason: `client certificate not signed by the client CA (${peer.verifyError ?? 'unverified'})`,
      commonName: peer.commonName,
    };
  }
  if (peer.commonName === undefined || !operatorNames.includes(peer.commonName)) {
    return {
      allowed: false,
      status: 403,
      reason: `CN "${peer.commonName ?? ''}" is not an operator name`,
      commonName: peer.commonName,
    };
  }
  return { allowed: true, commonName: peer.commonName };
}
