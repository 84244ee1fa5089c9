// The DTLS server role (build/test/dtls_server.wasm) against our own client
// (build/test/dtls.wasm) in-process, sans-I/O: all five suites, stateless
// cookies, the PSK identity lookup by the host, RPK and X.509 client
// authentication, resumption by session ID from the server's cache, and the
// refusals (unknown identity, wrong PSK, wrong client RPK, untrusted client
// certificate, no client certificate, no common suite), each with its reason.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  DtlsClient, DtlsServer, Suite, SuiteCode, CertificateType, ConnState, DtlsError, DtlsEvent, AlertDescription, X509Error,
  privateScalar, pairHandshake, errorName, type ClientOptions, type ServerOptions,
} from "./helpers/dtls-harness";
import { p256Files } from "./helpers/gnutls-peer";
import { Pki } from "./helpers/certs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs } from "./helpers/profile";
import { recordsOf } from "./helpers/dtls-records";

const PSK = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
const ID = "dev1";
const dir = mkdtempSync(join(tmpdir(), "dtls-server-"));
let pki: Pki | undefined;
const measured: string[] = [];
after(() => {
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
  if (measured.length) console.log("\nour client <-> our server (UDP payload, both directions):\n" + measured.join("\n"));
});

const lookup = (table: Record<string, Buffer>) => ({ lookup: (id: Uint8Array) => table[Buffer.from(id).toString("utf8")] });

function run(copts: ClientOptions, sopts: ServerOptions, label: string, withSession = false) {
  const c = new DtlsClient().configure({ timers: { initialMs: 1000, maxMs: 4000, count: 3 }, ...copts }, withSession);
  const s = new DtlsServer().configure(sopts);
  const log = pairHandshake(c, s);
  return { c, s, log, label };
}

function measure(label: string, log: { d: Uint8Array }[]) {
  const bytes = log.reduce((n, x) => n + x.d.length, 0);
  measured.push(`  ${label.padEnd(40)} ${String(bytes).padStart(5)} B in ${log.length} datagrams`);
  return { bytes, datagrams: log.length };
}

function established(c: DtlsClient, s: DtlsServer, label: string) {
  const p = s.peer()!;
  assert.equal(c.state, ConnState.Established, `${label} client: ${c.describe()}`);
  assert.equal(s.state(p), ConnState.Established, `${label} ${s.describe(p)}`);
  // application data both ways
  const toServer = c.sendData(`hello ${label}`);
  assert.equal(toServer, 0);
  for (const d of c.drain()) s.datagram(p.key, d);
  assert.equal(Buffer.concat(p.appData).toString(), `hello ${label}`);
  const [r, back] = s.send(p, `olleh ${label}`);
  assert.equal(r, 0);
  for (const d of back) c.deliver(d);
  assert.ok(Buffer.concat(c.appData).toString().includes(`olleh ${label}`));
  return p;
}

test("PSK-CCM8: cookie exchange, identity looked up by the host, within the 472-byte budget", () => {
  const { c, s, log } = run({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK } },
    { suites: Suite.All, psk: lookup({ [ID]: PSK }) }, "psk");
  const p = established(c, s, "psk-ccm8");
  assert.equal(s.suite(p), SuiteCode.PskCcm8);
  assert.equal(Buffer.from(p.pskIdentity!).toString(), ID, "the host saw the identity");
  assert.equal(s.helloVerifies, 1);
  // flights: ClientHello, HelloVerifyRequest, ClientHello+cookie, ServerHello..Done, CKE+CCS+Finished, CCS+Finished
  assert.equal(log[1].d[13], 3, "HelloVerifyRequest");
  assert.equal(log[1].d[1] * 256 + log[1].d[2], 0xfeff, "HelloVerifyRequest record in DTLS 1.0 (RFC 6347 4.2.1)");
  const m = measure("PSK-CCM8 full, cookie", log);
  assert.ok(m.bytes <= 472 && m.datagrams <= 6, `${m.bytes} B / ${m.datagrams}`);
});

test("PSK with a fixed configured identity, PSK-CBC-SHA256", () => {
  const { c, s, log } = run({ suites: Suite.PskCbc, psk: { identity: ID, key: PSK } },
    { suites: Suite.PskCbc, psk: { identity: ID, key: PSK } }, "psk-cbc");
  const p = established(c, s, "psk-cbc");
  assert.equal(s.suite(p), SuiteCode.PskCbc);
  measure("PSK-CBC full, cookie", log);
});

test("ECDHE-PSK-CBC-SHA256 with a low-entropy PSK; ephemeral slot destroyed on both sides", () => {
  const pin = Buffer.from("1234");
  const { c, s, log } = run({ suites: Suite.EcdhePskCbc, psk: { identity: ID, key: pin, lowEntropy: true } },
    { suites: Suite.All, psk: lookup({ [ID]: pin }) }, "ecdhe-psk");
  const p = established(c, s, "ecdhe-psk");
  assert.equal(s.suite(p), SuiteCode.EcdhePskCbc);
  assert.equal(s.se.publicKey(8), -2, "server ephemeral slot destroyed");
  measure("ECDHE-PSK-CBC full, cookie", log);
});

for (const [name, bit] of [["EcdsaCcm8", Suite.EcdsaCcm8], ["EcdsaCbc", Suite.EcdsaCbc]] as const) {
  test(`${name} with mutual RPK (RFC 7250): the server hands the client's SPKI to the host`, needs("rpk"), () => {
    const sk = p256Files(join(dir, `srv-${name}`)), ck = p256Files(join(dir, `cli-${name}`));
    const { c, s, log } = run(
      { suites: bit, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki },
      { suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(sk.keyPem) } }, name);
    const p = established(c, s, name);
    assert.equal(s.suite(p), SuiteCode[name]);
    assert.deepEqual(Buffer.from(s.peerCertificate(p)), Buffer.from(ck.spki), "client SPKI");
    assert.deepEqual(Buffer.from(s.peerPublicKey(p)), Buffer.from(ck.point));
    measure(`${name} mutual RPK full, cookie`, log);
  });
}

test("flights: whole handshake messages of one flight share a record (RFC 6347 4.2.3), 13 B of header saved per message; the MFL still bounds a record", needs("rpk"), () => {
  const sk = p256Files(join(dir, "srv-pack")), ck = p256Files(join(dir, "cli-pack"));
  const copts: ClientOptions = { suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki };
  const sopts: ServerOptions = { suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(sk.keyPem) } };
  const { c, s, log } = run(copts, sopts, "pack");
  established(c, s, "pack");
  const flights = log.map((x) => recordsOf(x.d));
  // ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone
  assert.deepEqual(flights[3].map((r) => [r.type, r.epoch, r.messages]), [[22, 0, [2, 11, 12, 13, 14]]], "the server's flight: one record");
  // Certificate, ClientKeyExchange, CertificateVerify; then ChangeCipherSpec and the Finished (epoch 1)
  assert.deepEqual(flights[4].map((r) => [r.type, r.epoch, r.messages]), [[22, 0, [11, 16, 15]], [20, 0, []], [22, 1, []]], "the client's flight");
});

test("flights: with a 512-byte max_fragment_length (RFC 6066) a record never exceeds it; messages that fit still share a record", needs("x509"), () => {
  const { root, srv, cli } = x509Setup();
  const { c, s, log } = run({
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509, mfl: 1,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
    trust: { key: root.der, usage: 2, host: "server.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 },
  }, {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der], trustAnchors: [root.der],
  }, "x509-mfl");
  established(c, s, "x509-mfl");
  const server = log.filter((x) => x.dir === "s2c").slice(1).flatMap((x) => recordsOf(x.d)).filter((r) => r.type === 22 && r.epoch === 0);
  const sizes = log.slice(3).flatMap((x) => recordsOf(x.d)).filter((r) => r.epoch === 0).map((r) => r.length);
  assert.ok(Math.max(...sizes) <= 512, `epoch-0 records within the MFL: ${sizes}`);
  assert.ok(server.length > 1, "the server's flight (over 512 B) takes more than one record");
  assert.ok(server.some((r) => r.messages.length > 1), `and still packs: ${JSON.stringify(server)}`);
});

function x509Setup() {
  pki ??= new Pki();
  const root = pki.root("srv-root");
  const srv = pki.issue("srv-server", root, { san: "DNS:server.example.com,IP:127.0.0.1" });
  const cli = pki.issue("srv-client", root, { subject: "/CN=urn:imei:490154203237518" });
  return { root, srv, cli };
}

test("ECDHE-ECDSA-CCM8 with X.509 both ways: client chain verified against the server's anchors", needs("x509"), () => {
  const { root, srv, cli } = x509Setup();
  const { c, s, log } = run({
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
    trust: { key: root.der, usage: 2, host: "server.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 },
  }, {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der], trustAnchors: [root.der],
  }, "x509");
  const p = established(c, s, "x509");
  assert.equal(s.suite(p), SuiteCode.EcdsaCcm8);
  assert.deepEqual(Buffer.from(s.peerCertificate(p)), Buffer.from(cli.der), "the client's leaf for the host");
  measure("ECDSA-CCM8 mutual X.509 full, cookie", log);
});

test("growBuffers: X.509 on a connection built with the PSK-sized defaults; our certificate as plain DER", needs("x509"), () => {
  const { root, srv, cli } = x509Setup();
  const sopts: ServerOptions = {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der, root.der], trustAnchors: [root.der],
  };
  // default buffers (handshake 768, flight 512): the server's two-certificate chain does not fit
  const c = new DtlsClient().configure({
    timers: { initialMs: 1000, maxMs: 4000, count: 3 }, suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) },
    trust: { key: root.der, usage: 2, host: "server.example.com" },
  });
  assert.ok(srv.der.length + root.der.length > 768);
  c.m.write(cli.der, c.m.scratch);
  c.x.cfgOwnCertificateDer(c.m.scratch, cli.der.length);
  pairHandshake(c, new DtlsServer().configure(sopts));
  assert.equal(c.reason, DtlsError.MessageTooLarge, c.describe());
  // grown once (from Closed): the same connection takes the chain and sends our certificate
  const h0 = Number(c.x.heapProbe());
  assert.equal(c.x.connGrow(2048, 1024), 0);
  const h1 = Number(c.x.heapProbe());
  assert.ok(h1 - h0 > 2048, `grew by ${h1 - h0} bytes`);
  c.reset();
  const s = new DtlsServer().configure(sopts);
  pairHandshake(c, s);
  const p = established(c, s, "x509 grown");
  assert.deepEqual(Buffer.from(s.peerCertificate(p)), Buffer.from(cli.der), "the client's DER certificate, as a one-entry list");
  // nothing more is allocated: not by the same sizes again, not per handshake
  assert.equal(c.x.connGrow(2048, 1024), DtlsError.BadState, "only while Idle or Closed");
  c.reset();
  const h2 = Number(c.x.heapProbe());
  assert.equal(c.x.connGrow(768, 512), 0, "never shrinks");
  const s2 = new DtlsServer().configure(sopts);
  pairHandshake(c, s2);
  established(c, s2, "x509 again");
  const h3 = Number(c.x.heapProbe());
  assert.equal(h3 - h2, h2 - h1, "no allocation by growBuffers without growth or by the handshake");
});

test("resumption by session ID from the server's cache (abbreviated handshake, EMS)", () => {
  const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK } }, true);
  const s = new DtlsServer().configure({ suites: Suite.All, psk: lookup({ [ID]: PSK }), sessionCache: 4 });
  pairHandshake(c, s);
  const first = established(c, s, "full");
  assert.equal(s.sessionId(first).length, 32);
  assert.ok(c.x.sessionValid());
  c.reset();
  const log = pairHandshake(c, s, { key: "10.0.0.1:5685" });
  const p = established(c, s, "resumed");
  assert.ok(c.resumed && s.resumed(p), "abbreviated on both sides");
  assert.deepEqual(s.sessionId(p), s.sessionId(first), "same session ID: the host maps it to the identity");
  assert.equal(p.pskIdentity, undefined, "no PSK lookup in an abbreviated handshake");
  // RFC 6347 4.2.1: no cookie exchange for a resumption the cache knows
  assert.equal(log[1].d[13], 2, "ServerHello right away");
  const m = measure("PSK-CCM8 abbreviated", log);
  assert.ok(m.bytes <= 350 && m.datagrams <= 4, `${m.bytes} B / ${m.datagrams}`);
});

test("stateless cookies: no connection is taken before a valid cookie; a forged cookie gets a new HelloVerifyRequest", () => {
  const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK } });
  const s = new DtlsServer().configure({ suites: Suite.All, psk: lookup({ [ID]: PSK }) });
  const before = s.x.srvCount();
  c.connect(1000);
  const hello = c.drain()[0];
  const hvr = s.datagram("10.0.0.9:1", hello);
  assert.equal(hvr.length, 1);
  assert.equal(hvr[0][13], 3, "HelloVerifyRequest");
  assert.equal(s.x.srvCount(), before, "nothing allocated for the peer");
  // the same hello from another address with this cookie: a new HelloVerifyRequest (cookie bound to the address)
  const hello2 = c.deliver(hvr[0])[0];
  const other = s.datagram("10.0.0.9:2", hello2);
  assert.equal(other[0]?.[13], 3);
  assert.equal(s.peers.size, 0);
  // the right address: the handshake starts
  const flight = s.datagram("10.0.0.9:1", hello2);
  assert.equal(flight[0][13], 2, "ServerHello");
  assert.equal(s.peers.size, 1);
});

// ---- refusals, each with its reason on both sides ----

function refused(copts: ClientOptions, sopts: ServerOptions) {
  const c = new DtlsClient().configure({ timers: { initialMs: 1000, maxMs: 4000, count: 3 }, ...copts });
  const s = new DtlsServer().configure(sopts);
  pairHandshake(c, s);
  return { c, s, p: s.peer()! };
}

test("unknown PSK identity: unknown_psk_identity (RFC 4279 2)", () => {
  const { c, s, p } = refused({ suites: Suite.PskCcm8, psk: { identity: "stranger", key: PSK } }, { suites: Suite.All, psk: lookup({ [ID]: PSK }) });
  assert.equal(s.reason(p), DtlsError.UnknownPskIdentity, s.describe(p));
  assert.equal(c.reason, DtlsError.PeerAlert, c.describe());
  assert.equal(c.x.connAlertReceived(), AlertDescription.unknown_psk_identity);
});

test("wrong PSK: the client's Finished does not authenticate -> HandshakeDecrypt, bad_record_mac", () => {
  const { c, s, p } = refused({ suites: Suite.PskCcm8, psk: { identity: ID, key: Buffer.alloc(16, 9) } }, { suites: Suite.All, psk: lookup({ [ID]: PSK }) });
  assert.equal(s.reason(p), DtlsError.HandshakeDecrypt, s.describe(p));
  assert.equal(c.x.connAlertReceived(), AlertDescription.bad_record_mac, c.describe());
});

test("wrong client RPK (DTLS-4 on the server side): RpkMismatch, bad_certificate", needs("rpk"), () => {
  const sk = p256Files(join(dir, "srv-w")), ck = p256Files(join(dir, "cli-w")), other = p256Files(join(dir, "other-w"));
  const { c, s, p } = refused(
    { suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki },
    { suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(sk.keyPem) }, clientKey: other.spki });
  assert.equal(s.reason(p), DtlsError.RpkMismatch, s.describe(p));
  assert.equal(c.x.connAlertReceived(), AlertDescription.bad_certificate, c.describe());
});

test("client certificate from an untrusted CA: BadCertificate with the x509 reason", needs("x509"), () => {
  const { root, srv } = x509Setup();
  const rogue = pki!.root("rogue-root");
  const cli = pki!.issue("rogue-client", rogue, { subject: "/CN=rogue" });
  const { c, s, p } = refused({
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) }, ownCertificates: [cli.der],
    trust: { key: root.der, usage: 2, host: "server.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 },
  }, {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der], trustAnchors: [root.der],
  });
  assert.equal(s.reason(p), DtlsError.BadCertificate, s.describe(p));
  assert.ok(s.detail(p) <= -100, `x509 detail ${s.detail(p)}`);
  assert.equal(c.x.connAlertReceived(), AlertDescription.bad_certificate, c.describe());
});

test("client without a certificate when one is required: PeerCertificateMissing, handshake_failure", needs("x509"), () => {
  const { root, srv } = x509Setup();
  const { c, s, p } = refused({
    suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(p256Files(join(dir, "nocert")).keyPem) }, // a key but no certificate list
    trust: { key: root.der, usage: 2, host: "server.example.com" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 },
  }, {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der], trustAnchors: [root.der],
  });
  assert.equal(s.reason(p), DtlsError.PeerCertificateMissing, `${s.describe(p)} / ${errorName(c.reason)}`);
  assert.equal(c.x.connAlertReceived(), AlertDescription.handshake_failure, c.describe());
});

test("no common suite: NoCommonSuite, handshake_failure", () => {
  const { c, s, p } = refused({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK } }, { suites: Suite.PskCbc, psk: lookup({ [ID]: PSK }) });
  assert.equal(s.reason(p), DtlsError.NoCommonSuite, s.describe(p));
  assert.equal(c.x.connAlertReceived(), AlertDescription.handshake_failure, c.describe());
});

test("a lost server flight is retransmitted when the client retransmits its ClientHello", () => {
  const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK }, timers: { initialMs: 100, maxMs: 400, count: 4 } });
  const s = new DtlsServer().configure({ suites: Suite.All, psk: lookup({ [ID]: PSK }) });
  const key = "10.0.0.3:7";
  c.connect(0);
  const hvr = s.datagram(key, c.drain()[0], 0);
  const hello2 = c.deliver(hvr[0], 0);
  s.datagram(key, hello2[0], 0); // the server flight is "lost"
  const again = c.timeout(200); // the client retransmits its hello
  let toClient = s.datagram(key, again[0], 200);
  assert.ok(toClient.length > 0 && toClient[0][13] === 2, "ServerHello again");
  for (let i = 0; i < 4 && toClient.length; i++) {
    const toServer = toClient.flatMap((d) => c.deliver(d, 300));
    toClient = toServer.flatMap((d) => s.datagram(key, d, 300));
  }
  assert.equal(c.state, ConnState.Established, c.describe());
  assert.equal(s.state(s.peer(key)!), ConnState.Established);
});

test("many connections in one module: handles are reused after srvFree", () => {
  const s = new DtlsServer().configure({ suites: Suite.All, psk: lookup({ [ID]: PSK }) });
  for (let i = 0; i < 6; i++) {
    const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK } });
    pairHandshake(c, s, { key: `10.0.1.${i}:1` });
    assert.equal(c.state, ConnState.Established);
    const p = s.peer()!;
    s.close(p);
    s.x.srvFree(p.h);
    s.peers.delete(p.key);
  }
  assert.ok(s.x.srvCount() <= 2, `${s.x.srvCount()} connections alive`);
  void DtlsEvent; void X509Error;
});
