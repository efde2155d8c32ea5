/** What the settings table's values are computed from, out of the instance's inputs and state. Pure. */
import type { RenderContext } from '../config/index.js';
import type { PgBinaries } from '../postgres/index.js';
import { CERTIFICATE_FILES, type CertificateStore } from '../secrets/index.js';
import type { RunOptions } from './options.js';

export interface RenderContextInputs {
  options: RunOptions;
  bin: PgBinaries;
  runDirs: { socket: string; log: string };
  certificates: CertificateStore;
  /** Fixed settings other concerns supply (standby settings, archiving). */
  supplied: ReadonlyMap<string, string>;
}

/** What the settings table's values are computed from, out of the instance's inputs and state. */
export function renderContext({ options, bin, runDirs, certificates, supplied }: RenderContextInputs): RenderContext {
  return {
    pgdata: options.pgdata,
    port: options.port,
    listen: options.listen,
    socketDir: runDirs.socket,
    logDirectory: runDirs.log,
    tls: {
      certFile: certificates.path(CERTIFICATE_FILES.serverCert),
      keyFile: certificates.path(CERTIFICATE_FILES.serverKey),
      clientCaFile: certificates.path(CERTIFICATE_FILES.clientCa),
    },
    pgMajor: bin.major,
    allowAlterSystem: options.allowAlterSystem,
    supplied,
  };
}
