// Fuzz: the secure record store mounts hostile flash images without a trap
// (SE-2). Inputs: bit flips of valid images (stable and with a commit in
// flight), images spliced from sectors of older and newer snapshots,
// structured random images (valid-looking sector and record headers with
// random contents), raw random bytes and odd geometries, under SE counter
// values around the image's. After a successful mount the store must also
// serve reads and writes without a trap, and every value it returns must be
// the committed one (never a forged or stale value).
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTest, hex, type TestModule } from "./helpers/wasm";
import { createHostImports, FirmwareFatal } from "../host-shim/node/host";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { DeviceRng } from "../host-shim/node/drbg";

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5707e);
console.log(`fuzz-storage seed ${SEED}, ${ITERATIONS} iterations`);

/** xorshift32: fast and reproducible. */
function prng(seed: number) {
  let x = seed >>> 0 || 0x9e3779b9;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  return { next, int: (n: number) => next() % n, bytes: (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = next() & 0xff; return b; } };
}

// ---- one module instance over a switchable flash and an SE whose counter the test sets ----
let flash = new NorFlash();
const flashProxy = {
  get size() { return flash.size; },
  get sectorSize() { return flash.sectorSize; },
  read: (a: number, n: number) => flash.read(a, n),
  program: (a: number, d: Uint8Array) => flash.program(a, d),
  eraseSector: (a: number) => flash.eraseSector(a),
} as unknown as NorFlash;
const se = new SimulatedSecureElement();
let counter = 0;
se.counter = (inc: boolean) => (inc ? ++counter : counter);
let mod!: TestModule<any>;
mod = loadTest("storage", createHostImports({
  rng: new DeviceRng(), se, flash: flashProxy,
  net: { open: () => -1, send: () => -6, close: () => {} },
  clock: { monotonicMs: () => 0, wallSeconds: () => -1 },
  log: () => {},
  fatal: (code, line) => { throw new FirmwareFatal(code, line); },
}, () => mod.exports.memory));
const x = mod.exports;
const OK_STATUS = new Set([0, 1, -1, -5, -6, -7, -16, -17, -18, -19, -20, -21, -22, -23]);

function useImage(img: Uint8Array, sectorSize: number, counterValue: number) {
  flash = new NorFlash({ size: img.length, sectorSize });
  assert.equal(flash.program(0, img), 0);
  counter = counterValue;
}
const put = (id: number, v: Uint8Array) => { mod.write(v); return x.put(id, mod.scratch, v.length); };
const get = (id: number): string | number => { const n = x.get(id, mod.scratch, 4096); return n < 0 ? n : hex(mod.read(mod.scratch, n)); };

// ---- valid base images ----
interface Base { img: Uint8Array; ss: number; counter: number; state: Map<number, string>; name: string }
function makeBase(name: string, size: number, ss: number, ops: number, seed: number, stopInFlight = false): Base {
  useImage(new Uint8Array(size).fill(0xff), ss, 0);
  assert.equal(x.mount(), 1);
  const r = prng(seed);
  const state = new Map<number, string>();
  for (let i = 0; i < ops; i++) {
    const id = 1 + r.int(8), v = r.bytes(r.int(i % 5 === 0 ? 1200 : 200));
    if (put(id, v) === 0) state.set(id, hex(v));
  }
  if (stopInFlight) {
    // a transaction left open with records written: SE counter odd (mount must re-anchor)
    assert.equal(x.begin(), 0);
    assert.equal(put(1, r.bytes(50)), 0);
  }
  return { img: flash.read(0, size) as Uint8Array, ss, counter, state, name };
}
/** The same device one commit later: for "after" images (SE counter odd, commit on flash). */
const BASES: Base[] = [
  makeBase("64k-stable", 65536, 4096, 300, 1),
  makeBase("20k-stable", 20480, 4096, 60, 2),
  makeBase("20k-in-flight", 20480, 4096, 40, 3, true),
  makeBase("12k-stable", 12288, 4096, 30, 4),
  makeBase("8k-1k-sectors", 8192, 1024, 40, 5),
];
// snapshots of one device over time, for splicing
const HISTORY: { img: Uint8Array; counter: number; state: Map<number, string> }[] = [];
{
  useImage(new Uint8Array(20480).fill(0xff), 4096, 0);
  x.mount();
  const r = prng(6);
  const state = new Map<number, string>();
  for (let i = 0; i < 80; i++) {
    const id = 1 + r.int(6), v = r.bytes(r.int(700));
    if (put(id, v) === 0) state.set(id, hex(v));
    if (i % 8 === 7) HISTORY.push({ img: flash.read(0, 20480) as Uint8Array, counter, state: new Map(state) });
  }
}

/** Exercise a mounted store; every value read must be the expected one when known. */
function exercise(r: ReturnType<typeof prng>, expect: Map<number, string> | null) {
  for (let id = 1; id <= 9; id++) {
    const v = get(id);
    assert.ok(typeof v === "string" || OK_STATUS.has(v), `get ${id} -> ${v}`);
    if (expect && typeof v === "string") assert.equal(v, expect.get(id), `get ${id} returned a value that is not the committed one`);
  }
  for (let k = 0; k < 3; k++) {
    const choice = r.int(5);
    let st: number;
    if (choice === 0) st = x.del(1 + r.int(9));
    else if (choice === 1) { x.begin(); put(1 + r.int(9), r.bytes(r.int(300))); st = r.int(2) ? x.commit() : x.abort(); }
    else st = put(1 + r.int(0xfffe), r.bytes(r.int(2049)));
    assert.ok(OK_STATUS.has(st), `op -> ${st}`);
  }
  x.size(1 + r.int(9));
  x.freeBytes();
  x.recordCount();
}

function crcFix(img: Uint8Array, at: number, n: number) {
  const c = crc32(img.subarray(at, at + n));
  img[at + n] = c; img[at + n + 1] = c >>> 8; img[at + n + 2] = c >>> 16; img[at + n + 3] = c >>> 24;
}
/** Valid-looking sectors and records with random fields. */
function structuredImage(r: ReturnType<typeof prng>, size: number, ss: number): Uint8Array {
  const img = new Uint8Array(size).fill(0xff);
  for (let a0 = ss; a0 < size; a0 += ss) {
    if (r.int(5) === 0) continue; // leave erased
    img.set([0x4c, 0x57, 0x53, 0x53], a0);
    const seq = r.int(4) === 0 ? r.next() : 1 + r.int(20);
    img[a0 + 4] = seq; img[a0 + 5] = seq >>> 8; img[a0 + 6] = seq >>> 16; img[a0 + 7] = seq >>> 24;
    img.set([1, 0, 0, 0], a0 + 8);
    crcFix(img, a0, 12);
    let pos = a0 + 16;
    while (pos + 16 < a0 + ss && r.int(12) !== 0) {
      const kind = r.int(3) === 0 ? 0x43 : r.int(10) === 0 ? r.next() & 0xff : 0x44;
      let len = kind === 0x43 ? 32 + 6 * r.int(34) : r.int(4) === 0 ? r.int(0x10000) : 28 + r.int(600);
      const id = kind === 0x43 ? (r.int(8) ? 0 : r.int(3)) : r.int(10) === 0 ? r.int(0x10000) : 1 + r.int(9);
      const gen = r.int(3) === 0 ? r.next() : r.int(40);
      const h = [kind, r.int(15) ? 1 : 2, id & 0xff, id >> 8, len & 0xff, len >> 8, 0, 0, gen & 0xff, (gen >>> 8) & 0xff, (gen >>> 16) & 0xff, gen >>> 24];
      img.set(h, pos);
      crcFix(img, pos, 12);
      const size2 = 16 + ((len + 3) & ~3) + 4;
      if (pos + size2 > a0 + ss) { pos += 16; continue; }
      img.set(r.bytes(size2 - 20), pos + 16);
      if (kind === 0x43 && len >= 32) {
        // plausible manifest: ascending ids
        let id2 = 0;
        for (let i = 0; i < (len - 32) / 6; i++) { id2 += 1 + r.int(3); img[pos + 20 + 6 * i] = id2; img[pos + 21 + 6 * i] = 0; }
        img.set([1, 0, 0, 0], pos + 16);
      }
      if (r.int(4)) crcFix(img, pos, size2 - 4);
      pos += size2 + (r.int(6) === 0 ? 4 * r.int(8) : 0);
    }
  }
  return img;
}

function fail(seed: number, i: number, kind: string, img: Uint8Array, e: unknown): never {
  const file = join(tmpdir(), `fuzz-storage-${seed}-${i}.img`);
  writeFileSync(file, img);
  const firstUsed = img.findIndex((b) => b !== 0xff);
  throw new Error(`fuzz-storage: seed ${seed} iteration ${i} (${kind}) failed: ${(e as Error).message}\n` +
    `image written to ${file}; hex from offset ${firstUsed}: ${hex(img.subarray(Math.max(0, firstUsed), Math.max(0, firstUsed) + 256))}`);
}

test(`fuzz: ${ITERATIONS} hostile flash images never trap the mount, reads or writes, and never yield a wrong value`, () => {
  const r = prng(SEED);
  const counts: Record<string, number> = {};
  const results: Record<number, number> = {};
  for (let i = 0; i < ITERATIONS; i++) {
    const kind = ["flip", "flip", "flip", "splice", "structured", "random"][r.int(6)];
    let img: Uint8Array, ss = 4096, cv = 0, expect: Map<number, string> | null = null;
    if (kind === "flip") {
      const b = BASES[r.int(BASES.length)];
      img = b.img.slice();
      ss = b.ss;
      const flips = 1 + r.int(r.int(4) === 0 ? 64 : 4);
      for (let k = 0; k < flips; k++) { const bit = r.int(img.length * 8); img[bit >> 3] ^= 1 << (bit & 7); }
      cv = b.counter + (r.int(4) === 0 ? r.int(5) - 2 : 0);
      if (cv < 0) cv = 0;
      // a flipped image may only lose values; with the true counter whatever reads back is the committed value
      expect = cv === b.counter && !b.name.includes("in-flight") ? b.state : null;
    } else if (kind === "splice") {
      const newest = HISTORY[HISTORY.length - 1];
      img = newest.img.slice();
      for (let a0 = 4096; a0 < img.length; a0 += 4096) if (r.int(3) === 0) img.set(HISTORY[r.int(HISTORY.length)].img.subarray(a0, a0 + 4096), a0);
      cv = newest.counter;
      expect = newest.state;
    } else if (kind === "structured") {
      ss = [1024, 2048, 4096][r.int(3)];
      img = structuredImage(r, ss * (3 + r.int(6)), ss);
      cv = r.int(8) === 0 ? r.next() : r.int(60);
    } else {
      ss = [256, 512, 1024, 4096][r.int(4)];
      const n = ss * (1 + r.int(5));
      img = r.int(2) ? r.bytes(n) : new Uint8Array(n).fill(0xff).map((b) => (r.int(50) === 0 ? r.next() & 0xff : b));
      cv = r.int(3) === 0 ? 0 : r.int(100);
    }
    counts[kind] = (counts[kind] ?? 0) + 1;
    try {
      useImage(img, ss, cv);
      const st = x.mount();
      assert.ok(OK_STATUS.has(st), `mount -> ${st}`);
      results[st] = (results[st] ?? 0) + 1;
      exercise(r, st === 0 ? expect : null);
    } catch (e) {
      fail(SEED, i, kind, img, e);
    }
  }
  console.log(`fuzz-storage: inputs ${JSON.stringify(counts)}, mount results ${JSON.stringify(results)}`);
  assert.ok((results[0] ?? 0) > 0 && (results[-17] ?? 0) > 0 && (results[-5] ?? 0) > 0, "the inputs reach mounted, rolled-back and tampered outcomes");
});
