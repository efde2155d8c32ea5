/**
 * examples/kubernetes/: every object is valid against the Kubernetes OpenAPI schemas (through the
 * validators kubernetes-models generates from them), and the pods keep the security and lifecycle
 * invariants the image relies on. Unknown keys pass the schema validators, so every invariant below
 * reads the exact key Kubernetes would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Secret, Service } from 'kubernetes-models/v1';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import type { IContainer, IEnvVar, IPodSpec, IProbe } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run.js';
import { ROOT } from '../support/manager.js';

const DIR = path.join(ROOT, 'examples', 'kubernetes');
const MODELS = {
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
} as const;
const SECRET_FILES: Record<string, string[]> = {
  'server-tls': ['tls.crt', 'tls.key'],
  'server-ca': ['ca.crt', 'ca.key'],
  'client-ca': ['ca.crt', 'ca.key'],
  'replication-tls': ['tls.crt', 'tls.key'],
  'app-user': ['password', 'username'],
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [key: string]: unknown;
}

// kubectl reads YAML 1.1, where 0440 is octal; YAML 1.2 would read it as decimal 440.
const manifests: { file: string; object: Manifest }[] = fs
  .readdirSync(DIR)
  .filter((name) => name.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'), { version: '1.1' }).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
      return { file, object: document.toJS() as Manifest };
    }),
  );
const statefulSets = manifests
  .filter(({ object }) => object.kind === 'StatefulSet')
  .map(({ object }) => new StatefulSet(object as ConstructorParameters<typeof StatefulSet>[0]));
const jobs = manifests
  .filter(({ object }) => object.kind === 'Job')
  .map(({ object }) => new Job(object as ConstructorParameters<typeof Job>[0]));
const secrets = manifests
  .filter(({ object }) => object.kind === 'Secret')
  .map(({ object }) => new Secret(object as ConstructorParameters<typeof Secret>[0]));

/** The run command's own default for a flag, so the manifests follow the CLI, not a copy of it. */
function cliDefault(flag: string): string {
  const option = runCommand(async () => 0).options.find((candidate) => candidate.long === flag);
  if (!option) throw new Error(`no ${flag} option`);
  return String(option.defaultValue);
}

function envValue(container: IContainer, name: string): string | undefined {
  return container.env?.find((entry: IEnvVar) => entry.name === name)?.value;
}

function podOf(statefulSet: StatefulSet): { pod: IPodSpec; container: IContainer } {
  const pod = statefulSet.spec!.template.spec!;
  const container = pod.containers.find((candidate) => candidate.name === 'postgres');
  if (!container) throw new Error(`${statefulSet.metadata!.name}: no postgres container`);
  return { pod, container };
}

function mountPathOf(pod: IPodSpec, container: IContainer, volume: (name: string) => boolean): string[] {
  const names = (pod.volumes ?? []).filter((entry) => volume(entry.name)).map((entry) => entry.name);
  return (container.volumeMounts ?? []).filter((mount) => names.includes(mount.name)).map((mount) => mount.mountPath);
}

describe('examples/kubernetes', () => {
  it('holds a primary, a replica, and the Secrets', () => {
    expect(statefulSets.map((statefulSet) => statefulSet.metadata!.name).sort()).toEqual(['pg-primary', 'pg-replica']);
    expect(secrets.length).toBe(Object.keys(SECRET_FILES).length);
  });

  it.each(manifests.map(({ file, object }) => [`${file}: ${object.kind}/${object.metadata.name}`, object] as const))(
    '%s is valid against the Kubernetes schema',
    (_name, object) => {
      const Model = MODELS[`${object.apiVersion}/${object.kind}` as keyof typeof MODELS];
      expect(Model, `no schema model for ${object.apiVersion}/${object.kind}`).toBeDefined();
      expect(() => new Model(object as never).validate()).not.toThrow();
    },
  );

  it('rejects what the schema forbids (the validation is not a no-op)', () => {
    const broken = structuredClone(statefulSets[0]!.toJSON());
    (broken.spec!.template.spec!.securityContext as Record<string, unknown>).runAsUser = 'twenty-six';
    expect(() => new StatefulSet(broken).validate()).toThrow();
  });

  it.each(statefulSets.map((statefulSet) => [statefulSet.metadata!.name!, statefulSet] as const))(
    '%s runs as uid/gid 26, non-root, read-only, no capabilities, RuntimeDefault seccomp',
    (_name, statefulSet) => {
      const { pod, container } = podOf(statefulSet);
      expect(pod.securityContext).toMatchObject({
        runAsUser: 26,
        runAsGroup: 26,
        fsGroup: 26,
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(container.securityContext?.capabilities?.add ?? []).toEqual([]);
      expect(container.securityContext?.privileged ?? false).toBe(false);
      for (const key of ['runAsUser', 'runAsGroup'] as const) expect(container.securityContext?.[key] ?? 26).toBe(26);
    },
  );

  it.each(statefulSets.map((statefulSet) => [statefulSet.metadata!.name!, statefulSet] as const))(
    '%s probes /healthz, /readyz and /startupz over HTTPS on 8000',
    (_name, statefulSet) => {
      const { container } = podOf(statefulSet);
      const probes: [IProbe | undefined, string][] = [
        [container.livenessProbe, '/healthz'],
        [container.readinessProbe, '/readyz'],
        [container.startupProbe, '/startupz'],
      ];
      for (const [probe, pathName] of probes)
        expect(probe?.httpGet).toEqual({ path: pathName, port: 8000, scheme: 'HTTPS' });
      expect(container.ports).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ containerPort: 8000 }),
          expect.objectContaining({ containerPort: 5432 }),
        ]),
      );
    },
  );

  it.each(statefulSets.map((statefulSet) => [statefulSet.metadata!.name!, statefulSet] as const))(
    '%s writes only to the PGDATA volume, emptyDirs for the run dir and /run, and a memory /dev/shm',
    (_name, statefulSet) => {
      const { pod, container } = podOf(statefulSet);
      const emptyDir = (medium?: string) => (name: string) => {
        const volume = pod.volumes?.find((entry) => entry.name === name);
        return volume?.emptyDir !== undefined && volume.emptyDir.medium === medium;
      };
      expect(mountPathOf(pod, container, emptyDir()).sort()).toEqual([cliDefault('--run-dir'), '/run'].sort());
      expect(mountPathOf(pod, container, emptyDir('Memory'))).toEqual(['/dev/shm']);
      const claims = statefulSet.spec!.volumeClaimTemplates!.map((claim) => claim.metadata!.name);
      const dataMount = container.volumeMounts!.find((mount) => claims.includes(mount.name));
      expect(path.dirname(cliDefault('--pgdata'))).toBe(dataMount?.mountPath);
    },
  );

  it.each(statefulSets.map((statefulSet) => [statefulSet.metadata!.name!, statefulSet] as const))(
    '%s mounts the Secrets in the contract layout under --secrets-dir',
    (_name, statefulSet) => {
      const { pod, container } = podOf(statefulSet);
      const secretsDir = cliDefault('--secrets-dir');
      for (const [dir, files] of Object.entries(SECRET_FILES)) {
        const mount = container.volumeMounts!.find((entry) => entry.mountPath === path.join(secretsDir, dir));
        expect(mount, `${dir} mounted`).toBeDefined();
        expect(mount!.readOnly).toBe(true);
        const source = pod.volumes!.find((volume) => volume.name === mount!.name)!.secret!;
        const secret = secrets.find((candidate) => candidate.metadata!.name === source.secretName);
        expect(Object.keys({ ...secret?.data, ...secret?.stringData }).sort(), `${source.secretName} files`).toEqual(
          files,
        );
        // fsGroup 26 may read them; the manager copies keys to 0600 before PostgreSQL sees them.
        expect(source.defaultMode).toBe(0o440);
      }
    },
  );

  it.each(statefulSets.map((statefulSet) => [statefulSet.metadata!.name!, statefulSet] as const))(
    '%s gives the shutdown its whole budget before the kubelet kills it',
    (_name, statefulSet) => {
      const { pod, container } = podOf(statefulSet);
      const smart = Number(envValue(container, 'IM_SMART_SHUTDOWN_TIMEOUT') ?? cliDefault('--smart-shutdown-timeout'));
      const fast = Number(envValue(container, 'IM_STOP_TIMEOUT') ?? cliDefault('--stop-timeout'));
      // CHECKPOINT (bounded by the smart timeout), smart, fast, then 10 s for the immediate stop and exit.
      expect(pod.terminationGracePeriodSeconds).toBe(smart + smart + fast + 10);
    },
  );

  it("points the replica at a Service of the primary whose name is in the primary's server certificate", () => {
    const [primary, replica] = ['pg-primary', 'pg-replica'].map((name) =>
      statefulSets.find((statefulSet) => statefulSet.metadata!.name === name)!,
    );
    const primaryContainer = podOf(primary!).container;
    expect(envValue(primaryContainer, 'IM_REPLICA_OF')).toBeUndefined();
    const [host, port] = envValue(podOf(replica!).container, 'IM_REPLICA_OF')!.split(':');
    const found = manifests.find(({ object }) => object.kind === 'Service' && object.metadata.name === host);
    expect(found, `Service ${host}`).toBeDefined();
    const service = new Service(found!.object as ConstructorParameters<typeof Service>[0]);
    // The Service selects the primary's pods, and not the replica's.
    const selector = Object.entries(service.spec!.selector ?? {});
    const selects = (statefulSet: StatefulSet) =>
      selector.length > 0 &&
      selector.every(([key, value]) => statefulSet.spec!.template.metadata!.labels?.[key] === value);
    expect(selects(primary!)).toBe(true);
    expect(selects(replica!)).toBe(false);
    expect(service.spec!.ports!.map((entry) => String(entry.port))).toContain(port ?? '5432');
    // The replica clones and streams with sslmode=verify-full: libpq checks the host it connects
    // to against the primary's certificate, which carries the primary's --server-name names.
    expect(envValue(primaryContainer, 'IM_SERVER_NAME')!.split(',')).toContain(host);
  });

  it('has a client Job that logs in as the app owner from pg-app-user with verify-full against pg-rw', () => {
    expect(jobs).toHaveLength(1);
    const pod = jobs[0]!.spec!.template.spec!;
    const container = pod.containers[0]!;
    const env = (name: string) => container.env?.find((entry) => entry.name === name);
    expect(env('PGSSLMODE')?.value).toBe('verify-full');
    const appUser = secrets.find((secret) => secret.metadata!.name === 'pg-app-user')!;
    expect(appUser.type).toBe('kubernetes.io/basic-auth');
    expect(appUser.stringData?.username).toBe(cliDefault('--app-owner'));
    expect(env('PGDATABASE')?.value).toBe(cliDefault('--app-database'));
    expect(env('PGUSER')?.valueFrom?.secretKeyRef).toEqual({ name: 'pg-app-user', key: 'username' });
    expect(env('PGPASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'pg-app-user', key: 'password' });
    // The host is a name the primary's certificate carries, and the root is the server CA's certificate only.
    const primary = statefulSets.find((statefulSet) => statefulSet.metadata!.name === 'pg-primary')!;
    expect(envValue(podOf(primary).container, 'IM_SERVER_NAME')!.split(',')).toContain(env('PGHOST')?.value);
    const mount = container.volumeMounts!.find((entry) =>
      env('PGSSLROOTCERT')?.value?.startsWith(`${entry.mountPath}/`),
    );
    const source = pod.volumes!.find((volume) => volume.name === mount?.name)?.secret;
    expect(source?.secretName).toBe('pg-server-ca');
    expect(source?.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });
});
