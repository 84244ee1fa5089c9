// Negative cases of the DTLS client (build/test/dtls.wasm) against real peers:
// each is refused with its precise reason, nothing traps (a trap throws in
// JS and fails the test), and an alert goes out where the RFC says so.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { startOpensslServer, type PeerProcess } from "./helpers/openssl-peer";
import { startGnutlsServer, GnutlsPriority, p256Files, writePskFile } from "./helpers/gnutls-peer";
import {
  DtlsClient, Suite, OpensslCipher, CertificateType, ConnState, DtlsEvent, DtlsError, X509Error, AlertDescription,
  privateScalar, errorName, x509Name, type ClientOptions,
} from "./helpers/dtls-harness";
import { Pki, type Issued } from "./helpers/certs";
import { fixtures, Replayer, serverKeys, sealServer, openServer } from "./fixtures/dtls/replay";
import { needs } from "./helpers/profile";

const dir = mkdtempSync(join(tmpdir(), "dtls-neg-"));
const PSK = Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex");
const IDENTITY = "Client_identity";
const FAST = { initialMs: 250, maxMs: 1000, count: 2 };
let pki: Pki | undefined;
after(() => { pki?.cleanup(); rmSync(dir, { recursive: true, force: true }); });

async function withPeer(t: any, start: () => Promise<PeerProcess>, body: (srv: PeerProcess) => Promise<void>, peer = "openssl") {
  if (!requirePeer(t, peer === "openssl" ? "openssl" : "gnutls-serv")) return;
  const srv = await start();
  try {
    await body(srv);
  } catch (e) {
    (e as Error).message += `\n--- ${srv.commandLine}\n${srv.output}`;
    throw e;
  } finally {
    await srv.stop();
  }
}

/** Handshake that must fail with `reason`; checks the alert we sent (or none). */
async function refused(c: DtlsClient, port: number, reason: number, alert: number | null, detail?: number) {
  await c.udpHandshake(port, 8000);
  await c.shutdown();
  assert.equal(c.state, ConnState.Closed, c.describe());
  assert.equal(c.reason, reason, `expected ${errorName(reason)}, got ${c.describe()}`);
  if (detail !== undefined) assert.equal(c.detail, detail, `detail ${x509Name(c.detail)}`);
  const closed = c.events.find((e) => e.kind === DtlsEvent.Closed)!;
  assert.equal(closed.reason, reason);
  if (alert === null) {
    assert.ok(!c.has(DtlsEvent.AlertSent));
  } else {
    assert.ok(c.has(DtlsEvent.AlertSent), "alert event");
    // the last datagram we sent is the fatal alert (epoch 0 during the handshake: plaintext)
    const last = c.sent[c.sent.length - 1];
    assert.equal(last[0], 21, "alert record");
    assert.deepEqual([...last.subarray(13, 15)], [2, alert]);
  }
}

test("wrong PSK: the server cannot decrypt our Finished and stays silent -> FinishedTimeout", async (t) => {
  await withPeer(t, () => startOpensslServer(["-psk", PSK.toString("hex"), "-psk_identity", IDENTITY, "-nocert", "-cipher", OpensslCipher.PskCcm8]), async (srv) => {
    const wrong = Buffer.from(PSK); wrong[15] ^= 1;
    const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: wrong }, timers: FAST });
    await refused(c, srv.port, DtlsError.FinishedTimeout, null);
    assert.ok(c.stats().datagramsSent >= 5, "final flight retransmitted before giving up");
  });
});

test("unknown PSK identity: gnutls-serv's answer is reported precisely", async (t) => {
  const pskFile = writePskFile(join(dir, "known.psk"), IDENTITY, PSK);
  await withPeer(t, () => startGnutlsServer(["--pskpasswd", pskFile, "--priority", GnutlsPriority.PskCcm8]), async (srv) => {
    const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: "someone-else", key: PSK }, timers: FAST });
    await c.udpHandshake(srv.port);
    await c.shutdown();
    assert.equal(c.state, ConnState.Closed, c.describe());
    // RFC 4279 2: unknown_psk_identity, or (to hide which identities exist) a failing Finished
    if (c.reason === DtlsError.PeerAlert) {
      assert.equal(c.x.connAlertReceived(), AlertDescription.unknown_psk_identity, c.describe());
    } else {
      assert.equal(c.reason, DtlsError.FinishedTimeout, c.describe());
    }
  }, "gnutls");
});

test("low-entropy PSK with a plain PSK suite is refused before anything is sent (DTLS-3)", () => {
  for (const suites of [Suite.PskCcm8, Suite.PskCbc, Suite.PskCcm8 | Suite.EcdhePskCbc, Suite.All]) {
    const c = new DtlsClient().configure({ suites, psk: { identity: IDENTITY, key: Buffer.from("1234"), lowEntropy: true } });
    assert.equal(c.connect(), DtlsError.LowEntropyPsk);
    assert.equal(c.drain().length, 0, "nothing sent");
    assert.equal(c.state, ConnState.Idle);
    assert.equal(c.reason, DtlsError.LowEntropyPsk);
  }
  const ok = new DtlsClient().configure({ suites: Suite.EcdhePskCbc, psk: { identity: IDENTITY, key: Buffer.from("1234"), lowEntropy: true } });
  assert.equal(ok.connect(), 0);
  const ch = ok.drain()[0];
  // only TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 (+ the renegotiation SCSV) offered
  assert.deepEqual([...ch.subarray(13 + 12 + 2 + 32 + 2, 13 + 12 + 2 + 32 + 2 + 6)], [0, 4, 0xc0, 0x37, 0x00, 0xff]);
});

// ---- raw public keys against gnutls-serv ----
const rpkArgs = (s: { keyFile: string; pubFile: string }) =>
  ["--rawpkkeyfile", s.keyFile, "--rawpkfile", s.pubFile, "--require-client-cert", "--priority", GnutlsPriority.RpkCcm8];

test("wrong server RPK (DTLS-4) -> RpkMismatch, bad_certificate", needs("rpk"), async (t) => {
  const server = p256Files(join(dir, "srv-a")), other = p256Files(join(dir, "srv-b")), device = p256Files(join(dir, "dev-a"));
  await withPeer(t, () => startGnutlsServer(rpkArgs(server)), async (srv) => {
    const c = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(device.keyPem) }, serverKey: other.spki, timers: FAST });
    await refused(c, srv.port, DtlsError.RpkMismatch, AlertDescription.bad_certificate, X509Error.RpkMismatch);
  }, "gnutls");
});

test("server RPK equal to our own key (DTLS-8) -> PeerUsesOwnKey", needs("rpk"), async (t) => {
  const shared = p256Files(join(dir, "shared"));
  await withPeer(t, () => startGnutlsServer(rpkArgs(shared)), async (srv) => {
    const c = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(shared.keyPem) }, serverKey: shared.spki, timers: FAST });
    await refused(c, srv.port, DtlsError.PeerUsesOwnKey, AlertDescription.bad_certificate, X509Error.KeyEqualsOwn);
  }, "gnutls");
});

// ---- X.509 against openssl s_server ----
function certCase(leaf: (p: Pki, root: Issued) => Issued) {
  pki ??= new Pki();
  const root = pki.root("neg-root");
  const cli = pki.issue("neg-client", root);
  return { root, srv: leaf(pki, root), cli };
}

async function x509Refused(t: any, name: string, make: (p: Pki, root: Issued) => Issued, trust: (root: Issued, srv: Issued) => ClientOptions["trust"], detail: number, alert = AlertDescription.bad_certificate) {
  // @SECLEVEL=0: let openssl itself serve the weak (SHA-1) certificate we must refuse
  if (!requirePeer(t, "openssl")) return;
  const { root, srv, cli } = certCase(make);
  await withPeer(t, () => startOpensslServer(["-cert", srv.certFile, "-key", srv.keyFile, "-cipher", `${OpensslCipher.EcdsaCcm8}:@SECLEVEL=0`]), async (s) => {
    const c = new DtlsClient().configure({
      suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
      identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
      trust: trust(root, srv), buffers: { handshake: 2048, flight: 1024, ticket: 256 }, timers: FAST,
    });
    await refused(c, s.port, DtlsError.BadCertificate, alert, detail);
  });
}

const viaRoot = (host: string) => (root: Issued) => ({ key: root.der, usage: 2, host });

test("expired server certificate with a known time (DTLS-5) -> Expired", needs("x509"), async (t) => {
  const day = 86400_000;
  await x509Refused(t, "expired", (p, root) => p.issue("expired", root, { san: "DNS:server.example.com", notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) }),
    viaRoot("server.example.com"), X509Error.Expired);
});

test("wrong host name (DTLS-5) -> HostnameMismatch", needs("x509"), async (t) => {
  await x509Refused(t, "host", (p, root) => p.issue("host", root, { san: "DNS:server.example.com" }), viaRoot("other.example.com"), X509Error.HostnameMismatch);
});

test("`*.com` wildcard never matches (DTLS-5) -> WildcardTld", needs("x509"), async (t) => {
  await x509Refused(t, "wild", (p, root) => p.issue("wild", root, { subject: "/CN=*.com", san: "DNS:*.com" }), viaRoot("server.com"), X509Error.WildcardTld);
});

test("SHA-1-signed server certificate (DTLS-7) -> WeakHashSha1", needs("x509"), async (t) => {
  await x509Refused(t, "sha1", (p, root) => p.issue("sha1", root, { san: "DNS:server.example.com", md: "sha1" }), viaRoot("server.example.com"), X509Error.WeakHashSha1);
});

test("untrusted CA (DTLS-5) -> UntrustedIssuer", needs("x509"), async (t) => {
  await x509Refused(t, "untrusted", (p) => p.issue("untrusted", p.root("other-root"), { san: "DNS:server.example.com" }), viaRoot("server.example.com"), X509Error.UntrustedIssuer);
});

test("no wall clock (DTLS-6): indirect trust refuses with TimeUnknown, direct trust ignores validity", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  pki ??= new Pki();
  const root = pki.root("clock-root");
  const day = 86400_000;
  const expired = pki.issue("clock-srv", root, { san: "DNS:server.example.com", notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
  const cli = pki.issue("clock-cli", root);
  const base = (trust: ClientOptions["trust"]): ClientOptions => ({
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
    trust, buffers: { handshake: 2048, flight: 1024, ticket: 256 }, timers: FAST,
  });
  const args = ["-cert", expired.certFile, "-key", expired.keyFile, "-cipher", OpensslCipher.EcdsaCcm8];
  const fresh = pki.issue("clock-srv2", root, { san: "DNS:server.example.com" });
  await withPeer(t, () => startOpensslServer(["-cert", fresh.certFile, "-key", fresh.keyFile, "-cipher", OpensslCipher.EcdsaCcm8]), async (srv) => {
    const c = new DtlsClient({ wallSeconds: () => -1 }).configure(base({ key: root.der, usage: 2, host: "server.example.com" }));
    await refused(c, srv.port, DtlsError.BadCertificate, AlertDescription.bad_certificate, X509Error.TimeUnknown);
  });
  await withPeer(t, () => startOpensslServer(args), async (srv) => {
    // Certificate Usage 3 (domain-issued certificate): resource 4 is the server's own certificate
    const c = new DtlsClient({ wallSeconds: () => -1 }).configure(base({ key: expired.der, usage: 3, host: "server.example.com" }));
    await c.udpHandshake(srv.port);
    assert.equal(c.state, ConnState.Established, c.describe());
    await c.udpClose();
  });
});

test("X.509 server key equal to our own key (DTLS-8) -> PeerUsesOwnKey", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  pki ??= new Pki();
  const root = pki.root("own-root");
  const srv = pki.issue("own-srv", root, { san: "DNS:server.example.com" });
  const cli = pki.issue("own-cli", root, { keyFile: srv.keyFile });
  await withPeer(t, () => startOpensslServer(["-cert", srv.certFile, "-key", srv.keyFile, "-cipher", OpensslCipher.EcdsaCcm8]), async (s) => {
    const c = new DtlsClient().configure({
      suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
      identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
      trust: { key: root.der, usage: 2, host: "server.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 }, timers: FAST,
    });
    await refused(c, s.port, DtlsError.PeerUsesOwnKey, AlertDescription.bad_certificate, X509Error.KeyEqualsOwn);
  });
});

// ---- an established session against openssl ----
async function established(t: any, body: (c: DtlsClient, srv: PeerProcess) => Promise<void>, extra: string[] = [], opts: Partial<ClientOptions> = {}) {
  await withPeer(t, () => startOpensslServer(["-psk", PSK.toString("hex"), "-psk_identity", IDENTITY, "-nocert", "-cipher", OpensslCipher.PskCcm8, ...extra]), async (srv) => {
    const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK }, timers: FAST, ...opts });
    await c.udpHandshake(srv.port);
    assert.equal(c.state, ConnState.Established, c.describe());
    await body(c, srv);
    await c.udpClose();
  });
}

test("a server that asks to renegotiate (s_server `R`) is refused with no_renegotiation (DTLS-9)", async (t) => {
  await established(t, async (c, srv) => {
    srv.write("R\n");
    await c.waitUntil(() => c.has(DtlsEvent.AlertSent), 5000, "no_renegotiation");
    const ev = c.events.find((e) => e.kind === DtlsEvent.AlertSent)!;
    assert.equal(ev.reason, DtlsError.NoRenegotiation);
    // openssl 3.0 answers our refusal with a fatal handshake_failure ("no renegotiation");
    // we never start a second handshake, so the connection ends on the peer's alert
    await c.waitClosed();
    assert.equal(c.reason, DtlsError.PeerAlert, c.describe());
    assert.equal(c.x.connAlertReceived(), AlertDescription.handshake_failure);
  });
});

test("replayed records are dropped by the window; the connection survives", async (t) => {
  await established(t, async (c, srv) => {
    srv.write("first\n");
    await c.waitAppData((s) => s.includes("first"));
    const rec = c.received[c.received.length - 1];
    const before = c.appData.length;
    for (let i = 0; i < 5; i++) c.deliver(rec);
    assert.equal(c.appData.length, before, "no replayed data delivered");
    assert.equal(c.stats().replaysDropped, 5);
    assert.equal(c.state, ConnState.Established);
    srv.write("second\n");
    await c.waitAppData((s) => s.includes("second"));
  });
});

test("forged CCM_8 records are dropped and counted; the limit closes the connection (DTLS-10)", async (t) => {
  await established(t, async (c, srv) => {
    srv.write("genuine\n");
    await c.waitAppData((s) => s.includes("genuine"));
    const rec = Buffer.from(c.received[c.received.length - 1]);
    const forge = (seq: number) => {
      const f = Buffer.from(rec);
      f.writeUIntBE(seq, 5, 6); // a fresh sequence number, so the window lets it through to authentication
      f[f.length - 1] ^= 0x55; // and a wrong tag
      return f;
    };
    for (let i = 0; i < 3; i++) c.deliver(forge(1000 + i));
    assert.equal(c.stats().authFailures, 3);
    assert.equal(c.state, ConnState.Established, "survives below the limit");
    srv.write("still here\n");
    await c.waitAppData((s) => s.includes("still here"));
    c.deliver(forge(2000)); // the 4th failure reaches maxAuthFailures = 4
    assert.equal(c.state, ConnState.Closed);
    assert.equal(c.reason, DtlsError.AuthFailureLimit);
  }, [], { limits: { maxAuthFailures: 4 } });
});

test("record sequence limit and session age close the connection with their reason (DTLS-10)", async (t) => {
  await established(t, async (c) => {
    assert.equal(c.sendData("a"), 0);
    c.drain();
    // the connection has written Finished (seq 0) and one record: the limit is 3
    assert.equal(c.sendData("b"), 0);
    c.drain();
    assert.equal(c.sendData("c"), DtlsError.RecordLimit);
    assert.equal(c.reason, DtlsError.RecordLimit);
    const alert = c.drain()[0];
    assert.equal(alert[0], 21, "close_notify goes out");
  }, [], { limits: { maxSeq: 3n } });
  await established(t, async (c) => {
    const deadline = Number(c.x.connNextDeadline());
    assert.ok(deadline > 0, "the age limit is a deadline");
    c.timeout(deadline);
    assert.equal(c.reason, DtlsError.SessionAge);
  }, [], { limits: { maxAgeMs: 60_000 } });
});

// ---- crafted peer messages: recorded handshakes (test/fixtures/dtls) with one field changed ----

interface Hello { version: number; random: Buffer; sid: Buffer; suite: number; compression: number; exts: [number, Buffer][] }

/** Rewrite the ServerHello inside a datagram (record and handshake lengths fixed up). */
function editServerHello(d: Uint8Array, edit: (h: Hello) => void): Uint8Array {
  const b = Buffer.from(d);
  const parts: Buffer[] = [];
  for (let o = 0; o + 13 <= b.length;) {
    const n = 13 + b.readUInt16BE(o + 11);
    let rec = b.subarray(o, o + n);
    if (rec[0] === 22 && rec[13] === 2) {
      const body = rec.subarray(25);
      let p = 0;
      const h: Hello = { version: body.readUInt16BE(0), random: body.subarray(2, 34), sid: Buffer.alloc(0), suite: 0, compression: 0, exts: [] };
      p = 34; const sl = body[p++]; h.sid = body.subarray(p, p + sl); p += sl;
      h.suite = body.readUInt16BE(p); p += 2; h.compression = body[p++];
      const end = p + 2 + body.readUInt16BE(p); p += 2;
      while (p < end) { const t = body.readUInt16BE(p), l = body.readUInt16BE(p + 2); h.exts.push([t, body.subarray(p + 4, p + 4 + l)]); p += 4 + l; }
      edit(h);
      const u16 = (v: number) => Buffer.from([v >> 8, v & 255]);
      const ext = Buffer.concat(h.exts.map(([t, x]) => Buffer.concat([u16(t), u16(x.length), x])));
      const nb = Buffer.concat([u16(h.version), h.random, Buffer.from([h.sid.length]), h.sid, u16(h.suite), Buffer.from([h.compression]), u16(ext.length), ext]);
      const hs = Buffer.from(rec.subarray(13, 25));
      hs.writeUIntBE(nb.length, 1, 3); hs.writeUIntBE(nb.length, 9, 3);
      const hdr = Buffer.from(rec.subarray(0, 13)); hdr.writeUInt16BE(12 + nb.length, 11);
      rec = Buffer.concat([hdr, hs, nb]);
    }
    parts.push(rec);
    o += n;
  }
  return Buffer.concat(parts);
}

const player = (name: string) => new Replayer(fixtures.find((f) => f.name === name)!);

/** Replays connection `conn` (after the earlier ones) up to datagram k, then feeds `crafted`. */
function craft(name: string, k: number, crafted: (orig: Uint8Array) => Uint8Array, conn = 0): DtlsClient {
  const p = player(name);
  for (let i = 0; i < conn; i++) p.replay(i);
  p.start(conn);
  for (let i = 0; i < k; i++) p.deliver(p.server[conn][i]);
  p.deliver(crafted(p.server[conn][k]));
  return p.c;
}

function expectFatal(c: DtlsClient, reason: number, alert: number) {
  assert.equal(c.state, ConnState.Closed, c.describe());
  assert.equal(c.reason, reason, `expected ${errorName(reason)}: ${c.describe()}`);
  const last = c.sent[c.sent.length - 1];
  assert.deepEqual([last[0], ...last.subarray(13)], [21, 2, alert], "fatal alert in plaintext epoch 0");
}

const CCM = "openssl-psk-ccm8-ticket", CBC_MFL = "openssl-psk-cbc-sessionid";

test("crafted ServerHello: DTLS 1.0 version -> ProtocolVersion / protocol_version", () => {
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => { h.version = 0xfeff; })), DtlsError.ProtocolVersion, AlertDescription.protocol_version);
});

test("crafted ServerHello: a suite we did not offer -> SuiteNotOffered / illegal_parameter", () => {
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => { h.suite = 0xc0ae; })), DtlsError.SuiteNotOffered, AlertDescription.illegal_parameter);
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => { h.suite = 0x002f; })), DtlsError.SuiteNotOffered, AlertDescription.illegal_parameter);
});

test("crafted ServerHello: compression -> Compression / illegal_parameter (DTLS-9)", () => {
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => { h.compression = 1; })), DtlsError.Compression, AlertDescription.illegal_parameter);
});

test("crafted ServerHello: encrypt_then_mac (never offered) -> ExtensionNotOffered / unsupported_extension", () => {
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => { h.exts.push([22, Buffer.alloc(0)]); })), DtlsError.ExtensionNotOffered, AlertDescription.unsupported_extension);
});

test("crafted ServerHello: non-empty renegotiation_info -> RenegotiationInfo / handshake_failure (RFC 5746)", () => {
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => {
    h.exts = h.exts.filter(([t]) => t !== 0xff01);
    h.exts.push([0xff01, Buffer.from([12, ...Buffer.alloc(12, 0x5a)])]);
  })), DtlsError.RenegotiationInfo, AlertDescription.handshake_failure);
});

test("crafted ServerHello: duplicate extension -> IllegalExtension / decode_error", () => {
  expectFatal(craft(CCM, 1, (d) => editServerHello(d, (h) => { h.exts.push([23, Buffer.alloc(0)]); })), DtlsError.IllegalExtension, AlertDescription.decode_error);
});

test("crafted ServerHello: max_fragment_length other than offered -> IllegalExtension (RFC 6066 4)", () => {
  expectFatal(craft(CBC_MFL, 1, (d) => editServerHello(d, (h) => {
    const e = h.exts.find(([t]) => t === 1);
    assert.ok(e, "the recorded ServerHello echoes MFL");
    e![1] = Buffer.from([2]);
  })), DtlsError.IllegalExtension, AlertDescription.decode_error);
});

test("crafted resumption without extended_master_secret is refused (RFC 7627 5.3)", () => {
  const c = craft(CBC_MFL, 1, (d) => editServerHello(d, (h) => { h.exts = h.exts.filter(([t]) => t !== 23); }), 1);
  expectFatal(c, DtlsError.ExtendedMasterSecret, AlertDescription.handshake_failure);
});

test("crafted: a handshake message larger than the buffer -> MessageTooLarge / internal_error", () => {
  expectFatal(craft(CCM, 1, (d) => { const b = Buffer.from(d); b.writeUIntBE(5000, 14, 3); return b; }), DtlsError.MessageTooLarge, AlertDescription.internal_error);
});

test("crafted: HelloVerifyRequest after HelloVerifyRequest -> TooManyHelloVerify after two", () => {
  const hvr = (seq: number) => (d: Uint8Array) => { const b = Buffer.from(d); b.writeUInt16BE(seq, 17); b.writeUIntBE(seq + 7, 5, 6); return b; };
  const p = player(CCM);
  p.start(0);
  p.deliver(p.server[0][0]);
  p.deliver(hvr(1)(p.server[0][0]));
  assert.equal(p.c.state, ConnState.WaitServerHello, "a second cookie is answered");
  p.deliver(hvr(2)(p.server[0][0]));
  expectFatal(p.c, DtlsError.TooManyHelloVerify, AlertDescription.unexpected_message);
});

test("crafted: ServerHelloDone without ServerHello -> UnexpectedMessage", () => {
  const c = craft(CCM, 1, (d) => {
    const b = Buffer.from(d);
    const shLen = 13 + b.readUInt16BE(11);
    const rest = Buffer.from(b.subarray(shLen)); // the ServerHelloDone record
    assert.equal(rest[13], 14);
    rest.writeUInt16BE(1, 17); // message_seq of the missing ServerHello
    return rest;
  });
  expectFatal(c, DtlsError.UnexpectedMessage, AlertDescription.unexpected_message);
});

test("crafted: a server Finished with wrong verify_data -> FinishedMismatch / decrypt_error, encrypted", () => {
  const fx = fixtures.find((f) => f.name === CCM)!;
  const keys = serverKeys(fx, 0)!;
  const p = new Replayer(fx);
  p.start(0);
  for (let i = 0; i < 3; i++) p.deliver(p.server[0][i]);
  const d = Buffer.from(p.server[0][3]); // ChangeCipherSpec + Finished
  assert.equal(d[0], 20);
  const finRec = d.subarray(14);
  const fin = Buffer.from(openServer(keys, finRec)!);
  assert.equal(fin[0], 20, "the genuine Finished decrypts with the recorded keys");
  fin[12] ^= 0x80; // verify_data changed
  p.deliver(Buffer.concat([d.subarray(0, 14), sealServer(keys, 22, 0, fin)]));
  assert.equal(p.c.state, ConnState.Closed, p.c.describe());
  assert.equal(p.c.reason, DtlsError.FinishedMismatch);
  const last = p.c.sent[p.c.sent.length - 1];
  assert.equal(last[0], 21);
  assert.equal((last[3] << 8) | last[4], 1, "the alert is protected in epoch 1");
});

test("crafted: a forged (unauthenticated) Finished is dropped and counted, never a mismatch", () => {
  const p = player(CCM);
  p.start(0);
  for (let i = 0; i < 3; i++) p.deliver(p.server[0][i]);
  const fin = Buffer.from(p.server[0][3]);
  fin[fin.length - 1] ^= 1;
  p.deliver(fin);
  assert.equal(p.c.stats().authFailures, 1);
  assert.equal(p.c.state, ConnState.WaitFinished);
  p.deliver(p.server[0][3].subarray(14)); // the genuine Finished still completes the handshake
  assert.equal(p.c.state, ConnState.Established, p.c.describe());
});
