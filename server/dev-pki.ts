// The development PKI: a P-256 CA, the development servers' own key pair and
// certificate (used for RPK and X.509 over DTLS), and device certificates
// issued on request. Every certificate is made by the OpenSSL CLI (never
// hand-built); everything lives in one folder and is reused on the next start.
//
//   dir/ca.key ca.crt             the development CA (trust anchor for devices and servers)
//   dir/server.key server.crt     the servers' key pair; certificate for 127.0.0.1 / ::1 / localhost
//   dir/server.pub.pem            the same public key as an SPKI (RFC 7250 raw public key)
//   dir/device-<name>.key .crt .pub.pem   device key pairs / certificates (CN = endpoint name)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { join, resolve } from "node:path";

const OPENSSL = process.env.OPENSSL ?? "openssl";
const DAYS = "825";

export interface DevKeyPair {
  /** PEM files. */
  keyFile: string;
  certFile: string;
  /** The P-256 private key as a 32-byte scalar (the SE import format). */
  privateKey: Uint8Array;
  /** SubjectPublicKeyInfo DER: the RFC 7250 raw public key. */
  publicKey: Uint8Array;
  /** The certificate, DER. */
  certificate: Uint8Array;
}

export class DevPkiError extends Error {
  constructor(msg: string) { super(msg); this.name = "DevPkiError"; }
}

export class DevPki {
  readonly dir: string;
  readonly ca: DevKeyPair;
  readonly server: DevKeyPair;

  /** Opens (or creates) the PKI in `dir`; needs the `openssl` command the first time. */
  constructor(dir: string) {
    this.dir = resolve(dir);
    mkdirSync(this.dir, { recursive: true });
    if (!existsSync(this.file("ca.crt"))) {
      this.genKey("ca.key");
      this.openssl(["req", "-new", "-x509", "-key", "ca.key", "-sha256", "-days", DAYS, "-subj", "/CN=lwm2m-wasm development CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt"]);
    }
    this.ca = this.load("ca");
    if (!existsSync(this.file("server.crt"))) {
      this.issue("server", "lwm2m-wasm development server", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost", "serverAuth");
    }
    this.server = this.load("server");
    this.writePublicKey("server", this.server);
  }

  /** name.pub.pem: the SPKI, for configurations and `--server-rpk`. */
  private writePublicKey(name: string, pair: DevKeyPair): void {
    const file = this.file(`${name}.pub.pem`);
    if (!existsSync(file)) writeFileSync(file, createPublicKey({ key: Buffer.from(pair.publicKey), format: "der", type: "spki" }).export({ format: "pem", type: "spki" }));
  }

  /** A device key pair and certificate (CN = endpoint), made once and reused. */
  device(endpoint: string): DevKeyPair {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(endpoint)) throw new DevPkiError(`endpoint '${endpoint}': only letters, digits, '.', '_' and '-' make a file name`);
    const name = `device-${endpoint}`;
    if (!existsSync(this.file(`${name}.crt`))) this.issue(name, endpoint, null, "clientAuth");
    const pair = this.load(name);
    this.writePublicKey(name, pair);
    return pair;
  }

  private file(name: string): string { return join(this.dir, name); }

  private openssl(args: string[]): void {
    try {
      execFileSync(OPENSSL, args, { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const err = e as { code?: string; stderr?: Buffer };
      if (err.code === "ENOENT") throw new DevPkiError(`the development PKI needs the 'openssl' command (apt-get install openssl)`);
      throw new DevPkiError(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() ?? String(e)}`);
    }
  }

  private genKey(name: string): void {
    this.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:named_curve", "-out", name]);
  }

  private issue(name: string, cn: string, san: string | null, eku: string): void {
    this.genKey(`${name}.key`);
    this.openssl(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`]);
    const ext = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", `extendedKeyUsage=${eku}`];
    if (san) ext.push(san);
    writeFileSync(this.file(`${name}.ext`), ext.join("\n") + "\n");
    this.openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-sha256",
      "-days", DAYS, "-extfile", `${name}.ext`, "-out", `${name}.crt`]);
  }

  private load(name: string): DevKeyPair {
    const keyFile = this.file(`${name}.key`), certFile = this.file(`${name}.crt`);
    const key = createPrivateKey(readFileSync(keyFile));
    const jwk = key.export({ format: "jwk" });
    if (jwk.crv !== "P-256" || !jwk.d) throw new DevPkiError(`${keyFile}: not a P-256 private key`);
    return {
      keyFile, certFile,
      privateKey: new Uint8Array(Buffer.from(jwk.d, "base64url")),
      publicKey: new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" })),
      certificate: new Uint8Array(new X509Certificate(readFileSync(certFile)).raw),
    };
  }
}
