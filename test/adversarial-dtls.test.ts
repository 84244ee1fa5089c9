// Adversarial harness, DTLS side: the device (build/firmware.wasm in
// host-shim/node's Device, virtual time) handshakes (PSK) with a hostile
// server (test/helpers/hostile-peer.ts: the project's DTLS server role with
// every datagram it sends open to mutation). Each case asserts the refusal
// (the DtlsError the device logs, the alert it sends or received) or that
// the hostile input was dropped and the same handshake still completed; then
// the peer turns honest and the device must complete a fresh handshake,
// register and serve a Read (HostilePeer.recover).
// Tables: bad lengths and truncation, epochs and sequence numbers at limits,
// fragment offsets and lengths at limits, duplicated / reordered /
// interleaved flights, HelloVerifyRequest floods, every alert at every step,
// unoffered suites and extensions, 10-certificate chains and 60 KB messages.
import assert from "node:assert/strict";
import { dtlsCase, Hits, isHvr, isServerHelloFlight, isFinishedFlight, type DtlsCase } from "./helpers/adversarial-cases";
import {
  CT, HT, alertRecord, cat, editMessage, editFragmentHeader, editRecords, fragmentMessage, parseRecords, parseFragments,
  writeRecord, writeFragment, addExtension, messageTypes, serverHelloLayout, serverHelloExtensions, withExtensions, type ServerDatagram,
} from "./helpers/hostile-peer";
import { DtlsError, AlertDescription } from "./helpers/dtls-harness";

const E = DtlsError, A = AlertDescription;
const once = (pred: (d: ServerDatagram) => boolean, f: (d: ServerDatagram) => Uint8Array[], times = 1) => (h: Hits) => h.on(pred, f, times);
const always = (pred: (d: ServerDatagram) => boolean, f: (d: ServerDatagram) => Uint8Array[]) => (h: Hits) => h.on(pred, f);
const completes = { completes: true } as const;
const refused = (fail: number, alert?: number | null, received?: number) => ({ fail, alert, received });
const MAX_SEQ = (1n << 48n) - 1n;
const first = (d: ServerDatagram) => parseRecords(d.data).records[0];
const rnd = (n: number, seed = 7) => { const b = new Uint8Array(n); let x = seed; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; } return b; };
const sh = (f: (b: Uint8Array) => Uint8Array) => once(isServerHelloFlight, (d) => [editMessage(d.data, HT.ServerHello, f)]);
const set16 = (b: Uint8Array, o: number, v: number) => { const c = b.slice(); c[o] = v >> 8; c[o + 1] = v & 255; return c; };
/** One record per handshake fragment (so that they can be reordered). */
const perMessage = (d: Uint8Array) => {
  const { records } = parseRecords(d);
  const out: Uint8Array[] = [];
  let seq = records[0]?.seq ?? 0n;
  for (const r of records) {
    if (r.type === CT.Handshake && r.epoch === 0) for (const f of parseFragments(r.body)) out.push(writeRecord({ ...r, seq: seq++, body: writeFragment(f) }));
    else out.push(writeRecord({ ...r, seq: seq++ }));
  }
  return out;
};

const cases: DtlsCase[] = [];
const add = (group: string, list: DtlsCase[]) => { for (const c of list) cases.push({ ...c, name: `${group}: ${c.name}` }); };

// ---- bad lengths and truncation (the ServerHello flight, once; the retransmission is honest) ----
add("length", [
  { name: "record length beyond the datagram", toDevice: once(isServerHelloFlight, (d) => [editRecords(d.data, (r) => r)].map((x) => { const y = x.slice(); y[12] += 1; return y; })), expect: completes },
  { name: "record length 0xffff", toDevice: once(isServerHelloFlight, (d) => { const y = d.data.slice(); y[11] = 0xff; y[12] = 0xff; return [y]; }), expect: completes },
  { name: "record length 0 with a body behind it", toDevice: once(isServerHelloFlight, (d) => { const y = d.data.slice(); y[11] = 0; y[12] = 0; return [y]; }), expect: completes },
  ...[1, 5, 12, 13, 20, 24, 40, -1].map((n): DtlsCase => ({
    name: `datagram truncated to ${n < 0 ? "its length - 1" : n} bytes`,
    toDevice: once(isServerHelloFlight, (d) => [d.data.slice(0, n < 0 ? d.data.length + n : n)]), expect: completes,
  })),
  { name: "empty datagram", toDevice: once(isServerHelloFlight, (d) => [new Uint8Array(0), d.data]), expect: completes },
  { name: "one trailing byte after the records", toDevice: once(isServerHelloFlight, (d) => [cat(d.data, Uint8Array.of(22))]), expect: completes },
  { name: "a 12-byte record header fragment after the records", toDevice: once(isServerHelloFlight, (d) => [cat(d.data, d.data.slice(0, 12))]), expect: completes },
  { name: "empty handshake record before the flight", toDevice: once(isServerHelloFlight, (d) => [cat(writeRecord({ type: CT.Handshake, version: 0xfefd, epoch: 0, seq: 40n, body: new Uint8Array(0) }), d.data)]), expect: completes },
  { name: "handshake header cut at 11 bytes", toDevice: once(isServerHelloFlight, (d) => [writeRecord({ ...first(d), body: first(d).body.slice(0, 11) })]), expect: completes },
  { name: "fragment_length beyond the record", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, fragLength: f.fragLength + 5 }))]), expect: completes },
  { name: "ServerHello body one byte short (lengths consistent)", toDevice: sh((b) => b.slice(0, b.length - 1)), expect: refused(E.Decode, A.decode_error) },
  { name: "ServerHello of 2 bytes", toDevice: sh((b) => b.slice(0, 2)), expect: refused(E.Decode, A.decode_error) },
  { name: "ServerHello session_id length 33", toDevice: sh((b) => { const c = b.slice(); c[34] = 33; return c; }), expect: refused(E.Decode, A.decode_error) },
  { name: "ServerHello extensions length + 1", toDevice: sh((b) => { const L = serverHelloLayout(b); return set16(b, L.ext, L.extEnd - L.ext - 2 + 1); }), expect: refused(E.Decode, A.decode_error) },
  { name: "ServerHello extensions length - 1", toDevice: sh((b) => { const L = serverHelloLayout(b); return set16(b, L.ext, L.extEnd - L.ext - 2 - 1); }), expect: refused(E.Decode, A.decode_error) },
  { name: "ServerHello extension data length beyond the list", toDevice: sh((b) => { const L = serverHelloLayout(b); return set16(b, L.ext + 4, 0x7fff); }), expect: refused(E.Decode, A.decode_error) },
  { name: "ServerHelloDone with a body", toDevice: once(isServerHelloFlight, (d) => [editMessage(d.data, HT.ServerHelloDone, () => Uint8Array.of(0))]), expect: refused(E.Decode, A.decode_error) },
  { name: "HelloVerifyRequest cookie length beyond the message", toDevice: once(isHvr, (d) => [editMessage(d.data, HT.HelloVerifyRequest, (b) => { const c = b.slice(); c[2] = 200; return c; })]), expect: refused(E.Decode, A.decode_error) },
  { name: "HelloVerifyRequest of 1 byte", toDevice: once(isHvr, (d) => [editMessage(d.data, HT.HelloVerifyRequest, (b) => b.slice(0, 1))]), expect: refused(E.Decode, A.decode_error) },
]);

// ---- epochs and sequence numbers at limits ----
const recs = (f: (r: ReturnType<typeof first>, i: number) => ReturnType<typeof first> | ReturnType<typeof first>[] | null) => (d: ServerDatagram) => [editRecords(d.data, f)];
add("epoch/seq", [
  { name: "ServerHello flight in epoch 1", toDevice: once(isServerHelloFlight, recs((r) => ({ ...r, epoch: 1 }))), expect: completes },
  { name: "ServerHello flight in epoch 0xffff", toDevice: once(isServerHelloFlight, recs((r) => ({ ...r, epoch: 0xffff }))), expect: completes },
  { name: "HelloVerifyRequest in epoch 1", toDevice: once(isHvr, recs((r) => ({ ...r, epoch: 1 }))), expect: completes },
  { name: "every record of the flight twice (same sequence number)", toDevice: once(isServerHelloFlight, recs((r) => [r, r])), expect: completes },
  { name: "ServerHello flight at sequence number 2^48-1, then the honest one", toDevice: once(isServerHelloFlight, recs((r) => ({ ...r, seq: MAX_SEQ }))), expect: completes },
  { name: "spoofed epoch-0 garbage handshake record with seq 2^48-1 before the flight", toDevice: once(isServerHelloFlight, (d) => [writeRecord({ type: CT.Handshake, version: 0xfefd, epoch: 0, seq: MAX_SEQ, body: rnd(7) }), d.data]), expect: completes },
  { name: "spoofed epoch-0 application data with seq 2^48-1 before the flight", toDevice: once(isServerHelloFlight, (d) => [writeRecord({ type: CT.ApplicationData, version: 0xfefd, epoch: 0, seq: MAX_SEQ, body: rnd(20) }), d.data]), expect: completes },
  { name: "spoofed epoch-0 record with seq 2^48-1 that is not even a record type", toDevice: once(isServerHelloFlight, (d) => [writeRecord({ type: 99, version: 0xfefd, epoch: 0, seq: MAX_SEQ, body: rnd(4) }), d.data]), expect: completes },
  { name: "ServerHello record version 1.0 (FEFF)", toDevice: once(isServerHelloFlight, recs((r) => ({ ...r, version: 0xfeff }))), expect: completes },
  { name: "ServerHello record version TLS 1.2 (0303)", toDevice: once(isServerHelloFlight, recs((r) => ({ ...r, version: 0x0303 }))), expect: completes },
  ...[0, 19, 24, 255].map((t): DtlsCase => ({ name: `record content type ${t}`, toDevice: once(isServerHelloFlight, recs((r) => ({ ...r, type: t }))), expect: completes })),
  { name: "server Finished in epoch 2", toDevice: once(isFinishedFlight, recs((r) => (r.epoch === 1 ? { ...r, epoch: 2 } : r))), expect: completes },
  { name: "server Finished at sequence number 2^48-1 (AAD no longer matches)", toDevice: once(isFinishedFlight, recs((r) => (r.epoch === 1 ? { ...r, seq: MAX_SEQ } : r))), expect: completes },
  { name: "server Finished with one ciphertext bit flipped", toDevice: once(isFinishedFlight, recs((r) => { if (r.epoch !== 1) return r; const b = r.body.slice(); b[b.length - 1] ^= 1; return { ...r, body: b }; })), expect: completes },
  { name: "server Finished truncated to 8 bytes", toDevice: once(isFinishedFlight, recs((r) => (r.epoch === 1 ? { ...r, body: r.body.slice(0, 8) } : r))), expect: completes },
  { name: "ChangeCipherSpec in epoch 1", toDevice: once(isFinishedFlight, recs((r) => (r.type === CT.ChangeCipherSpec ? { ...r, epoch: 1 } : r))), expect: completes },
  { name: "ChangeCipherSpec with body 2", toDevice: once(isFinishedFlight, recs((r) => (r.type === CT.ChangeCipherSpec ? { ...r, body: Uint8Array.of(2) } : r))), expect: completes },
  { name: "ChangeCipherSpec of 2 bytes", toDevice: once(isFinishedFlight, recs((r) => (r.type === CT.ChangeCipherSpec ? { ...r, body: Uint8Array.of(1, 1) } : r))), expect: completes },
  {
    name: "after the handshake: spoofed epoch-1 record with seq 2^48-1, then a Read in the same session", expect: completes,
    toDevice: once(isFinishedFlight, (d) => [d.data]),
    check: (p) => {
      const h = p.countHandshakes();
      p.inject(writeRecord({ type: CT.ApplicationData, version: 0xfefd, epoch: 1, seq: MAX_SEQ, body: rnd(40) }));
      const r = p.get("/3/0/0", 0);
      assert.equal(r?.code, 0x45, "the session still serves a Read (the forged record did not move the replay window)");
      assert.equal(p.countHandshakes(), h);
    },
  },
  {
    name: "after the handshake: plaintext epoch-0 application data is not delivered", expect: completes,
    toDevice: once(isFinishedFlight, (d) => [d.data]),
    check: (p) => {
      const before = p.coapIn.length;
      p.inject(writeRecord({ type: CT.ApplicationData, version: 0xfefd, epoch: 0, seq: 77n, body: Uint8Array.of(0x40, 0x01, 0x12, 0x34, 0xb1, 0x33) })); // CON GET /3
      p.run(5000);
      assert.equal(p.coapIn.length, before, "no answer to a plaintext request");
      assert.equal(p.get("/3/0/0", 0)?.code, 0x45);
    },
  },
]);

// ---- fragment offsets and lengths at limits ----
const frag = (pieces: (len: number) => [number, number][]) => once(isServerHelloFlight, (d) => [fragmentMessage(d.data, HT.ServerHello, pieces)]);
add("fragment", [
  { name: "ServerHello in two fragments", toDevice: frag((n) => [[0, 20], [20, n - 20]]), expect: completes },
  { name: "ServerHello in two fragments, reversed", toDevice: frag((n) => [[20, n - 20], [0, 20]]), expect: completes },
  { name: "ServerHello in 4-byte fragments", toDevice: frag((n) => Array.from({ length: Math.ceil(n / 4) }, (_, i): [number, number] => [4 * i, 4])), expect: completes },
  { name: "ServerHello in overlapping fragments", toDevice: frag((n) => [[0, 30], [10, 40], [25, n - 25]]), expect: completes },
  { name: "ServerHello fragments duplicated", toDevice: frag((n) => [[0, 20], [0, 20], [20, n - 20], [20, n - 20]]), expect: completes },
  { name: "zero-length fragment at offset = length", toDevice: frag((n) => [[n, 0], [0, n]]), expect: completes },
  { name: "zero-length fragment at offset 0", toDevice: frag((n) => [[0, 0], [0, n]]), expect: completes },
  { name: "only the first half (the retransmission brings the rest)", toDevice: frag((n) => [[0, n >> 1]]), expect: completes },
  { name: "fragment offset + length beyond the message", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, fragOffset: 5 }))]), expect: completes },
  { name: "fragment offset 2^24-1", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, fragOffset: 0xffffff }))]), expect: completes },
  { name: "message length 2^24-1 (first fragment)", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, length: 0xffffff }))]), expect: refused(E.MessageTooLarge, A.internal_error) },
  { name: "message_seq 100 ahead", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, messageSeq: f.messageSeq + 100 }))]), expect: completes },
  { name: "message_seq 0xffff", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, messageSeq: 0xffff }))]), expect: completes },
  { name: "message_seq behind (an old one)", toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, messageSeq: 0 }))]), expect: completes },
  {
    // length 400 fits the reassembly buffer: a message too large for it is refused at once (MessageTooLarge,
    // cases under "large messages"), as an unauthenticated fatal alert at epoch 0 would end the handshake too.
    name: "a fragment with the expected message_seq but another type, then the real message",
    toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, msgType: HT.Certificate, fragLength: 10, body: f.body.slice(0, 10), length: 400 })), d.data]),
    expect: completes,
  },
  {
    name: "a fragment with the expected message_seq but another length, then the real message",
    toDevice: once(isServerHelloFlight, (d) => [editFragmentHeader(d.data, HT.ServerHello, (f) => ({ ...f, fragLength: 10, body: f.body.slice(0, 10), length: f.length + 50 })), d.data]),
    expect: completes,
  },
  { name: "HelloVerifyRequest in two fragments", toDevice: once(isHvr, (d) => [fragmentMessage(d.data, HT.HelloVerifyRequest, (n) => [[0, 5], [5, n - 5]])]), expect: completes },
]);

// ---- duplicated / reordered / interleaved flights ----
let stale: Uint8Array | null = null;
add("flight", [
  { name: "every server datagram twice", toDevice: always(() => true, (d) => [d.data, d.data]), expect: completes },
  { name: "every server datagram five times", toDevice: always(() => true, (d) => [d.data, d.data, d.data, d.data, d.data]), expect: completes },
  { name: "ServerHelloDone before ServerHello", toDevice: once(isServerHelloFlight, (d) => perMessage(d.data).reverse()), expect: completes },
  { name: "ServerHello flight records reversed in one datagram", toDevice: once(isServerHelloFlight, (d) => [cat(...perMessage(d.data).reverse())]), expect: completes },
  { name: "Finished before ChangeCipherSpec", toDevice: once(isFinishedFlight, (d) => { const r = parseRecords(d.data).records; return [writeRecord(r[1] ?? r[0]), writeRecord(r[0])]; }), expect: completes },
  { name: "Finished flight lost once", toDevice: once(isFinishedFlight, () => []), expect: completes },
  { name: "ServerHello flight lost twice", toDevice: once(isServerHelloFlight, () => [], 2), expect: completes },
  { name: "HelloVerifyRequest lost three times", toDevice: once(isHvr, () => [], 3), expect: completes },
  { name: "the old HelloVerifyRequest again after the ServerHello flight", toDevice: (h) => { let hvr: Uint8Array | null = null; return h.on(() => true, (d) => { if (isHvr(d)) { hvr = d.data; return [d.data]; } return isServerHelloFlight(d) && hvr ? [d.data, hvr] : [d.data]; }); }, expect: completes },
  { name: "ServerHello flight, Finished flight, ServerHello flight again", toDevice: (h) => { let shf: Uint8Array | null = null; return h.on(() => true, (d) => { if (isServerHelloFlight(d)) shf = d.data; return isFinishedFlight(d) && shf ? [d.data, shf] : [d.data]; }); }, expect: completes },
  { name: "the client's second ClientHello reaches the server twice", toServer: (h) => (d, i) => { if (i === 1) { h.n++; return [d, d]; } return [d]; }, expect: completes },
  { name: "the client's key exchange flight lost once", toServer: (h) => (d, i) => { if (i === 2) { h.n++; return []; } return [d]; }, expect: completes },
  {
    name: "a stale ServerHello flight of an earlier handshake before the real one",
    toDevice: (h) => h.on(isServerHelloFlight, (d) => { const s = stale; stale = d.data; return s ? [s, d.data] : [d.data]; }),
    // the stale ServerHello (another random, another session) is taken; the real one is a duplicate; the Finished then differs
    expect: refused(E.PeerAlert, null, A.bad_record_mac),
  },
  { name: "a HelloRequest in the middle of the handshake", toDevice: once(isServerHelloFlight, (d) => [writeRecord({ type: CT.Handshake, version: 0xfefd, epoch: 0, seq: 50n, body: writeFragment({ msgType: HT.HelloRequest, length: 0, messageSeq: 0, fragOffset: 0, fragLength: 0, body: new Uint8Array(0) }) }), d.data]), expect: completes },
]);
// the stale-flight case needs one earlier ServerHello flight: the first run of the table records one
cases.splice(cases.findIndex((c) => c.name.includes("stale ServerHello")), 0, {
  name: "flight: (records a ServerHello flight for the stale-flight case)", toDevice: (h) => h.on(isServerHelloFlight, (d) => { stale = d.data; return [d.data]; }), expect: completes,
});

// ---- HelloVerifyRequest floods ----
const hvrWithCookie = (d: Uint8Array, cookie: Uint8Array) => editMessage(d, HT.HelloVerifyRequest, (b) => cat(b.slice(0, 2), Uint8Array.of(cookie.length), cookie));
add("hvr", [
  {
    name: "a new cookie for every ClientHello (HelloVerifyRequest loop): refused after the third",
    toDevice: (h) => { let k = 0; return h.on(isHvr, (d) => [hvrWithCookie(d.data, rnd(20, ++k))]); }, expect: refused(E.TooManyHelloVerify, A.unexpected_message), ms: 30 * 60_000,
    check: (p, from) => {
      const hellos = p.deviceSent.slice(from.sent).filter((d) => messageTypes(d)[0] === HT.ClientHello).length;
      assert.ok(hellos <= 3, `${hellos} ClientHellos before giving up`);
    },
  },
  { name: "50 copies of the HelloVerifyRequest at once", toDevice: once(isHvr, (d) => Array(50).fill(d.data)), expect: completes },
  { name: "20 HelloVerifyRequests with different cookies at once", toDevice: once(isHvr, (d) => Array.from({ length: 20 }, (_, i) => hvrWithCookie(d.data, rnd(16, i + 1)))), expect: completes },
  { name: "HelloVerifyRequest with an empty cookie", toDevice: once(isHvr, (d) => [hvrWithCookie(d.data, new Uint8Array(0))]), expect: completes },
  { name: "HelloVerifyRequest with a 255-byte cookie", toDevice: once(isHvr, (d) => [hvrWithCookie(d.data, rnd(255))]), expect: completes },
  { name: "HelloVerifyRequest with server_version 1.2 (FEFD)", toDevice: once(isHvr, (d) => [editMessage(d.data, HT.HelloVerifyRequest, (b) => set16(b, 0, 0xfefd))]), expect: completes },
  { name: "HelloVerifyRequest with server_version 0x0000", toDevice: once(isHvr, (d) => [editMessage(d.data, HT.HelloVerifyRequest, (b) => set16(b, 0, 0))]), expect: refused(E.ProtocolVersion, A.protocol_version) },
  { name: "HelloVerifyRequest instead of the ServerHello flight, twice", toDevice: (h) => { let hvr: Uint8Array | null = null, k = 0; return h.on(() => true, (d) => { if (isHvr(d)) { hvr = d.data; return [d.data]; } if (isServerHelloFlight(d) && hvr && k++ < 2) return [hvr]; return [d.data]; }); }, expect: completes },
]);

// ---- every alert at every step ----
const ALERTS = Object.entries(A) as [string, number][];
const STEPS: { step: string; pred: (d: ServerDatagram) => boolean }[] = [
  { step: "instead of the HelloVerifyRequest", pred: isHvr },
  { step: "instead of the ServerHello flight", pred: isServerHelloFlight },
  { step: "instead of the ChangeCipherSpec/Finished flight", pred: isFinishedFlight },
];
for (const { step, pred } of STEPS) {
  add("alert", ALERTS.map(([name, desc]): DtlsCase => ({
    name: `${desc === 0 ? "warning" : "fatal"} ${name} ${step}`,
    toDevice: once(pred, (d) => [alertRecord(desc === 0 ? 1 : 2, desc, first(d).seq)]),
    // RFC 5246 7.2: a fatal alert ends the handshake, close_notify closes it (answered with ours); nothing else goes out
    expect: desc === 0 ? refused(E.PeerClosed, null, 0) : refused(E.PeerAlert, null, desc),
  })));
}
add("alert", ALERTS.filter(([, d]) => d !== 0).map(([name, desc]): DtlsCase => ({
  name: `warning ${name} instead of the ServerHello flight is ignored`,
  toDevice: once(isServerHelloFlight, (d) => [alertRecord(1, desc, first(d).seq)]),
  expect: completes,
})));
add("alert", ALERTS.map(([name, desc]): DtlsCase => ({
  name: `spoofed plaintext fatal ${name} after the handshake is ignored`,
  toDevice: once(isFinishedFlight, (d) => [d.data]),
  expect: completes,
  check: (p) => {
    const h = p.countHandshakes(), logs = p.device.logs.length;
    p.inject(alertRecord(2, desc, 200n, 0));
    p.run(2000);
    assert.deepEqual(p.handshakeFailures(logs), [], "the session stays up");
    assert.equal(p.get("/3/0/0", 0)?.code, 0x45, "and serves a Read");
    assert.equal(p.countHandshakes(), h);
  },
})));

// ---- unoffered suites and extensions ----
// (session_ticket is offered in every ClientHello since sessions are sealed across sleep: not in the unsolicited list)
const ext = (type: number, data: Uint8Array) => sh((b) => addExtension(b, type, data));
add("suite/extension", [
  ...[[0xc02b, "ECDHE-ECDSA-AES128-GCM"], [0x0000, "TLS_NULL_WITH_NULL_NULL"], [0xc0ae, "ECDHE-ECDSA-AES128-CCM8 (not offered in PSK mode)"], [0xffff, "0xffff"]].map(([suite, label]): DtlsCase => ({
    name: `ServerHello picks ${label}`, toDevice: sh((b) => set16(b, serverHelloLayout(b).suite, suite as number)), expect: refused(E.SuiteNotOffered, A.illegal_parameter),
  })),
  { name: "ServerHello picks ECDHE-PSK-AES128-CBC, then no ServerKeyExchange", toDevice: sh((b) => set16(b, serverHelloLayout(b).suite, 0xc037)), expect: refused(E.UnexpectedMessage, A.unexpected_message) },
  { name: "ServerHello compression method 1 (deflate)", toDevice: sh((b) => { const c = b.slice(); c[serverHelloLayout(b).compression] = 1; return c; }), expect: refused(E.Compression, A.illegal_parameter) },
  { name: "ServerHello version 1.0 (FEFF)", toDevice: sh((b) => set16(b, 0, 0xfeff)), expect: refused(E.ProtocolVersion, A.protocol_version) },
  { name: "ServerHello version DTLS 1.3 (FEFC)", toDevice: sh((b) => set16(b, 0, 0xfefc)), expect: refused(E.ProtocolVersion, A.protocol_version) },
  ...([[0x0000, "server_name", []], [0x000f, "heartbeat", [1]], [0x0010, "ALPN", [0, 3, 2, 0x68, 0x32]], [0x0013, "client_certificate_type", [2]], [0x0014, "server_certificate_type", [2]],
    [0x0036, "connection_id (RFC 9146, not configured)", [0]], [0x002b, "supported_versions", [0xfe, 0xfd]], [0xff0f, "unknown 0xff0f", [1, 0]], [0x0001, "max_fragment_length", [2]], [0x0016, "encrypt_then_mac", []]] as [number, string, number[]][]).map(([type, label, data]): DtlsCase => ({
    name: `unsolicited extension ${label}`, toDevice: ext(type, Uint8Array.from(data)), expect: refused(E.ExtensionNotOffered, A.unsupported_extension),
  })),
  ...([[0x0001, "max_fragment_length 9", [9]], [0x0014, "server_certificate_type of 2 bytes", [2, 2]], [0x0000, "server_name with a list", [0, 4, 0, 0, 1, 0x61]]] as [number, string, number[]][]).map(([type, label, data]): DtlsCase => ({
    name: `malformed extension ${label}`, toDevice: ext(type, Uint8Array.from(data)), expect: refused(E.IllegalExtension, A.decode_error),
  })),
  { name: "ec_point_formats (offered) is taken; the transcript then differs", toDevice: ext(0x000b, Uint8Array.of(1, 0)), expect: refused(E.PeerAlert, null, A.bad_record_mac) },
  { name: "renegotiation_info twice", toDevice: sh((b) => { const e = serverHelloExtensions(b); const r = e.find(([t]) => t === 0xff01); return withExtensions(b, [...e, r ?? [0xff01, Uint8Array.of(0)]]); }), expect: refused(E.IllegalExtension, A.decode_error) },
  { name: "renegotiation_info not empty", toDevice: sh((b) => withExtensions(b, serverHelloExtensions(b).map(([t, d]) => (t === 0xff01 ? [t, Uint8Array.of(4, 1, 2, 3, 4)] : [t, d])))), expect: refused(E.RenegotiationInfo, A.handshake_failure) },
  { name: "extended_master_secret with data", toDevice: sh((b) => withExtensions(b, serverHelloExtensions(b).map(([t, d]) => (t === 0x0017 ? [t, Uint8Array.of(0)] : [t, d])))), expect: refused(E.IllegalExtension, A.decode_error) },
  // the server's transcript differs: it refuses our Finished (RFC 5246 7.2.2 bad_record_mac) before we see its own
  { name: "ServerHello without extensions (no EMS)", toDevice: sh((b) => b.slice(0, serverHelloLayout(b).ext)), expect: refused(E.PeerAlert, null, A.bad_record_mac) },
  { name: "ServerHello random changed", toDevice: sh((b) => { const c = b.slice(); c[10] ^= 0xff; return c; }), expect: refused(E.PeerAlert, null, A.bad_record_mac) },
  { name: "CertificateRequest in a PSK handshake", toDevice: once(isServerHelloFlight, (d) => [insertBeforeDone(d.data, HT.CertificateRequest, Uint8Array.of(1, 64, 0, 2, 4, 3, 0, 0))]), expect: refused(E.UnexpectedMessage, A.unexpected_message) },
  { name: "Certificate in a PSK handshake", toDevice: once(isServerHelloFlight, (d) => [insertBeforeDone(d.data, HT.Certificate, Uint8Array.of(0, 0, 0))]), expect: refused(E.UnexpectedMessage, A.unexpected_message) },
  { name: "a second ServerHello in the flight", toDevice: once(isServerHelloFlight, (d) => { const f = parseFragments(parseRecords(d.data).records[0].body)[0]; return [insertBeforeDone(d.data, HT.ServerHello, f.body)]; }), expect: refused(E.UnexpectedMessage, A.unexpected_message) },
  { name: "ClientHello from the server", toDevice: once(isServerHelloFlight, (d) => [insertBeforeDone(d.data, HT.ClientHello, rnd(60))]), expect: refused(E.UnexpectedMessage, A.unexpected_message) },
]);

/** Puts a handshake message (next message_seq) before ServerHelloDone, which moves one on. */
function insertBeforeDone(d: Uint8Array, type: number, body: Uint8Array): Uint8Array {
  const out = perMessage(d).map((x) => parseRecords(x).records[0]);
  const i = out.findIndex((r) => r.type === CT.Handshake && r.body[0] === HT.ServerHelloDone);
  const done = parseFragments(out[i].body)[0];
  const seq = done.messageSeq;
  const msg = writeFragment({ msgType: type, length: body.length, messageSeq: seq, fragOffset: 0, fragLength: body.length, body });
  const moved = writeFragment({ ...done, messageSeq: seq + 1 });
  const recs2 = [...out.slice(0, i), { ...out[i], body: msg }, { ...out[i], body: moved }, ...out.slice(i + 1)];
  return cat(...recs2.map((r, k) => writeRecord({ ...r, seq: out[0].seq + BigInt(k) })));
}

// ---- 10-certificate chains and 60 KB messages ----
/** A Certificate message of `n` certificates of `size` bytes each, cut in fragments of `frag` bytes, as datagrams. */
function bigMessage(d: Uint8Array, type: number, total: number, frag: number, bodyOf: (n: number) => Uint8Array): Uint8Array[] {
  const r0 = parseRecords(d).records[0];
  const sh0 = parseFragments(r0.body)[0];
  const body = bodyOf(total);
  const out: Uint8Array[] = [writeRecord({ ...r0, body: writeFragment(sh0) })];
  let seq = r0.seq + 1n;
  for (let off = 0; off < body.length; off += frag) {
    const piece = body.slice(off, off + frag);
    out.push(writeRecord({ ...r0, seq: seq++, body: writeFragment({ msgType: type, length: body.length, messageSeq: sh0.messageSeq + 1, fragOffset: off, fragLength: piece.length, body: piece }) }));
  }
  return out;
}
const chain = (n: number, size: number) => () => {
  const certs = Array.from({ length: n }, (_, i) => cat(Uint8Array.of(0x30, 0x82, (size - 4) >> 8, (size - 4) & 255), rnd(size - 4, i + 3)));
  const list = cat(...certs.map((c) => cat(Uint8Array.of(0, c.length >> 8, c.length & 255), c)));
  return cat(Uint8Array.of(list.length >> 16, (list.length >> 8) & 255, list.length & 255), list);
};
add("big", [
  { name: "a 10-certificate chain (6 KB) in a PSK handshake, 1000-byte fragments", toDevice: once(isServerHelloFlight, (d) => bigMessage(d.data, HT.Certificate, 0, 1000, chain(10, 600))), expect: refused(E.MessageTooLarge, A.internal_error) },
  { name: "a 10-certificate chain of 6 KB certificates (60 KB), 1200-byte fragments", toDevice: once(isServerHelloFlight, (d) => bigMessage(d.data, HT.Certificate, 0, 1200, chain(10, 6000))), expect: refused(E.MessageTooLarge, A.internal_error) },
  { name: "a 60 KB ServerKeyExchange, 1200-byte fragments", toDevice: once(isServerHelloFlight, (d) => bigMessage(d.data, HT.ServerKeyExchange, 0, 1200, () => rnd(61440))), expect: refused(E.MessageTooLarge, A.internal_error) },
  { name: "a 60 KB ServerHello announced, first 1000 bytes", toDevice: once(isServerHelloFlight, (d) => [fragmentMessage(editMessage(d.data, HT.ServerHello, (b) => cat(b, rnd(61440 - b.length))), HT.ServerHello, () => [[0, 1000]])]), expect: refused(E.MessageTooLarge, A.internal_error) },
  { name: "a 60 KB datagram (above the receive buffer: dropped by the host)", toDevice: once(isServerHelloFlight, (d) => [cat(d.data, rnd(61440))]), expect: completes },
  { name: "a datagram of 1536 bytes of records with garbage", toDevice: once(isServerHelloFlight, (d) => [cat(...Array.from({ length: 12 }, (_, i) => writeRecord({ type: CT.Handshake, version: 0xfefd, epoch: 0, seq: BigInt(60 + i), body: rnd(115, i) }))), d.data]), expect: completes },
]);

for (const c of cases) dtlsCase(c);
