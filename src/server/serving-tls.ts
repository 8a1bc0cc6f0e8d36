// The listener's TLS material: the serving certificate (given, or a self-signed one generated and kept
// in --cert-dir) and the CA bundle that verifies client certificates. Given files are polled and the
// server's secure context is replaced when any of them changes; a bad new file is logged and the old
// material kept.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../basics/log.ts';
import type { ClientCa } from '../front/authenticate.ts';
import { createCertificateAuthority, issueCertificate } from './pki.ts';

const POLL_INTERVAL_MS = 2_000;
const RENEW_BEFORE_MS = 7 * 86_400_000;

export interface ServingTlsOptions {
  tlsCertFile: string;
  tlsKeyFile: string;
  certDir: string;
  clientCaFile: string;
  /** The upstream cluster CA: verifies client certificates when no --client-ca-file is given. */
  clusterCaPem: string | undefined;
  /** Host names and addresses the generated serving certificate must cover. */
  hosts: string[];
}

export class ServingTls {
  readonly #options: ServingTlsOptions;
  readonly #log: Logger;
  #poll: NodeJS.Timeout | undefined;
  /** What each given file looked like when the material in force (or the last failed attempt) was read. */
  readonly #seen = new Map<string, string>();
  #context: SecureContextOptions = {};
  #clientCa: ClientCa = { generation: 0, certificates: [] };
  /** The CA of a generated serving certificate, for clients to trust. */
  generatedCaFile: string | undefined;

  private constructor(options: ServingTlsOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  static async load(options: ServingTlsOptions, log: Logger): Promise<ServingTls> {
    const tls = new ServingTls(options, log);
    if (!options.tlsCertFile) await tls.#ensureSelfSigned();
    for (const file of tls.#givenFiles()) tls.#seen.set(file, signature(file));
    tls.#context = tls.#read();
    tls.#clientCa = { generation: 0, certificates: parseCertificates(tls.#context.ca) };
    return tls;
  }

  /** The client CA bundle in force; its generation changes with every reload. */
  get clientCa(): ClientCa {
    return this.#clientCa;
  }

  get context(): SecureContextOptions {
    return this.#context;
  }

  get verifiesClientCertificates(): boolean {
    return this.#context.ca !== undefined;
  }

  #files(): { cert: string; key: string } {
    const o = this.#options;
    return o.tlsCertFile ? { cert: o.tlsCertFile, key: o.tlsKeyFile } : { cert: path.join(this.#certDir(), 'serving.crt'), key: path.join(this.#certDir(), 'serving.key') };
  }

  #certDir(): string {
    return this.#options.certDir || path.join(homedir(), '.cache/tenant-proxy/serving');
  }

  #read(): SecureContextOptions {
    const files = this.#files();
    const context: SecureContextOptions = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
    if (this.#options.clientCaFile) context.ca = readFileSync(this.#options.clientCaFile);
    else if (this.#options.clusterCaPem) context.ca = this.#options.clusterCaPem;
    return context;
  }

  async #ensureSelfSigned(): Promise<void> {
    const dir = this.#certDir();
    const caFile = path.join(dir, 'ca.crt');
    const { cert, key } = this.#files();
    this.generatedCaFile = caFile;
    if (existsSync(cert) && existsSync(key) && existsSync(caFile) && this.#coversHosts(cert)) {
      this.#log.info({ ca: caFile }, 'serving with the self-signed certificate generated earlier; clients must trust this CA');
      return;
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ca = await createCertificateAuthority(`tenant-proxy-serving-ca@${Math.floor(Date.now() / 1000)}`);
    const serving = await issueCertificate(ca, { commonName: 'tenant-proxy', hosts: this.#options.hosts, usage: 'server', validDays: 365 });
    writeFileSync(caFile, ca.certPem);
    writeFileSync(cert, serving.certPem);
    writeFileSync(key, serving.keyPem, { mode: 0o600 });
    this.#log.info({ ca: caFile }, 'no --tls-cert-file: generated a self-signed serving certificate; clients must trust this CA');
  }

  #coversHosts(certFile: string): boolean {
    try {
      const cert = new X509Certificate(readFileSync(certFile));
      if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
      // checkIP/checkHost rather than the subjectAltName text, which spells ::1 as 0:0:0:0:0:0:0:1.
      return this.#options.hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined);
    } catch {
      return false;
    }
  }

  /**
   * Polls the given files and swaps the server's secure context when they change. Changes are judged
   * against the files as they were read, not against the previous poll, so a file replaced before
   * the first poll is still noticed.
   */
  watch(server: Server): void {
    const files = this.#givenFiles();
    if (files.length === 0) return;
    this.#poll = setInterval(() => this.#check(server, files), POLL_INTERVAL_MS);
    this.#poll.unref();
  }

  #check(server: Server, files: string[]): void {
    const now = files.map((file) => [file, signature(file)] as const);
    const changed = now.filter(([file, seen]) => seen !== this.#seen.get(file)).map(([file]) => file);
    if (changed.length === 0) return;
    for (const [file, seen] of now) this.#seen.set(file, seen);
    try {
      const next = this.#read();
      const certificates = parseCertificates(next.ca);
      server.setSecureContext(next);
      this.#context = next;
      this.#clientCa = { generation: this.#clientCa.generation + 1, certificates };
      this.#log.info({ files: changed }, 'reloaded TLS material');
    } catch (err) {
      this.#log.error({ files: changed, err: (err as Error).message }, 'could not reload TLS material; keeping the current one');
    }
  }

  #givenFiles(): string[] {
    return [this.#options.tlsCertFile, this.#options.tlsKeyFile, this.#options.clientCaFile].filter(Boolean);
  }

  close(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
  }
}

/** A file's identity and version as stat sees it (three small files every 2 s); 'missing' when it cannot be stat'ed (the read says why). */
function signature(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** Names the generated serving certificate covers: loopback, the host name and the listen address. */
export function defaultServingHosts(listenHost: string): string[] {
  const hosts = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
  if (listenHost && listenHost !== '0.0.0.0' && listenHost !== '::') hosts.add(listenHost);
  return [...hosts];
}

/** Every certificate of a PEM bundle. */
function parseCertificates(bundle: SecureContextOptions['ca']): X509Certificate[] {
  const text = bundle === undefined ? '' : (Array.isArray(bundle) ? bundle : [bundle]).map((b) => (typeof b === 'string' ? b : b.toString('utf8'))).join('\n');
  return (text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
}
