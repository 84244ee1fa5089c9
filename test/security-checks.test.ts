// Security checks that no other test would notice missing (issue 7): each
// test here fails when its one-line check is deleted (the mutations of
// test/mutations/mutations.mjs, `npm run mutate`).
//  - a man in the middle that presents the genuine server's raw public key or
//    certificate but signs the ServerKeyExchange with its own key
//    (RFC 8422 5.4: the client verifies the signature with the certificate's key),
//    or changes its SignatureAndHashAlgorithm (not covered by the signature);
//  - a ServerKeyExchange on another curve than secp256r1 (DTLS-7);
//  - a record above the negotiated max_fragment_length (RFC 6066 4: record_overflow),
//    a record of another protocol version (RFC 6347 4.1);
//  - RPK mode and a ServerHello without server_certificate_type = RPK (RFC 7250 4.2);
//  - an unknown Security Mode never becomes NoSec (DTLS-11, firmware/transport.ts),
//    and no write stores one (E.1: 0..4);
//  - SEC-2 at the CoAP entry: Object 0 answers 4.04 to a server whatever the request;
//  - the cipher states are wiped when the connection closes (no key bytes
//    left in linear memory).
// The servers are our own DTLS server role (build/test/dtls_server.wasm) with
// the flight rewritten in between where the attack needs it; record keys for
// forged records are derived with node:crypto from the NSS key log.
import { readNamespace } from "../server/as-constants";
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, createHmac, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  DtlsClient, DtlsServer, Suite, CertificateType, ConnState, DtlsError, DtlsEvent, AlertDescription, MaxFragmentLength,
  privateScalar, errorName, type ClientOptions, type ServerOptions,
} from "./helpers/dtls-harness";
import { Pki } from "./helpers/certs";
import { createHostImports } from "../host-shim/node/host";
import { DeviceRng } from "../host-shim/node/drbg";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { NorFlash } from "../host-shim/node/flash";
import { loadTest } from "./helpers/wasm";
import { needs } from "./helpers/profile";

const TIMERS = { initialMs: 1000, maxMs: 4000, count: 3 };
const PSK = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
const ID = "dev1";
let pki: Pki | undefined;
after(() => pki?.cleanup());

/** A fresh P-256 key: PEM, the 32-byte scalar, SubjectPublicKeyInfo DER. */
function p256() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  return { scalar: privateScalar(pem), spki: new Uint8Array(publicKey.export({ format: "der", type: "spki" })) };
}

// ---- the wire: records and handshake messages of a datagram ----

interface Rec { type: number; version: number; epoch: number; seq: number; body: Buffer }
function records(d: Uint8Array): Rec[] {
  const b = Buffer.from(d), out: Rec[] = [];
  for (let o = 0; o + 13 <= b.length;) {
    const len = b.readUInt16BE(o + 11);
    out.push({ type: b[o], version: b.readUInt16BE(o + 1), epoch: b.readUInt16BE(o + 3), seq: b.readUIntBE(o + 5, 6), body: b.subarray(o + 13, o + 13 + len) });
    o += 13 + len;
  }
  return out;
}
function datagram(recs: Rec[]): Uint8Array {
  return new Uint8Array(Buffer.concat(recs.map((r) => {
    const h = Buffer.alloc(13);
    h[0] = r.type; h.writeUInt16BE(r.version, 1); h.writeUInt16BE(r.epoch, 3); h.writeUIntBE(r.seq, 5, 6); h.writeUInt16BE(r.body.length, 11);
    return Buffer.concat([h, r.body]);
  })));
}

/** Rewrites every whole (unfragmented) epoch-0 handshake message of `type` in a datagram. */
function rewriteHandshake(d: Uint8Array, type: number, fn: (body: Buffer) => Buffer): Uint8Array {
  let hit = false;
  const recs = records(d).map((r) => {
    if (r.type !== 22 || r.epoch !== 0) return r;
    const parts: Buffer[] = [];
    for (let o = 0; o + 12 <= r.body.length;) {
      const len = r.body.readUIntBE(o + 1, 3), fl = r.body.readUIntBE(o + 9, 3);
      let msg = r.body.subarray(o, o + 12 + fl);
      if (r.body[o] === type) {
        assert.equal(fl, len, "the message is in one fragment");
        const body = fn(Buffer.from(msg.subarray(12)));
        const h = Buffer.from(msg.subarray(0, 12));
        h.writeUIntBE(body.length, 1, 3); h.writeUIntBE(body.length, 9, 3);
        msg = Buffer.concat([h, body]);
        hit = true;
      }
      parts.push(msg);
      o += 12 + fl;
    }
    return { ...r, body: Buffer.concat(parts) };
  });
  return hit ? datagram(recs) : d;
}

/** Our client and server in-process with a man in the middle on the server's datagrams. */
function mitmHandshake(c: DtlsClient, s: DtlsServer, toClient: (d: Uint8Array) => Uint8Array = (d) => d) {
  const key = "10.0.0.1:5684", now = 1000;
  const log: { dir: "c2s" | "s2c"; d: Uint8Array }[] = [];
  assert.equal(c.connect(now), 0);
  let toServer = c.drain();
  for (let round = 0; round < 20 && toServer.length; round++) {
    const back: Uint8Array[] = [];
    for (const d of toServer) { log.push({ dir: "c2s", d }); back.push(...s.datagram(key, d, now)); }
    toServer = [];
    for (const d0 of back) {
      const d = toClient(d0);
      log.push({ dir: "s2c", d });
      toServer.push(...c.deliver(d, now));
    }
  }
  return log;
}

/** The fatal alert our client sent in the clear (epoch 0), -1 none. */
function plainAlertSent(c: DtlsClient): number {
  for (const d of c.sent) for (const r of records(d)) if (r.type === 21 && r.epoch === 0 && r.body.length === 2 && r.body[0] === 2) return r.body[1];
  return -1;
}

function refusedWith(c: DtlsClient, s: DtlsServer, reason: number, alert: number, label: string) {
  assert.equal(c.state, ConnState.Closed, `${label}: ${c.describe()}`);
  assert.equal(c.reason, reason, `${label}: expected ${errorName(reason)}, got ${c.describe()}`);
  assert.ok(c.events.some((e) => e.kind === DtlsEvent.AlertSent && e.reason === reason), `${label}: AlertSent ${c.describe()}`);
  assert.equal(plainAlertSent(c), alert, `${label}: the alert on the wire`);
  assert.ok(!c.has(DtlsEvent.HandshakeComplete), label);
  const p = s.peer();
  if (p) assert.notEqual(s.state(p), ConnState.Established, `${label}: ${s.describe(p)}`);
}

// ---- 1. ServerKeyExchange signed by someone else than the certificate's key ----

for (const [name, bit] of [["ECDHE-ECDSA-CCM8", Suite.EcdsaCcm8], ["ECDHE-ECDSA-CBC", Suite.EcdsaCbc]] as const) {
  test(`${name} RPK: a man in the middle with the genuine server's raw public key, signing the ServerKeyExchange with its own key -> BadSignature, decrypt_error`, needs("rpk"), () => {
    const genuine = p256(), attacker = p256(), client = p256();
    const copts: ClientOptions = { timers: TIMERS, suites: bit, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: client.scalar }, serverKey: genuine.spki };
    const sopts: ServerOptions = { suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: genuine.scalar } };
    // control: the genuine server is accepted
    {
      const c = new DtlsClient().configure(copts), s = new DtlsServer().configure(sopts);
      mitmHandshake(c, s);
      assert.equal(c.state, ConnState.Established, c.describe());
    }
    // the MITM: its Certificate carries the genuine key (config), its SE slot holds its own key
    const c = new DtlsClient().configure(copts), s = new DtlsServer().configure(sopts);
    assert.ok(s.se.importPrivate(0, attacker.scalar) instanceof Uint8Array);
    mitmHandshake(c, s);
    refusedWith(c, s, DtlsError.BadSignature, AlertDescription.decrypt_error, name);
  });
}

test("ECDHE-ECDSA X.509: a man in the middle with the genuine server's certificate, signing with its own key -> BadSignature, decrypt_error", needs("x509"), () => {
  pki ??= new Pki();
  const root = pki.root("sc-root");
  const srv = pki.issue("sc-server", root, { san: "DNS:server.example.com" });
  const attacker = p256(), client = p256();
  const copts: ClientOptions = { timers: TIMERS, suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: client.scalar }, trust: { key: root.der, usage: 2, host: "server.example.com" },
    buffers: { handshake: 2048, flight: 1024, ticket: 256 } };
  const sopts: ServerOptions = { suites: Suite.All, certificateType: CertificateType.X509, verifyPeer: false,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der] };
  {
    const c = new DtlsClient().configure(copts), s = new DtlsServer().configure(sopts);
    mitmHandshake(c, s);
    assert.equal(c.state, ConnState.Established, c.describe());
  }
  const c = new DtlsClient().configure(copts), s = new DtlsServer().configure(sopts);
  assert.ok(s.se.importPrivate(0, attacker.scalar) instanceof Uint8Array);
  mitmHandshake(c, s);
  refusedWith(c, s, DtlsError.BadSignature, AlertDescription.decrypt_error, "x509");
});

test("ECDHE-ECDSA RPK: the ServerKeyExchange's SignatureAndHashAlgorithm changed to ecdsa_secp384r1_sha384 (not covered by the signature) -> UnsupportedSignature", needs("rpk"), () => {
  const srvKey = p256(), cliKey = p256();
  const c = new DtlsClient().configure({ timers: TIMERS, suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
    identity: { privateKey: cliKey.scalar }, serverKey: srvKey.spki });
  const s = new DtlsServer().configure({ suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: srvKey.scalar } });
  let edited = 0;
  mitmHandshake(c, s, (d) => rewriteHandshake(d, 12, (ske) => {
    assert.equal(ske.readUInt16BE(4 + 65), 0x0403, "ecdsa_secp256r1_sha256 after ServerECDHParams");
    ske.writeUInt16BE(0x0503, 4 + 65);
    edited++;
    return ske;
  }));
  assert.equal(edited, 1);
  refusedWith(c, s, DtlsError.UnsupportedSignature, AlertDescription.illegal_parameter, "sha384");
});

// ---- 2. ServerKeyExchange on another curve (DTLS-7) ----

/** ServerECDHParams start: after the PSK identity hint (ECDHE-PSK) or at once (ECDHE-ECDSA). */
const paramsAt = (ske: Buffer, psk: boolean) => (psk ? 2 + ske.readUInt16BE(0) : 0);

for (const [name, bit, psk] of [["ECDHE-PSK-CBC", Suite.EcdhePskCbc, true], ["ECDHE-ECDSA-CCM8 RPK", Suite.EcdsaCcm8, false]] as const) {
  for (const [what, edit] of [
    ["named_curve secp384r1", (b: Buffer, at: number) => b.writeUInt16BE(24, at + 1)],
    ["named_curve x25519", (b: Buffer, at: number) => b.writeUInt16BE(29, at + 1)],
    ["curve_type explicit_prime", (b: Buffer, at: number) => { b[at] = 1; }],
  ] as const) {
    test(`${name}: a ServerKeyExchange with ${what} -> UnsupportedCurve, illegal_parameter`, psk ? {} : needs("rpk"), () => {
      const srvKey = p256(), cliKey = p256();
      const copts: ClientOptions = psk
        ? { timers: TIMERS, suites: bit, psk: { identity: ID, key: PSK } }
        : { timers: TIMERS, suites: bit, certificateType: CertificateType.RawPublicKey, identity: { privateKey: cliKey.scalar }, serverKey: srvKey.spki };
      const sopts: ServerOptions = psk
        ? { suites: Suite.All, psk: { identity: ID, key: PSK } }
        : { suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: srvKey.scalar } };
      const c = new DtlsClient().configure(copts), s = new DtlsServer().configure(sopts);
      let edited = 0;
      mitmHandshake(c, s, (d) => rewriteHandshake(d, 12, (ske) => { edit(ske, paramsAt(ske, psk)); edited++; return ske; }));
      assert.equal(edited, 1, "the ServerKeyExchange went through the middle");
      refusedWith(c, s, DtlsError.UnsupportedCurve, AlertDescription.illegal_parameter, `${name} ${what}`);
    });
  }
}

// ---- 3. record_overflow above the negotiated max_fragment_length (RFC 6066 4) ----

function pSha256(secret: Buffer, seed: Buffer, n: number): Buffer {
  const out: Buffer[] = [];
  let a = seed;
  for (let got = 0; got < n; got += 32) {
    a = createHmac("sha256", secret).update(a).digest();
    out.push(createHmac("sha256", secret).update(a).update(seed).digest());
  }
  return Buffer.concat(out).subarray(0, n);
}

/** The CCM_8 record keys (RFC 5246 6.3) from the client's key log line and the ServerHello on the wire. */
function ccmKeys(c: DtlsClient, log: { dir: string; d: Uint8Array }[]) {
  const line = c.keyLogLine();
  assert.ok(line, "key log");
  const [, cr, ms] = line!.split(" ");
  let sr: Buffer | undefined;
  for (const { dir, d } of log) {
    if (dir !== "s2c") continue;
    for (const r of records(d)) if (r.type === 22 && r.epoch === 0 && r.body[0] === 2) sr = Buffer.from(r.body.subarray(12 + 2, 12 + 34));
  }
  assert.ok(sr, "ServerHello seen");
  const kb = pSha256(Buffer.from(ms, "hex"), Buffer.concat([Buffer.from("key expansion"), sr!, Buffer.from(cr, "hex")]), 40);
  return { clientKey: kb.subarray(0, 16), serverKey: kb.subarray(16, 32), clientIv: kb.subarray(32, 36), serverIv: kb.subarray(36, 40) };
}

/** An epoch-1 CCM_8 record from the server (RFC 6655 3, nonce = salt || epoch || seq). */
function sealFromServer(k: { serverKey: Buffer; serverIv: Buffer }, type: number, seq: number, pt: Buffer, version = 0xfefd): Uint8Array {
  const es = Buffer.alloc(8);
  es.writeUInt16BE(1, 0); es.writeUIntBE(seq, 2, 6);
  const aad = Buffer.concat([es, Buffer.from([type, version >> 8, version & 255, pt.length >> 8, pt.length & 255])]);
  const cph = createCipheriv("aes-128-ccm", k.serverKey, Buffer.concat([k.serverIv, es]), { authTagLength: 8 });
  cph.setAAD(aad, { plaintextLength: pt.length });
  const body = Buffer.concat([es, cph.update(pt), cph.final(), cph.getAuthTag()]);
  return datagram([{ type, version, epoch: 1, seq, body }]);
}

test("max_fragment_length 512: a 513-byte record from the server -> RecordOverflow, record_overflow (RFC 6066 4); 512 bytes pass", () => {
  const c = new DtlsClient().configure({ timers: TIMERS, suites: Suite.PskCcm8, psk: { identity: ID, key: PSK }, mfl: MaxFragmentLength.L512, keyLog: true });
  const s = new DtlsServer().configure({ suites: Suite.All, psk: { identity: ID, key: PSK } });
  const log = mitmHandshake(c, s);
  assert.equal(c.state, ConnState.Established, c.describe());
  assert.equal(c.x.connMaxPlaintext(), 512);
  const k = ccmKeys(c, log);
  // at the limit: delivered (proves the forged records authenticate)
  c.deliver(sealFromServer(k, 23, 100, Buffer.alloc(512, 0x61)));
  assert.equal(c.appData.length, 1, c.describe());
  assert.equal(c.appData[0].length, 512);
  // one byte above: refused, fatal record_overflow (encrypted: the event says which)
  c.deliver(sealFromServer(k, 23, 101, Buffer.alloc(513, 0x62)));
  assert.equal(c.appData.length, 1, "nothing above the MFL is released");
  assert.equal(c.state, ConnState.Closed, c.describe());
  assert.equal(c.reason, DtlsError.RecordOverflow, c.describe());
  assert.ok(c.events.some((e) => e.kind === DtlsEvent.AlertSent && e.reason === DtlsError.RecordOverflow));
});

test("a record of another protocol version (TLS 1.2, DTLS 1.0 after the handshake) is dropped even when it authenticates (RFC 6347 4.1)", () => {
  const c = new DtlsClient().configure({ timers: TIMERS, suites: Suite.PskCcm8, psk: { identity: ID, key: PSK }, keyLog: true });
  const s = new DtlsServer().configure({ suites: Suite.All, psk: { identity: ID, key: PSK } });
  const k = ccmKeys(c, mitmHandshake(c, s));
  assert.equal(c.state, ConnState.Established, c.describe());
  const dropped = c.stats().recordsDropped;
  c.deliver(sealFromServer(k, 23, 200, Buffer.from("tls"), 0x0303));
  c.deliver(sealFromServer(k, 23, 201, Buffer.from("dtls 1.0"), 0xfeff));
  assert.equal(c.appData.length, 0, "nothing released");
  assert.equal(c.stats().recordsDropped, dropped + 2);
  assert.equal(c.state, ConnState.Established, c.describe());
  c.deliver(sealFromServer(k, 23, 202, Buffer.from("dtls 1.2")));
  assert.equal(Buffer.concat(c.appData).toString(), "dtls 1.2", "the same keys with version 1.2 pass");
});

// ---- 4. RPK mode: the ServerHello must select server_certificate_type = RPK (RFC 7250 4.2) ----

/** Edits the ServerHello's extension list: fn gets [type, data] pairs. */
function editServerHelloExtensions(body: Buffer, fn: (exts: [number, Buffer][]) => [number, Buffer][]): Buffer {
  let o = 2 + 32;
  o += 1 + body[o]; // session_id
  o += 3; // cipher_suite, compression_method
  const exts: [number, Buffer][] = [];
  const end = o + 2 + body.readUInt16BE(o);
  for (let p = o + 2; p < end;) {
    const t = body.readUInt16BE(p), n = body.readUInt16BE(p + 2);
    exts.push([t, Buffer.from(body.subarray(p + 4, p + 4 + n))]);
    p += 4 + n;
  }
  const list = Buffer.concat(fn(exts).map(([t, d]) => { const h = Buffer.alloc(4); h.writeUInt16BE(t, 0); h.writeUInt16BE(d.length, 2); return Buffer.concat([h, d]); }));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(list.length);
  return Buffer.concat([body.subarray(0, o), len, list]);
}

const SERVER_CERTIFICATE_TYPE = 20;
for (const [what, fn] of [
  ["without server_certificate_type", (e: [number, Buffer][]) => e.filter(([t]) => t !== SERVER_CERTIFICATE_TYPE)],
  ["with server_certificate_type = X.509", (e: [number, Buffer][]) => e.map(([t, d]) => [t, t === SERVER_CERTIFICATE_TYPE ? Buffer.from([0]) : d] as [number, Buffer])],
] as const) {
  test(`RPK mode: a ServerHello ${what} -> CertificateType, nothing more is accepted`, needs("rpk"), () => {
    const srvKey = p256(), cliKey = p256();
    const c = new DtlsClient().configure({ timers: TIMERS, suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: cliKey.scalar }, serverKey: srvKey.spki });
    const s = new DtlsServer().configure({ suites: Suite.All, certificateType: CertificateType.RawPublicKey, identity: { privateKey: srvKey.scalar } });
    let seen = false;
    mitmHandshake(c, s, (d) => rewriteHandshake(d, 2, (sh) => editServerHelloExtensions(sh, (e) => {
      seen = e.some(([t]) => t === SERVER_CERTIFICATE_TYPE);
      return fn(e);
    })));
    assert.ok(seen, "the server selected RPK; the middle changed it");
    refusedWith(c, s, DtlsError.CertificateType, AlertDescription.illegal_parameter, what);
  });
}

// ---- 5. an unknown Security Mode never becomes NoSec (DTLS-11) ----

test("transport: an unknown or absent Security Mode is refused (TransportError.Mode), nothing is opened; mode 3 opens in clear", () => {
  const opened: string[] = [];
  const logs: string[] = [];
  let memory!: WebAssembly.Memory;
  const imports = createHostImports({
    rng: new DeviceRng(), se: new SimulatedSecureElement(), flash: new NorFlash(),
    net: { open: (h, p) => { opened.push(`${h}:${p}`); return 1; }, send: () => 0, close: () => {} },
    clock: { monotonicMs: () => 0, wallSeconds: () => 1_700_000_000 },
    log: (_level, text) => { logs.push(text); },
    fatal: (code, line) => { throw new Error(`fatal ${code} at ${line}`); },
  }, () => memory);
  const m = loadTest<any>("transport", imports);
  memory = m.exports.memory;
  const host = Buffer.from("127.0.0.1");
  const open = (ci: number, mode: number) => m.exports.openWithMode(ci, 1, mode, m.write(host), host.length, 5683, 0n);
  const MODE = readNamespace("assembly/firmware/transport.ts", "TransportError").Mode;
  for (const mode of [5, 9, 255, -1, 0x7fffffff]) {
    assert.equal(open(1, mode), MODE, `mode ${mode}`);
    assert.equal(opened.length, 0, `mode ${mode}: nothing opened`);
    assert.ok(logs.some((l) => l.includes(`Security Mode ${mode} is not a mode`)), logs.join("\n"));
  }
  // control: the explicit NoSec mode opens a plain channel, loudly
  assert.equal(open(2, 3), readNamespace("assembly/lwm2m/client/conn.ts", "Channel").Up, "Channel.Up");
  assert.deepEqual(opened, ["127.0.0.1:5683"]);
  assert.ok(logs.some((l) => l.includes("INSECURE")));
});

// ---- SEC-2 at the CoAP entry (lwHandle): Object 0 does not exist for a server, whatever the request ----

test("SEC-2: requests on Object 0 that would be refused with 4.00 or 4.05 elsewhere are 4.04 for an LwM2M Server, before any other check", () => {
  const m = loadTest<any>("lwm2m_model");
  const E = m.exports;
  assert.equal(E.init(), 0);
  const SRV = 101, NONE = 0xffff, PUT = 3, FETCH = 5, IPATCH = 7;
  const NOT_FOUND = 0x84, BAD_REQUEST = 0x80, METHOD_NOT_ALLOWED = 0x85;
  const Q = m.scratch, IN = m.scratch + 4096, OUT = m.scratch + 8192;
  const handle = (method: number, [o, i]: number[], query = "", payload = new Uint8Array(0)) => {
    const q = Buffer.from(query);
    m.write(q, Q);
    m.write(payload, IN);
    return E.handle(SRV, method, o, i, NONE, NONE, 11542, -1, Q, q.length, IN, payload.length, OUT, 4096);
  };
  // the same shapes on Object 3 (visible): the codes that would tell a server Object 0 is there
  assert.equal(handle(PUT, [3, 0], "pmin=1", Uint8Array.of(1)), BAD_REQUEST, "Write-Attributes with a payload on /3/0");
  assert.equal(handle(FETCH, [3, 0]), METHOD_NOT_ALLOWED, "FETCH /3/0");
  for (const [what, code] of [
    ["Write-Attributes with a payload on /0/0", handle(PUT, [0, 0], "pmin=1", Uint8Array.of(1))],
    ["FETCH /0/0", handle(FETCH, [0, 0])],
    ["iPATCH /0", handle(IPATCH, [0, NONE])],
  ] as const) assert.equal(code, NOT_FOUND, what);
});

// ---- the Security Mode value itself (E.1: 0..4) ----

test("Security Mode outside 0..4 is refused when written (factory and Bootstrap-Write), so no configuration holds one", () => {
  const m = loadTest<any>("lwm2m_model");
  const E = m.exports;
  assert.equal(E.init(), 0);
  const NONE = 0xffff, FACTORY = -2, BS = -1, TLV = 11542, CHANGED = 0x44, BAD_REQUEST = 0x80;
  const IN = m.scratch, OUT = m.scratch + 8192;
  const res = (id: number, v: Uint8Array) => Buffer.concat([Buffer.from(v.length < 8 ? [0xc0 | v.length, id] : [0xc8, id, v.length]), v]);
  const inst = (iid: number, ...r: Buffer[]) => { const b = Buffer.concat(r); return Buffer.concat([Buffer.from([0x08, iid, b.length]), b]); };
  const account = (mode: number) => inst(0, res(0, Buffer.from("coaps://bs.example:5684")), res(1, Uint8Array.of(1)), res(2, Uint8Array.of(mode)),
    res(3, Buffer.from("dev-1")), res(5, Buffer.alloc(16, 0x5a)));
  const write = (caller: number, b: Buffer) => { m.write(b, IN); return E.write(caller, 0, NONE, NONE, NONE, 0, TLV, IN, b.length, OUT, 4096); };
  for (const mode of [5, 9, 0x7f]) {
    assert.equal(write(FACTORY, account(mode)), BAD_REQUEST, `factory, mode ${mode}`);
    assert.equal(write(BS, account(mode)), BAD_REQUEST, `Bootstrap-Write, mode ${mode}`);
  }
  assert.equal(write(FACTORY, account(0)), CHANGED, "mode 0 (PSK) is taken");
});

// ---- 6. the cipher states are wiped at close ----

const inMemory = (c: DtlsClient, key: Buffer) => Buffer.from(c.m.mem()).includes(key);

test("close: the record keys of both directions are gone from linear memory", () => {
  const c = new DtlsClient().configure({ timers: TIMERS, suites: Suite.PskCcm8, psk: { identity: ID, key: PSK }, keyLog: true });
  const s = new DtlsServer().configure({ suites: Suite.All, psk: { identity: ID, key: PSK } });
  const log = mitmHandshake(c, s);
  assert.equal(c.state, ConnState.Established, c.describe());
  const k = ccmKeys(c, log);
  // control: while the session is up, each key is in the client's memory (its AES key schedule starts with it)
  assert.ok(inMemory(c, k.clientKey), "client_write_key in memory while established");
  assert.ok(inMemory(c, k.serverKey), "server_write_key in memory while established");
  c.closeConn();
  assert.equal(c.state, ConnState.Closed);
  assert.equal(c.drain().length, 1, "close_notify went out");
  assert.ok(!inMemory(c, k.clientKey), "client_write_key wiped at close");
  assert.ok(!inMemory(c, k.serverKey), "server_write_key wiped at close");
});
