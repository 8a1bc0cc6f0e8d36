// Drives a real local Kubernetes control plane for tests and the demo: etcd, kube-apiserver (RBAC,
// client certificates, a token file, service accounts, an audit log) and kube-controller-manager, each
// on free 127.0.0.1 ports, built once by scripts/build-control-plane.sh.
//
// Ownership: the process that calls start() owns the processes and must stop() them (an exit hook kills
// them if it does not). attach() gives a view of a control plane another process owns (the test runner
// shares one across test files); stop() on it does nothing.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync, openSync, closeSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createCertificateAuthority, issueCertificate, exportPublicKeyPem, generateKeyPair, loadCertificateAuthority, type CertificateAuthority, type KeyPairPem } from '../../src/server/pki.ts';
import { freePort } from './free-port.ts';
import { stopProcess } from './stop-process.ts';
import { KubeHttp, type Credentials } from './kube-http.ts';
import { apply, readManifests } from './manifests.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE_DIR = process.env.TENANT_PROXY_CACHE ?? path.join(homedir(), '.cache/tenant-proxy');
const BIN_DIR = path.join(CACHE_DIR, 'kubernetes-v1.20.2/bin');
const READY_TIMEOUT_MS = 90_000;

/** Token users of the apiserver's static token file: name → groups. */
export const TOKEN_USERS: Readonly<Record<string, readonly string[]>> = {
  bob: ['gas-admins'],
  carol: [],
  dave: ['devs'],
  erin: [],
  frank: ['gas-admins', 'devs'],
};

interface ControlPlaneState {
  dir: string;
  server: string;
  etcdClientPort: number;
  etcdPeerPort: number;
  apiserverPort: number;
  tokens: Record<string, string>;
  proxyToken?: string;
  /** Flags added to kube-apiserver's (StartOptions.apiserverFlags). */
  apiserverFlags?: string[];
}

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager';

export interface StartOptions {
  /** Where PKI, logs and state go; a fresh temporary directory by default. */
  dir?: string;
  controllerManager?: boolean;
  log?: (message: string) => void;
  /**
   * Let this process exit while the control plane runs (a test file run alone): its exit hook then
   * kills the processes and removes the directory.
   */
  unref?: boolean;
  /** The Tenant CRD to install (a file of test/support): another Capsule generation's. */
  tenantCrd?: string;
  /** More kube-apiserver flags, kept across restarts (e.g. a fault test's watch cache and compaction). */
  apiserverFlags?: string[];
}

export function ensureBinaries(log: (m: string) => void = () => {}): void {
  if (existsSync(path.join(BIN_DIR, 'kube-apiserver')) && existsSync(path.join(BIN_DIR, 'kube-controller-manager')) && existsSync(path.join(BIN_DIR, '.recipe'))) return;
  log('building the local control plane (first use: several minutes)');
  execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts/build-control-plane.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
}

export class ControlPlane {
  readonly state: ControlPlaneState;
  readonly caPem: string;
  readonly admin: KubeHttp;
  readonly #owned: boolean;
  readonly #children = new Map<Component, ChildProcess>();
  /** Components being stopped on purpose (not restarted when they exit). */
  readonly #killing = new Set<Component>();
  readonly #unref: boolean;
  #ca: CertificateAuthority | undefined;
  #exitHook: (() => void) | undefined;

  private constructor(state: ControlPlaneState, owned: boolean, unref = false) {
    this.state = state;
    this.#owned = owned;
    this.#unref = unref;
    this.caPem = readFileSync(this.pkiPath('ca.crt'), 'utf8');
    this.admin = new KubeHttp(state.server, this.adminCredentials());
  }

  get dir(): string {
    return this.state.dir;
  }

  get server(): string {
    return this.state.server;
  }

  pkiPath(name: string): string {
    return path.join(this.state.dir, 'pki', name);
  }

  adminCredentials(): Credentials {
    return { caPem: readFileSync(this.pkiPath('ca.crt'), 'utf8'), certPem: readFileSync(this.pkiPath('admin.crt'), 'utf8'), keyPem: readFileSync(this.pkiPath('admin.key'), 'utf8') };
  }

  static async start(options: StartOptions = {}): Promise<ControlPlane> {
    const log = options.log ?? (() => {});
    ensureBinaries(log);
    const dir = options.dir ?? path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `tenant-proxy-cp-${process.pid}-${Date.now()}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.join(dir, 'pki'), { recursive: true });
    const [etcdClientPort, etcdPeerPort, apiserverPort] = [await freePort(), await freePort(), await freePort()];
    const tokens: Record<string, string> = {};
    for (const user of Object.keys(TOKEN_USERS)) tokens[user] = `${user}-${randomToken()}`;
    const state: ControlPlaneState = { dir, server: `https://127.0.0.1:${apiserverPort}`, etcdClientPort, etcdPeerPort, apiserverPort, tokens, apiserverFlags: options.apiserverFlags };
    await writePki(dir);
    writeTokenFile(dir, tokens);
    writeAuditPolicy(dir);
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state, null, 2));
    const cp = new ControlPlane(state, true, options.unref === true);
    cp.#installExitHook();
    log(`starting etcd, kube-apiserver${options.controllerManager === false ? '' : ', kube-controller-manager'} in ${dir}`);
    try {
      cp.#spawn('etcd');
      cp.#spawn('kube-apiserver');
      await cp.waitReady();
      cp.writeKubeconfig(path.join(dir, 'admin.kubeconfig'), cp.adminCredentials(), 'admin');
      if (options.controllerManager !== false) cp.#spawn('kube-controller-manager');
      await cp.#bootstrap(options.tenantCrd);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** A view of a control plane started by another process (see state.json in its directory). */
  static attach(stateFile: string): ControlPlane {
    return new ControlPlane(JSON.parse(readFileSync(stateFile, 'utf8')) as ControlPlaneState, false);
  }

  get stateFile(): string {
    return path.join(this.state.dir, 'state.json');
  }

  #args(component: Component): string[] {
    const { dir, etcdClientPort, etcdPeerPort, apiserverPort } = this.state;
    const pki = (n: string) => this.pkiPath(n);
    switch (component) {
      case 'etcd':
        return [
          '--name=default',
          `--data-dir=${path.join(dir, 'etcd')}`,
          `--listen-client-urls=http://127.0.0.1:${etcdClientPort}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdClientPort}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
          '--log-level=warn',
        ];
      case 'kube-apiserver':
        return [
          `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiserverPort}`,
          '--insecure-port=0',
          `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
          `--tls-cert-file=${pki('apiserver.crt')}`,
          `--tls-private-key-file=${pki('apiserver.key')}`,
          `--client-ca-file=${pki('ca.crt')}`,
          `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
          '--authorization-mode=RBAC',
          '--anonymous-auth=false',
          `--service-account-key-file=${pki('sa.pub')}`,
          `--service-account-signing-key-file=${pki('sa.key')}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          '--api-audiences=https://kubernetes.default.svc.cluster.local',
          '--service-cluster-ip-range=10.96.0.0/16',
          '--allow-privileged=true',
          `--audit-log-path=${path.join(dir, 'audit.log')}`,
          `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`,
          '--audit-log-maxsize=0',
          '--v=1',
          ...(this.state.apiserverFlags ?? []),
        ];
      case 'kube-controller-manager':
        return [
          `--kubeconfig=${path.join(dir, 'admin.kubeconfig')}`,
          '--controllers=namespace,serviceaccount,serviceaccount-token,garbagecollector,clusterrole-aggregation',
          `--service-account-private-key-file=${pki('sa.key')}`,
          `--root-ca-file=${pki('ca.crt')}`,
          '--use-service-account-credentials=false',
          '--leader-elect=false',
          '--port=0',
          '--secure-port=0',
          '--concurrent-namespace-syncs=5',
          '--v=1',
        ];
    }
  }

  #spawn(component: Component): void {
    const binary = component === 'etcd' ? '/usr/bin/etcd' : path.join(BIN_DIR, component);
    const logFd = openSync(path.join(this.state.dir, `${component}.log`), 'a');
    const child = spawn(binary, this.#args(component), { stdio: ['ignore', logFd, logFd], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } });
    closeSync(logFd);
    if (this.#unref) child.unref();
    child.on('error', (err) => {
      throw new Error(`${component}: could not start ${binary}: ${err.message}`);
    });
    this.#children.set(component, child);
    this.#writePids();
    if (component === 'kube-controller-manager') {
      // It exits when the apiserver vanishes while it is still starting its controllers (a fault test
      // restarting the apiserver early); restart it, as the kubelet restarts a static pod.
      child.once('exit', () => {
        if (this.#children.get(component) !== child || this.#killing.has(component)) return;
        setTimeout(() => {
          if (this.#children.get(component) === child && !this.#killing.has(component)) this.#spawn(component);
        }, 1_000).unref();
      });
    }
  }

  #writePids(): void {
    const pids = Object.fromEntries([...this.#children].map(([name, child]) => [name, child.pid]));
    writeFileSync(path.join(this.state.dir, 'pids.json'), JSON.stringify(pids));
  }

  async #kill(component: Component): Promise<void> {
    const child = this.#children.get(component);
    this.#killing.add(component);
    if (child) await stopProcess(child, 5_000);
    this.#children.delete(component);
    this.#killing.delete(component);
  }

  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      for (const [name, child] of this.#children) {
        if (child.exitCode !== null && name !== 'kube-controller-manager') throw new Error(`${name} exited with code ${child.exitCode}; see ${path.join(this.state.dir, `${name}.log`)}:\n${tail(path.join(this.state.dir, `${name}.log`))}`);
      }
      try {
        const r = await this.admin.request('GET', '/readyz', { timeoutMs: 2_000 });
        if (r.status === 200) return;
        last = `${r.status} ${r.body.slice(0, 300)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(200);
    }
    throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}`);
  }

  /** Restarts kube-apiserver on the same port; its watch cache starts afresh (old watch RVs get 410). */
  async restartApiserver(): Promise<void> {
    this.#assertOwned();
    await this.#kill('kube-apiserver');
    this.#spawn('kube-apiserver');
    await this.waitReady();
  }

  async stopApiserver(): Promise<void> {
    this.#assertOwned();
    await this.#kill('kube-apiserver');
  }

  async startApiserver(): Promise<void> {
    this.#assertOwned();
    this.#spawn('kube-apiserver');
    await this.waitReady();
  }

  #assertOwned(): void {
    if (!this.#owned) throw new Error('this control plane belongs to another process: start your own to inject faults');
  }

  async stop(): Promise<void> {
    this.admin.close();
    if (!this.#owned) return;
    await this.#kill('kube-controller-manager');
    await this.#kill('kube-apiserver');
    await this.#kill('etcd');
    if (this.#exitHook) process.off('exit', this.#exitHook);
    if (!process.env.TENANT_PROXY_KEEP_CONTROL_PLANE_DIR) rmSync(this.state.dir, { recursive: true, force: true });
  }

  #installExitHook(): void {
    this.#exitHook = () => {
      for (const child of this.#children.values()) child.kill('SIGKILL');
      if (this.#unref) rmSync(this.state.dir, { recursive: true, force: true });
    };
    process.on('exit', this.#exitHook);
  }

  async #bootstrap(tenantCrd = 'crds/tenants.capsule.clastix.io.yaml'): Promise<void> {
    for (const file of [tenantCrd, ...['proxysettings.capsule.clastix.io', 'globalproxysettings.capsule.clastix.io', 'gatewayclasses.gateway.networking.k8s.io'].map((f) => `crds/${f}.yaml`)]) {
      for (const obj of readManifests(path.join(PROJECT_ROOT, 'test/support', file))) await apply(this.admin, obj);
    }
    for (const obj of readManifests(path.join(PROJECT_ROOT, 'deploy/rbac.yaml'))) await apply(this.admin, obj);
    await this.#waitEstablished(['tenants.capsule.clastix.io', 'proxysettings.capsule.clastix.io', 'globalproxysettings.capsule.clastix.io', 'gatewayclasses.gateway.networking.k8s.io']);
    this.state.proxyToken = await this.serviceAccountToken('tenant-proxy', 'tenant-proxy');
    writeFileSync(this.stateFile, JSON.stringify(this.state, null, 2));
  }

  async #waitEstablished(crds: string[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (const name of crds) {
      for (;;) {
        const crd = await this.admin.json<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline) throw new Error(`CRD ${name} not established`);
        await sleep(100);
      }
    }
  }

  /** A token for a service account (TokenRequest; valid 24 h). Creates the account when missing. */
  async serviceAccountToken(namespace: string, name: string, expirationSeconds = 86_400): Promise<string> {
    await apply(this.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await apply(this.admin, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    const review = await this.admin.json<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
    });
    return review.status.token;
  }

  async #loadCa(): Promise<CertificateAuthority> {
    this.#ca ??= await loadCertificateAuthority({ certPem: readFileSync(this.pkiPath('ca.crt'), 'utf8'), keyPem: readFileSync(this.pkiPath('ca.key'), 'utf8') });
    return this.#ca;
  }

  /** A client certificate the apiserver accepts: CN = user, O = groups. */
  async clientCertificate(user: string, groups: readonly string[] = []): Promise<Credentials> {
    const pair = await issueCertificate(await this.#loadCa(), { commonName: user, organizations: groups, usage: 'client' });
    return { caPem: this.caPem, certPem: pair.certPem, keyPem: pair.keyPem };
  }

  tokenCredentials(user: string): Credentials {
    const token = this.state.tokens[user];
    if (token === undefined) throw new Error(`no token user ${user}; token users: ${Object.keys(this.state.tokens).join(', ')}`);
    return { caPem: this.caPem, token };
  }

  /** Credentials of the proxy's own identity: the tenant-proxy service account bound by deploy/rbac.yaml. */
  proxyCredentials(): Credentials {
    if (!this.state.proxyToken) throw new Error('control plane not bootstrapped');
    return { caPem: this.caPem, token: this.state.proxyToken };
  }

  /** Writes a kubeconfig for these credentials against `server` (the apiserver by default). */
  writeKubeconfig(file: string, credentials: Credentials, user: string, server: string = this.state.server, caPem: string = credentials.caPem): string {
    const userEntry: Record<string, string> = {};
    if (credentials.token !== undefined) userEntry.token = credentials.token;
    if (credentials.certPem) userEntry['client-certificate-data'] = Buffer.from(credentials.certPem).toString('base64');
    if (credentials.keyPem) userEntry['client-key-data'] = Buffer.from(credentials.keyPem).toString('base64');
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
      users: [{ name: user, user: userEntry }],
      contexts: [{ name: user, context: { cluster: 'local', user } }],
      'current-context': user,
    };
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, stringify(config), { mode: 0o600 });
    return file;
  }

  /** Audit events the apiserver logged (level Metadata), oldest first. */
  auditEvents(): AuditEvent[] {
    const file = path.join(this.state.dir, 'audit.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as AuditEvent);
  }
}

export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  impersonatedUser?: { username: string; groups?: string[] };
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  userAgent?: string;
}

function randomToken(): string {
  return Array.from({ length: 24 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)]).join('');
}

async function writePki(dir: string): Promise<void> {
  const pki = (n: string) => path.join(dir, 'pki', n);
  const ca = await createCertificateAuthority('tenant-proxy-test-cluster-ca');
  const write = (name: string, pair: KeyPairPem) => {
    writeFileSync(pki(`${name}.crt`), pair.certPem);
    writeFileSync(pki(`${name}.key`), pair.keyPem, { mode: 0o600 });
  };
  write('ca', ca);
  write('apiserver', await issueCertificate(ca, { commonName: 'kube-apiserver', hosts: ['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', '10.96.0.1'], usage: 'server' }));
  write('admin', await issueCertificate(ca, { commonName: 'admin', organizations: ['system:masters'], usage: 'client' }));
  const saKeys = await generateKeyPair();
  const saKeyDer = Buffer.from(await crypto.subtle.exportKey('pkcs8', saKeys.privateKey));
  writeFileSync(pki('sa.key'), `-----BEGIN PRIVATE KEY-----\n${saKeyDer.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });
  writeFileSync(pki('sa.pub'), await exportPublicKeyPem(saKeys.publicKey));
}

function writeTokenFile(dir: string, tokens: Record<string, string>): void {
  const lines = Object.entries(tokens).map(([user, token]) => `${token},${user},uid-${user},"${(TOKEN_USERS[user] ?? []).join(',')}"`);
  writeFileSync(path.join(dir, 'tokens.csv'), lines.join('\n') + '\n', { mode: 0o600 });
}

function writeAuditPolicy(dir: string): void {
  // Metadata for every request: tests count upstream requests (TokenReviews, watches) from this log.
  const policy = { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'None', nonResourceURLs: ['/healthz*', '/readyz*', '/livez*'] }, { level: 'Metadata' }] };
  writeFileSync(path.join(dir, 'audit-policy.yaml'), stringify(policy));
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
