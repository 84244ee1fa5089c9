// The LwM2M client over DTLS 1.2 in the real firmware (build/firmware.wasm in
// Device, real UDP on loopback, real clock) against libcoap's resource
// directory coap-rd-gnutls 4.3.1 (GnuTLS: an independent DTLS + CoAP stack):
// Register over DTLS-PSK, over ECDHE-PSK with a low-entropy key (DTLS-3),
// and over X.509; a wrong PSK / untrusted certificate fails with the precise
// reason in the device log, and nothing leaves the device outside DTLS
// records (every datagram is checked).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { assertAllDtls } from "./helpers/dtls-records";
import { freeUdpPort } from "./helpers/libcoap-peer";
import { Device, type ClientEvent, type FactoryConfig } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import { Pki, type Issued } from "./helpers/certs";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { needs } from "./helpers/profile";
import { logText, waitEvent } from "./helpers/device-events";

const RD = "coap-rd-gnutls";
const PSK_ID = "lwm2m-wasm-dtls";
const PSK_KEY = "secretPSK-0123456789abcdef";

/** Every datagram the device sends, through the real UdpNet. */
class SpyNet {
  sent: Uint8Array[] = [];
  inner: UdpNet;
  constructor(deliver: (peer: number, d: Uint8Array) => void) { this.inner = new UdpNet(deliver); }
  open(host: string, port: number) { return this.inner.open(host, port); }
  send(peer: number, data: Uint8Array) { this.sent.push(new Uint8Array(data)); return this.inner.send(peer, data); }
  close(peer: number) { this.inner.close(peer); }
  closeAll() { this.inner.closeAll(); }
}

function newDevice(): { dev: Device; net: SpyNet } {
  let dev!: Device;
  const net = new SpyNet((peer, d) => dev.deliver(peer, d));
  dev = new Device({ net });
  return { dev, net };
}

interface Rd { proc: ChildProcess; port: number; out: () => string; stop(): Promise<void> }

async function startRd(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Rd> {
  const port = await freeUdpPort();
  const proc = spawn(RD, ["-A", "127.0.0.1", "-p", String(port), "-v", "6", ...args], { env: { ...process.env, ...env } });
  let out = "";
  proc.stdout?.on("data", (d) => { out += d; });
  proc.stderr?.on("data", (d) => { out += d; });
  const exited = new Promise<void>((res) => proc.on("exit", () => res()));
  await new Promise((r) => setTimeout(r, 250)); // the RD binds its sockets
  return { proc, port, out: () => out, async stop() { if (proc.exitCode === null) proc.kill("SIGTERM"); await exited; } };
}

/** coap-client-notls to completion; stdout read until the pipe closes. */
function coapGet(uri: string): Promise<string> {
  return new Promise((res) => {
    const p = spawn("coap-client-notls", ["-m", "get", "-B", "5", uri]);
    let out = "";
    p.stdout.on("data", (d) => { out += d; });
    p.on("close", () => res(out));
  });
}



function pskConfig(port: number, key = PSK_KEY, extra: Partial<FactoryConfig["servers"] extends (infer S)[] | undefined ? S : never> = {}): FactoryConfig {
  return {
    endpoint: "lwm2m-wasm-dtls",
    servers: [{
      uri: `coaps://127.0.0.1:${port + 1}`, shortServerId: 1, lifetime: 300, securityMode: "psk",
      pskIdentity: PSK_ID, pskKey: Buffer.from(key).toString("hex"), communicationRetryCount: 1,
      communicationSequenceRetryCount: 1, ...extra,
    }],
  };
}

test("coap-rd-gnutls (libcoap) accepts our Register over DTLS-PSK (CCM_8) and lists the registration", async (t) => {
  if (!requirePeer(t, RD)) return;
  const rd = await startRd(["-k", PSK_KEY, "-h", "hint"]);
  const { dev, net } = newDevice();
  try {
    assert.equal(dev.start(), 7);
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
    dev.provision(pskConfig(rd.port));
    const ev = await reg;
    assert.equal(ev.name, "registered", logText(dev));
    assert.match(ev.text, /^\/rd\/[0-9a-zA-Z-]+$/, "Location-Path from the RD");
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc0a8/);
    assertAllDtls(net.sent);
    // the RD (its plain CoAP port) lists the registration made over DTLS, with our link-format payload
    const wk = await coapGet(`coap://127.0.0.1:${rd.port}/.well-known/core`);
    assert.ok(wk.includes(`<${ev.text}>`), `the RD lists our registration: ${wk}`);
    const links = await coapGet(`coap://127.0.0.1:${rd.port}${ev.text}`);
    assert.equal(links.trim(), "</1>;ver=1.1,</1/0>,</3/0>,</16>");
  } finally {
    dev.stop();
    await rd.stop();
  }
});

test("Security resource 16 = [0xC037]: the Register goes over ECDHE-PSK-AES128-CBC-SHA256", async (t) => {
  if (!requirePeer(t, RD)) return;
  const rd = await startRd(["-k", PSK_KEY]);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
    dev.provision(pskConfig(rd.port, PSK_KEY, { ciphersuites: [0xc037] }));
    const ev = await reg;
    assert.equal(ev.name, "registered", logText(dev));
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc037/);
    assertAllDtls(net.sent);
  } finally {
    dev.stop();
    await rd.stop();
  }
});

test("DTLS-3: the low-entropy factory Bootstrap-Server PSK is used only with ECDHE-PSK", async (t) => {
  if (!requirePeer(t, RD)) return;
  // The RD is no Bootstrap-Server (it answers the Bootstrap-Request with an error), but the
  // handshake in front of the request is what this test is about.
  const rd = await startRd(["-k", "1234"]);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const bs = waitEvent(dev, ["bootstrapRequested"], 10000);
    dev.provision({
      endpoint: "lwm2m-wasm-dtls",
      bootstrap: { uri: `coaps://127.0.0.1:${rd.port + 1}`, securityMode: "psk", pskIdentity: PSK_ID, pskKey: Buffer.from("1234").toString("hex"), lowEntropy: true },
    });
    await bs;
    assert.match(logText(dev), /DTLS: established ssid=0, suite 0xc037/);
    assertAllDtls(net.sent);
    // the ClientHello offered nothing else: its cipher_suites are exactly { C037, 00FF (SCSV) }
    const hello = net.sent.find((d) => d[0] === 22 && d[13] === 1)!;
    const b = Buffer.from(hello).subarray(13 + 12);
    let o = 2 + 32; o += 1 + b[o]; o += 1 + b[o];
    assert.equal(b.subarray(o + 2, o + 2 + b.readUInt16BE(o)).toString("hex"), "c03700ff");
  } finally {
    dev.stop();
    await rd.stop();
  }
});

test("a wrong PSK: registration fails with the DTLS reason in the log, nothing in clear", async (t) => {
  if (!requirePeer(t, RD)) return;
  const rd = await startRd(["-k", PSK_KEY]);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 30000);
    dev.provision(pskConfig(rd.port, "not-the-key-0123456789"));
    const ev = await reg;
    assert.equal(ev.name, "registrationFailed", logText(dev));
    assert.match(logText(dev), /DTLS: handshake failed ssid=1: /);
    assert.match(logText(dev), /did not accept our Finished, wrong PSK or key/);
    assert.doesNotMatch(logText(dev), /DTLS: established/);
    assertAllDtls(net.sent);
  } finally {
    dev.stop();
    await rd.stop();
  }
});

// ---- X.509 (DTLS-5/6) and RPK (DTLS-4) ----

const sec1 = (keyFile: string) => new Uint8Array(createPrivateKey(readFileSync(keyFile)).export({ format: "der", type: "sec1" }));
const spki = (keyFile: string) => new Uint8Array(createPublicKey(readFileSync(keyFile)).export({ format: "der", type: "spki" }));

let pki: Pki | null = null;
let root: Issued, srv: Issued, dev509: Issued, other: Issued, srvPem: string;
function certs() {
  if (pki) return;
  pki = new Pki();
  root = pki.root("root");
  srv = pki.issue("srv", root, { san: "IP:127.0.0.1" });
  dev509 = pki.issue("device", root, { subject: "/CN=lwm2m-wasm-dtls" });
  other = pki.issue("other", pki.root("other-root"), { san: "IP:127.0.0.1" });
  srvPem = join(pki.dir, "srv-combined.pem");
  writeFileSync(srvPem, srv.pem + readFileSync(srv.keyFile, "utf8"));
}
test.after(() => pki?.cleanup());

function x509Config(port: number, extra: Record<string, unknown>): FactoryConfig {
  return {
    endpoint: "lwm2m-wasm-dtls",
    servers: [{
      uri: `coaps://127.0.0.1:${port + 1}`, shortServerId: 1, lifetime: 300, securityMode: "x509",
      publicKey: dev509.der, secretKey: sec1(dev509.keyFile), communicationRetryCount: 1,
      communicationSequenceRetryCount: 1, ...extra,
    }],
  };
}

for (const [name, extra] of [
  ["usage 3 (domain-issued certificate, direct trust)", () => ({ serverPublicKey: srv.der, certificateUsage: 3 })],
  ["usage 2 (trust anchor assertion: our CA in resource 4, host 127.0.0.1 from the URI)", () => ({ serverPublicKey: root.der, certificateUsage: 2 })],
] as [string, () => Record<string, unknown>][]) {
  test(`X.509 mutual authentication with coap-rd-gnutls, ${name}: Register accepted`, needs("x509"), async (t) => {
    if (!requirePeer(t, RD)) return;
    certs();
    // -C: the RD validates our certificate against the same CA
    const rd = await startRd(["-c", srvPem, "-C", root.certFile]);
    const { dev, net } = newDevice();
    try {
      dev.start();
      const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
      dev.provision(x509Config(rd.port, extra()));
      const ev = await reg;
      assert.equal(ev.name, "registered", logText(dev) + rd.out());
      assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc0ae/);
      assertAllDtls(net.sent);
    } finally {
      dev.stop();
      await rd.stop();
    }
  });
}

test("X.509: a server certificate that is not the one in resource 4 is refused (bad_certificate), nothing in clear", needs("x509"), async (t) => {
  if (!requirePeer(t, RD)) return;
  certs();
  const rd = await startRd(["-c", srvPem, "-C", root.certFile]);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
    dev.provision(x509Config(rd.port, { serverPublicKey: other.der, certificateUsage: 3 }));
    const ev = await reg;
    assert.equal(ev.name, "registrationFailed");
    assert.match(logText(dev), /DTLS: handshake failed ssid=1: server certificate not trusted \(reason -37, x509 -\d+\)/);
    assertAllDtls(net.sent);
    // our fatal alert is the last thing we sent: bad_certificate (42), in epoch 0
    const last = net.sent[net.sent.length - 1];
    assert.deepEqual([...last.subarray(0, 1)], [21]);
    assert.deepEqual([...last.subarray(13, 15)], [2, 42]);
  } finally {
    dev.stop();
    await rd.stop();
  }
});

test("X.509: usage 2 with a foreign CA in resource 4 is refused", needs("x509"), async (t) => {
  if (!requirePeer(t, RD)) return;
  certs();
  const rd = await startRd(["-c", srvPem, "-C", root.certFile]);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
    const foreign = pki!.root("foreign");
    dev.provision(x509Config(rd.port, { serverPublicKey: foreign.der, certificateUsage: 2 }));
    assert.equal((await reg).name, "registrationFailed");
    assert.match(logText(dev), /DTLS: handshake failed ssid=1: server certificate not trusted/);
    assertAllDtls(net.sent);
  } finally {
    dev.stop();
    await rd.stop();
  }
});

// coap-server-gnutls has no resource directory: it answers our Register (POST /rd) with an
// error code. That response arriving proves the RPK channel carries CoAP both ways.
async function startRpkServer(keyFile: string) {
  const port = await freeUdpPort();
  const file = join(pki!.dir, `rpk-${port}.pem`);
  writeFileSync(file, createPublicKey(readFileSync(keyFile)).export({ format: "pem", type: "spki" }) + readFileSync(keyFile, "utf8"));
  const proc = spawn("coap-server-gnutls", ["-A", "127.0.0.1", "-p", String(port), "-M", file], { stdio: "ignore" });
  const exited = new Promise<void>((res) => proc.on("exit", () => res()));
  await new Promise((r) => setTimeout(r, 250));
  return { port, async stop() { if (proc.exitCode === null) proc.kill("SIGTERM"); await exited; } };
}

function rpkConfig(port: number, serverKey: Uint8Array): FactoryConfig {
  return {
    endpoint: "lwm2m-wasm-dtls",
    servers: [{
      uri: `coaps://127.0.0.1:${port + 1}`, shortServerId: 1, lifetime: 300, securityMode: "rpk",
      publicKey: spki(dev509.keyFile), secretKey: sec1(dev509.keyFile), serverPublicKey: serverKey,
      communicationRetryCount: 1, communicationSequenceRetryCount: 1,
    }],
  };
}

test("RPK (RFC 7250) with coap-server-gnutls: handshake, then the server's CoAP answer to our Register arrives over it", needs("rpk"), async (t) => {
  if (!requirePeer(t, "coap-server-gnutls")) return;
  certs();
  const s = await startRpkServer(srv.keyFile);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
    dev.provision(rpkConfig(s.port, spki(srv.keyFile)));
    const ev = await reg;
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc0ae/);
    assert.equal(ev.name, "registrationFailed");
    assert.ok(ev.arg >= 0x80, `a CoAP error code from the server, not a transport failure: ${ev.arg}`);
    assertAllDtls(net.sent);
  } finally {
    dev.stop();
    await s.stop();
  }
});

test("RPK: a server key other than resource 4 is refused (DTLS-4), nothing in clear", needs("rpk"), async (t) => {
  if (!requirePeer(t, "coap-server-gnutls")) return;
  certs();
  const s = await startRpkServer(srv.keyFile);
  const { dev, net } = newDevice();
  try {
    dev.start();
    const reg = waitEvent(dev, ["registered", "registrationFailed"], 10000);
    dev.provision(rpkConfig(s.port, spki(other.keyFile)));
    const ev = await reg;
    assert.equal(ev.name, "registrationFailed");
    assert.equal(ev.arg, -2, "transport failure");
    assert.match(logText(dev), /DTLS: handshake failed ssid=1: server raw public key differs from resource 4 \(DTLS-4\) \(reason -38/);
    assert.doesNotMatch(logText(dev), /DTLS: established/);
    assertAllDtls(net.sent);
  } finally {
    dev.stop();
    await s.stop();
  }
});

test("SEC-3: while a PSK handshake waits for the server, the PSK is not in linear memory; only DTLS goes out", async () => {
  const dgram = await import("node:dgram");
  const sock = dgram.createSocket("udp4");
  const got: Buffer[] = [];
  sock.on("message", (m) => got.push(m));
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", () => res()));
  const port = sock.address().port;
  const { dev, net } = newDevice();
  const key = Buffer.from("a-psk-that-must-not-linger-0123");
  try {
    dev.start();
    dev.provision({
      endpoint: "lwm2m-wasm-dtls",
      servers: [{ uri: `coaps://127.0.0.1:${port}`, shortServerId: 1, securityMode: "psk", pskIdentity: PSK_ID, pskKey: key.toString("hex") }],
    });
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 1, "the ClientHello reached the server");
    assert.equal(got[0][0], 22, "a DTLS handshake record");
    assert.equal(dev.state(1), 2, "Connecting: waiting for the handshake");
    const mem = Buffer.from(new Uint8Array(dev.memory.buffer));
    assert.equal(mem.indexOf(key), -1, "the PSK is not in linear memory");
    mem.set(key, 4096);
    assert.notEqual(mem.indexOf(key), -1, "the scan can find it");
    mem.fill(0, 4096, 4096 + key.length);
    assertAllDtls(net.sent);
  } finally {
    dev.stop();
    sock.close();
  }
});

test("Security Mode 4 (Certificate with EST) is refused clearly, nothing is sent", () => {
  const { dev, net } = newDevice();
  try {
    dev.start();
    dev.provision({
      endpoint: "lwm2m-wasm-dtls",
      servers: [{ uri: "coaps://127.0.0.1:5684", shortServerId: 1, securityMode: "est", publicKey: new Uint8Array(0), secretKey: new Uint8Array(0), communicationRetryCount: 1, communicationSequenceRetryCount: 1 }],
    });
    assert.ok(dev.logs.some((l) => /Security Mode 4 \(Certificate with EST\) is not available/.test(l.text)), logText(dev));
    assert.equal(net.sent.length, 0);
  } catch (e) {
    // a configuration the firmware refuses at provisioning is fine too: then nothing ran at all
    if (!(e instanceof Error && /provisioning refused/.test(e.message))) throw e;
    assert.equal(net.sent.length, 0);
  } finally {
    dev.stop();
  }
});
