// Fuzzing the LwM2M content-format decoders (build/test/formats.wasm): TLV,
// text/plain, opaque, SenML JSON, SenML CBOR, plus the Write-Attributes,
// path, number and base64 parsers. FUZZ_ITERATIONS random and mutated inputs
// each (default 10,000; `npm run fuzz` sets 1,000,000); every entry is read
// with every typed accessor. Properties: no trap (an abort throws WasmAbort),
// a payload accepted by init never fails later (checked whole up front:
// nothing half-applied), returned spans lie inside the payload or the
// scratch area, and a reset walk yields the same entries. Seeded; a failure
// prints the seed, the request path and the input hex.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTest, hex, unhex, ROOT } from "./helpers/wasm";
import { needs } from "./helpers/profile";

const ITER = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x0f0a7f5);
console.log(`fuzz-formats: FUZZ_SEED=${SEED} FUZZ_ITERATIONS=${ITER}`);

const m = loadTest<any>("formats");
const w = m.exports;
const S = m.scratch;
const IN = S, SCR = S + 0x20000, SCR_CAP = 0x1000, OUT = S + 0x30000;
const NONE = 0xffff;
const CF = { TEXT: 0, OPAQUE: 42, SENML_JSON: 110, SENML_CBOR: 112, TLV: 11542 };

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => { // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number) => Math.floor((next() / 0x100000000) * n);
  return { next, int, pick: <T>(xs: readonly T[]) => xs[int(xs.length)], bytes: (n: number) => Uint8Array.from({ length: n }, () => next() & 0xff) };
}
type Rng = ReturnType<typeof prng>;

// seeds: the worked examples, plus small hand-made inputs per format
const vec = (f: string) => JSON.parse(readFileSync(join(ROOT, "test/vectors", f), "utf8"));
const enc8 = new TextEncoder();
const SEEDS: Record<number, Uint8Array[]> = {
  [CF.TLV]: [
    ...vec("lwm2m-tlv-examples.json").examples.flatMap((e: any) => [unhex(e.hex), ...(e.printedHex ? [unhex(e.printedHex)] : [])]),
    unhex("8606410001410105"), unhex("c10964"), unhex("410105"), unhex("0007"), unhex("800b"), unhex("f0010201 2c".replace(" ", "") + "00".repeat(300)),
  ],
  [CF.SENML_JSON]: [
    ...vec("lwm2m-senml-json-examples.json").examples.flatMap((e: any) => [enc8.encode(e.text), ...(e.printed ? [enc8.encode(e.printed)] : [])]),
    ...vec("rfc8428.json").json.map((e: any) => enc8.encode(e.text)),
    enc8.encode('[{"n":"/3/0/0","vs":"a\\"b\\\\c\\u00e9\\ud83d\\ude00","x":{"a":[1,{"b":null}]},"vd":"AQ"}]'),
    enc8.encode('[{"bn":"/3/0/","bt":1e9,"n":"1","v":-1.5e-3,"t":-5},{"n":"2","vb":true},{"n":"3","vlo":"1:2"}]'),
  ],
  [CF.SENML_CBOR]: [
    ...vec("lwm2m-senml-cbor-examples.json").examples.map((e: any) => unhex(e.hex)),
    ...vec("rfc8428.json").cbor.map((e: any) => unhex(e.hex)),
    unhex("9fbf007f622f33642f302f30ff037f61616162ffffff"), unhex("81a200662f332f302f3002c482200f"),
    unhex("81a300662f332f302f3063766c6f63313a3206fb3ff8000000000000"), unhex("81a200662f332f302f30084401020304"),
  ],
  [CF.TEXT]: ["100", "-9223372036854775808", "22.4", "1e400", "1", "0", "66:0", "AQID", "Open Mobile Alliance", ""].map((s) => enc8.encode(s)),
  [CF.OPAQUE]: [unhex("0102"), new Uint8Array(0)],
};
const REQUESTS: [number, number, number, number][] = [
  [NONE, NONE, NONE, NONE], [3, NONE, NONE, NONE], [3, 0, NONE, NONE], [3, 0, 6, NONE], [3, 0, 6, 1], [2, NONE, NONE, NONE],
  [1, NONE, NONE, NONE], [65, 0, NONE, NONE], [66, NONE, NONE, NONE], [3, 0, 0, NONE], [0, 0, 0, 0], [65534, 65534, 65534, 65534],
];
const JSON_TOKENS = ["[", "]", "{", "}", ",", ":", '"n"', '"bn"', '"v"', '"vs"', '"vb"', '"vd"', '"vlo"', '"t"', '"bt"', '"bver"', '"x_"',
  '"/3/0/0"', '"/"', "true", "false", "null", "-0", "1e999", "0.5", "18446744073709551616", '"\\u0000"', '"\\ud800"', " ", "\t"];

const JSON_STRINGS = ['"/3/0/0"', '"/3/0/6/1"', '"1/2"', '"0"', '"/"', '""', '"/3/0/"', '"66:0"', '"65535:65535"', '"AQID"', '"_-8"', '"a\\u00e9\\"b"', '"\\/3\\/0\\/1"', '"x"'];
const JSON_NUMBERS = ["0", "-0", "-1", "1.5", "3.8e3", "1e19", "-9223372036854775808", "18446744073709551615", "2.2250738585072011e-308",
  "1e-400", "10", "11", "1367491215", "0.1e1"];

function mutate(r: Rng, src: Uint8Array, format: number): Uint8Array {
  let b = Array.from(src);
  const n = r.int(3) === 0 ? 1 + r.int(4) : 1;
  for (let k = 0; k < n; k++) {
    const op = r.int(format === CF.SENML_JSON ? 11 : 8);
    const at = r.int(b.length + 1);
    if (op === 0 && b.length) b[r.int(b.length)] ^= 1 << r.int(8);
    else if (op === 1 && b.length) b[r.int(b.length)] = r.next() & 0xff;
    else if (op === 2) b.splice(at, 0, ...r.bytes(1 + r.int(4)));
    else if (op === 3 && b.length) b.splice(r.int(b.length), 1 + r.int(8));
    else if (op === 4) b = b.slice(0, r.int(b.length + 1));
    else if (op === 5 && b.length > 2) { const s = r.int(b.length); b.splice(at, 0, ...b.slice(s, s + 1 + r.int(16))); }
    else if (op === 6 && b.length) b[r.int(b.length)] = r.pick([0x00, 0xff, 0x7f, 0x80, 0x1f, 0x20, 0x5f, 0x22, 0x5c]);
    else if (op === 7) { const o = r.pick(Object.values(SEEDS[format])); const s = r.int(o.length + 1); b.splice(at, r.int(8), ...o.slice(s, s + r.int(24))); }
    else if (op === 8) b.splice(at, r.int(3), ...enc8.encode(r.pick(JSON_TOKENS)));
    else if (op === 9) {
      // structure-aware: a label's value replaced by another value of a fitting type
      const s = Buffer.from(b).toString("latin1");
      const labels = [...s.matchAll(/"(bn|n|vs|vd|vlo|v|t|bt|vb|bver|bv)"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}\]]*)/g)];
      if (!labels.length) continue;
      const l = r.pick(labels);
      const kind = ["bn", "n", "vs", "vd", "vlo"].includes(l[1]) ? 0 : l[1] === "vb" ? 1 : 2;
      const v = kind === 0 ? r.pick(JSON_STRINGS) : kind === 1 ? r.pick(["true", "false", "1"]) : r.pick(JSON_NUMBERS);
      const start = l.index! + l[0].length - l[2].length;
      b = Array.from(Buffer.from(s.slice(0, start) + v + s.slice(start + l[2].length), "latin1"));
    } else {
      // a record duplicated or dropped
      const s = Buffer.from(b).toString("latin1");
      const recs = [...s.matchAll(/\{[^{}]*\}/g)];
      if (!recs.length) continue;
      const x = r.pick(recs);
      const t2 = r.int(2) ? s.slice(0, x.index) + x[0] + "," + s.slice(x.index) : s.slice(0, x.index) + s.slice(x.index! + x[0].length).replace(/^,/, "");
      b = Array.from(Buffer.from(t2, "latin1"));
    }
  }
  return Uint8Array.from(b);
}

function input(r: Rng, format: number): Uint8Array {
  const k = r.int(10);
  if (k === 0) return r.bytes(r.int(64));
  return mutate(r, r.pick(SEEDS[format]), format);
}

/** One decoder run; returns a short transcript of the walk (for the reset comparison). */
function walk(limit: number): string {
  const out: string[] = [];
  for (let i = 0; i < limit; i++) {
    const n = w.decNext();
    if (n === 0) break;
    if (n < 0) throw new Error(`next() failed after a successful init: ${n}`);
    out.push(`${w.decKind()}:${w.decHint()}:${w.decPath()}:${w.decValLen()}`);
    // every accessor, whatever the entry: errors are fine, traps are not
    w.decAsInt(); w.decAsUint(); w.decAsFloat(); w.decAsBool(); w.decAsObjlnk(); w.decAsTime();
    for (const f of [w.decAsString, w.decAsOpaque, w.decAsCorelnk]) {
      const len = f();
      if (len >= 0) {
        const p = w.decStrPtr();
        const inPayload = p >= IN && p + len <= IN + 0x10000;
        const inScratch = p >= SCR && p + len <= SCR + SCR_CAP;
        if (!inPayload && !inScratch) throw new Error(`span ${p}+${len} outside payload and scratch`);
      }
    }
    for (let t = 0; t <= 9; t++) w.decCheck(t);
  }
  return out.join(" ");
}

const STATS: Record<number, number> = {};
function fuzzDecoder(format: number, seedOffset: number) {
  for (const k in STATS) delete STATS[k];
  const seed = SEED + seedOffset;
  const r = prng(seed);
  let accepted = 0;
  for (let i = 0; i < ITER; i++) {
    const b = input(r, format);
    const req = (format === CF.SENML_JSON || format === CF.SENML_CBOR) && r.int(2) ? REQUESTS[0] : r.pick(REQUESTS);
    m.write(b, IN);
    try {
      const rc = w.decInit(format, IN, b.length, ...req, SCR, SCR_CAP, r.int(8) === 0 ? 1 : 0);
      if (rc === 0) {
        accepted++;
        const first = walk(10000);
        if (r.int(4) === 0) {
          w.decReset();
          assert.equal(walk(10000), first, "reset walks the same entries");
        }
      } else {
        if (process.env.FUZZ_STATS) STATS[rc] = (STATS[rc] ?? 0) + 1;
        assert.ok(rc < 0 && rc >= -9, `init result ${rc}`);
        assert.equal(w.decNext(), rc, "a refused payload yields no entries");
      }
    } catch (e) {
      assert.fail(`format ${format} FUZZ_SEED=${SEED} (stream ${seed}) iteration ${i} request ${req.join("/")} input ${hex(b)}: ${(e as Error).message}`);
    }
  }
  return accepted;
}

/** Runs a decoder's fuzz loop; a share of the inputs must get past init (else the mutations only test the front door). */
function run(name: string, format: number, off: number, minShare: number) {
  test(`fuzz: ${name} decoder, ${ITER} inputs`, format === CF.SENML_JSON ? needs("senml-json") : {}, () => {
    const accepted = fuzzDecoder(format, off);
    console.log(`fuzz-formats: ${name}: ${accepted} of ${ITER} inputs accepted and walked`);
    if (process.env.FUZZ_STATS) console.log(JSON.stringify(STATS));
    assert.ok(accepted >= ITER * minShare, `only ${accepted} accepted`);
  });
}
run("TLV", CF.TLV, 1, 0.05);
run("SenML JSON", CF.SENML_JSON, 2, 0.05);
run("SenML CBOR", CF.SENML_CBOR, 3, 0.05);
run("text/plain", CF.TEXT, 4, 0.3);
run("opaque", CF.OPAQUE, 5, 0.3);

test(`fuzz: Write-Attributes, path, number and base64 parsers, ${ITER} inputs each`, () => {
  const r = prng(SEED + 6);
  const attrs = ["pmin=10", "pmax", "gt=-2.5", "lt=1e2", "st=0.5", "epmin=5", "epmax=60", "/3/0/6/1", "/", "/65534", "1.5e-300", "AQID", "_-8="];
  for (let i = 0; i < ITER; i++) {
    const b = r.int(4) === 0 ? r.bytes(r.int(24)) : mutate(r, enc8.encode(r.pick(attrs)), CF.TEXT);
    m.write(b, IN);
    try {
      const a = w.attrParse(IN, b.length);
      assert.ok(a >= -9 && a <= 7);
      w.pathParseText(IN, b.length);
      w.parseF64(IN, b.length);
      w.parseI64(IN, b.length);
      w.parseU64(IN, b.length);
      const n = w.b64Decode(IN, b.length, SCR, SCR_CAP);
      assert.ok(n <= SCR_CAP);
      w.utf8Valid(IN, b.length);
      w.pathClear();
      w.pathAppend(IN, b.length);
    } catch (e) {
      assert.fail(`parsers FUZZ_SEED=${SEED} iteration ${i} input ${hex(b)}: ${(e as Error).message}`);
    }
  }
});

test(`fuzz: random encoder call sequences, ${Math.ceil(ITER / 10)} runs`, () => {
  const r = prng(SEED + 7);
  const id = () => r.pick([0, 1, 5, 255, 256, 65534, NONE, r.int(0x10000)]);
  for (let i = 0; i < Math.ceil(ITER / 10); i++) {
    const format = r.pick([CF.TEXT, CF.OPAQUE, CF.SENML_JSON, CF.SENML_CBOR, CF.TLV, 40, 60]);
    const calls: string[] = [];
    try {
      w.encInit(format, OUT, r.int(400));
      for (let k = 0; k < 1 + r.int(12); k++) {
        const p = [id(), id(), id(), id()] as const;
        const op = r.int(14);
        calls.push(`${op}:${p.join("/")}`);
        if (op === 0) w.encBegin(...p);
        else if (op === 1) w.encInt(...p, BigInt.asIntN(64, BigInt(r.next()) << BigInt(r.int(40))));
        else if (op === 2) w.encUint(...p, BigInt(r.next()));
        else if (op === 3) w.encFloat(...p, r.pick([NaN, Infinity, 0.1, -0, 1e300]));
        else if (op === 4) w.encBool(...p, r.int(2));
        else if (op === 5) w.encString(...p, IN, r.int(20));
        else if (op === 6) w.encOpaque(...p, IN, r.int(20));
        else if (op === 7) w.encObjlnk(...p, id(), r.int(0x20000));
        else if (op === 8) w.encBeginInstance(p[0], p[1]);
        else if (op === 9) w.encBeginMultiple(p[0], p[1], p[2]);
        else if (op === 10) w.encEndMultiple();
        else if (op === 11) w.encEndInstance();
        else if (op === 12) w.encSetTime(r.pick([NaN, -5, 1.5, 1e300]));
        else w.encTime(...p, BigInt(r.next()));
      }
      const n = w.encFinish();
      assert.ok(n >= -9 && n <= 400);
    } catch (e) {
      assert.fail(`encoder FUZZ_SEED=${SEED} run ${i} format ${format} calls ${calls.join(" ")}: ${(e as Error).message}`);
    }
  }
});
