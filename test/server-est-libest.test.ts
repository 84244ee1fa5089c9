// `--client-ca` against the independent EST server: a certificate enrolled at
// Cisco libest's estserver (EST-coaps, its own CA) by coap-client-gnutls with
// libest's factory certificate registers at the development LwM2M Server
// started with `clientCaFiles: [estCA/cacert.crt]` (CLI --client-ca), and is
// refused by one started without it. The same CSR enrolled at our RA and at
// libest gives certificates openssl verifies against each CA, with the CSR's key.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { requireLibest, makeEstCa, startLibest, type EstServer } from "./helpers/libest";
import { writeGnutlsPriorityOverride, freePortPair } from "./helpers/coap-gnutls-peer";
import { startDevServers, type DevServers, type Registration, type BootstrapConfig } from "../server/index";

const dir = mkdtempSync(join(tmpdir(), "server-est-libest-"));
const f = (n: string) => join(dir, n);
let est: EstServer | null = null;
let caDir = "";
let prio = "";
const started: DevServers[] = [];

before(() => { prio = writeGnutlsPriorityOverride(f("prio.cfg")); });
after(async () => {
  for (const d of started) await d.close();
  await est?.stop();
  rmSync(dir, { recursive: true, force: true });
  if (caDir) rmSync(caDir, { recursive: true, force: true });
});

const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, encoding: "latin1", stdio: ["ignore", "pipe", "pipe"] });

function coapClient(args: string[], ms = 20_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn("coap-client-gnutls", ["-B", "8", ...args], { env: { ...process.env, GNUTLS_SYSTEM_PRIORITY_FILE: prio }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), ms);
    p.on("exit", (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

async function registers(dev: DevServers, ep: string, cert: string, key: string): Promise<Registration | undefined> {
  const registered = new Promise<Registration>((res) => {
    const on = (r: Registration) => { if (r.endpoint === ep) { dev.server.off("registered", on); res(r); } };
    dev.server.on("registered", on);
  });
  await coapClient(["-m", "post", "-t", "40", "-e", "</3/0>", "-c", cert, "-j", key, "-C", dev.pki!.ca.certFile, `${dev.secureServerUri}/rd?ep=${ep}&lt=300&lwm2m=1.1&b=U`]);
  return Promise.race([registered, new Promise<undefined>((res) => setTimeout(res, 1500))]);
}

const config = { "*": { security: [{ uri: "coap://{serverHost}:{serverPort}", securityMode: "nosec", shortServerId: 101 }], servers: [{ shortServerId: 101, lifetime: 300 }] } } as unknown as BootstrapConfig;

test("a certificate enrolled at libest registers at the LwM2M Server with --client-ca estCA/cacert.crt, and not without it; our RA and libest issue for the same CSR", async (t) => {
  if (!requirePeer(t, "openssl") || !requirePeer(t, "coap-client-gnutls") || !requireLibest(t)) return;
  caDir = makeEstCa();
  est = await startLibest(caDir, await freePortPair());
  // enrol at libest with its factory certificate
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "dev.key", "-subj", "/CN=libest-enrolled", "-outform", "DER", "-out", "dev.csr.der"]);
  const r = await coapClient(["-m", "post", "-t", "286", "-f", f("dev.csr.der"), "-b", "64", "-o", f("libest.p7"),
    "-c", join(caDir, "client/bootstrap.crt"), "-j", join(caDir, "client/bootstrap.key"), "-C", join(caDir, "estCA/cacert.crt"),
    `coaps://127.0.0.1:${est.port}/.well-known/est/sen`]);
  assert.equal(r.code, 0, r.out);
  openssl(["pkcs7", "-inform", "DER", "-in", "libest.p7", "-print_certs", "-out", "libest.crt"]);
  assert.match(openssl(["verify", "-CAfile", join(caDir, "estCA/cacert.crt"), "libest.crt"]), /: OK/);

  const trusting = await startDevServers({ bootstrapPort: 0, serverPort: 0, config, secure: { pkiDir: f("pki"), clientCaFiles: [join(caDir, "estCA/cacert.crt")] }, log: false });
  started.push(trusting);
  const reg = await registers(trusting, "libest-enrolled", f("libest.crt"), f("dev.key"));
  assert.ok(reg, "registered with the libest-issued certificate");
  assert.match((reg!.identity as { subject: string }).subject, /CN=libest-enrolled/);

  const plain = await startDevServers({ bootstrapPort: 0, serverPort: 0, config, secure: { pkiDir: f("pki") }, log: false });
  started.push(plain);
  assert.equal(await registers(plain, "libest-enrolled", f("libest.crt"), f("dev.key")), undefined, "refused without --client-ca");

  // the same CSR at our RA, authenticated by libest's factory certificate (accepted through --client-ca)
  const ours = await coapClient(["-m", "post", "-t", "286", "-f", f("dev.csr.der"), "-b", "64", "-o", f("ours.p7"),
    "-c", join(caDir, "client/bootstrap.crt"), "-j", join(caDir, "client/bootstrap.key"), "-C", trusting.pki!.ca.certFile,
    `${trusting.secureServerUri}/.well-known/est/sen`]);
  assert.equal(ours.code, 0, ours.out);
  openssl(["pkcs7", "-inform", "DER", "-in", "ours.p7", "-print_certs", "-out", "ours.crt"]);
  assert.match(openssl(["verify", "-CAfile", trusting.pki!.ca.certFile, "ours.crt"]), /: OK/);
  const pub = (file: string) => openssl(["x509", "-in", file, "-pubkey", "-noout"]);
  assert.equal(pub(f("ours.crt")), pub(f("libest.crt")), "both certify the CSR's key");
  assert.equal(pub(f("ours.crt")), openssl(["req", "-inform", "DER", "-in", "dev.csr.der", "-pubkey", "-noout"]));
});
