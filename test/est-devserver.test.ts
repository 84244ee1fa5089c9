// Security Mode 4 end to end with the development servers (server/: the
// EST-coaps RA of server/est.ts in front of the development CA, the LwM2M
// Server, the Bootstrap-Server) and the firmware in the Node host:
//   1. enrol at Cisco libest with the IDevID, then register with the enrolled
//      certificate at the development LwM2M Server started with libest's CA
//      as an extra client CA (CLI --client-ca); Read; de-register;
//   2. the development servers alone: bootstrap over DTLS-PSK to the mode-4
//      account lwm2m-wasm-est-idevid (IDevID from the development CA in
//      resources 3 and 5), EST enrolment at the LwM2M Server's own RA, DTLS
//      with the issued certificate, Register, Read, renewal with /sren at the
//      renewal point and registration again with the renewed certificate,
//      de-register.
// @needs est
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import { requireLibest, makeEstCa, startLibest } from "./helpers/libest";
import { requirePeer } from "./helpers/peers";
import { freePortPair } from "./helpers/coap-gnutls-peer";
import { startDevServers, pskAccountsOf, DEV_CONFIG_FILE, type DevServers, type EstIssued } from "../server/index";
import { Device, type ClientEvent } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import { waitEvent } from "./helpers/device-events";

const stops: Array<() => unknown> = [];
after(async () => { for (const s of stops.reverse()) await s(); });

class ShiftClock {
  offset = 0;
  monoOffset = 0;
  monotonicMs() { return Math.floor(performance.now()) + this.monoOffset; }
  wallSeconds() { return Math.floor(Date.now() / 1000) + this.offset; }
}
function newDevice(clock = new ShiftClock()): Device {
  let d!: Device;
  const net = new UdpNet((peer, data) => d.deliver(peer, data));
  d = new Device({ net, clock });
  stops.push(() => d.stop());
  return d;
}
const der = (f: string) => new Uint8Array(new X509Certificate(readFileSync(f)).raw);
const scalar = (f: string) => new Uint8Array(Buffer.from((createPrivateKey(readFileSync(f)).export({ format: "jwk" }) as { d: string }).d, "base64url"));
const subjectOf = (c: Uint8Array) => new X509Certificate(Buffer.from(c)).subject;

async function devServers(clientCaFiles: string[] = []): Promise<DevServers> {
  const pkiDir = mkdtempSync(join(tmpdir(), "est-devpki-"));
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: DEV_CONFIG_FILE, secure: { pkiDir, clientCaFiles }, log: false });
  stops.push(async () => { await dev.close(); rmSync(pkiDir, { recursive: true, force: true }); });
  assert.ok(dev.pki && dev.secureServerUri && dev.est, "development servers with a PKI and the EST RA");
  return dev;
}

test("full device flow: enrol at libest with the IDevID, then register with the enrolled certificate at the development LwM2M Server trusting libest's CA; Read; de-register", async (t) => {
  if (!requireLibest(t) || !requirePeer(t, "openssl")) return;
  const ca = makeEstCa();
  const est = await startLibest(ca, await freePortPair());
  stops.push(() => est.stop());
  const dev = await devServers([join(ca, "estCA/cacert.crt")]);
  const ep = "urn:dev:libest-to-devserver";
  const d = newDevice();
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  const registered = waitEvent(d, "registered");
  d.provision({
    endpoint: ep,
    servers: [{ uri: dev.secureServerUri!, securityMode: "est", shortServerId: 1, lifetime: 300,
      serverPublicKey: new Uint8Array(dev.pki!.server.certificate), // resource 4: the LwM2M Server's certificate (usage 3)
      publicKey: der(join(ca, "client/bootstrap.crt")), secretKey: scalar(join(ca, "client/bootstrap.key")) }],
    est: { uri: `coaps://127.0.0.1:${est.port}/.well-known/est`, trustAnchor: der(join(ca, "estCA/cacert.crt")) },
  });
  await enrolled;
  await registered;
  const reg = dev.server.getRegistration(ep);
  assert.equal(reg?.identity?.kind, "x509", "registered over DTLS with a certificate");
  const cert = (reg!.identity as { certificate: Uint8Array }).certificate;
  assert.match(subjectOf(cert), new RegExp(`CN=${ep}`));
  assert.match(new X509Certificate(Buffer.from(cert)).issuer, /EST Peer Test Root CA/, "issued by libest's CA");
  const pem = join(ca, "issued.pem");
  writeFileSync(pem, new X509Certificate(Buffer.from(cert)).toString());
  const v = spawnSync("openssl", ["verify", "-CAfile", join(ca, "estCA/cacert.crt"), pem], { encoding: "utf8" });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const spki = new X509Certificate(Buffer.from(cert)).publicKey.export({ format: "der", type: "spki" });
  assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 65)), d.se.publicKey(2), "the registered certificate carries the key of SE slot 2");
  const read = await dev.server.read(ep, "/3/0");
  assert.equal(read.code, "2.05");
  const gone = waitEvent(d, "deregistered");
  await d.shutdown(5000);
  await gone;
});

test("development servers alone: bootstrap over DTLS-PSK to a mode-4 account, EST enrolment at the LwM2M Server's RA, Register, Read, renewal with /sren and registration with the renewed certificate, de-register", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const dev = await devServers();
  const ep = "lwm2m-wasm-est-idevid";
  const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
  const issued: EstIssued[] = [];
  dev.est!.on("issued", (e: EstIssued) => issued.push(e));
  const clock = new ShiftClock();
  const d = newDevice(clock);
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  const registered = waitEvent(d, "registered");
  d.provision({ endpoint: ep, bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key } });
  assert.equal((await enrolled).arg, 0, "sen");
  await registered;
  assert.deepEqual(issued.map((e) => e.operation), ["sen"]);
  const logs = d.logs.map((l) => l.text).join("\n");
  assert.match(logs, /bootstrap/i);
  assert.match(logs, /EST: enrolment for ssid=105 at coaps:\/\/127\.0\.0\.1:\d+\/\.well-known\/est/, "the LwM2M Server itself is the EST server");
  const reg = dev.server.getRegistration(ep);
  assert.equal(reg?.identity?.kind, "x509");
  const first = (reg!.identity as { certificate: Uint8Array }).certificate;
  assert.deepEqual(Buffer.from(first), Buffer.from(issued[0].certificate), "registered with the certificate the RA issued");
  assert.equal((await dev.server.read(ep, "/3/0")).code, "2.05");

  // renewal point (75 % of the RA's 365 days): /sren over DTLS with the enrolled certificate, new key in slot 3
  clock.offset = 300 * 86400;
  const renewed = waitEvent(d, "enrolled", 30000, (e) => e.arg === 1);
  d.poll();
  await renewed;
  assert.deepEqual(issued.map((e) => e.operation), ["sen", "sren"]);
  await new Promise<void>((res, rej) => {
    const t0 = Date.now();
    const check = () => {
      const r = dev.server.getRegistration(ep);
      const c = r?.identity?.kind === "x509" ? (r.identity as { certificate: Uint8Array }).certificate : null;
      if (c && Buffer.from(c).equals(Buffer.from(issued[1].certificate))) return res();
      if (Date.now() - t0 > 20000) return rej(new Error(`not seen with the renewed certificate; log:\n${d.logs.map((l) => l.text).join("\n")}`));
      setTimeout(check, 100);
    };
    check();
  });
  const spki = new X509Certificate(Buffer.from(issued[1].certificate)).publicKey.export({ format: "der", type: "spki" });
  assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 65)), d.se.publicKey(3));
  assert.equal(typeof d.se.publicKey(2), "number", "the old key slot is destroyed");
  assert.equal((await dev.server.read(ep, "/3/0")).code, "2.05");
  const gone = waitEvent(d, "deregistered");
  await d.shutdown(5000);
  await gone;
});

test("development servers, discovery on (--est-discover): GET /.well-known/core?rt=ace.est* at the RA, then /crts, /att and /sen at the short /est paths it lists; the renewal discovers again and uses /est/sren", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const dev = await devServers();
  const ep = "lwm2m-wasm-est-idevid";
  const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
  const paths: string[] = [];
  dev.est!.intercept = (_op, req) => { paths.push(req.path); return null; };
  const clock = new ShiftClock();
  const d = newDevice(clock);
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  const registered = waitEvent(d, "registered");
  d.provision({ endpoint: ep, bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key }, est: { discover: true } });
  assert.equal((await enrolled).arg, 0, "sen");
  await registered;
  assert.match(d.logs.map((l) => l.text).join("\n"), /EST: discovery listed 5 EST resources/);
  assert.deepEqual([...new Set(paths)], ["/est/crts", "/est/att", "/est/sen"], "only the discovered short paths");
  paths.length = 0;
  clock.offset = 300 * 86400;
  const renewed = waitEvent(d, "enrolled", 30000, (e) => e.arg === 1);
  d.poll();
  await renewed;
  assert.deepEqual([...new Set(paths)], ["/est/crts", "/est/att", "/est/sren"]);
  assert.equal(d.logs.filter((l) => /EST: discovery listed 5/.test(l.text)).length, 2, "once per EST session");
});

// A low-entropy Bootstrap-Server account is purged once bootstrap is done (BS-4): with one, the
// mode-4 account is factory-provisioned beside it (no bootstrap run) and enrols over ECDHE-PSK.
for (const lowEntropy of [false, true]) test(`EST with the Bootstrap-Server account's PSK (issue 8 §5), ${lowEntropy ? "a low-entropy factory secret, mode-4 account provisioned at the factory: ECDHE-PSK only (BS-4, DTLS-3)" : "bootstrap over DTLS-PSK to the mode-4 account lwm2m-wasm-est (no IDevID)"}: enrolment at the Bootstrap-Server's RA authenticated by the Bootstrap-Server account's PSK, Register with the issued certificate, Read`, async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const dev = await devServers();
  const ep = "lwm2m-wasm-est";
  const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
  const issued: EstIssued[] = [];
  dev.est!.on("issued", (e: EstIssued) => issued.push(e));
  const d = newDevice();
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  const registered = waitEvent(d, "registered");
  d.provision({
    endpoint: ep,
    bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key, lowEntropy },
    servers: lowEntropy ? [{ uri: dev.secureServerUri!, securityMode: "est", shortServerId: 104, lifetime: 300, serverPublicKey: new Uint8Array(dev.pki!.server.certificate) }] : undefined,
    est: { uri: `${dev.secureBootstrapUri!}/.well-known/est` }, // the EST server is the Bootstrap-Server
  });
  assert.equal((await enrolled).arg, 0, "sen");
  await registered;
  assert.equal(issued.length, 1);
  assert.equal(issued[0].operation, "sen");
  assert.deepEqual(issued[0].identity, { kind: "psk", identity: bs.identity }, "the RA saw the Bootstrap-Server account's PSK identity");
  const bsPort = new URL(dev.secureBootstrapUri!.replace("coaps", "http")).port;
  const logs = d.logs.map((l) => l.text).join("\n");
  assert.match(logs, new RegExp(`EST: enrolment for ssid=104 at coaps://127\\.0\\.0\\.1:${bsPort}/\\.well-known/est`));
  const suite = /EST: DTLS established with the EST server ssid=104, suite 0x([0-9a-f]{4})/.exec(logs)?.[1];
  console.log(`EST handshake suite 0x${suite} (lowEntropy ${lowEntropy})`);
  if (lowEntropy) assert.equal(suite, "c037", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 only (RFC 5489)");
  else assert.notEqual(suite, "c037", "a high-entropy PSK may use a plain PSK suite (the server's first choice)");
  const reg = dev.server.getRegistration(ep);
  assert.equal(reg?.identity?.kind, "x509", "registered over DTLS with the issued certificate");
  assert.deepEqual(Buffer.from((reg!.identity as { certificate: Uint8Array }).certificate), Buffer.from(issued[0].certificate));
  assert.match(subjectOf(issued[0].certificate), new RegExp(`CN=${ep}`));
  const spki = new X509Certificate(Buffer.from(issued[0].certificate)).publicKey.export({ format: "der", type: "spki" });
  assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 65)), d.se.publicKey(2), "the certificate carries the key of SE slot 2");
  assert.equal((await dev.server.read(ep, "/3/0")).code, "2.05");
});

test("EST with the Bootstrap-Server account's PSK: a wrong PSK fails the handshake with the RA, the enrolment fails with an event naming it, nothing is installed, and the device keeps serving its other account", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const dev = await devServers();
  const ep = "lwm2m-wasm-est";
  const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
  const wrong = Buffer.from(bs.key, "hex");
  wrong[0] ^= 1;
  const issued: EstIssued[] = [];
  dev.est!.on("issued", (e: EstIssued) => issued.push(e));
  const d = newDevice();
  d.start();
  const failed = waitEvent(d, "enrolFailed");
  const registered = waitEvent(d, "registered", 30000, (e) => e.ssid === 101);
  d.provision({
    endpoint: ep,
    bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: wrong.toString("hex") },
    servers: [
      { uri: dev.secureServerUri!, securityMode: "est", shortServerId: 104, lifetime: 300, serverPublicKey: new Uint8Array(dev.pki!.server.certificate) },
      { uri: dev.serverUri!, securityMode: "nosec", shortServerId: 101, lifetime: 300 },
    ],
    est: { uri: `${dev.secureBootstrapUri!}/.well-known/est` },
  });
  const f = await failed;
  assert.equal(f.ssid, 104);
  assert.match(f.text, /enrolment failed ssid=104/);
  const logs = () => d.logs.map((l) => l.text).join("\n");
  assert.match(logs(), /EST server ssid=104: .*wrong PSK or key/, "the log names the likely cause");
  assert.equal(issued.length, 0, "nothing issued");
  assert.equal(typeof d.se.publicKey(2), "number", "no enrolled key");
  await registered;
  assert.equal((await dev.server.read(ep, "/3/0")).code, "2.05", "the other account is served");
});

test("EST with a PSK only at the Bootstrap-Server: a mode-4 account without IDevID whose EST server is the LwM2M Server (no EST URI) does not send the Bootstrap-Server's PSK there; no enrolment, the reason in the log", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const dev = await devServers();
  const ep = "lwm2m-wasm-est";
  const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
  const issued: EstIssued[] = [];
  dev.est!.on("issued", (e: EstIssued) => issued.push(e));
  const d = newDevice();
  d.start();
  d.provision({
    endpoint: ep,
    bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key },
    servers: [{ uri: dev.secureServerUri!, securityMode: "est", shortServerId: 104, lifetime: 300, serverPublicKey: new Uint8Array(dev.pki!.server.certificate) }],
  });
  await new Promise<void>((res, rej) => {
    const t0 = Date.now();
    const check = () => {
      if (d.logs.some((l) => /EST: ssid=104: no client credential for the EST server/.test(l.text))) return res();
      if (Date.now() - t0 > 15000) return rej(new Error(`no refusal; log:\n${d.logs.map((l) => l.text).join("\n")}`));
      setTimeout(check, 50);
    };
    check();
  });
  assert.equal(issued.length, 0, "nothing issued");
  assert.ok(!d.logs.some((l) => /EST: DTLS established/.test(l.text)), "no handshake with the LwM2M Server's RA");
});

for (const [code, text] of [[0x84, "4.04"], [0x83, "4.03"]] as const) test(`mode-4 flow, /att answered ${text}: ${code === 0x84 ? "not offered (RFC 9148 §5: optional), the CSR goes without attributes and the device enrols" : "any other error ends the enrolment with the code"}`, async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const dev = await devServers();
  const ep = "lwm2m-wasm-est-idevid";
  const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
  const asked: string[] = [];
  dev.est!.intercept = (op) => { asked.push(op); return op === "att" ? { code } : null; };
  const d = newDevice();
  d.start();
  const done = waitEvent(d, code === 0x84 ? "enrolled" : "enrolFailed");
  d.provision({ endpoint: ep, bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key } });
  const e = await done;
  assert.deepEqual(asked.slice(0, 3), code === 0x84 ? ["crts", "att", "sen"] : ["crts", "att"]);
  if (code === 0x84) assert.equal(e.arg, 0, "sen");
  else { assert.equal(e.arg, code); assert.equal(asked.length, 2, "no CSR after the refusal"); }
});
