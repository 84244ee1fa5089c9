// Fuzzes the DTLS client of build/test/dtls.wasm with mutated records and
// handshake messages taken from real handshakes (test/fixtures/dtls/*.json,
// recorded against openssl s_server and gnutls-serv with a seeded RNG so a
// replay reproduces the client's bytes and keys). Each iteration replays a
// genuine prefix of the server's datagrams to put the connection in a state
// (WaitServerHello, after the cookie, WaitServerFlight, WaitChangeCipherSpec,
// WaitFinished, Established), then feeds a mutated datagram: bit flips,
// truncation, header fields (record and handshake), refragmentation,
// plaintext mutations re-encrypted with the real epoch-1 keys, junk. A trap
// (WasmAbort / RuntimeError) fails the test with the seed and input hex.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnState, DtlsEvent, CertificateType } from "./helpers/dtls-harness";
import { needs, profileHas } from "./helpers/profile";

/** The states a client can be in (order.ts: the server role's are 16 and up). */
const CLIENT_STATES = new Set(Object.values(ConnState).filter((v) => v < 16));
import { fixtures, Replayer, serverKeys, sealServer, openServer, type Fixture, type ServerKeys } from "./fixtures/dtls/replay";

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  return { next, int: (n: number) => next() % n, chance: (p: number) => next() / 2 ** 32 < p };
}

/** Records of a datagram: [offset, length incl. header]. */
function records(d: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let o = 0; o + 13 <= d.length;) {
    const n = 13 + ((d[o + 11] << 8) | d[o + 12]);
    if (o + n > d.length) break;
    out.push([o, n]); o += n;
  }
  return out;
}

type Rnd = ReturnType<typeof prng>;
const edge = (r: Rnd, bits: number) => [0, 1, 2 ** bits - 1, 2 ** (bits - 1), r.int(2 ** Math.min(bits, 30))][r.int(5)];

function mutate(r: Rnd, d: Uint8Array, keys: ServerKeys | null): Uint8Array {
  const b = Buffer.from(d);
  const recs = records(b);
  switch (r.int(10)) {
    case 0: { // bit flips
      for (let i = 1 + r.int(8); i > 0 && b.length; i--) b[r.int(b.length)] ^= 1 << r.int(8);
      return b;
    }
    case 1: return b.subarray(0, r.int(b.length + 1)); // truncation
    case 2: return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + r.int(64) }, () => r.int(256)))]);
    case 3: { // record header field
      if (!recs.length) return b;
      const [o] = recs[r.int(recs.length)];
      const f = r.int(5);
      if (f === 0) b[o] = [20, 21, 22, 23, r.int(256)][r.int(5)];
      else if (f === 1) b.writeUInt16BE([0xfefd, 0xfeff, 0xfefc, 0x0303, r.int(65536)][r.int(5)], o + 1);
      else if (f === 2) b.writeUInt16BE(edge(r, 16), o + 3);
      else if (f === 3) b.writeUIntBE(edge(r, 48) % 2 ** 48, o + 5, 6);
      else b.writeUInt16BE(edge(r, 16), o + 11);
      return b;
    }
    case 4: case 5: { // handshake header / body field of a plaintext handshake record
      const hs = recs.filter(([o]) => b[o] === 22 && b.readUInt16BE(o + 3) === 0);
      if (!hs.length) return mutate(r, d, keys);
      const [o, n] = hs[r.int(hs.length)];
      const h = o + 13;
      const f = r.int(6);
      if (f === 0) b[h] = r.int(24);
      else if (f === 1) b.writeUIntBE(edge(r, 24), h + 1, 3);
      else if (f === 2) b.writeUInt16BE(edge(r, 16), h + 4);
      else if (f === 3) b.writeUIntBE(edge(r, 24), h + 6, 3);
      else if (f === 4) b.writeUIntBE(edge(r, 24), h + 9, 3);
      else if (n > 25) { // body bytes: lengths inside the message
        const p = h + 12 + r.int(n - 25);
        b[p] = [0, 0xff, b[p] + 1, b[p] - 1, r.int(256)][r.int(5)] & 255;
      }
      return b;
    }
    case 6: { // refragment the first plaintext handshake message, shuffle and duplicate fragments
      const hs = recs.find(([o]) => b[o] === 22 && b.readUInt16BE(o + 3) === 0);
      if (!hs) return mutate(r, d, keys);
      const [o, n] = hs;
      const msg = b.subarray(o + 13, o + n);
      const len = msg.readUIntBE(1, 3);
      if (msg.readUIntBE(9, 3) !== len || len === 0) return b;
      const frags: Buffer[] = [];
      for (let off = 0; off < len;) {
        const fl = Math.min(len - off, 1 + r.int(Math.max(1, len)));
        const hdr = Buffer.from(msg.subarray(0, 12));
        hdr.writeUIntBE(off, 6, 3); hdr.writeUIntBE(fl, 9, 3);
        const rec = Buffer.concat([Buffer.from(b.subarray(o, o + 13)), hdr, msg.subarray(12 + off, 12 + off + fl)]);
        rec.writeUInt16BE(12 + fl, o === o ? 11 : 11);
        frags.push(rec); off += fl;
      }
      if (r.chance(0.5)) frags.push(frags[r.int(frags.length)]);
      for (let i = frags.length - 1; i > 0; i--) { const j = r.int(i + 1); [frags[i], frags[j]] = [frags[j], frags[i]]; }
      // fresh record sequence numbers so the window accepts each
      frags.forEach((f, i) => f.writeUIntBE(b.readUIntBE(o + 5, 6) + 1000 + i, 5, 6));
      return Buffer.concat([b.subarray(0, o), ...frags, b.subarray(o + n)]);
    }
    case 7: { // epoch-1 plaintext mutated and re-encrypted with the real keys
      if (!keys) return mutate(r, d, keys);
      const enc = recs.filter(([o]) => b.readUInt16BE(o + 3) === 1);
      const seq = 500 + r.int(1000);
      let pt: Buffer;
      if (enc.length && r.chance(0.6)) {
        const [o, n] = enc[r.int(enc.length)];
        pt = openServer(keys, b.subarray(o, o + n)) ?? Buffer.alloc(0);
        pt = Buffer.from(pt);
        for (let i = 1 + r.int(3); i > 0 && pt.length; i--) pt[r.int(pt.length)] ^= 1 << r.int(8);
        if (r.chance(0.2)) pt = pt.subarray(0, r.int(pt.length + 1));
      } else {
        // crafted plaintext: HelloRequest, a handshake message of any type, an alert, a CCS
        const kind = r.int(4);
        if (kind === 0) pt = Buffer.from([0, 0, 0, 0, 0, r.int(8), 0, 0, 0, 0, 0, 0]);
        else if (kind === 1) { const l = r.int(40); pt = Buffer.concat([Buffer.from([r.int(24), 0, 0, l, 0, r.int(8), 0, 0, 0, 0, 0, l]), Buffer.alloc(l, r.int(256))]); }
        else if (kind === 2) pt = Buffer.from([1 + r.int(2), r.int(256)]);
        else pt = Buffer.from([1]);
      }
      const type = r.chance(0.7) ? 22 : [20, 21, 23][r.int(3)];
      return sealServer(keys, type, seq, pt);
    }
    case 8: { // duplicate / reorder records inside the datagram
      if (recs.length < 1) return b;
      const parts = recs.map(([o, n]) => b.subarray(o, o + n));
      if (r.chance(0.5)) parts.push(parts[r.int(parts.length)]);
      for (let i = parts.length - 1; i > 0; i--) { const j = r.int(i + 1); [parts[i], parts[j]] = [parts[j], parts[i]]; }
      return Buffer.concat(parts);
    }
    default: { // junk, possibly behind a plausible record header
      const n = r.int(200);
      const junk = Buffer.from(Array.from({ length: n }, () => r.int(256)));
      if (r.chance(0.5)) return junk;
      const h = Buffer.from([20 + r.int(4), 0xfe, 0xfd, 0, r.int(3), 0, 0, 0, 0, 0, r.int(256), n >> 8, n & 255]);
      return Buffer.concat([h, junk]);
    }
  }
}

test(`fuzz: ${ITERATIONS} mutated records and handshake messages against the client in every state (seed ${SEED})`, () => {
  assert.ok(fixtures.length >= 4, "fixtures present");
  // a fixture recorded with a certificate type the profile under test lacks is left out (with the reason)
  const usable = fixtures.filter((fx) => {
    const feature = fx.options.certificateType === CertificateType.RawPublicKey ? "rpk" : fx.options.certificateType === CertificateType.X509 ? "x509" : null;
    if (!feature || profileHas(feature)) return true;
    console.log(`fuzz-dtls: fixture ${fx.name} left out: ${needs(feature).skip}`);
    return false;
  });
  const players = usable.map((fx) => new Replayer(fx));
  // Sanity: each genuine replay completes and reproduces the recorded client bytes.
  for (const p of players) {
    for (let conn = 0; conn < p.fx.connections.length; conn++) {
      const sent = p.replay(conn);
      assert.ok(p.c.has(DtlsEvent.HandshakeComplete), `${p.fx.name} #${conn} replays: ${p.c.describe()}`);
      const rec = p.fx.connections[conn].client;
      assert.deepEqual(sent.map((d) => Buffer.from(d).toString("hex")), rec, `${p.fx.name} #${conn}: client bytes reproduced`);
    }
  }
  const keys = players.map((p) => p.fx.connections.map((_, i) => serverKeys(p.fx, i)));
  const r = prng(SEED);
  const statesHit = new Map<number, number>();
  const slow = (fx: Fixture) => (fx.options.suites & 28) !== 0; // ECDHE: P-256 in the simulated SE
  let i = 0;
  try {
    for (; i < ITERATIONS; i++) {
      let pi = r.int(players.length);
      if (slow(players[pi].fx) && r.chance(0.85)) pi = players.findIndex((p) => !slow(p.fx));
      const p = players[pi];
      const conn = p.fx.connections.length > 1 && r.chance(0.15) ? 1 : 0;
      if (conn === 1) p.replay(0);
      const srv = p.server[conn];
      p.start(conn);
      const k = r.int(srv.length);
      for (let j = 0; j < k && p.c.state !== ConnState.Closed; j++) p.deliver(srv[j]);
      statesHit.set(p.c.state, (statesHit.get(p.c.state) ?? 0) + 1);
      const input = mutate(r, srv[k], keys[pi][conn]);
      try {
        p.deliver(input);
        if (r.chance(0.5)) for (let j = k; j < srv.length; j++) p.deliver(srv[j]);
        if (r.chance(0.2)) p.c.timeout(p.t + 100_000);
        const st = p.c.state;
        assert.ok(CLIENT_STATES.has(st), `a client state of assembly/dtls/order.ts: ${st}`);
        if (st === ConnState.Closed) assert.ok(p.c.reason < 0, `closed with a reason: ${p.c.describe()}`);
      } catch (e) {
        (e as Error).message += `\nseed ${SEED} iteration ${i} fixture ${p.fx.name} conn ${conn} prefix ${k}\ninput ${Buffer.from(input).toString("hex")}`;
        throw e;
      }
    }
  } finally {
    console.log(`fuzz-dtls: ${i} iterations, seed ${SEED}; states before the mutated datagram: ` +
      [...statesHit.entries()].sort().map(([s, n]) => `${Object.keys(ConnState).find((k) => (ConnState as any)[k] === s)}=${n}`).join(" "));
  }
  // the states inside the server's flight are seen between datagrams only where the flight spans
  // several: the certificate handshakes (a PSK profile replays PSK flights, one datagram each)
  const certificates = players.some((p) => p.fx.options.certificateType !== undefined);
  for (const s of [ConnState.WaitServerHello,
    ...(certificates ? [ConnState.WaitServerFlight, ConnState.WaitServerKeyExchange, ConnState.WaitCertificateRequest, ConnState.WaitServerHelloDone] : []),
    ConnState.WaitChangeCipherSpec, ConnState.Established]) {
    assert.ok((statesHit.get(s) ?? 0) > 0, `state ${s} fuzzed`);
  }
});
