// DTLS building blocks of build/test/dtls.wasm against independent code:
// - record protection: CCM_8 (RFC 6655 3 nonce/AAD) vs node:crypto
//   aes-128-ccm with an 8-byte tag; CBC-HMAC-SHA256 (RFC 5246 6.2.3.2) vs a
//   node:crypto construction, both directions, seeded random inputs;
// - the RFC 6347 4.1.2.6 replay window vs a set-based model;
// - handshake reassembly with out-of-order / overlapping / duplicated fragments;
// - the key schedule (RFC 5246 5 PRF, master secret, RFC 7627 EMS, key
//   block, Finished, RFC 4279 / RFC 5489 premaster) vs a P_SHA256 written
//   here with node:crypto HMAC;
// - hello extension parsing (duplicates, unknown, renegotiation_info).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { DtlsClient, SeededRng, DtlsError, AlertDescription as AD } from "./helpers/dtls-harness";
import { fixtures, Replayer } from "./fixtures/dtls/replay";

const SEED = Number(process.env.DTLS_SEED ?? 20240607);
const N = 300;

function prng(seed: number) {
  let s = seed >>> 0;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

const client = new DtlsClient({ rng: new SeededRng(SEED) });
const x = client.x;
const mem = () => client.m.mem();
const S = client.m.scratch;
const at = (off: number) => S + off;
const w = (b: Uint8Array, off: number) => client.m.write(b, at(off));
const r = (off: number, n: number) => client.m.read(at(off), n);
const STATE = 60000, STATE2 = 61000, REC = 0, KEY = 50000;
const Prot = { Null: 0, Ccm8: 1, Cbc: 2 };

function header(type: number, epoch: number, seq: bigint, len: number): Buffer {
  const h = Buffer.alloc(13);
  h[0] = type; h.writeUInt16BE(0xfefd, 1); h.writeUInt16BE(epoch, 3); h.writeUIntBE(Number(seq), 5, 6); h.writeUInt16BE(len, 11);
  return h;
}

function ccmSealJs(key: Buffer, salt: Buffer, type: number, epoch: number, seq: bigint, pt: Buffer): Buffer {
  const explicit = header(type, epoch, seq, 0).subarray(3, 11);
  const nonce = Buffer.concat([salt, explicit]);
  const aad = Buffer.concat([explicit, Buffer.from([type, 0xfe, 0xfd, pt.length >> 8, pt.length & 255])]);
  const c = createCipheriv("aes-128-ccm", key, nonce, { authTagLength: 8 });
  c.setAAD(aad, { plaintextLength: pt.length });
  const ct = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  const frag = Buffer.concat([explicit, ct]);
  return Buffer.concat([header(type, epoch, seq, frag.length), frag]);
}

function cbcSealJs(key: Buffer, macKey: Buffer, iv: Buffer, type: number, epoch: number, seq: bigint, pt: Buffer, extraPad = 0): Buffer {
  const mh = Buffer.concat([header(type, epoch, seq, 0).subarray(3, 11), Buffer.from([type, 0xfe, 0xfd, pt.length >> 8, pt.length & 255])]);
  const mac = createHmac("sha256", macKey).update(mh).update(pt).digest();
  const base = pt.length + 32 + 1;
  const padLen = ((16 - (base % 16)) % 16) + 16 * extraPad;
  const body = Buffer.concat([pt, mac, Buffer.alloc(padLen + 1, padLen)]);
  const c = createCipheriv("aes-128-cbc", key, iv).setAutoPadding(false);
  const frag = Buffer.concat([iv, c.update(body), c.final()]);
  return Buffer.concat([header(type, epoch, seq, frag.length), frag]);
}

function install(state: number, key: Buffer, extra: Buffer, prot: number) {
  w(key, KEY); w(extra, KEY + 16);
  x.installKeys(at(state), at(KEY), at(KEY + 16), prot);
}

test("CCM_8 record protection equals node:crypto aes-128-ccm (tag 8), both ways", () => {
  const rnd = prng(SEED);
  for (let i = 0; i < N; i++) {
    const key = randomBytes(16), salt = randomBytes(4);
    const len = 1 + (rnd() % 600), type = 20 + (rnd() % 4), epoch = rnd() % 3, seq = BigInt(rnd()) * 65536n + BigInt(rnd() & 0xffff);
    const pt = randomBytes(len);
    install(STATE, key, salt, Prot.Ccm8);
    w(pt, REC + 13 + 8);
    const n = x.sealRecord(at(REC), type, epoch, seq, len, Prot.Ccm8, at(STATE));
    const expected = ccmSealJs(key, salt, type, epoch, seq, pt);
    assert.equal(n, expected.length);
    assert.deepEqual(Buffer.from(r(REC, n)), expected, `seal #${i} seed ${SEED}`);
    // open the JS record in wasm
    w(expected, REC);
    assert.equal(x.openRecord(at(REC), Prot.Ccm8, at(STATE)), len);
    assert.deepEqual(Buffer.from(r(REC + 21, len)), pt);
    // one flipped bit anywhere in nonce/ciphertext/tag, or in the authenticated header, fails
    const bad = Buffer.from(expected);
    // header bytes 0..10 (type, version, epoch, seq: all in the AAD) or the fragment
    const pos = rnd() % 2 ? rnd() % 11 : 13 + (rnd() % (bad.length - 13));
    bad[pos] ^= 1 << (rnd() % 8);
    w(bad, REC);
    assert.equal(x.openRecord(at(REC), Prot.Ccm8, at(STATE)), -1, `forged byte ${pos} #${i}`);
  }
});

test("CBC-HMAC-SHA256 record protection (explicit IV) equals a node:crypto construction, both ways", () => {
  const rnd = prng(SEED + 1);
  for (let i = 0; i < N; i++) {
    const key = randomBytes(16), macKey = randomBytes(32);
    const len = rnd() % 600, type = 20 + (rnd() % 4), epoch = 1 + (rnd() % 2), seq = BigInt(rnd());
    const pt = randomBytes(len);
    install(STATE, key, macKey, Prot.Cbc);
    // wasm seals (random IV from the DRBG); JS decrypts and checks MAC and padding
    w(pt, REC + 13 + 16);
    const n = x.sealRecord(at(REC), type, epoch, seq, len, Prot.Cbc, at(STATE));
    const rec = Buffer.from(r(REC, n));
    assert.equal(rec.readUInt16BE(11), n - 13);
    const iv = rec.subarray(13, 29);
    assert.deepEqual(rec, cbcSealJs(key, macKey, iv, type, epoch, seq, pt), `seal #${i}`);
    // JS seals with extra padding blocks; wasm opens
    const js = cbcSealJs(key, macKey, randomBytes(16), type, epoch, seq, pt, rnd() % 3);
    w(js, REC);
    assert.equal(x.openRecord(at(REC), Prot.Cbc, at(STATE)), len, `open #${i}`);
    assert.deepEqual(Buffer.from(r(REC + 29, len)), pt);
    const bad = Buffer.from(js);
    bad[13 + (rnd() % (bad.length - 13))] ^= 1 << (rnd() % 8);
    w(bad, REC);
    assert.equal(x.openRecord(at(REC), Prot.Cbc, at(STATE)), -1, `forged #${i}`);
    // the sequence number is authenticated
    const bad2 = Buffer.from(js); bad2[10] ^= 1;
    w(bad2, REC);
    assert.equal(x.openRecord(at(REC), Prot.Cbc, at(STATE)), -1);
  }
});

test("record size and payload offset", () => {
  assert.equal(x.recordSize(Prot.Null, 10), 23);
  assert.equal(x.recordSize(Prot.Ccm8, 10), 13 + 8 + 10 + 8);
  assert.equal(x.recordSize(Prot.Cbc, 0), 13 + 16 + 48); // MAC 32 + padding to 48
  assert.equal(x.recordSize(Prot.Cbc, 15), 13 + 16 + 48);
  assert.equal(x.recordSize(Prot.Cbc, 16), 13 + 16 + 64);
  assert.equal(x.payloadOffset(Prot.Ccm8), 8);
  assert.equal(x.payloadOffset(Prot.Cbc), 16);
});

test("anti-replay window (RFC 6347 4.1.2.6) matches a set model", () => {
  const rnd = prng(SEED + 2);
  const W = 70000;
  for (let round = 0; round < 20; round++) {
    client.m.write(new Uint8Array(16), at(W));
    const seen = new Set<number>();
    let top = -1;
    for (let i = 0; i < 400; i++) {
      const seq = Math.max(0, (top < 0 ? 0 : top) + (rnd() % 150) - 100);
      const fresh = x.replayFresh(at(W), BigInt(seq)) !== 0;
      const model = top < 0 || seq > top || (top - seq < 64 && !seen.has(seq));
      assert.equal(fresh, model, `round ${round} i ${i} seq ${seq} top ${top}`);
      if (fresh) { x.replayMark(at(W), BigInt(seq)); seen.add(seq); top = Math.max(top, seq); }
    }
  }
  // 48-bit extremes
  client.m.write(new Uint8Array(16), at(W));
  x.replayMark(at(W), 0xffffffffffffn);
  assert.equal(x.replayFresh(at(W), 0xffffffffffffn), 0);
  assert.equal(x.replayFresh(at(W), 0xffffffffffffn - 63n), 1);
  assert.equal(x.replayFresh(at(W), 0xffffffffffffn - 64n), 0);
});

test("handshake reassembly: out of order, overlapping, duplicated fragments", () => {
  const rnd = prng(SEED + 3);
  for (let i = 0; i < 200; i++) {
    const len = 1 + (rnd() % 900);
    const body = randomBytes(len);
    x.reasmNew(1024);
    // random fragments covering everything, shuffled, with duplicates
    const frags: [number, number][] = [];
    let o = 0;
    while (o < len) { const f = 1 + (rnd() % 200); frags.push([o, Math.min(f, len - o)]); o += f; }
    for (let k = 0; k < 3; k++) { const s = rnd() % len; frags.push([s, Math.min(1 + (rnd() % 100), len - s)]); }
    for (let k = frags.length - 1; k > 0; k--) { const j = rnd() % (k + 1); [frags[k], frags[j]] = [frags[j], frags[k]]; }
    let done = -1;
    for (let k = 0; k < frags.length; k++) {
      const [off, fl] = frags[k];
      w(body.subarray(off, off + fl), 100000);
      const res = x.reasmAdd(11, len, 5, off, at(100000), fl);
      if (res === 1 && done < 0) done = k;
      if (res === 1) break;
      assert.equal(res, 0);
    }
    assert.ok(done >= 0, "completes");
    const buf = client.m.read(x.reasmBuf(), 12 + len);
    assert.deepEqual(Buffer.from(buf.subarray(12)), body);
    // unfragmented header: type, length, seq, offset 0, fragment_length = length
    assert.deepEqual([...buf.subarray(0, 12)], [11, len >> 16, (len >> 8) & 255, len & 255, 0, 5, 0, 0, 0, len >> 16, (len >> 8) & 255, len & 255]);
    x.reasmReset();
  }
  x.reasmNew(100);
  assert.equal(x.reasmAdd(11, 101, 0, 0, at(100000), 10), -1, "longer than the buffer");
  assert.equal(x.reasmAdd(11, 50, 0, 0, at(100000), 10), 0);
  assert.equal(x.reasmAdd(12, 50, 0, 10, at(100000), 10), -2, "other type");
  assert.equal(x.reasmAdd(11, 60, 0, 10, at(100000), 10), -2, "other length");
  assert.equal(x.reasmAdd(11, 50, 0, 10, at(100000), 40), 1);
  x.reasmReset();
  assert.equal(x.reasmAdd(14, 0, 3, 0, at(100000), 0), 1, "empty message completes at once");
});

// ---- key schedule against node:crypto HMAC ----
function pSha256(secret: Buffer, seed: Buffer, n: number): Buffer {
  const out: Buffer[] = [];
  let a = seed, got = 0;
  while (got < n) {
    a = createHmac("sha256", secret).update(a).digest();
    const b = createHmac("sha256", secret).update(a).update(seed).digest();
    out.push(b); got += 32;
  }
  return Buffer.concat(out).subarray(0, n);
}
const prf = (secret: Buffer, label: string, seed: Buffer, n: number) => pSha256(secret, Buffer.concat([Buffer.from(label, "latin1"), seed]), n);

test("premaster secrets: RFC 4279 2 (PSK) and RFC 5489 2 (ECDHE-PSK)", () => {
  const psk = randomBytes(16), z = randomBytes(32);
  w(psk, 0); w(z, 100);
  let n = x.pskPremaster(at(200), 0, 32, at(0), 16);
  assert.deepEqual(Buffer.from(r(200, n)), Buffer.concat([Buffer.from([0, 16]), Buffer.alloc(16), Buffer.from([0, 16]), psk]));
  n = x.pskPremaster(at(200), at(100), 32, at(0), 16);
  assert.deepEqual(Buffer.from(r(200, n)), Buffer.concat([Buffer.from([0, 32]), z, Buffer.from([0, 16]), psk]));
});

test("master secret, extended master secret, key block, Finished and key log vs an independent PRF", () => {
  for (let i = 0; i < 50; i++) {
    const pms = randomBytes(20 + (i % 60)), cr = randomBytes(32), sr = randomBytes(32), sh = randomBytes(32);
    w(pms, 0); w(cr, 200); w(sr, 300); w(sh, 400);
    x.deriveMasterSecret(at(0), pms.length, 0, at(200), at(300), at(500));
    const ms = Buffer.from(r(500, 48));
    assert.deepEqual(ms, prf(pms, "master secret", Buffer.concat([cr, sr]), 48));
    x.deriveMasterSecret(at(0), pms.length, at(400), at(200), at(300), at(500));
    const ems = Buffer.from(r(500, 48));
    assert.deepEqual(ems, prf(pms, "extended master secret", sh, 48));
    x.deriveKeyBlock(at(500), at(200), at(300), at(600), 96);
    assert.deepEqual(Buffer.from(r(600, 96)), prf(ems, "key expansion", Buffer.concat([sr, cr]), 96));
    x.finishedVerifyData(at(500), 0, at(400), at(800));
    assert.deepEqual(Buffer.from(r(800, 12)), prf(ems, "client finished", sh, 12));
    x.finishedVerifyData(at(500), 1, at(400), at(800));
    assert.deepEqual(Buffer.from(r(800, 12)), prf(ems, "server finished", sh, 12));
    const n = x.keyLogLine(at(900), at(200), at(500));
    assert.equal(Buffer.from(r(900, n)).toString("latin1"), `CLIENT_RANDOM ${cr.toString("hex")} ${ems.toString("hex")}`);
  }
});

// ---- extensions ----
function ext(type: number, data: number[]): number[] { return [type >> 8, type & 255, data.length >> 8, data.length & 255, ...data]; }
function parse(bytes: number[], fromServer: boolean) {
  w(Buffer.from(bytes), 0);
  const res = x.parseExtensions(at(0), bytes.length, fromServer ? 1 : 0, at(2000));
  const o = Buffer.from(r(2000, 16));
  return { res, seen: o.readUInt32LE(0), mfl: o.readInt32LE(4), sni: o.readInt32LE(8), ticket: o.readInt32LE(12) };
}

test("hello extensions: contents, duplicates, renegotiation_info, unknown", () => {
  const ok = parse([...ext(0xff01, [0]), ...ext(23, []), ...ext(1, [2]), ...ext(35, [1, 2, 3])], true);
  assert.equal(ok.res, 0);
  assert.equal(ok.seen, 1024 | 256 | 2 | 512);
  assert.equal(ok.mfl, 2);
  assert.equal(ok.ticket, 3);
  assert.equal(parse([...ext(23, []), ...ext(23, [])], true).res, DtlsError.IllegalExtension, "duplicate");
  assert.equal(parse([...ext(0xff01, [1, 7])], true).res, DtlsError.RenegotiationInfo, "non-empty renegotiated_connection");
  assert.equal(parse([...ext(1, [5])], true).res, DtlsError.IllegalExtension, "MFL code 5");
  assert.equal(parse([...ext(23, [0])], true).res, DtlsError.IllegalExtension, "EMS with content");
  assert.equal(parse([...ext(0x1234, [1, 2])], true).seen >>> 0, 0x80000000, "unknown flagged");
  assert.equal(parse([0, 23, 0, 5, 0], true).res, DtlsError.Decode, "truncated");
  const sni = parse(ext(0, [0, 8, 0, 0, 5, ...Buffer.from("a.com")]), false);
  assert.equal(sni.res, 0);
  assert.equal(sni.sni, 5);
  assert.equal(parse(ext(0, [0, 8, 0, 0, 5, ...Buffer.from("a.com")]), true).res, DtlsError.IllegalExtension, "SNI with a name from a server");
});

test("every failure reason maps to the RFC 5246 7.2.2 alert (or none)", () => {
  const E = DtlsError;
  const expected = new Map<number, number>([
    [E.Rng, AD.internal_error], [E.BufferTooSmall, AD.internal_error], [E.SeFailure, AD.internal_error],
    [E.Decode, AD.decode_error], [E.IllegalExtension, AD.decode_error], [E.UnexpectedMessage, AD.unexpected_message],
    [E.TooManyHelloVerify, AD.unexpected_message], [E.ProtocolVersion, AD.protocol_version],
    [E.SuiteNotOffered, AD.illegal_parameter], [E.Compression, AD.illegal_parameter], [E.UnsupportedCurve, AD.illegal_parameter],
    [E.BadPoint, AD.illegal_parameter], [E.ResumptionMismatch, AD.illegal_parameter], [E.UnsupportedSignature, AD.illegal_parameter],
    [E.CertificateType, AD.illegal_parameter], [E.ExtensionNotOffered, AD.unsupported_extension],
    [E.RenegotiationInfo, AD.handshake_failure], [E.ExtendedMasterSecret, AD.handshake_failure], [E.MissingExtension, AD.handshake_failure],
    [E.MessageTooLarge, AD.internal_error], [E.BadSignature, AD.decrypt_error], [E.FinishedMismatch, AD.decrypt_error],
    [E.BadCertificate, AD.bad_certificate], [E.RpkMismatch, AD.bad_certificate], [E.PeerUsesOwnKey, AD.bad_certificate],
    [E.UnknownCertificateType, AD.unsupported_certificate], [E.NoRenegotiation, AD.no_renegotiation],
    [E.RecordOverflow, AD.record_overflow], [E.AuthFailureLimit, AD.bad_record_mac],
    [E.UnknownPskIdentity, AD.unknown_psk_identity], [E.NoCommonSuite, AD.handshake_failure],
    [E.PeerCertificateMissing, AD.handshake_failure], [E.HandshakeDecrypt, AD.bad_record_mac],
    [E.RecordLimit, AD.close_notify], [E.SessionAge, AD.close_notify], [E.LocalClose, AD.close_notify], [E.PeerClosed, AD.close_notify],
  ]);
  for (const [name, code] of Object.entries(DtlsError)) {
    assert.equal(x.alertFor(code), expected.get(code) ?? -1, name);
  }
  assert.equal(x.alertFor(1), -1);
  assert.equal(x.alertFor(-1000), -1);
});

test("RFC 6347 4.2.4 timer with the RFC 7925 11 defaults: 9 s doubling to 60 s, then Timeout", () => {
  const c = new DtlsClient({ rng: new SeededRng(SEED) }).configure({ suites: 1, psk: { identity: "id", key: Buffer.alloc(16, 7) }, timers: null });
  assert.equal(c.connect(0), 0);
  const first = c.drain();
  assert.equal(first.length, 1);
  const deadlines: number[] = [];
  for (let i = 0; i < 5; i++) {
    const d = Number(c.x.connNextDeadline());
    deadlines.push(d);
    assert.equal(c.timeout(d - 1).length, 0, "nothing before the deadline");
    const again = c.timeout(d);
    if (i < 4) assert.deepEqual(Buffer.from(again[0]).subarray(13), Buffer.from(first[0]).subarray(13), "same ClientHello, new record sequence number");
  }
  assert.deepEqual(deadlines, [9000, 27000, 63000, 123000, 183000]);
  assert.equal(c.reason, DtlsError.Timeout);
  assert.equal(Number(c.x.connNextDeadline()), -1);
});

test("no allocation per datagram or per handshake once the connection exists (stub heap unchanged)", () => {
  for (const fx of fixtures.filter((f) => (f.options.suites & 28) === 0)) {
    const p = new Replayer(fx);
    p.replay(0); // warm up: the config and connection exist
    const a = Number(p.c.x.heapProbe()), b = Number(p.c.x.heapProbe());
    for (let i = 0; i < 50; i++) for (let k = 0; k < fx.connections.length; k++) p.replay(k);
    const c = Number(p.c.x.heapProbe());
    assert.equal(c - b, b - a, `${fx.name}: heap grew by ${c - b - (b - a)} bytes over 50 handshakes`);
  }
});

test("an MTU too small for any fragment ends the connection with BufferTooSmall; a small one fragments", () => {
  const tiny = new DtlsClient({ rng: new SeededRng(SEED) }).configure({ suites: 1, psk: { identity: "id", key: Buffer.alloc(16, 7) }, mtu: 24 });
  assert.equal(tiny.connect(0), 0);
  tiny.drain();
  assert.equal(tiny.reason, DtlsError.BufferTooSmall, tiny.describe());
  const small = new DtlsClient({ rng: new SeededRng(SEED) }).configure({ suites: 1, psk: { identity: "id", key: Buffer.alloc(16, 7) }, mtu: 45 });
  assert.equal(small.connect(0), 0);
  const ds = small.drain();
  assert.ok(ds.length >= 3 && ds.every((d) => d.length <= 45), ds.map((d) => d.length).join(","));
  // reassembled, the fragments are the ClientHello of an unfragmented run
  const whole = new DtlsClient({ rng: new SeededRng(SEED) }).configure({ suites: 1, psk: { identity: "id", key: Buffer.alloc(16, 7) } });
  whole.connect(0);
  const ch = Buffer.from(whole.drain()[0]).subarray(13);
  const body = Buffer.alloc(ch.length - 12);
  for (const d of ds) {
    const f = Buffer.from(d).subarray(13);
    const off = f.readUIntBE(6, 3), fl = f.readUIntBE(9, 3);
    assert.equal(f.readUIntBE(1, 3), body.length);
    f.subarray(12, 12 + fl).copy(body, off);
  }
  assert.deepEqual(body, ch.subarray(12));
});
