// Fuzz for the CBOR decoder (assembly/cbor): random and mutated inputs into
// cborValidate (the skip walker), the cursor's top-level advance() and a full
// cursor walk (enter/leave/skipTag/copyString). Checks: no trap; the three
// agree on the verdict and the error; accepted inputs re-encode (our encoder)
// to bytes that decode to the same items; our verdict equals RFC 8949
// Appendix C's well_formed() (transcribed below); cborg (strict) accepting an
// input means we accept it unless Appendix C says cborg is wrong (cborg takes
// a break as a map value); inputs only cborg (lax) accepts are printed.
// Seed: FUZZ_SEED (default fixed), iterations: FUZZ_ITERATIONS.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadTest, hex, unhex, ROOT } from "./helpers/wasm";

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_cb02) >>> 0;
const MAX_DEPTH = 32; // the codec's hard ceiling

const hostStub = new Proxy({}, { get: () => () => 0 }); // firmware entry's imports (asc picks up asconfig.json); the codec imports none
const m = loadTest("cbor", { lwm2m_v1: hostStub as WebAssembly.ModuleImports });
const x = m.exports as any;
const IN = m.scratch;
const IN_CAP = 0x10000;
const EV = IN + IN_CAP;
const EV_CAP = 0x18000;
const ENC = EV + EV_CAP;
const ENC_CAP = 0x18000;
const TrailingData = -8;
const NestingTooDeep = -6;

function prng(seed: number) {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0; a = b ^ (b >>> 9); b = (c + (c << 3)) | 0; c = (c << 21) | (c >>> 11); d = (d + 1) | 0;
    const r = (t + d) | 0; c = (c + r) | 0; return r >>> 0;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}
const r = prng(SEED);
const below = (n: number) => r() % n;

// ---- well-formed raw CBOR with every feature cborg's encoder never emits ----
function head(major: number, v: bigint, longer: boolean): number[] {
  let w = v < 24n ? 0 : v < 0x100n ? 1 : v < 0x10000n ? 2 : v < 0x100000000n ? 4 : 8;
  if (longer && w < 8) { const wider = [1, 2, 4, 8].filter((k) => k > w); w = wider[below(wider.length)]; }
  const out = [(major << 5) | (w === 0 ? Number(v) : 24 + Math.log2(w))];
  for (let i = w - 1; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}
function randBig(): bigint {
  const w = [0, 1, 2, 4, 8][below(5)];
  let v = 0n;
  for (let i = 0; i < w; i++) v = (v << 8n) | BigInt(below(256));
  return w === 0 ? BigInt(below(24)) : v;
}
const randBytes = (n: number) => Array.from({ length: n }, () => below(256));
function genItem(depth: number): number[] {
  const longer = below(8) === 0;
  const k = below(depth > 5 ? 8 : 13);
  switch (k) {
    case 0: return head(0, randBig(), longer);
    case 1: return head(1, randBig(), longer);
    case 2: { const n = below(12); return [...head(2, BigInt(n), longer), ...randBytes(n)]; }
    case 3: { const s = [...new TextEncoder().encode(["", "a", "IETF", "ü", "水", "𐅑", "streaming"][below(7)])]; return [...head(3, BigInt(s.length), longer), ...s]; }
    case 4: { const v = [20, 21, 22, 23, below(20), 32 + below(224)][below(6)]; return head(7, BigInt(v), false); }
    case 5: { const w = [2, 4, 8][below(3)]; return [0xf8 + Math.log2(w), ...randBytes(w)]; }
    case 6: { const mj = 2 + below(2); const out = [(mj << 5) | 31]; for (let i = below(4); i > 0; i--) { const n = below(5); out.push(...head(mj, BigInt(n), longer), ...randBytes(n).map((b) => (mj === 3 ? 0x61 + (b % 26) : b))); } out.push(0xff); return out; }
    case 7: return [...head(6, randBig(), longer), ...genItem(depth + 1)];
    case 8: { const n = below(5); const out = head(4, BigInt(n), longer); for (let i = 0; i < n; i++) out.push(...genItem(depth + 1)); return out; }
    case 9: { const out = [0x9f]; for (let i = below(5); i > 0; i--) out.push(...genItem(depth + 1)); out.push(0xff); return out; }
    case 10: { const n = below(4); const out = head(5, BigInt(n), longer); for (let i = 0; i < 2 * n; i++) out.push(...genItem(depth + 1)); return out; }
    case 11: { const out = [0xbf]; for (let i = 2 * below(4); i > 0; i--) out.push(...genItem(depth + 1)); out.push(0xff); return out; }
    default: { const out = head(4, 1n, false); out.push(...genItem(depth + 1)); return out; }
  }
}

// ---- random JS values for cborg's encoder ----
function genValue(depth: number): unknown {
  const k = below(depth > 4 ? 7 : 10);
  switch (k) {
    case 0: return below(2) ? below(1 << 30) : -below(1 << 30);
    case 1: return (BigInt(r()) << 32n | BigInt(r())) * (below(2) ? 1n : -1n);
    case 2: return [1.5, -0, 0.1, 65504, 3 * 2 ** -24, NaN, Infinity, 1e300, (r() - 2 ** 31) / 1024][below(9)];
    case 3: return new Uint8Array(randBytes(below(20)));
    case 4: return ["", "abc", "ü水𐅑", "x".repeat(below(300))][below(4)];
    case 5: return [true, false, null, undefined][below(4)];
    case 6: return new cborg.Tagged(below(2) ? below(24) : r(), below(2) ? "t" : 1);
    case 7: return Array.from({ length: below(5) }, () => genValue(depth + 1));
    case 8: { const o: Record<string, unknown> = {}; for (let i = below(4); i > 0; i--) o["k" + below(50)] = genValue(depth + 1); return o; }
    default: return new Map<unknown, unknown>([[below(10), genValue(depth + 1)], ["s", genValue(depth + 1)]]);
  }
}

const INTERESTING = [0x00, 0x17, 0x18, 0x1b, 0x1c, 0x1f, 0x3f, 0x5f, 0x5b, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xdf, 0xf8, 0xf9, 0xfb, 0xff];
function mutate(src: Uint8Array, pool: Uint8Array[]): Uint8Array {
  const b = [...src];
  for (let n = 1 + below(3); n > 0; n--) {
    const at = below(b.length + 1);
    switch (below(7)) {
      case 0: if (b.length) b[at % b.length] ^= 1 << below(8); break; // bit flip
      case 1: b.splice(at, 0, below(2) ? below(256) : INTERESTING[below(INTERESTING.length)]); break; // insert
      case 2: b.splice(at, 1 + below(3)); break; // delete
      case 3: b.length = Math.min(b.length, at); break; // truncate
      case 4: { const o = pool[below(pool.length)]; const s = below(o.length + 1); b.splice(at, below(4), ...o.subarray(s, s + below(16))); break; } // splice
      case 5: if (b.length) b[at % b.length] = INTERESTING[below(INTERESTING.length)]; break;
      default: { const o = pool[below(pool.length)]; b.splice(at, 0, ...o); break; } // embed a whole item
    }
  }
  return new Uint8Array(b.slice(0, 4096));
}

// ---- reference: RFC 8949 Appendix C well_formed(), transcribed (recursive;
// test-side only), plus the same nesting limit as ours ----
class NotWellFormed extends Error {}
/** null when b is one well-formed item, else why not. */
function referenceWellFormed(b: Uint8Array, maxDepth: number): string | null {
  let p = 0;
  const take = (n: number) => { if (n > b.length - p) throw new NotWellFormed("eof"); const s = p; p += n; return s; };
  const uint = (n: number) => { const s = take(n); let v = 0n; for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[s + i]); return v; };
  function wellFormed(breakable: boolean, depth: number): number {
    const ib = b[take(1)];
    const mt = ib >> 5;
    const ai = ib & 0x1f;
    let val = BigInt(ai);
    switch (ai) {
      case 24: val = uint(1); break;
      case 25: val = uint(2); break;
      case 26: val = uint(4); break;
      case 27: val = uint(8); break;
      case 28: case 29: case 30: throw new NotWellFormed("reserved ai");
      case 31: return wellFormedIndefinite(mt, breakable, depth);
    }
    switch (mt) {
      case 2: case 3: if (val > BigInt(b.length)) throw new NotWellFormed("eof"); take(Number(val)); break;
      case 4: case 5:
        if (depth >= maxDepth) throw new NotWellFormed("depth");
        for (let i = 0n; i < (mt === 5 ? 2n * val : val); i++) wellFormed(false, depth + 1);
        break;
      case 6: wellFormed(false, depth); break;
      case 7: if (ai === 24 && val < 32n) throw new NotWellFormed("bad simple"); break;
    }
    return mt;
  }
  function wellFormedIndefinite(mt: number, breakable: boolean, depth: number): number {
    switch (mt) {
      case 2: case 3: for (let it; (it = wellFormed(true, depth)) !== -1;) if (it !== mt) throw new NotWellFormed("chunk"); break;
      case 4: if (depth >= maxDepth) throw new NotWellFormed("depth"); while (wellFormed(true, depth + 1) !== -1); break;
      case 5: if (depth >= maxDepth) throw new NotWellFormed("depth"); while (wellFormed(true, depth + 1) !== -1) wellFormed(false, depth + 1); break;
      case 7: if (breakable) return -1; throw new NotWellFormed(`break at offset ${p - 1} where no item may end`);
      default: throw new NotWellFormed("indefinite mt");
    }
    return 99;
  }
  try {
    wellFormed(false, 0);
    return p === b.length ? null : "trailing data";
  } catch (e) {
    if (e instanceof NotWellFormed) return e.message;
    throw e;
  }
}

let cborg: typeof import("cborg");
let fixtures: Uint8Array[] = [];
// cborg decodes no tags by default: accept every tag number, keep the content.
const anyTag = new Proxy({}, { get: (_t, k) => (decode: () => unknown) => ({ tag: String(k), value: decode() }) });
const strict = { strict: true, useMaps: true, tags: anyTag as any, allowUndefined: true, allowIndefinite: true };
const lax = { ...strict, strict: false };
function cborgAccepts(b: Uint8Array, opts: object): boolean {
  try { cborg.decode(b, opts); return true; } catch { return false; }
}

before(async () => {
  cborg = await import("cborg");
  const file = pathToFileURL(join(ROOT, "node_modules/cborg/test/appendix_a.js")).href;
  fixtures = ((await import(file)).fixtures as { hex: string }[]).map((f) => unhex(f.hex));
});

function check(b: Uint8Array, stats: Record<string, number>, onlyCborg: string[]): void {
  const ctx = () => `seed ${SEED} limit ${limit} input ${hex(b)}`;
  // mostly the hard ceiling (closest to cborg, which has no limit), sometimes a small limit
  const limit = below(4) ? MAX_DEPTH : below(6);
  m.write(b, IN);
  const v = x.validate(IN, b.length, limit);
  const s = x.skipTop(IN, b.length, limit);
  const d = x.dump(IN, b.length, EV, EV_CAP, limit);
  // walker, cursor skip and full cursor walk agree
  if (v === 0) {
    assert.equal(s, b.length, `skipTop ${ctx()}`);
    assert.ok(d > 0, `dump ${d} ${ctx()}`);
  } else if (v === TrailingData) {
    assert.ok(s > 0 && s < b.length, `skipTop ${s} ${ctx()}`);
    assert.equal(d, TrailingData, `dump ${ctx()}`);
  } else {
    assert.ok(v < 0 && v >= -11, `validate ${v} ${ctx()}`);
    assert.equal(s, v, `skipTop ${ctx()}`);
    assert.equal(d, v, `dump ${ctx()}`);
  }
  stats[v === 0 ? "accepted" : `error ${v}`] = (stats[v === 0 ? "accepted" : `error ${v}`] ?? 0) + 1;
  if (v === 0) {
    // our encoder, fed the decoded items, writes CBOR that decodes to the same items
    const ev = m.read(EV, d);
    for (const exact of [1, 0]) {
      m.write(ev, EV);
      const n = x.encodeEvents(EV, ev.length, ENC, ENC_CAP, exact);
      assert.ok(n > 0, `re-encode ${n} ${ctx()}`);
      const out = m.read(ENC, n);
      if (exact) assert.ok(n <= b.length, `re-encode grew ${ctx()}`);
      m.write(out, IN);
      assert.equal(x.validate(IN, n, MAX_DEPTH), 0, `re-encoded ${hex(out)} invalid, ${ctx()}`);
      if (exact) {
        const d2 = x.dump(IN, n, EV, EV_CAP, MAX_DEPTH);
        assert.equal(hex(m.read(EV, d2)), hex(ev), `re-encoded items differ ${ctx()}`);
      }
    }
  }
  // the RFC's own algorithm decides well-formedness: we must agree exactly
  const ref = referenceWellFormed(b, limit);
  assert.equal(v === 0, ref === null, `ours ${v}, RFC 8949 Appendix C says ${ref ?? "well-formed"}: ${ctx()}`);
  // differential against cborg: what cborg (strict) accepts we accept, unless
  // the RFC's algorithm says cborg is wrong or it nests deeper than our limit
  if (v !== 0 && cborgAccepts(b, lax)) {
    const whyNot = referenceWellFormed(b, 1 << 30);
    const unlimited = whyNot === null;
    const why = unlimited ? `nested deeper than limit ${limit} (cborg has none)` : `not well-formed per RFC 8949 Appendix C: ${whyNot}`;
    if (cborgAccepts(b, strict)) assert.ok(!unlimited || v === NestingTooDeep, `cborg (strict) accepts, we return ${v}: ${ctx()}`);
    if (!unlimited) onlyCborg.push(`${hex(b)} ours ${v}: ${why}`);
    else stats[why.replace(/\d+/, "N")] = (stats[why.replace(/\d+/, "N")] ?? 0) + 1;
  }
}

test(`fuzz: CBOR decoder/validator/skip-walker, ${ITERATIONS} inputs, seed ${SEED}`, () => {
  console.log(`fuzz-cbor seed ${SEED} (FUZZ_SEED to reproduce), ${ITERATIONS} iterations`);
  const pool: Uint8Array[] = [...fixtures];
  const stats: Record<string, number> = {};
  const onlyCborg: string[] = [];
  // generators are right by construction: check before mutating
  for (let i = 0; i < 200; i++) {
    const raw = new Uint8Array(genItem(0));
    m.write(raw, IN);
    assert.equal(x.validate(IN, raw.length, MAX_DEPTH), 0, `generated ${hex(raw)} seed ${SEED}`);
    pool.push(raw);
    const enc = cborg.encode(genValue(0), { typeEncoders: {} });
    assert.ok(cborgAccepts(enc, lax));
    pool.push(enc);
  }
  for (let i = 0; i < ITERATIONS; i++) {
    let b: Uint8Array;
    switch (i % 6) {
      case 0: b = new Uint8Array(randBytes(below(24))); break; // random bytes
      case 1: b = new Uint8Array(genItem(0)); break; // fresh well-formed raw CBOR
      case 2: b = cborg.encode(genValue(0)); break; // fresh cborg output
      default: b = mutate(pool[below(pool.length)], pool); // mutated fixture / structure
    }
    check(b, stats, onlyCborg);
    if (i % 50 === 0 && b.length < 512) pool[fixtures.length + below(pool.length - fixtures.length)] = b; // keep mutants as seeds
  }
  console.log("fuzz-cbor verdicts:", JSON.stringify(stats));
  if (onlyCborg.length) console.log(`fuzz-cbor: ${onlyCborg.length} inputs cborg (lax) accepts and we reject:\n  ${onlyCborg.slice(0, 20).join("\n  ")}`);
  assert.ok((stats.accepted ?? 0) > ITERATIONS / 10, "too few accepted inputs: the fuzzer would test only rejection");
});
