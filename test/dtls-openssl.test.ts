// The DTLS client of build/test/dtls.wasm against `openssl s_server -dtls1_2`
// over real UDP on 127.0.0.1: the five suites (X.509 with client-certificate
// verification for the ECDSA ones), a low-entropy PSK with ECDHE-PSK, MFL 512,
// resumption by session ID (-no_ticket) and by RFC 5077 ticket, the cookie
// exchange (-listen), application data both ways and close_notify. OpenSSL's
// own -keylogfile is the oracle for our master secret (key log line equal).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { startOpensslServer, type PeerProcess } from "./helpers/openssl-peer";
import {
  DtlsClient, Suite, SuiteCode, OpensslCipher, MaxFragmentLength, CertificateType, DtlsEvent, ConnState,
  DtlsError, privateScalar, type ClientOptions,
} from "./helpers/dtls-harness";
import { Pki } from "./helpers/certs";
import { needs } from "./helpers/profile";

const dir = mkdtempSync(join(tmpdir(), "dtls-openssl-"));
const PSK = Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex");
const IDENTITY = "Client_identity";
const pskArgs = (key = PSK) => ["-psk", key.toString("hex"), "-psk_identity", IDENTITY, "-nocert"];
/** Measured handshakes, printed at the end (bytes and datagrams of UDP payload, both directions). */
const measured: string[] = [];

let pki: Pki | undefined;
after(() => {
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
  if (measured.length) console.log("\nDTLS handshakes against openssl s_server (UDP payload, both directions):\n" + measured.join("\n"));
});

async function withServer(t: any, args: string[], body: (srv: PeerProcess) => Promise<void>): Promise<void> {
  if (!requirePeer(t, "openssl")) return;
  const srv = await startOpensslServer(args);
  try {
    await body(srv);
  } catch (e) {
    (e as Error).message += `\n--- ${srv.commandLine}\n${srv.output}`;
    throw e;
  } finally {
    await srv.stop();
  }
}

/** Handshake, data both ways, close_notify. Returns the client after the handshake. */
async function exchange(srv: PeerProcess, opts: ClientOptions, label: string, client?: DtlsClient): Promise<DtlsClient> {
  const c = client ?? new DtlsClient().configure({ timers: { initialMs: 1500, maxMs: 3000, count: 3 }, ...opts });
  await c.udpHandshake(srv.port);
  assert.equal(c.state, ConnState.Established, `${label}: ${c.describe()}`);
  const hs = c.wireStats();
  measured.push(`  ${label.padEnd(44)} ${String(hs.totalBytes).padStart(5)} B in ${hs.totalDatagrams} datagrams (client ${hs.sentBytes} B / ${hs.sentDatagrams}, server ${hs.receivedBytes} B / ${hs.receivedDatagrams})`);
  const msg = `ping ${label} ${Math.random().toString(36).slice(2)}`;
  assert.equal(c.udpSend(msg + "\n"), 0);
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  await srv.waitFor(new RegExp(esc(msg)));
  srv.write(`pong ${label}\n`);
  const got = await c.waitAppData((s) => s.includes(`pong ${label}`));
  assert.ok(got.includes(`pong ${label}`), got);
  await c.udpClose();
  assert.equal(c.reason, DtlsError.LocalClose);
  return c;
}

test("PSK-AES128-CCM8 with the cookie exchange; key log equals openssl's", async (t) => {
  const keylog = join(dir, "ccm8.keylog");
  await withServer(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8, "-listen", "-keylogfile", keylog], async (srv) => {
    const c = await exchange(srv, { suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK }, keyLog: true }, "PSK-CCM8 full, cookie");
    assert.equal(c.suite, SuiteCode.PskCcm8);
    // RFC 6347 4.2.1: the first answer is a HelloVerifyRequest (handshake type 3), then our ClientHello with the cookie
    assert.equal(c.received[0][13], 3, "HelloVerifyRequest first");
    assert.equal(c.sent[1][13], 1, "second ClientHello");
    assert.ok(c.sent[1].length > c.sent[0].length, "the second ClientHello carries the cookie");
    assert.ok(c.wireStats().totalDatagrams >= 6);
    const ours = c.keyLogLine()!;
    assert.match(ours, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
    await srv.waitFor(/DONE|CONNECTION CLOSED/);
    assert.ok(readFileSync(keylog, "utf8").split("\n").includes(ours), "openssl logged the same master secret");
  });
});

test("PSK-AES128-CBC-SHA256", async (t) => {
  await withServer(t, [...pskArgs(), "-cipher", OpensslCipher.PskCbc], async (srv) => {
    const c = await exchange(srv, { suites: Suite.PskCbc, psk: { identity: IDENTITY, key: PSK } }, "PSK-CBC-SHA256 full");
    assert.equal(c.suite, SuiteCode.PskCbc);
  });
});

test("ECDHE-PSK-AES128-CBC-SHA256 with a low-entropy PSK (DTLS-3)", async (t) => {
  const pin = Buffer.from("1234", "latin1");
  await withServer(t, [...pskArgs(pin), "-cipher", OpensslCipher.EcdhePskCbc], async (srv) => {
    const c = await exchange(srv, { suites: Suite.EcdhePskCbc, psk: { identity: IDENTITY, key: pin, lowEntropy: true } }, "ECDHE-PSK-CBC-SHA256 full");
    assert.equal(c.suite, SuiteCode.EcdhePskCbc);
    // the ephemeral key slot was destroyed after use
    assert.equal(c.se.publicKey(8), -2);
  });
});

test("client offers all PSK suites; openssl picks one; a 128-byte identity (SEC-4)", async (t) => {
  const id = "i".repeat(128);
  await withServer(t, ["-psk", PSK.toString("hex"), "-psk_identity", id, "-nocert", "-cipher", "PSK"], async (srv) => {
    const c = await exchange(srv, { suites: Suite.PskCcm8 | Suite.PskCbc | Suite.EcdhePskCbc, psk: { identity: id, key: PSK } }, "PSK suites offered, identity 128 B");
    assert.ok([SuiteCode.PskCcm8, SuiteCode.PskCbc, SuiteCode.EcdhePskCbc].includes(c.suite));
  });
});

test("MFL 512 (RFC 6066): negotiated, honoured both ways", async (t) => {
  await withServer(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8], async (srv) => {
    const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK }, mfl: MaxFragmentLength.L512 });
    await c.udpHandshake(srv.port);
    assert.equal(c.state, ConnState.Established, c.describe());
    assert.equal(c.x.connMaxPlaintext(), 512);
    // the ServerHello echoed max_fragment_length = 1 (2^9)
    const sh = Buffer.concat(c.received);
    assert.ok(sh.includes(Buffer.from([0x00, 0x01, 0x00, 0x01, 0x01])), "ServerHello carries max_fragment_length(2^9)");
    assert.equal(c.sendData(new Uint8Array(513)), DtlsError.TooLarge);
    assert.equal(c.udpSend("x".repeat(511) + "\n"), 0);
    await srv.waitFor(/x{511}/);
    // openssl itself refuses to write more than 512 bytes per record now (its
    // s_server prints ERROR for a longer stdin chunk), so its answer fits
    srv.write("y".repeat(500) + "\n");
    await c.waitAppData((s) => s.includes("y".repeat(500)));
    assert.ok(c.appData.every((d) => d.length <= 512), c.appData.map((d) => d.length).join(","));
    await c.udpClose();
  });
});

async function resumption(t: any, args: string[], opts: ClientOptions, label: string, byTicket: boolean) {
  await withServer(t, args, async (srv) => {
    const c = new DtlsClient().configure(opts, true);
    await exchange(srv, opts, `${label} full`, c);
    assert.ok(c.x.sessionValid(), "session cached");
    if (byTicket) assert.ok(c.x.sessionTicketLen() > 0, "ticket stored");
    else assert.equal(c.x.sessionIdLen(), 32);
    await srv.waitFor(/DONE/);
    c.reset();
    await exchange(srv, opts, `${label} abbreviated`, c);
    assert.ok(c.resumed, "abbreviated handshake");
    assert.ok(c.x.sessionValid());
  });
}

test("resumption by session ID (-no_ticket), PSK-CCM8", async (t) => {
  await resumption(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8, "-no_ticket"],
    { suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK } }, "PSK-CCM8 session-ID", false);
});

test("resumption by RFC 5077 session ticket, PSK-CCM8", async (t) => {
  await resumption(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8],
    { suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK }, tickets: true }, "PSK-CCM8 ticket", true);
});

// ---- ECDHE-ECDSA with X.509, the client certificate verified by openssl ----
function x509Setup() {
  pki ??= new Pki();
  const root = pki.root("dtls-root");
  const srv = pki.issue("dtls-server", root, { san: "DNS:server.example.com,IP:127.0.0.1" });
  const cli = pki.issue("dtls-client", root, { subject: "/CN=urn:imei:490154203237518" });
  return { root, srv, cli };
}

for (const [name, bit] of [["EcdsaCcm8", Suite.EcdsaCcm8], ["EcdsaCbc", Suite.EcdsaCbc]] as const) {
  test(`${OpensslCipher[name]} with X.509 both ways (-Verify 1)`, needs("x509"), async (t) => {
    if (!requirePeer(t, "openssl")) return;
    const { root, srv, cli } = x509Setup();
    const opts: ClientOptions = {
      suites: bit, certificateType: CertificateType.X509,
      identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) },
      ownCertificates: [cli.der],
      // Certificate Usage 2 (trust anchor assertion): resource 4 = the CA
      trust: { key: root.der, usage: 2, host: "server.example.com" },
      buffers: { handshake: 2048, flight: 1024, ticket: 256 },
    };
    await withServer(t, ["-cert", srv.certFile, "-key", srv.keyFile, "-CAfile", root.certFile, "-Verify", "1",
      "-verify_return_error", "-cipher", OpensslCipher[name], "-sigalgs", "ECDSA+SHA256"], async (s) => {
      const c = await exchange(s, opts, `${OpensslCipher[name]} mutual X.509`);
      assert.equal(c.suite, SuiteCode[name]);
      assert.match(s.output, /CN ?= ?urn:imei:490154203237518/, "openssl saw our client certificate");
      assert.match(s.output, /verify return:1/);
    });
  });
}

test("X.509 client flight fragmented to a 300-byte MTU (RFC 6347 4.2.3), reassembled by openssl", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const { root, srv, cli } = x509Setup();
  const opts: ClientOptions = {
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509, mtu: 300,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
    trust: { key: root.der, usage: 2, host: "server.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 },
  };
  await withServer(t, ["-cert", srv.certFile, "-key", srv.keyFile, "-CAfile", root.certFile, "-Verify", "1", "-verify_return_error",
    "-cipher", OpensslCipher.EcdsaCcm8, "-mtu", "300"], async (s) => {
    const c = await exchange(s, opts, "ECDSA-CCM8 X.509, MTU 300 both ways");
    assert.ok(c.sent.every((d) => d.length <= 300), c.sent.map((d) => d.length).join(","));
    const hs = c.sent.slice(0, c.wireStats().sentDatagrams);
    assert.ok(hs.filter((d) => d[0] === 22 || d[0] === 20).length >= 5, "the client flight took several datagrams");
    // openssl fragmented its Certificate message too, and we reassembled it
    const fragmented = (d: Uint8Array) => d[0] === 22 && d[3] === 0 && d[4] === 0 && Buffer.from(d).readUIntBE(13 + 9, 3) < Buffer.from(d).readUIntBE(13 + 1, 3);
    assert.ok(c.received.some(fragmented), "received handshake fragments");
  });
});

test("a server that ignores our suites' order still must pick an offered one (all five offered)", async (t) => {
  await withServer(t, [...pskArgs(), "-cipher", "PSK-AES128-CBC-SHA256:PSK-AES128-CCM8", "-serverpref"], async (srv) => {
    const c = await exchange(srv, { suites: Suite.All, psk: { identity: IDENTITY, key: PSK } }, "all suites offered, PSK only usable");
    assert.equal(c.suite, SuiteCode.PskCbc);
  });
});

// ---- RFC 6347 4.2.4: lost flights ----
const pskOpts: ClientOptions = { suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK } };

test("our final flight is lost once: retransmitted, the handshake completes", async (t) => {
  await withServer(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8], async (srv) => {
    const c = new DtlsClient().configure(pskOpts);
    c.dropSent = (n) => n === 2; // ClientHello, ClientHello + cookie, then ClientKeyExchange/CCS/Finished
    await exchange(srv, pskOpts, "PSK-CCM8, final flight lost once", c);
    assert.equal(c.dropped.sent, 1);
    assert.deepEqual(Buffer.from(c.sent[3]).subarray(13, 20), Buffer.from(c.sent[2]).subarray(13, 20), "the same flight again");
  });
});

test("the server's flight is lost once: our timer retransmits the ClientHello", async (t) => {
  await withServer(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8], async (srv) => {
    const c = new DtlsClient().configure(pskOpts);
    c.dropReceived = (n) => n === 1; // HelloVerifyRequest, then ServerHello..ServerHelloDone
    await exchange(srv, pskOpts, "PSK-CCM8, server flight lost once", c);
    assert.equal(c.dropped.received, 1);
    assert.equal(c.sent[2][13], 1, "second ClientHello (with cookie) sent again");
  });
});

test("abbreviated handshake, our last flight lost: the server's retransmitted Finished makes us resend", async (t) => {
  await withServer(t, [...pskArgs(), "-cipher", OpensslCipher.PskCcm8, "-no_ticket"], async (srv) => {
    const c = new DtlsClient().configure(pskOpts, true);
    await exchange(srv, pskOpts, "PSK-CCM8 session-ID (for the loss test)", c);
    await srv.waitFor(/DONE/);
    c.reset();
    c.dropSent = (n) => n === 2; // ClientHello, ClientHello + cookie, then our CCS + Finished (no timer: final flight)
    await c.udpHandshake(srv.port);
    assert.ok(c.resumed, c.describe());
    // openssl retransmits ServerHello/CCS/Finished after its own timer; we answer with our flight again
    await c.waitUntil(() => c.sent.length >= 4, 5000, "our retransmission");
    assert.equal(c.dropped.sent, 1);
    // CCS + Finished again (new record sequence numbers, so other bytes)
    assert.equal(c.sent[3].length, c.sent[2].length);
    assert.equal(c.sent[3][0], 20, "ChangeCipherSpec first");
    assert.equal(c.udpSend("after loss\n"), 0);
    await srv.waitFor(/after loss/);
    await c.udpClose();
  });
});

test("server_name (RFC 6066 3): openssl picks its second certificate by our SNI", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  pki ??= new Pki();
  const root = pki.root("sni-root");
  const first = pki.issue("sni-default", root, { san: "DNS:default.example.com" });
  const second = pki.issue("sni-named", root, { san: "DNS:named.example.com" });
  const cli = pki.issue("sni-client", root);
  const opts = (sni?: string): ClientOptions => ({
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509, sni,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
    trust: { key: root.der, usage: 2, host: "named.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 },
  });
  const args = ["-cert", first.certFile, "-key", first.keyFile, "-cert2", second.certFile, "-key2", second.keyFile,
    "-servername", "named.example.com", "-cipher", OpensslCipher.EcdsaCcm8];
  await withServer(t, args, async (srv) => {
    const c = await exchange(srv, opts("named.example.com"), "ECDSA-CCM8 with SNI");
    assert.ok(c.received.some((d) => Buffer.from(d).includes(Buffer.from(second.der.subarray(0, 64)))), "second certificate served");
  });
  await withServer(t, args, async (srv) => {
    // without SNI openssl serves default.example.com, which is not the host we expect
    const c = new DtlsClient().configure(opts(undefined));
    await c.udpHandshake(srv.port);
    await c.shutdown();
    assert.equal(c.reason, DtlsError.BadCertificate, c.describe());
  });
});
