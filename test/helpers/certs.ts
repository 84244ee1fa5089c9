// Test PKIs made with the OpenSSL CLI (`openssl ca`, so notBefore/notAfter,
// digest and extensions are all chosen per certificate), in a fresh temp dir
// per run. Nothing is hand-built: every certificate is OpenSSL's output.
//
//   const pki = new Pki();
//   const root = pki.root("root");                       // self-signed P-256 CA
//   const srv = pki.issue("srv", root, { san: "DNS:a.example.com" });
//   srv.der  // Uint8Array, srv.pem, srv.keyFile, srv.certFile
//   pki.cleanup();
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";

export const OPENSSL = process.env.OPENSSL ?? "/usr/bin/openssl";

export type KeyKind = "p256" | "p384" | "secp224r1" | "prime192v1" | "rsa";

export interface Issued {
  name: string;
  der: Uint8Array;
  pem: string;
  certFile: string;
  keyFile: string;
  x509: X509Certificate;
}

export interface IssueOptions {
  /** "/CN=..." (default "/CN=<name>.example.com") */
  subject?: string;
  key?: KeyKind;
  /** Reuse another certificate's key file (e.g. a key shared by two certs). */
  keyFile?: string;
  /** Lines of an openssl extension section (v3). `null` = no extensions (a v1 certificate). */
  ext?: string | null;
  /** subjectAltName value, e.g. "DNS:a.example.com,IP:127.0.0.1" (added to the leaf defaults). */
  san?: string;
  /** Signature digest (`-md`): sha256 (default), sha1, sha384, md5, ... */
  md?: string;
  /** Validity, as JS Dates (default: now - 1 day .. now + 365 days). */
  notBefore?: Date;
  notAfter?: Date;
}

/** YYMMDDHHMMSSZ (UTCTime) before 2050, YYYYMMDDHHMMSSZ after (RFC 5280 4.1.2.5). */
export function asn1Date(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const y = d.getUTCFullYear();
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return (y >= 1950 && y < 2050 ? p(y % 100) : String(y)) + rest;
}

export const CA_EXT = [
  "basicConstraints = critical, CA:TRUE",
  "keyUsage = critical, keyCertSign, cRLSign",
  "subjectKeyIdentifier = hash",
].join("\n");

export const LEAF_EXT = [
  "basicConstraints = CA:FALSE",
  "keyUsage = critical, digitalSignature",
  "extendedKeyUsage = serverAuth, clientAuth",
  "subjectKeyIdentifier = hash",
  "authorityKeyIdentifier = keyid",
].join("\n");

export class Pki {
  readonly dir: string;
  private n = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "lwm2m-x509-"));
    mkdirSync(join(this.dir, "new"));
    writeFileSync(join(this.dir, "index.txt"), "");
    writeFileSync(join(this.dir, "ca.cnf"), [
      "[ca]", "default_ca = d",
      "[d]",
      `database = ${join(this.dir, "index.txt")}`,
      `new_certs_dir = ${join(this.dir, "new")}`,
      "rand_serial = yes", "unique_subject = no", "default_md = sha256", "policy = any",
      "preserve = yes", "email_in_dn = no", "copy_extensions = none",
      "[any]",
      "countryName = optional", "organizationName = optional", "organizationalUnitName = optional",
      "commonName = optional", "serialNumber = optional",
      "[req]", "distinguished_name = dn", "prompt = no", "[dn]", "CN = unused",
    ].join("\n") + "\n");
  }

  openssl(args: string[]): string {
    return execFileSync(OPENSSL, args, { cwd: this.dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  key(name: string, kind: KeyKind = "p256"): string {
    const file = join(this.dir, `${name}.key`);
    if (kind === "rsa") this.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", file]);
    else {
      const curve = { p256: "P-256", p384: "P-384", secp224r1: "secp224r1", prime192v1: "prime192v1" }[kind];
      this.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`, "-pkeyopt", "ec_param_enc:named_curve", "-out", file]);
    }
    return file;
  }

  private sign(label: string, issuer: Issued | null, o: IssueOptions, defaultExt: string): Issued {
    const name = `${label}-${this.n++}`; // unique files even when labels repeat
    const keyFile = o.keyFile ?? this.key(name, o.key ?? "p256");
    const csr = join(this.dir, `${name}.csr`);
    const subject = o.subject ?? `/CN=${name}.example.com`;
    this.openssl(["req", "-new", "-config", join(this.dir, "ca.cnf"), "-key", keyFile, "-subj", subject, "-out", csr]);
    const certFile = join(this.dir, `${name}.pem`);
    const now = Date.now();
    const nb = o.notBefore ?? new Date(now - 86400_000);
    const na = o.notAfter ?? new Date(now + 365 * 86400_000);
    const args = ["ca", "-batch", "-notext", "-config", join(this.dir, "ca.cnf"), "-in", csr, "-out", certFile,
      "-md", o.md ?? "sha256", "-startdate", asn1Date(nb), "-enddate", asn1Date(na)];
    if (issuer) args.push("-cert", issuer.certFile, "-keyfile", issuer.keyFile);
    else args.push("-selfsign", "-keyfile", keyFile);
    if (o.ext !== null) {
      let ext = o.ext ?? defaultExt;
      if (o.san) ext += `\nsubjectAltName = ${o.san}`;
      if (!issuer) ext = ext.replace(/^authorityKeyIdentifier.*$/m, "");
      const extFile = join(this.dir, `${name}.ext`);
      writeFileSync(extFile, `[x]\n${ext}\n`);
      args.push("-extfile", extFile, "-extensions", "x");
    }
    this.openssl(args);
    const pem = readFileSync(certFile, "utf8");
    const x509 = new X509Certificate(pem);
    return { name: label, der: new Uint8Array(x509.raw), pem, certFile, keyFile, x509 };
  }

  /** A self-signed CA (P-256 unless o.key says otherwise). */
  root(name: string, o: IssueOptions = {}): Issued {
    return this.sign(name, null, { subject: `/CN=${name} CA/O=lwm2m-wasm tests`, ...o }, CA_EXT);
  }

  /** A CA certificate issued by `issuer` (o.ext replaces the CA defaults). */
  ca(name: string, issuer: Issued, o: IssueOptions = {}): Issued {
    return this.sign(name, issuer, { subject: `/CN=${name} CA/O=lwm2m-wasm tests`, ...o }, CA_EXT + "\nauthorityKeyIdentifier = keyid");
  }

  /** An end-entity certificate issued by `issuer`. */
  issue(name: string, issuer: Issued, o: IssueOptions = {}): Issued {
    return this.sign(name, issuer, o, LEAF_EXT);
  }

  /** A self-signed end-entity certificate (for direct trust). */
  selfSigned(name: string, o: IssueOptions = {}): Issued {
    return this.sign(name, null, o, LEAF_EXT);
  }

  /** `openssl verify` as an oracle: true when OpenSSL accepts leaf via the untrusted chain to root. */
  opensslVerify(root: Issued, chain: Issued[], leaf: Issued, host?: string): boolean {
    const untrusted = join(this.dir, `untrusted-${this.n++}.pem`);
    writeFileSync(untrusted, chain.map((c) => c.pem).join(""));
    const args = ["verify", "-x509_strict", "-CAfile", root.certFile];
    if (chain.length) args.push("-untrusted", untrusted);
    if (host) args.push("-verify_hostname", host);
    args.push(leaf.certFile);
    try { this.openssl(args); return true; } catch { return false; }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
