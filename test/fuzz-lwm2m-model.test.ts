// Fuzz of the LwM2M data model operations: random identities (LwM2M Servers,
// the Bootstrap-Server, factory provisioning), methods, paths, Content-Formats,
// Accept, Uri-Query and payloads (well-formed TLV / SenML JSON / SenML CBOR /
// text, mutated, or random bytes), interleaved with Bootstrap-Finish, session
// aborts and the BS-4 clean-up timer. Invariants after every step:
//   - no trap (an abort or a WebAssembly RuntimeError fails the test);
//   - SEC-2: an operation by an LwM2M Server leaves Object 0 (active and
//     staging copies) byte-for-byte unchanged and opens no bootstrap session;
//   - SEC-3: no response payload ever contains a provisioned secret key;
//   - the Register payload never lists Object 0.
// Seeded (FUZZ_SEED), FUZZ_ITERATIONS operations (default 10,000).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { loadTest, hex } from "./helpers/wasm";

const ITER = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? ((Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0));
const NONE = 0xffff;
const BS = -1, FACTORY = -2;
const FORMATS = [0, 40, 42, 110, 112, 11542, 11543, 60, 0xffff, -1];
const OIDS = [0, 0, 0, 1, 1, 3, 3, 33000, 33000, 2, 5, NONE - 1];
const RIDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0xff00, 0xff01, 65534];
const ATTRS = ["pmin=5", "pmax=60", "gt=50", "lt=-2.5", "st=0.5", "epmin=1", "epmax=9", "pmin", "gt", "st", "lt=1e3", "foo=1", "pmin=-1", "gt=abc", "", "pmax=4294967296"];

let cborEncode: (v: unknown) => Uint8Array;
before(async () => { cborEncode = (await import("cborg")).encode; });

function mulberry32(a: number) {
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const cat = (...a: Uint8Array[]) => { const o = new Uint8Array(a.reduce((s, x) => s + x.length, 0)); let p = 0; for (const x of a) { o.set(x, p); p += x.length; } return o; };
function tlv(kind: number, id: number, v: Uint8Array): Uint8Array {
  const h: number[] = [kind | (id > 255 ? 0x20 : 0)];
  if (id > 255) h.push(id >> 8, id & 255); else h.push(id);
  const n = v.length;
  if (n < 8) h[0] |= n; else if (n < 256) { h[0] |= 8; h.push(n); } else { h[0] |= 0x10; h.push(n >> 8, n & 255); }
  return cat(new Uint8Array(h), v);
}

const BS_KEY = Uint8Array.from([0xb5, 0x01, 0x7e, 0xc2, 0x99, 0x3a, 0x51, 0x0d, 0xee, 0x42, 0x17, 0x8c, 0x6b, 0x20, 0xf4, 0x5a]);
const SRV_KEY = Uint8Array.from([0x5e, 0xc3, 0x7a, 0x01, 0xd2, 0x88, 0x4f, 0x6e, 0x13, 0xa7, 0xb9, 0x2c, 0x70, 0xe5, 0x0b, 0x94]);
const secInst = (iid: number, uri: string, bs: boolean, mode: number, id: string, key: Uint8Array | null, ssid?: number, timeout?: number) =>
  tlv(0, iid, cat(tlv(0xc0, 0, enc.encode(uri)), tlv(0xc0, 1, Uint8Array.of(bs ? 1 : 0)), tlv(0xc0, 2, Uint8Array.of(mode)),
    tlv(0xc0, 3, enc.encode(id)), key ? tlv(0xc0, 5, key) : new Uint8Array(0), ssid !== undefined ? tlv(0xc0, 10, Uint8Array.of(ssid)) : new Uint8Array(0),
    timeout !== undefined ? tlv(0xc0, 12, Uint8Array.of(timeout)) : new Uint8Array(0)));
const srvInst = (iid: number, ssid: number) =>
  tlv(0, iid, cat(tlv(0xc0, 0, Uint8Array.of(ssid)), tlv(0xc0, 1, Uint8Array.of(0x3c)), tlv(0xc0, 6, Uint8Array.of(0)), tlv(0xc0, 7, enc.encode("U"))));

test(`fuzz LwM2M model operations: ${ITER} steps, seed ${SEED}`, () => {
  const rnd = mulberry32(SEED);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  const m = loadTest<any>("lwm2m_model");
  const E = m.exports;
  assert.equal(E.init(), 0);
  const IN = m.scratch, OUT = m.scratch + 65536, Q = m.scratch + 131072, BUF = m.scratch + 196608;
  const OUT_CAP = 4096;
  const size0 = E.poolSize(0);
  const snap0 = () => cat(m.read(E.poolPtr(0, 0), size0), m.read(E.poolPtr(0, 1), size0));

  // a configuration to start from: Bootstrap-Server account (low entropy, timeout 30 s) + LwM2M Server 101
  const put = (caller: number, o: number, i: number, payload: Uint8Array) => {
    m.write(payload, IN);
    return E.write(caller, o, i, NONE, NONE, 0, 11542, IN, payload.length, OUT, OUT_CAP);
  };
  assert.equal(put(FACTORY, 0, NONE, secInst(0, "coaps://bs.example", true, 0, "dev", BS_KEY, undefined, 30)), 0x44);
  assert.equal(E.factoryFinish(0n, 0, BUF, 4096), 0x44);
  assert.equal(put(BS, 0, 1, secInst(1, "coaps://s.example:5684", false, 0, "dev-dm", SRV_KEY, 101)), 0x44);
  assert.equal(put(BS, 1, 0, srvInst(0, 101)), 0x44);
  assert.equal(E.bsFinish(0n, -1n, BUF, 4096), 0x44);

  let now = 0;
  let ref = snap0();
  let last = "";
  const stats = new Map<string, number>();

  function randomValue(): Uint8Array {
    const k = int(6);
    if (k === 0) return new Uint8Array(0);
    if (k === 1) return Uint8Array.of(int(256));
    if (k === 2) return Uint8Array.from({ length: pick([2, 4, 8]) }, () => int(256));
    if (k === 3) return enc.encode(pick(["coap://x", "coaps://h:1", "U", "UQ", "abc", "", "\u00e9", "1"]));
    return Uint8Array.from({ length: int(40) }, () => int(256));
  }
  function randomTlv(lvl: number, iid: number): Uint8Array {
    const res: Uint8Array[] = [];
    for (let n = int(5); n >= 0; n--) {
      const rid = pick(RIDS);
      if (rnd() < 0.2) {
        const ris: Uint8Array[] = [];
        for (let j = int(5); j > 0; j--) ris.push(tlv(0x40, int(8), randomValue()));
        res.push(tlv(0x80, rid, cat(...ris)));
      } else res.push(tlv(0xc0, rid, randomValue()));
    }
    const body = cat(...res);
    return lvl <= 1 || rnd() < 0.3 ? tlv(0, iid, body) : body;
  }
  function randomSenml(base: string): unknown[] {
    const recs: Record<string, unknown>[] = [];
    for (let n = int(5); n >= 0; n--) {
      const r: Record<string, unknown> = {};
      if (rnd() < 0.3) r.bn = base;
      r.n = rnd() < 0.7 ? `${base}${pick([0, 1, 3])}/${pick(RIDS)}${rnd() < 0.2 ? "/" + int(5) : ""}` : pick(["", "x", "/", "0/1", "//1"]);
      const k = int(7);
      if (k === 0) r.v = pick([0, 1, -1, 3.5, 1e300, 65535, 2 ** 63]);
      else if (k === 1) r.vs = pick(["coap://a", "U", "", "x".repeat(300)]);
      else if (k === 2) r.vb = rnd() < 0.5;
      else if (k === 3) r.vd = Buffer.from(randomValue()).toString("base64url");
      else if (k === 4) r.vlo = pick(["3:0", "1:2", "x", "65536:1"]);
      else if (k === 5) r.bt = 5;
      recs.push(r);
    }
    return recs;
  }
  // well-typed values per Object / Resource (so that many requests get past the checks)
  const SCHEMA: Record<number, Record<number, string>> = {
    0: { 0: "uri", 1: "bool", 2: "mode", 3: "bytes", 4: "bytes", 5: "bytes", 10: "ssid", 11: "int", 12: "small", 13: "small", 14: "str", 15: "small", 16: "multi" },
    1: { 0: "ssid", 1: "int", 2: "int", 3: "int", 5: "int", 6: "bool", 7: "binding", 17: "small", 18: "int", 19: "int", 20: "small" },
    3: { 13: "int" },
    33000: { 0: "int", 1: "str", 2: "float", 3: "bool", 4: "int", 5: "bytes", 6: "int", 7: "objlnk", 8: "multi", 11: "str" },
  };
  const intBytes = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return v >= -128 && v < 128 ? b.subarray(3) : v >= -32768 && v < 32768 ? b.subarray(2) : b; };
  function typed(kind: string): Uint8Array {
    switch (kind) {
      case "uri": return enc.encode(pick(["coap://a.example", "coaps://b.example:5684", "coaps://[::1]", "coap://c:5683/x", "bad"]));
      case "bool": return Uint8Array.of(int(2));
      case "mode": return Uint8Array.of(pick([0, 0, 3, 4, 1, 2, 7]));
      case "ssid": return intBytes(pick([101, 202, 303, 0, 65535]));
      case "small": return Uint8Array.of(int(5));
      case "int": return intBytes(pick([0, 1, 30, 300, 86400, -1]));
      case "str": return enc.encode(pick(["a", "hello", "x".repeat(20)]));
      case "binding": return enc.encode(pick(["U", "UQ", "T", "X", ""]));
      case "float": return Uint8Array.from(Buffer.from(new Float64Array([rnd() * 100]).buffer).reverse());
      case "objlnk": return Uint8Array.of(0, 3, 0, int(2));
      case "bytes": return rnd() < 0.5 ? Uint8Array.from({ length: 16 }, () => int(256)) : enc.encode("id-" + int(9));
      default: return new Uint8Array(0);
    }
  }
  function typedTlv(o: number, lvl: number, iid: number, rid: number): Uint8Array {
    const sch = SCHEMA[o] ?? {};
    const one = (r: number) => {
      const k = sch[r] ?? "bytes";
      if (k === "multi") return tlv(0x80, r, cat(...Array.from({ length: int(3) }, (_, j) => tlv(0x40, j * 2, o === 0 ? Uint8Array.of(0xc0, int(256)) : intBytes(int(100))))));
      return tlv(0xc0, r, typed(k));
    };
    if (lvl >= 3) return one(rid);
    const rids = Object.keys(sch).map(Number).filter(() => rnd() < 0.7);
    const body = cat(...rids.map(one));
    return lvl <= 1 || rnd() < 0.3 ? tlv(0, iid, body) : body;
  }
  function randomPayload(format: number, o: number, i: number, lvl: number, rid = 0): Uint8Array {
    if (format === 11542 && rnd() < 0.5) return typedTlv(o, lvl, i === NONE ? int(4) : i, rid);
    const k = int(10);
    let p: Uint8Array;
    if (k === 0) return Uint8Array.from({ length: int(64) }, () => int(256));
    if (format === 11542 || (k === 1 && format !== 110 && format !== 112)) p = randomTlv(lvl, i === NONE ? int(4) : i);
    else if (format === 110) p = enc.encode(JSON.stringify(randomSenml(`/${o}/`)));
    else if (format === 112) {
      const recs = randomSenml(`/${o}/`).map((r: any) => {
        const mp = new Map<number | string, unknown>();
        if ("bn" in r) mp.set(-2, r.bn);
        if ("n" in r) mp.set(0, r.n);
        if ("v" in r) mp.set(2, r.v);
        if ("vs" in r) mp.set(3, r.vs);
        if ("vb" in r) mp.set(4, r.vb);
        if ("vd" in r) mp.set(8, Buffer.from(String(r.vd), "base64url"));
        if ("vlo" in r) mp.set("vlo", r.vlo);
        return mp;
      });
      p = cborEncode(recs);
    } else p = enc.encode(pick(["0", "1", "-5", "300", "coaps://h", "3:0", "AAEC", "x", "", "99999999999999999999", "1.5e3"]));
    if (k < 4 && p.length) { // mutate
      p = p.slice();
      for (let j = int(3) + 1; j > 0; j--) p[int(p.length)] = int(256);
    }
    return p;
  }

  for (let step = 0; step < ITER; step++) {
    const r = rnd();
    // timers, finishes and aborts
    if (r < 0.02) {
      now += int(40_000);
      last = `cleanup(${now})`;
      E.cleanup(BigInt(now));
      ref = snap0();
      continue;
    }
    if (r < 0.05) {
      last = "finish";
      const c = rnd() < 0.8 ? E.bsFinish(BigInt(now), -1n, BUF, 4096) : E.factoryFinish(BigInt(now), int(2), BUF, 4096);
      assert.ok([0x44, 0x86, 0xa0].includes(c), `finish -> ${c.toString(16)}`);
      ref = snap0();
      continue;
    }
    if (r < 0.06) {
      last = "abort";
      E.abortSession();
      ref = snap0();
      continue;
    }
    const caller = r < 0.75 ? pick([101, 101, 101, 202, 1, 65534, 0, 4242]) : r < 0.92 ? BS : FACTORY;
    const method = pick([1, 1, 2, 2, 3, 3, 4, 5]);
    const targeted = rnd() < 0.6;
    const lvl = targeted ? pick([1, 2, 2, 3, 3, 3]) : pick([0, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
    const o = targeted ? pick([0, 1, 1, 3, 33000, 33000]) : pick(OIDS);
    const i = pick([0, 0, 1, 2, 3, 7, NONE - 1]);
    const rr = targeted && SCHEMA[o] && rnd() < 0.8 ? pick(Object.keys(SCHEMA[o]).map(Number)) : pick(RIDS);
    const ri = pick([0, 1, 2, 5, NONE - 1]);
    const ids = [o, i, rr, ri].map((v, k) => (k < lvl ? v : NONE));
    const format = targeted && rnd() < 0.7 ? 11542 : pick(FORMATS);
    const accept = rnd() < 0.4 ? pick(FORMATS) : -1;
    const query = method === 3 && rnd() < 0.3 ? Array.from({ length: int(3) + 1 }, () => pick(ATTRS)).join("&") : "";
    const payload = method === 2 || method === 3 || rnd() < 0.05 ? randomPayload(format, o, ids[1], lvl, rr) : new Uint8Array(0);
    const q = enc.encode(query);
    m.write(q, Q);
    m.write(payload, IN);
    last = `caller ${caller} method ${method} /${ids.filter((v) => v !== NONE).join("/")} ct ${format} accept ${accept} q "${query}" payload ${hex(payload)}`;
    const sessionBefore = E.sessionKind();
    let code: number;
    try {
      code = E.handle(caller, method, ids[0], ids[1], ids[2], ids[3], format, accept, Q, q.length, IN, payload.length, OUT, OUT_CAP);
    } catch (e) {
      assert.fail(`trap at step ${step} (seed ${SEED}): ${last}: ${(e as Error).message}`);
    }
    const klass = code >> 5;
    assert.ok(klass === 2 || klass === 4 || klass === 5, `bad code ${code} for ${last}`);
    stats.set(code.toString(16), (stats.get(code.toString(16)) ?? 0) + 1);
    const n = E.respLen();
    assert.ok(n >= 0 && n <= OUT_CAP);
    if (n) {
      const out = Buffer.from(m.read(OUT, n));
      assert.ok(!out.includes(Buffer.from(BS_KEY)) && !out.includes(Buffer.from(SRV_KEY)), `SEC-3: secret in a response (seed ${SEED}): ${last}`);
    }
    if (caller >= 0) {
      const now0 = snap0();
      if (Buffer.compare(Buffer.from(now0), Buffer.from(ref)) !== 0) assert.fail(`SEC-2: Object 0 changed by an LwM2M Server at step ${step} (seed ${SEED}): ${last}`);
      assert.equal(E.sessionKind(), sessionBefore, `SEC-2: session opened by a server (seed ${SEED}): ${last}`);
      if (o === 0 && lvl > 0) assert.equal(code, 0x84, `SEC-2: /0 answered ${code.toString(16)} to a server (seed ${SEED}): ${last}`);
    } else ref = snap0();
    if (step % 500 === 0) {
      const len = E.regPayload(OUT, OUT_CAP);
      assert.ok(len > 0);
      assert.ok(!Buffer.from(m.read(OUT, len)).toString().includes("</0"), "Register lists Object 0");
    }
  }
  if (process.env.FUZZ_STATS) console.log(JSON.stringify([...stats].sort()));
  // the operations did real work: successes and refusals of several kinds
  for (const c of ["45", "44", "41", "42", "84", "80"]) assert.ok((stats.get(c) ?? 0) > 0, `no ${c} in ${JSON.stringify([...stats])}`);
});
