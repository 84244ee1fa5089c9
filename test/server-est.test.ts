// The development servers' EST-coaps RA (server/est.ts, RFC 9148) against an
// independent client, libcoap's coap-client-gnutls, over DTLS with a PSK and
// with certificates; what it issues is checked by OpenSSL (openssl verify
// -CAfile, public keys compared with the CSR's / the skg key's) and node:crypto:
//  - crts (281 and 287), sen with 64- and 1024-byte blocks, sen with a
//    certificate from the development CA and from an extra client CA (--client-ca),
//    sren with the enrolled certificate, att, skg, /.well-known/core discovery;
//  - refusals, each by name: bad CSR, RSA CSR, SHA-1 CSR, a CSR whose signature
//    does not verify, wrong Content-Format (4.15), unknown Accept (4.06),
//    plain CoAP (4.01), a PSK for another CN, sren without / with a foreign certificate;
//  - the LwM2M Server registers the enrolled certificate and the extra CA's,
//    and refuses a Register from a PSK identity it knows only for EST;
//  - in process (EstRa.handle with server/coap.ts types): Content-Formats,
//    ETag and the later Block2 blocks of a POST served from the first response.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { requirePeer, havePeer } from "./helpers/peers";
import { writeGnutlsPriorityOverride } from "./helpers/coap-gnutls-peer";
import { startDevServers, estPskAccountsFromConfig, DEV_CONFIG_FILE, UdpTransport, CoapEndpoint, FAST_PARAMS, decodeContent, type DevServers, type Registration, type BootstrapConfig } from "../server/index";
import { runServerCli, EST_EXAMPLE_DEVICE } from "../server/cli";
import { EstRa, loadEstCa, EstContentFormat, csrAttributes, estOperationOf } from "../server/est";
import { Code, Opt, Type, encodeBlock, codeString, type IncomingRequest } from "../server/coap";
import type { PeerInfo } from "../server/transport";
import { cborg } from "../server/formats";

const dir = mkdtempSync(join(tmpdir(), "server-est-"));
const f = (name: string) => join(dir, name);
let dev: DevServers | null = null;
let prio = "";

const hex = (s: string) => Buffer.from(s).toString("hex");
// coap-client -k takes the key as text, so the development keys here are hex of ASCII
const EST_PSK = { identity: "est-dev-bs", key: "est-dev-psk-key1" };
const REG_PSK = { identity: "reg-dev", key: "reg-dev-psk-key1" };
const config: BootstrapConfig = {
  "est-dev": {
    bootstrapCredentials: { pskIdentity: EST_PSK.identity, pskKey: hex(EST_PSK.key) },
    security: [{ uri: "coaps://{serverHost}:{serverSecurePort}", securityMode: "est", serverPublicKey: "{pki}/server.crt", certificateUsage: 3, shortServerId: 104 }],
    servers: [{ shortServerId: 104, lifetime: 300 }],
  },
  "reg-dev": {
    security: [{ uri: "coaps://{serverHost}:{serverSecurePort}", securityMode: "psk", pskIdentity: REG_PSK.identity, pskKey: hex(REG_PSK.key), shortServerId: 101 }],
    servers: [{ shortServerId: 101, lifetime: 300 }],
  },
} as unknown as BootstrapConfig;

const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, encoding: "latin1", stdio: ["ignore", "pipe", "pipe"] });
/** A CSR (DER) with a fresh key: `openssl req -new -newkey ...`; the key goes to name.key. */
function csr(name: string, cn: string, opts: { newkey?: string[]; digest?: string } = {}): string {
  openssl(["req", "-new", ...(opts.newkey ?? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]), "-nodes", "-keyout", `${name}.key`,
    "-subj", `/CN=${cn}`, `-${opts.digest ?? "sha256"}`, "-outform", "DER", "-out", `${name}.csr.der`]);
  return f(`${name}.csr.der`);
}
/** The SPKI (PEM) of a CSR, a certificate or a private key, by openssl. */
const csrPub = (file: string) => openssl(["req", "-inform", "DER", "-in", file, "-pubkey", "-noout"]);
const certPub = (file: string) => openssl(["x509", "-in", file, "-pubkey", "-noout"]);
const keyPub = (file: string, inform = "PEM") => openssl(["pkey", "-inform", inform, "-in", file, "-pubout"]);
/** The certificates of a PKCS#7 certs-only file as PEM (openssl pkcs7 -print_certs). */
function p7certs(file: string, out: string): string {
  openssl(["pkcs7", "-inform", "DER", "-in", file, "-print_certs", "-out", out]);
  return readFileSync(out, "latin1");
}
function verifies(certFile: string): boolean {
  try { return /: OK/.test(openssl(["verify", "-CAfile", dev!.pki!.ca.certFile, certFile])); } catch { return false; }
}

interface Run { code: number | null; out: string }
/** coap-client-gnutls (never blocks our event loop: the server runs in this process). */
function coapClient(args: string[], ms = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn("coap-client-gnutls", ["-B", "8", ...args], { env: { ...process.env, GNUTLS_SYSTEM_PRIORITY_FILE: prio }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), ms);
    p.on("exit", (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}
const pskArgs = (a = EST_PSK) => ["-u", a.identity, "-k", a.key];
const estUri = (op: string) => `${dev!.secureServerUri}/.well-known/est/${op}`;
/** POST a CSR file; the response body goes to `out`. */
const post = (op: string, csrFile: string, out: string, extra: string[]) =>
  coapClient(["-m", "post", "-t", "286", "-f", csrFile, "-o", f(out), ...extra, estUri(op)]);

let extraCa = "", extraClient = { cert: "", key: "" }, devClient = { cert: "", key: "" };

before(async () => {
  if (!havePeer("openssl")) return;
  prio = writeGnutlsPriorityOverride(f("prio.cfg"));
  // an extra client CA (like libest's estCA) and a client certificate it issued
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "xca.key", "-out", "xca.crt", "-days", "30",
    "-subj", "/CN=extra client CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  csr("xclient", "extra-ca-device");
  writeFileSync(f("client.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
  openssl(["x509", "-req", "-inform", "DER", "-in", "xclient.csr.der", "-CA", "xca.crt", "-CAkey", "xca.key", "-CAcreateserial", "-days", "30", "-extfile", "client.ext", "-out", "xclient.crt"]);
  extraCa = f("xca.crt");
  extraClient = { cert: f("xclient.crt"), key: f("xclient.key") };
  dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config, secure: { pkiDir: f("pki"), clientCaFiles: [extraCa] }, log: false });
  const idevid = dev.pki!.device("est-idevid");
  devClient = { cert: idevid.certFile, key: idevid.keyFile };
});

after(async () => {
  await dev?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ready = (t: { skip(m: string): void }) => requirePeer(t as never, "openssl") && requirePeer(t as never, "coap-client-gnutls");

// ---- interop with coap-client-gnutls ---------------------------------------------------------

test("crts over DTLS-PSK: a PKCS#7 certs-only (281) with the development CA, and Accept 287 gives its DER certificate", async (t) => {
  if (!ready(t)) return;
  const r = await coapClient([...pskArgs(), "-o", f("crts.p7"), estUri("crts")]);
  assert.equal(r.code, 0, r.out);
  const pem = p7certs(f("crts.p7"), f("crts.pem"));
  assert.ok(new X509Certificate(pem).raw.equals(Buffer.from(dev!.pki!.ca.certificate)), "the CA certificate");
  const r2 = await coapClient([...pskArgs(), "-A", "287", "-o", f("crts.der"), estUri("crts")]);
  assert.equal(r2.code, 0, r2.out);
  assert.ok(readFileSync(f("crts.der")).equals(Buffer.from(dev!.pki!.ca.certificate)));
});

for (const block of [64, 1024]) {
  test(`sen over DTLS-PSK with ${block}-byte blocks: openssl verify accepts the certificate and its key is the CSR's`, async (t) => {
    if (!ready(t)) return;
    const c = csr(`sen${block}`, "est-dev");
    const r = await post("sen", c, `sen${block}.p7`, [...pskArgs(), "-b", String(block)]);
    assert.equal(r.code, 0, r.out);
    p7certs(f(`sen${block}.p7`), f(`sen${block}.crt`));
    assert.ok(verifies(f(`sen${block}.crt`)), "openssl verify -CAfile ca.crt");
    assert.equal(certPub(f(`sen${block}.crt`)), csrPub(c));
    const x = new X509Certificate(readFileSync(f(`sen${block}.crt`)));
    assert.match(x.subject, /CN=est-dev/);
    assert.ok(x.verify(new X509Certificate(Buffer.from(dev!.pki!.ca.certificate)).publicKey), "node:crypto verifies the issuer's signature");
    assert.ok(dev!.est!.issued.some((i) => i.operation === "sen" && Buffer.from(i.certificate).equals(x.raw)));
  });
}

test("sen with Accept 287 answers one DER certificate (64-byte blocks both ways)", async (t) => {
  if (!ready(t)) return;
  const c = csr("sen287", "est-dev");
  const r = await post("sen", c, "sen287.der", [...pskArgs(), "-b", "64", "-A", "287"]);
  assert.equal(r.code, 0, r.out);
  const x = new X509Certificate(readFileSync(f("sen287.der")));
  writeFileSync(f("sen287.crt"), x.toString());
  assert.ok(verifies(f("sen287.crt")));
  assert.equal(certPub(f("sen287.crt")), csrPub(c));
});

test("sen with a client certificate from the development CA and from the extra client CA (--client-ca): any CN", async (t) => {
  if (!ready(t)) return;
  for (const [name, client] of [["devca", devClient], ["xca", extraClient]] as const) {
    const c = csr(`sen-${name}`, `device-${name}`);
    const r = await post("sen", c, `sen-${name}.p7`, ["-c", client.cert, "-j", client.key, "-C", dev!.pki!.ca.certFile, "-b", "256"]);
    assert.equal(r.code, 0, `${name}: ${r.out}`);
    p7certs(f(`sen-${name}.p7`), f(`sen-${name}.crt`));
    assert.ok(verifies(f(`sen-${name}.crt`)), name);
    assert.equal(certPub(f(`sen-${name}.crt`)), csrPub(c), name);
  }
});

test("sren with the enrolled certificate as DTLS client certificate renews it (new key, same subject)", async (t) => {
  if (!ready(t)) return;
  const c1 = csr("enrolled", "est-dev");
  assert.equal((await post("sen", c1, "enrolled.p7", pskArgs())).code, 0);
  p7certs(f("enrolled.p7"), f("enrolled.crt"));
  const c2 = csr("renewed", "est-dev");
  const r = await post("sren", c2, "renewed.p7", ["-c", f("enrolled.crt"), "-j", f("enrolled.key"), "-C", dev!.pki!.ca.certFile, "-b", "64"]);
  assert.equal(r.code, 0, r.out);
  p7certs(f("renewed.p7"), f("renewed.crt"));
  assert.ok(verifies(f("renewed.crt")));
  assert.equal(certPub(f("renewed.crt")), csrPub(c2));
  assert.notEqual(certPub(f("renewed.crt")), certPub(f("enrolled.crt")));
  assert.equal(new X509Certificate(readFileSync(f("renewed.crt"))).subject, new X509Certificate(readFileSync(f("enrolled.crt"))).subject);
});

test("att (285): CsrAttrs asking for a CN, id-ecPublicKey on prime256v1 and ecdsa-with-SHA256 (openssl asn1parse)", async (t) => {
  if (!ready(t)) return;
  const r = await coapClient([...pskArgs(), "-A", "285", "-o", f("att.der"), estUri("att")]);
  assert.equal(r.code, 0, r.out);
  const parsed = openssl(["asn1parse", "-inform", "DER", "-in", "att.der"]);
  for (const name of ["commonName", "id-ecPublicKey", "prime256v1", "ecdsa-with-SHA256"]) assert.match(parsed, new RegExp(`OBJECT\\s*:${name}`), parsed);
});

test("skg (Accept 62): multipart-core [284 PKCS#8 key, 281 certificate]; the key matches the certificate and the certificate verifies", async (t) => {
  if (!ready(t)) return;
  const c = csr("skg", "est-dev");
  const r = await post("skg", c, "skg.cbor", [...pskArgs(), "-A", "62", "-b", "64"]);
  assert.equal(r.code, 0, r.out);
  const parts = cborg().decode(readFileSync(f("skg.cbor"))) as unknown[];
  assert.equal(parts.length, 4);
  assert.equal(parts[0], 284);
  assert.equal(parts[2], 281);
  writeFileSync(f("skg.key.der"), parts[1] as Uint8Array);
  writeFileSync(f("skg.p7"), parts[3] as Uint8Array);
  p7certs(f("skg.p7"), f("skg.crt"));
  assert.ok(verifies(f("skg.crt")));
  assert.equal(keyPub(f("skg.key.der"), "DER"), certPub(f("skg.crt")), "the PKCS#8 key is the certificate's");
  assert.notEqual(certPub(f("skg.crt")), csrPub(c), "the server made the key, not the CSR's");
  assert.match(openssl(["pkey", "-inform", "DER", "-in", "skg.key.der", "-text", "-noout"]), /NIST CURVE: P-256|prime256v1/);
});

test("/.well-known/core over DTLS lists the ace.est.* resources (rt filter) and the short /est path works; plain CoAP lists none", async (t) => {
  if (!ready(t)) return;
  const all = await coapClient([...pskArgs(), `${dev!.secureServerUri}/.well-known/core`]);
  for (const op of ["crts", "sen", "sren", "att", "skg"]) assert.match(all.out, new RegExp(`</est/${op}>;rt="ace\\.est\\.${op}"`), all.out);
  const sen = await coapClient([...pskArgs(), `${dev!.secureServerUri}/.well-known/core?rt=ace.est.sen`]);
  assert.match(sen.out, /<\/est\/sen>;rt="ace\.est\.sen";ct="281 287"/);
  assert.doesNotMatch(sen.out, /crts|skg/);
  const short = await coapClient([...pskArgs(), "-A", "287", "-o", f("short.der"), `${dev!.secureServerUri}/est/crts`]);
  assert.equal(short.code, 0, short.out);
  assert.ok(readFileSync(f("short.der")).equals(Buffer.from(dev!.pki!.ca.certificate)));
  const plain = await coapClient([`${dev!.serverUri}/.well-known/core`]);
  assert.doesNotMatch(plain.out, /ace\.est/);
});

// ---- refusals ------------------------------------------------------------------------------

/** The response code coap-client prints for an error ("4.00 diagnostic"). */
const codeIn = (r: Run) => /\b([45]\.\d\d)\b/.exec(r.out)?.[1];

test("refused: a CSR that is not DER PKCS#10 -> 4.00", async (t) => {
  if (!ready(t)) return;
  writeFileSync(f("garbage.der"), Buffer.from("30820101deadbeef", "hex"));
  const r = await post("sen", f("garbage.der"), "garbage.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /PKCS#10/);
});

test("refused: an RSA CSR -> 4.00 (P-256 only)", async (t) => {
  if (!ready(t)) return;
  const r = await post("sen", csr("rsa", "est-dev", { newkey: ["-newkey", "rsa:2048"] }), "rsa.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /P-256/);
});

test("refused: a CSR signed with SHA-1 (ecdsa-with-SHA1) -> 4.00", async (t) => {
  if (!ready(t)) return;
  const r = await post("sen", csr("sha1", "est-dev", { digest: "sha1" }), "sha1.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /ecdsa-with-SHA256/);
});

test("refused: a CSR for a P-384 key (signed ecdsa-with-SHA256) -> 4.00", async (t) => {
  if (!ready(t)) return;
  const r = await post("sen", csr("p384", "est-dev", { newkey: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"] }), "p384.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /P-256/);
});

test("refused: a CSR without a CN -> 4.00", async (t) => {
  if (!ready(t)) return;
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "nocn.key", "-subj", "/O=no common name", "-outform", "DER", "-out", "nocn.csr.der"]);
  const r = await post("sen", f("nocn.csr.der"), "nocn.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /CN/);
});

test("refused: a CSR over 4096 bytes -> 4.13 (Block1 at 1024)", async (t) => {
  if (!ready(t)) return;
  writeFileSync(f("huge.der"), Buffer.alloc(5000, 0x30));
  const r = await post("sen", f("huge.der"), "huge.out", [...pskArgs(), "-b", "1024"]);
  assert.equal(codeIn(r), "4.13", r.out);
});

test("refused: a CSR in BER, not DER (outer length in a non-minimal long form) -> 4.00, though its signature verifies", async (t) => {
  if (!ready(t)) return;
  const der = readFileSync(csr("ber", "est-dev"));
  assert.equal(der[1], 0x81, "a 128..255-byte CSR");
  writeFileSync(f("ber.csr.der"), Buffer.concat([Buffer.from([0x30, 0x82, 0x00, der[2]]), der.subarray(3)]));
  openssl(["req", "-inform", "DER", "-in", "ber.csr.der", "-verify", "-noout"]); // OpenSSL takes the BER and its signature (exit 0)
  const r = await post("sen", f("ber.csr.der"), "ber.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /DER/);
});

test("refused: a CSR whose signature does not verify (one signature bit flipped) -> 4.00", async (t) => {
  if (!ready(t)) return;
  const der = readFileSync(csr("tampered", "est-dev"));
  der[der.length - 5] ^= 0x01; // inside the signature's INTEGER s
  writeFileSync(f("tampered.csr.der"), der);
  const r = await post("sen", f("tampered.csr.der"), "tampered.out", pskArgs());
  assert.equal(codeIn(r), "4.00", r.out);
  assert.match(r.out, /signature/);
});

test("refused: a CSR sent with another Content-Format -> 4.15 (RFC 9148 section 5.5; libest answers 4.00)", async (t) => {
  if (!ready(t)) return;
  const r = await coapClient(["-m", "post", "-t", "42", "-f", csr("wrongcf", "est-dev"), ...pskArgs(), estUri("sen")]);
  assert.equal(codeIn(r), "4.15", r.out);
});

test("refused: an Accept the resource cannot give -> 4.06 (crts, sen, skg)", async (t) => {
  if (!ready(t)) return;
  assert.equal(codeIn(await coapClient([...pskArgs(), "-A", "40", estUri("crts")])), "4.06");
  assert.equal(codeIn(await coapClient(["-m", "post", "-t", "286", "-f", csr("acc", "est-dev"), "-A", "42", ...pskArgs(), estUri("sen")])), "4.06");
  assert.equal(codeIn(await coapClient(["-m", "post", "-t", "286", "-f", f("acc.csr.der"), "-A", "281", ...pskArgs(), estUri("skg")])), "4.06");
});

test("refused: EST over plain CoAP -> 4.01, nothing issued", async (t) => {
  if (!ready(t)) return;
  const before = dev!.est!.issued.length;
  const r = await coapClient(["-m", "post", "-t", "286", "-f", csr("plain", "est-dev"), `${dev!.serverUri}/.well-known/est/sen`]);
  assert.equal(codeIn(r), "4.01", r.out);
  assert.equal(codeIn(await coapClient([`${dev!.serverUri}/.well-known/est/crts`])), "4.01");
  assert.equal(dev!.est!.issued.length, before);
});

test("refused: a PSK account asking for another endpoint's CN -> 4.03", async (t) => {
  if (!ready(t)) return;
  const r = await post("sen", csr("othercn", "reg-dev"), "othercn.out", pskArgs());
  assert.equal(codeIn(r), "4.03", r.out);
});

test("refused: sren over a PSK session -> 4.03", async (t) => {
  if (!ready(t)) return;
  const r = await post("sren", csr("sren-psk", "est-dev"), "sren-psk.out", pskArgs());
  assert.equal(codeIn(r), "4.03", r.out);
});

test("refused: sren with a certificate another CA issued (accepted by the listener through --client-ca) -> 4.03", async (t) => {
  if (!ready(t)) return;
  const r = await post("sren", csr("sren-xca", "extra-ca-device"), "sren-xca.out", ["-c", extraClient.cert, "-j", extraClient.key, "-C", dev!.pki!.ca.certFile]);
  assert.equal(codeIn(r), "4.03", r.out);
  assert.match(r.out, /not issued by this CA/);
});

test("refused: sren for another subject than the current certificate's -> 4.03", async (t) => {
  if (!ready(t)) return;
  const c = csr("sren-own", "est-dev");
  assert.equal((await post("sen", c, "sren-own.p7", pskArgs())).code, 0);
  p7certs(f("sren-own.p7"), f("sren-own.crt"));
  const r = await post("sren", csr("sren-other", "someone-else"), "sren-other.out", ["-c", f("sren-own.crt"), "-j", f("sren-own.key"), "-C", dev!.pki!.ca.certFile]);
  assert.equal(codeIn(r), "4.03", r.out);
  assert.match(r.out, /subject/);
});

// ---- registration with enrolled / extra-CA certificates ---------------------------------------

async function register(ep: string, auth: string[]): Promise<{ run: Run; reg?: Registration }> {
  const registered = new Promise<Registration>((res) => {
    const on = (r: Registration) => { if (r.endpoint === ep) { dev!.server.off("registered", on); res(r); } };
    dev!.server.on("registered", on);
  });
  const run = await coapClient(["-m", "post", "-t", "40", "-e", "</1/0>,</3/0>", ...auth, `${dev!.secureServerUri}/rd?ep=${ep}&lt=300&lwm2m=1.1&b=U`]);
  const reg = await Promise.race([registered, new Promise<undefined>((res) => setTimeout(res, 1500))]);
  return { run, reg };
}

test("the LwM2M Server registers a client with the certificate its EST CA issued, and one from the --client-ca CA", async (t) => {
  if (!ready(t)) return;
  const c = csr("regcert", "est-dev");
  assert.equal((await post("sen", c, "regcert.p7", pskArgs())).code, 0);
  p7certs(f("regcert.p7"), f("regcert.crt"));
  const a = await register("est-dev", ["-c", f("regcert.crt"), "-j", f("regcert.key"), "-C", dev!.pki!.ca.certFile]);
  assert.ok(a.reg, a.run.out);
  assert.equal(a.reg!.identity?.kind, "x509");
  assert.ok(Buffer.from((a.reg!.identity as { certificate: Uint8Array }).certificate).equals(new X509Certificate(readFileSync(f("regcert.crt"))).raw));
  const b = await register("extra-ca-device", ["-c", extraClient.cert, "-j", extraClient.key, "-C", dev!.pki!.ca.certFile]);
  assert.ok(b.reg, b.run.out);
  assert.match((b.reg!.identity as { subject: string }).subject, /CN=extra-ca-device/);
});

test("a PSK identity accepted only for EST (the bootstrap PSK) cannot Register at the LwM2M Server: 4.03; the server account's PSK can", async (t) => {
  if (!ready(t)) return;
  const a = await register("est-dev", pskArgs(EST_PSK));
  assert.equal(a.reg, undefined);
  assert.equal(codeIn(a.run), "4.03", a.run.out);
  const b = await register("reg-dev", pskArgs(REG_PSK));
  assert.ok(b.reg, b.run.out);
});

test("the Bootstrap-Server's DTLS port serves the same RA to the bootstrap PSK", async (t) => {
  if (!ready(t)) return;
  const r = await coapClient([...pskArgs(), "-A", "287", "-o", f("bs-crts.der"), `${dev!.secureBootstrapUri}/.well-known/est/crts`]);
  assert.equal(r.code, 0, r.out);
  assert.ok(readFileSync(f("bs-crts.der")).equals(Buffer.from(dev!.pki!.ca.certificate)));
});

// ---- in process: EstRa.handle ------------------------------------------------------------------

function request(ra: EstRa, op: string, o: { code?: number; payload?: Uint8Array; cf?: number; accept?: number; peer?: PeerInfo; block2?: number; peerKey?: string }) {
  const options = o.block2 === undefined ? [] : [{ number: Opt.BLOCK2, value: encodeBlock({ num: o.block2, more: false, szx: 2 }) }];
  const req: IncomingRequest = {
    peerKey: o.peerKey ?? "127.0.0.1:1", peer: o.peer ?? { address: "127.0.0.1", port: 1, secure: true, identity: { kind: "psk", identity: EST_PSK.identity } },
    message: { type: Type.CON, code: o.code ?? Code.POST, mid: 1, token: new Uint8Array(1), options, payload: o.payload ?? new Uint8Array(0) },
    code: o.code ?? Code.POST, method: "", path: `/.well-known/est/${op}`, query: [], payload: o.payload ?? new Uint8Array(0), contentFormat: o.cf, accept: o.accept,
  };
  return ra.handle(req)!;
}

let inproc: EstRa | null = null;
async function inProcessRa(): Promise<EstRa> {
  inproc ??= new EstRa({ ca: await loadEstCa(readFileSync(dev!.pki!.ca.certFile, "utf8"), readFileSync(dev!.pki!.ca.keyFile, "utf8")), psk: dev!.est!.psk });
  return inproc;
}
const peerWith = (identity: PeerInfo["identity"]): PeerInfo => ({ address: "127.0.0.1", port: 1, secure: true, identity });

test("in process: sen answers 2.04 with CF 281 and an ETag; a later Block2 block is served from that response, not re-issued; another peer has nothing to continue (4.08)", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const ra = await inProcessRa();
  const der = new Uint8Array(readFileSync(csr("inproc", "est-dev")));
  const before = ra.issued.length;
  const first = await request(ra, "sen", { payload: der, cf: EstContentFormat.PKCS10 });
  assert.equal(codeString(first.code), "2.04");
  assert.equal(first.contentFormat, EstContentFormat.PKCS7_CERTS_ONLY);
  const etag = first.options!.find((x) => x.number === Opt.ETAG)!.value;
  const later = await request(ra, "sen", { block2: 1, cf: EstContentFormat.PKCS10 });
  assert.equal(codeString(later.code), "2.04");
  assert.deepEqual(later.payload, first.payload);
  assert.deepEqual(later.options!.find((x) => x.number === Opt.ETAG)!.value, etag);
  assert.equal(ra.issued.length, before + 1, "one certificate for the whole transfer");
  const other = await request(ra, "sen", { block2: 1, cf: EstContentFormat.PKCS10, peerKey: "127.0.0.1:2" });
  assert.equal(codeString(other.code), "4.08", "another peer has nothing to continue");
});

test("in process: a server-generated key (skg) kept for later Block2 blocks is wiped when the next skg of that peer replaces it", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const ra = await inProcessRa();
  const der = new Uint8Array(readFileSync(csr("skg-wipe", "est-dev")));
  const first = await request(ra, "skg", { payload: der, cf: EstContentFormat.PKCS10, peerKey: "127.0.0.1:9" });
  assert.equal(codeString(first.code), "2.04");
  assert.equal(first.contentFormat, EstContentFormat.MULTIPART_CORE);
  const [, key] = cborg().decode(first.payload!.slice()) as [number, Uint8Array];
  assert.ok(key.some((b) => b !== 0));
  const second = await request(ra, "skg", { payload: der, cf: EstContentFormat.PKCS10, peerKey: "127.0.0.1:9" });
  assert.equal(codeString(second.code), "2.04");
  assert.ok(first.payload!.every((b) => b === 0), "the first response (with its key) is wiped");
  assert.ok(second.payload!.some((b) => b !== 0));
});

test("in process: crts with Accept 287 is CF 287, the CA certificate", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const crt = await request(await inProcessRa(), "crts", { code: Code.GET, accept: EstContentFormat.PKIX_CERT });
  assert.equal(crt.contentFormat, 287);
  assert.ok(Buffer.from(crt.payload!).equals(Buffer.from(dev!.pki!.ca.certificate)));
});

test("in process refused: a raw-public-key client -> 4.03", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const r = await request(await inProcessRa(), "crts", { code: Code.GET, peer: peerWith({ kind: "rpk", publicKey: new Uint8Array(91) }) });
  assert.equal(codeString(r.code), "4.03");
});

test("in process refused: a PSK identity without an EST account -> 4.03", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const r = await request(await inProcessRa(), "crts", { code: Code.GET, peer: peerWith({ kind: "psk", identity: "unknown" }) });
  assert.equal(codeString(r.code), "4.03");
});

test("in process refused: GET sen / POST crts -> 4.05", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  assert.equal(codeString((await request(await inProcessRa(), "sen", { code: Code.GET })).code), "4.05");
  assert.equal(codeString((await request(await inProcessRa(), "crts", { code: Code.POST })).code), "4.05");
});

test("hostile CSRs: 400 bit flips and truncations of a valid CSR each get a 4.xx, never a certificate, a 5.xx or a throw", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const ra = await inProcessRa();
  const good = new Uint8Array(readFileSync(csr("fuzz", "est-dev")));
  const before = ra.issued.length;
  const codes = new Map<string, number>();
  let seed = 0x2545f491;
  const rnd = (n: number) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  for (let i = 0; i < 400; i++) {
    let bad: Uint8Array;
    if (i % 4 === 3) bad = good.slice(0, rnd(good.length));
    else { bad = good.slice(); bad[rnd(bad.length)] ^= 1 << rnd(8); }
    const r = await request(ra, "sen", { payload: bad, cf: EstContentFormat.PKCS10, peerKey: `fuzz:${i}` });
    const c = codeString(r.code);
    codes.set(c, (codes.get(c) ?? 0) + 1);
    assert.match(c, /^4\.0[03]$/, `mutation ${i}: ${c} ${Buffer.from(r.payload ?? []).toString()}`);
  }
  assert.equal(ra.issued.length, before, "nothing issued");
  assert.ok((codes.get("4.00") ?? 0) > 300, JSON.stringify([...codes]));
});

test("test hooks for the device side: intercept answers instead of the RA (after the DTLS check); issue() makes an expired certificate from the CA", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const ra = await inProcessRa();
  ra.intercept = (op) => (op === "sen" ? { code: Code.SERVICE_UNAVAILABLE, options: [{ number: Opt.MAX_AGE, value: Uint8Array.of(2) }] } : null);
  try {
    assert.equal(codeString((await request(ra, "sen", {})).code), "5.03");
    assert.equal(codeString((await request(ra, "sen", { peer: { address: "127.0.0.1", port: 1, secure: false } })).code), "4.01", "plain CoAP is refused first");
    assert.equal(codeString((await request(ra, "crts", { code: Code.GET })).code), "2.05", "null: the RA answers");
  } finally { ra.intercept = null; }
  const spki = new Uint8Array(new X509Certificate(readFileSync(devClient.cert)).publicKey.export({ format: "der", type: "spki" }));
  const old = await ra.issue("CN=expired", spki, { notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
  const x = new X509Certificate(Buffer.from(old.rawData));
  assert.ok(x.verify(new X509Certificate(Buffer.from(dev!.pki!.ca.certificate)).publicKey));
  assert.ok(new Date(x.validTo).getTime() < Date.now());
  assert.equal(x.subject, "CN=expired");
});

test("estPskAccountsFromConfig: named endpoints' bootstrap and server PSKs map to their endpoint; the wildcard endpoint gives none", () => {
  const m = estPskAccountsFromConfig({
    ...config,
    "*": { bootstrapCredentials: { pskIdentity: "any-bs", pskKey: "00112233" }, security: [{ uri: "coap://h:1", securityMode: "nosec", shortServerId: 1 }], servers: [{ shortServerId: 1, lifetime: 60 }] },
  } as unknown as BootstrapConfig);
  assert.deepEqual([...m.keys()].sort(), [EST_PSK.identity, REG_PSK.identity].sort());
  assert.equal(m.get(EST_PSK.identity)!.endpoint, "est-dev");
  assert.equal(Buffer.from(m.get(EST_PSK.identity)!.key).toString(), EST_PSK.key);
  assert.equal(m.get(REG_PSK.identity)!.endpoint, "reg-dev");
});

test("estOperationOf and csrAttributes: the paths RFC 9148 names; the CsrAttrs DER parsed by openssl asn1parse", (t) => {
  if (!requirePeer(t, "openssl")) return;
  assert.equal(estOperationOf("/.well-known/est/sen"), "sen");
  assert.equal(estOperationOf("/est/skg"), "skg");
  assert.equal(estOperationOf("/.well-known/est/foo"), null);
  assert.equal(estOperationOf("/.well-known/est/sen/x"), null);
  writeFileSync(f("attrs.der"), csrAttributes());
  assert.match(openssl(["asn1parse", "-inform", "DER", "-in", "attrs.der"]), /SET\s*\n.*OBJECT\s*:prime256v1/);
});

// ---- dev-config.json's mode-4 account and the CLI ------------------------------------------------

test("the Bootstrap-Server writes dev-config.json's lwm2m-wasm-est account: Security Mode 4, resource 4 = the LwM2M Server's certificate, 3 and 5 empty; lwm2m-wasm-est-idevid: an IDevID in 3 and 5", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const d = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: DEV_CONFIG_FILE, coap: FAST_PARAMS, secure: { pkiDir: f("pki") }, log: false });
  const device = new UdpTransport();
  let ep: CoapEndpoint | null = null;
  try {
    const a = await device.bind(0, "127.0.0.1");
    const writes = new Map<string, Uint8Array>();
    ep = new CoapEndpoint(device, FAST_PARAMS, (req) => {
      if (req.code === Code.DELETE) return { code: Code.DELETED };
      if (req.code === Code.GET) return { code: Code.CONTENT, contentFormat: 40, payload: new TextEncoder().encode("</>;lwm2m=1.1,</0/0>,</1>,</3/0>") };
      if (req.code === Code.PUT) { writes.set(req.path, req.payload); return { code: Code.CHANGED }; }
      return { code: Code.CHANGED }; // Bootstrap-Finish
    });
    const r = await d.bootstrap.bootstrap("lwm2m-wasm-est", `coap://127.0.0.1:${a.port}`);
    assert.ok(r.ok, JSON.stringify(r));
    const [path, payload] = [...writes].find(([p]) => p.startsWith("/0/"))!;
    const res = new Map(decodeContent(11542, payload, path).map((e) => [e.path.split("/")[3], e.value]));
    assert.equal(res.get("0"), d.secureServerUri);
    assert.equal(res.get("2"), 4, "Security Mode 4: certificate with EST");
    assert.ok(Buffer.from(res.get("4") as Uint8Array).equals(Buffer.from(d.pki!.server.certificate)), "resource 4 = server.crt (DER)");
    assert.equal((res.get("3") as Uint8Array).length, 0);
    assert.equal((res.get("5") as Uint8Array).length, 0);
    assert.equal(res.get("15"), 3, "Certificate Usage 3");
    assert.equal(d.est!.psk.get("lwm2m-wasm-est-bs")?.endpoint, "lwm2m-wasm-est", "the bootstrap PSK is an EST account for CN=lwm2m-wasm-est");
    // lwm2m-wasm-est-idevid: the same with a development-CA IDevID in resources 3 and 5
    writes.clear();
    const r2 = await d.bootstrap.bootstrap("lwm2m-wasm-est-idevid", `coap://127.0.0.1:${a.port}`);
    assert.ok(r2.ok, JSON.stringify(r2));
    const [path2, payload2] = [...writes].find(([p]) => p.startsWith("/0/"))!;
    const res2 = new Map(decodeContent(11542, payload2, path2).map((e) => [e.path.split("/")[3], e.value]));
    assert.equal(res2.get("2"), 4);
    const idevid = new X509Certificate(Buffer.from(res2.get("3") as Uint8Array));
    assert.equal(idevid.subject, "CN=lwm2m-wasm-est-idevid");
    assert.ok(idevid.verify(new X509Certificate(Buffer.from(d.pki!.ca.certificate)).publicKey), "the IDevID chains to the development CA");
    const key = createPrivateKey({ key: Buffer.from(res2.get("5") as Uint8Array), format: "der", type: "pkcs8" });
    assert.ok(createPublicKey(key).export({ format: "der", type: "spki" }).equals(idevid.publicKey.export({ format: "der", type: "spki" })), "resource 5 is the IDevID's key");
  } finally {
    await ep?.close();
    await device.close();
    await d.close();
  }
});

test("`lwm2m-wasm server --client-ca FILE` accepts that CA's client certificates and prints ready Security Mode 4 device commands (whose IDevID enrols)", async (t) => {
  if (!ready(t)) return;
  const lines: string[] = [];
  const cliPki = f("cli-pki");
  const d = await runServerCli(["--bootstrap-port", "0", "--server-port", "0", "--pki", cliPki, "--client-ca", extraCa, "--no-repl"], (l) => lines.push(l));
  try {
    const out = lines.join("\n");
    assert.match(out, /client certificates also accepted from 1 extra CA/);
    const m = new RegExp(`^ {2}npx lwm2m-wasm device --endpoint ${EST_EXAMPLE_DEVICE} --server ${d.secureServerUri} --server-cert (\\S+) --idevid-cert (\\S+) --idevid-key (\\S+) --state \\S+ --reprovision$`, "m").exec(out);
    assert.ok(m, out);
    assert.equal(m![1], join(cliPki, "server.crt"));
    assert.match(out, new RegExp(`^ {2}npx lwm2m-wasm device --endpoint lwm2m-wasm-est-idevid --bootstrap ${d.secureBootstrapUri} --psk-identity lwm2m-wasm-est-idevid-bs --psk-key [0-9a-f]{32} `, "m"));
    assert.doesNotMatch(out, /--endpoint lwm2m-wasm-est --bootstrap/, "the PSK-enrolling account is not printed (the firmware enrols with an IDevID)");
    const c = csr("cli-sen", EST_EXAMPLE_DEVICE);
    const r = await coapClient(["-m", "post", "-t", "286", "-f", c, "-o", f("cli-sen.p7"), "-c", m![2], "-j", m![3], "-C", join(cliPki, "ca.crt"), `${d.secureServerUri}/.well-known/est/sen`]);
    assert.equal(r.code, 0, r.out);
    p7certs(f("cli-sen.p7"), f("cli-sen.crt"));
    assert.match(openssl(["verify", "-CAfile", join(cliPki, "ca.crt"), f("cli-sen.crt")]), /: OK/);
    const registered = new Promise<Registration>((res) => d.server.once("registered", res));
    const reg = await coapClient(["-m", "post", "-t", "40", "-e", "</3/0>", "-c", extraClient.cert, "-j", extraClient.key, "-C", join(cliPki, "ca.crt"), `${d.secureServerUri}/rd?ep=xca-cli&lt=300&lwm2m=1.1&b=U`]);
    const got = await Promise.race([registered, new Promise<undefined>((res) => setTimeout(res, 1500))]);
    assert.equal(got?.endpoint, "xca-cli", reg.out);
  } finally {
    await d.close();
  }
});
