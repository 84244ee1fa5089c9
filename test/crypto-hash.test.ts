// SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104 / RFC 4231), the TLS 1.2 PRF
// (RFC 5246 section 5), ctEqual and wipe, as built into build/test/crypto_hash.wasm.
// Vectors: test/vectors/fips180-4.json, rfc4231.json, ietf-tls-wg-prf-sha256.json;
// differential checks against node:crypto on seeded random inputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTest, hex, unhex, ROOT } from "./helpers/wasm";

interface Api {
  SHA256_CTX_SIZE: WebAssembly.Global;
  HMAC_SHA256_CTX_SIZE: WebAssembly.Global;
  SHA256_DIGEST_LEN: WebAssembly.Global;
  SHA256_BLOCK_LEN: WebAssembly.Global;
  sha256Init(ctx: number): void;
  sha256Update(ctx: number, data: number, len: number): void;
  sha256Final(ctx: number, out: number): void;
  sha256Copy(dst: number, src: number): void;
  sha256(data: number, len: number, out: number): void;
  sha256Repeat(ctx: number, data: number, len: number, count: number, out: number): void;
  hmacSha256Init(ctx: number, key: number, keyLen: number): void;
  hmacSha256Update(ctx: number, data: number, len: number): void;
  hmacSha256Final(ctx: number, out: number): void;
  hmacSha256(key: number, keyLen: number, data: number, len: number, out: number): void;
  tls12Prf(s: number, sl: number, l: number, ll: number, seed: number, seedLen: number, out: number, outLen: number): void;
  tls12Prf2(s: number, sl: number, l: number, ll: number, a: number, al: number, b: number, bl: number, out: number, outLen: number): void;
  ctEqual(a: number, b: number, len: number): number;
  wipe(ptr: number, len: number): void;
  testLoadBe16(p: number): number;
  testStoreBe16(p: number, v: number): void;
  testLoadBe24(p: number): number;
  testStoreBe24(p: number, v: number): void;
  testLoadBe32(p: number): number;
  testStoreBe32(p: number, v: number): void;
  testLoadBe48(p: number): bigint;
  testStoreBe48(p: number, v: bigint): void;
  testLoadBe64(p: number): bigint;
  testStoreBe64(p: number, v: bigint): void;
}

const m = loadTest<Api>("crypto_hash");
const w = m.exports;
const S = m.scratch;
const CTX_SIZE = w.SHA256_CTX_SIZE.value as number;
const HMAC_CTX_SIZE = w.HMAC_SHA256_CTX_SIZE.value as number;

// Scratch layout (all inside the 256 KiB test scratch area).
const CTX = S; // up to 512 bytes of contexts
const CTX2 = S + 512;
const OUT = S + 1024; // 32-byte outputs, canaries around
const KEY = S + 2048; // keys / secrets / labels
const SEED = S + 4096;
const POUT = S + 6144; // PRF output (+ canaries)
const DATA = S + 8192; // messages, up to 128 KiB
const CANARY = 0xa5;

// Seeded PRNG (mulberry32) so failures reproduce; the seed is printed.
const SEED0 = Number(process.env.CRYPTO_HASH_SEED ?? 0x5eed2560) >>> 0;
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n: number) => Math.floor(next() * n), // 0..n-1
    bytes(n: number) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
}
console.log(`crypto-hash: PRNG seed 0x${SEED0.toString(16)} (set CRYPTO_HASH_SEED to reproduce)`);

const ascii = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const nodeSha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const nodeHmac = (k: Uint8Array, d: Uint8Array) => createHmac("sha256", k).update(d).digest("hex");
const vectors = (name: string) => JSON.parse(readFileSync(join(ROOT, "test", "vectors", name), "utf8"));

/** Fill [ptr-16, ptr+len+16) with canaries, run fn, check the canaries are intact. */
function guarded(ptr: number, len: number, fn: () => void) {
  m.mem().fill(CANARY, ptr - 16, ptr + len + 16);
  fn();
  const mem = m.mem();
  for (let i = ptr - 16; i < ptr; i++) assert.equal(mem[i], CANARY, `wrote before the output at ${i - ptr}`);
  for (let i = ptr + len; i < ptr + len + 16; i++) assert.equal(mem[i], CANARY, `wrote past the output at +${i - ptr}`);
}

function ourSha(msg: Uint8Array): string {
  m.write(msg, DATA);
  guarded(OUT, 32, () => w.sha256(DATA, msg.length, OUT));
  return hex(m.read(OUT, 32));
}

/** Streaming SHA-256 of msg cut at the given chunk lengths (rest in one final update). */
function ourShaChunks(msg: Uint8Array, cuts: number[], ctx = CTX): string {
  m.write(msg, DATA);
  w.sha256Init(ctx);
  let pos = 0;
  for (const c of cuts) {
    const n = Math.min(c, msg.length - pos); // cuts past the end are clipped
    w.sha256Update(ctx, DATA + pos, n);
    pos += n;
  }
  w.sha256Update(ctx, DATA + pos, msg.length - pos);
  w.sha256Final(ctx, OUT);
  return hex(m.read(OUT, 32));
}

function ourHmac(key: Uint8Array, data: Uint8Array): string {
  m.write(key, KEY);
  m.write(data, DATA);
  guarded(OUT, 32, () => w.hmacSha256(KEY, key.length, DATA, data.length, OUT));
  return hex(m.read(OUT, 32));
}

// RFC 5246 section 5, written from the text with node:crypto's HMAC:
//   P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) + HMAC_hash(secret, A(2) + seed) + ...
//   A(0) = seed; A(i) = HMAC_hash(secret, A(i-1))
//   PRF(secret, label, seed) = P_<hash>(secret, label + seed)
function refPrf(secret: Uint8Array, label: Uint8Array, seed: Uint8Array, outLen: number): Uint8Array {
  const labelSeed = Buffer.concat([label, seed]);
  const hmac = (d: Uint8Array) => createHmac("sha256", secret).update(d).digest();
  const out: Buffer[] = [];
  let a: Buffer = hmac(labelSeed); // A(1)
  let n = 0;
  while (n < outLen) {
    const t = hmac(Buffer.concat([a, labelSeed]));
    out.push(t);
    n += t.length;
    a = hmac(a);
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, outLen));
}

function ourPrf(secret: Uint8Array, label: Uint8Array, seed: Uint8Array, outLen: number): Uint8Array {
  m.write(secret, KEY);
  m.write(label, KEY + 1024);
  m.write(seed, SEED);
  guarded(POUT, outLen, () => w.tls12Prf(KEY, secret.length, KEY + 1024, label.length, SEED, seed.length, POUT, outLen));
  return m.read(POUT, outLen);
}

// ---------------------------------------------------------------- SHA-256

test("context sizes are as exported and multiples of 8", () => {
  assert.equal(w.SHA256_DIGEST_LEN.value, 32);
  assert.equal(w.SHA256_BLOCK_LEN.value, 64);
  assert.ok(CTX_SIZE >= 104 && CTX_SIZE % 8 === 0);
  assert.ok(HMAC_CTX_SIZE >= 2 * 104 && HMAC_CTX_SIZE % 8 === 0);
});

test("SHA-256: FIPS 180-4 example messages (one-shot and streaming)", () => {
  const v = vectors("fips180-4.json");
  assert.equal(v.vectors.length, 4);
  for (const t of v.vectors) {
    const unit = ascii(t.messageAscii);
    const msg = new Uint8Array(unit.length * t.repeat);
    for (let i = 0; i < t.repeat; i++) msg.set(unit, i * unit.length);
    // The typed-in vector agrees with node:crypto (guards against typos in the JSON).
    assert.equal(nodeSha(msg), t.digest, `${t.name}: vector file vs node:crypto`);
    if (t.repeat === 1) {
      assert.equal(ourSha(msg), t.digest, `${t.name}: one-shot`);
      assert.equal(ourShaChunks(msg, [1, 2, 3, 5, 8, 13]), t.digest, `${t.name}: streaming`);
    } else {
      // One million 'a': 1000 updates of 1000 bytes inside WASM ...
      m.write(new Uint8Array(1000).fill(unit[0]), DATA);
      w.sha256Repeat(CTX, DATA, 1000, 1000, OUT);
      assert.equal(hex(m.read(OUT, 32)), t.digest, `${t.name}: 1000 x 1000-byte updates`);
      // ... and uneven chunks fed from JS (977, 1, 64, 63, 65, ... bytes),
      // each taken from a buffer of 'a's (the message is one repeated byte).
      m.write(new Uint8Array(4096).fill(unit[0]), DATA);
      w.sha256Init(CTX);
      const sizes = [977, 1, 64, 63, 65, 4096, 0, 129];
      let pos = 0;
      for (let i = 0; pos < msg.length; i++) {
        const n = Math.min(sizes[i % sizes.length], msg.length - pos);
        w.sha256Update(CTX, DATA, n);
        pos += n;
      }
      w.sha256Final(CTX, OUT);
      assert.equal(hex(m.read(OUT, 32)), t.digest, `${t.name}: uneven chunks`);
    }
  }
});

test("SHA-256: every two-piece split of messages of length 0..130", () => {
  const r = prng(SEED0 ^ 1);
  const all = r.bytes(130);
  for (let len = 0; len <= 130; len++) {
    const msg = all.subarray(0, len);
    const want = nodeSha(msg);
    assert.equal(ourSha(msg), want, `one-shot len ${len}`);
    for (let s = 0; s <= len; s++) assert.equal(ourShaChunks(msg, [s]), want, `len ${len} split at ${s}`);
  }
});

test("SHA-256: random chunkings of random messages (0..1000 bytes)", () => {
  const r = prng(SEED0 ^ 2);
  for (let i = 0; i < 600; i++) {
    const msg = r.bytes(r.int(1001));
    const cuts: number[] = [];
    let left = msg.length;
    while (left > 0 && r.int(8) !== 0) {
      const c = r.int(3) === 0 ? 0 : Math.min(left, r.int(r.int(2) ? 70 : 200));
      cuts.push(c);
      left -= c;
    }
    assert.equal(ourShaChunks(msg, cuts), nodeSha(msg), `seed 0x${SEED0.toString(16)} case ${i} cuts ${cuts} msg ${hex(msg)}`);
  }
});

test("SHA-256: differential vs node:crypto, 3000 random messages of 0..300 bytes", () => {
  const r = prng(SEED0 ^ 3);
  for (let i = 0; i < 3000; i++) {
    const msg = r.bytes(r.int(301));
    assert.equal(ourSha(msg), nodeSha(msg), `seed 0x${SEED0.toString(16)} case ${i} msg ${hex(msg)}`);
  }
});

test("SHA-256: sha256Copy mid-stream continues like the original", () => {
  const r = prng(SEED0 ^ 4);
  for (let i = 0; i < 300; i++) {
    const msg = r.bytes(r.int(400));
    const cut = r.int(msg.length + 1);
    m.write(msg, DATA);
    w.sha256Init(CTX);
    w.sha256Update(CTX, DATA, cut);
    m.mem().fill(0xee, CTX2, CTX2 + CTX_SIZE); // garbage in the destination first
    w.sha256Copy(CTX2, CTX);
    // The snapshot's own digest is the prefix hash (TLS Finished needs exactly this).
    w.sha256Final(CTX2, OUT);
    assert.equal(hex(m.read(OUT, 32)), nodeSha(msg.subarray(0, cut)), `case ${i}: snapshot`);
    // Snapshot again, continue both independently, interleaved.
    w.sha256Copy(CTX2, CTX);
    const rest = msg.length - cut;
    const half = r.int(rest + 1);
    w.sha256Update(CTX, DATA + cut, half);
    w.sha256Update(CTX2, DATA + cut, half);
    w.sha256Update(CTX2, DATA + cut + half, rest - half);
    w.sha256Update(CTX, DATA + cut + half, rest - half);
    const want = nodeSha(msg);
    w.sha256Final(CTX, OUT);
    assert.equal(hex(m.read(OUT, 32)), want, `case ${i}: original`);
    w.sha256Final(CTX2, OUT);
    assert.equal(hex(m.read(OUT, 32)), want, `case ${i}: copy`);
  }
});

test("SHA-256: stays inside its context, writes exactly 32 bytes, final wipes the context", () => {
  const msg = prng(SEED0 ^ 5).bytes(100);
  m.write(msg, DATA);
  guarded(CTX + 16, CTX_SIZE, () => {
    w.sha256Init(CTX + 16);
    w.sha256Update(CTX + 16, DATA, 100);
    guarded(OUT, 32, () => w.sha256Final(CTX + 16, OUT));
    assert.deepEqual([...m.read(CTX + 16, CTX_SIZE)].filter((b) => b !== 0 && b !== CANARY), [], "state left after final");
    assert.ok(m.read(CTX + 16, 104).every((b) => b === 0), "context [0,104) not wiped");
  });
  assert.equal(hex(m.read(OUT, 32)), nodeSha(msg));
  // Unaligned contexts and data work the same.
  for (const off of [1, 3, 5]) {
    m.write(msg, DATA + off);
    w.sha256Init(CTX + off);
    w.sha256Update(CTX + off, DATA + off, 100);
    w.sha256Final(CTX + off, OUT + off);
    assert.equal(hex(m.read(OUT + off, 32)), nodeSha(msg), `offset ${off}`);
  }
  // Non-positive lengths are no-ops.
  w.sha256Init(CTX);
  w.sha256Update(CTX, DATA, -5);
  w.sha256Update(CTX, DATA, 0);
  w.sha256Final(CTX, OUT);
  assert.equal(hex(m.read(OUT, 32)), nodeSha(new Uint8Array(0)));
});

test("SHA-256: throughput in node (informational)", () => {
  const n = 1 << 16;
  m.write(prng(SEED0 ^ 6).bytes(n), DATA);
  w.sha256Repeat(CTX, DATA, n, 16, OUT); // warm-up (tier-up)
  const reps = 128; // 8 MiB
  const t0 = process.hrtime.bigint();
  w.sha256Repeat(CTX, DATA, n, reps, OUT);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const mbs = (n * reps) / dt / 1e6;
  console.log(`crypto-hash: SHA-256 ${mbs.toFixed(0)} MB/s (${((n * reps) / 1048576).toFixed(0)} MiB in ${(dt * 1000).toFixed(0)} ms)`);
  assert.ok(mbs > 1);
});

// ---------------------------------------------------------------- HMAC

test("HMAC-SHA-256: RFC 4231 test cases 1-7", () => {
  const v = vectors("rfc4231.json");
  assert.deepEqual(v.vectors.map((t: any) => t.testCase), [1, 2, 3, 4, 5, 6, 7]);
  for (const t of v.vectors) {
    const key = unhex(t.key), data = unhex(t.data);
    const n = t.truncateTo ?? 32;
    assert.equal(t.hmacSha256.length, 2 * n, `case ${t.testCase}: expected length`);
    assert.equal(nodeHmac(key, data).slice(0, 2 * n), t.hmacSha256, `case ${t.testCase}: vector file vs node:crypto`);
    // one-shot
    assert.equal(ourHmac(key, data).slice(0, 2 * n), t.hmacSha256, `case ${t.testCase}: one-shot`);
    // streaming, byte by byte
    m.write(key, KEY);
    m.write(data, DATA);
    w.hmacSha256Init(CTX, KEY, key.length);
    for (let i = 0; i < data.length; i++) w.hmacSha256Update(CTX, DATA + i, 1);
    w.hmacSha256Final(CTX, OUT);
    assert.equal(hex(m.read(OUT, n)), t.hmacSha256, `case ${t.testCase}: streaming`);
  }
});

test("HMAC-SHA-256: differential vs node:crypto, 3000 random keys (0..200) and messages (0..300)", () => {
  const r = prng(SEED0 ^ 7);
  for (let i = 0; i < 3000; i++) {
    // bias towards the 64-byte block edge of the key
    const kl = r.int(4) === 0 ? 62 + r.int(5) : r.int(201);
    const key = r.bytes(kl), data = r.bytes(r.int(301));
    const want = nodeHmac(key, data);
    const ctx = "seed 0x" + SEED0.toString(16) + ` case ${i} key ${hex(key)} data ${hex(data)}`;
    assert.equal(ourHmac(key, data), want, ctx);
    if (i % 3 === 0) {
      const cut = r.int(data.length + 1);
      w.hmacSha256Init(CTX, KEY, kl);
      w.hmacSha256Update(CTX, DATA, cut);
      w.hmacSha256Update(CTX, DATA + cut, data.length - cut);
      guarded(OUT, 32, () => w.hmacSha256Final(CTX, OUT));
      assert.equal(hex(m.read(OUT, 32)), want, ctx + ` split ${cut}`);
    }
  }
});

test("HMAC-SHA-256: stays inside its context and final wipes it (key-derived pads)", () => {
  const key = prng(SEED0 ^ 8).bytes(100), data = ascii("wipe me");
  m.write(key, KEY);
  m.write(data, DATA);
  guarded(CTX + 16, HMAC_CTX_SIZE, () => {
    w.hmacSha256Init(CTX + 16, KEY, key.length);
    w.hmacSha256Update(CTX + 16, DATA, data.length);
    w.hmacSha256Final(CTX + 16, OUT);
    // The two halves' state bytes [0,104) are zero; nothing else was ever written.
    const c = m.read(CTX + 16, HMAC_CTX_SIZE);
    for (const base of [0, CTX_SIZE]) assert.ok(c.subarray(base, base + 104).every((b) => b === 0), `half at ${base} not wiped`);
    assert.ok(c.every((b) => b === 0 || b === CANARY));
  });
  assert.equal(hex(m.read(OUT, 32)), nodeHmac(key, data));
  // A negative key length is the empty key.
  w.hmacSha256(KEY, -1, DATA, data.length, OUT);
  assert.equal(hex(m.read(OUT, 32)), nodeHmac(new Uint8Array(0), data));
});

// ---------------------------------------------------------------- PRF

test("TLS 1.2 PRF: the published 'test label' vector (IETF TLS WG list)", () => {
  const v = vectors("ietf-tls-wg-prf-sha256.json");
  for (const t of v.vectors) {
    const secret = unhex(t.secret), label = ascii(t.labelAscii), seed = unhex(t.seed);
    assert.equal(hex(refPrf(secret, label, seed, t.outLen)), t.output, "vector file vs the RFC 5246 reference in this file");
    assert.equal(hex(ourPrf(secret, label, seed, t.outLen)), t.output);
  }
});

test("TLS 1.2 PRF: vs an RFC 5246 P_SHA256 built on node:crypto HMAC, 400 random inputs, outLen 1..200", () => {
  const r = prng(SEED0 ^ 9);
  for (let i = 0; i < 400; i++) {
    const secret = r.bytes(r.int(4) === 0 ? 64 + r.int(40) : r.int(65));
    const label = ascii(["master secret", "key expansion", "client finished", "server finished", "extended master secret", ""][r.int(6)]);
    const seed = r.bytes(r.int(81));
    const outLen = 1 + r.int(200);
    const want = hex(refPrf(secret, label, seed, outLen));
    const ctx = `seed 0x${SEED0.toString(16)} case ${i} secret ${hex(secret)} label "${Buffer.from(label)}" seed ${hex(seed)} outLen ${outLen}`;
    assert.equal(hex(ourPrf(secret, label, seed, outLen)), want, ctx);
    // Two seed pieces (client_random, server_random) without concatenation.
    const cut = r.int(seed.length + 1);
    m.write(seed.subarray(cut), SEED + 512);
    guarded(POUT, outLen, () =>
      w.tls12Prf2(KEY, secret.length, KEY + 1024, label.length, SEED, cut, SEED + 512, seed.length - cut, POUT, outLen));
    assert.equal(hex(m.read(POUT, outLen)), want, ctx + ` tls12Prf2 cut ${cut}`);
  }
});

test("TLS 1.2 PRF: key-block lengths, output over the secret, a 300-byte key block", () => {
  const r = prng(SEED0 ^ 10);
  const secret = r.bytes(48), seed = r.bytes(64), label = ascii("key expansion");
  for (const n of [12, 31, 32, 33, 40, 48, 63, 64, 65, 72, 96, 104, 128, 300]) {
    assert.equal(hex(ourPrf(secret, label, seed, n)), hex(refPrf(secret, label, seed, n)), `outLen ${n}`);
  }
  // master_secret computed in place over the pre-master secret.
  const pms = r.bytes(48);
  m.write(pms, KEY);
  m.write(label, KEY + 1024);
  m.write(seed, SEED);
  w.tls12Prf(KEY, 48, KEY + 1024, label.length, SEED, 64, KEY, 48);
  assert.equal(hex(m.read(KEY, 48)), hex(refPrf(pms, label, seed, 48)), "out == secret");
  // outLen 0 writes nothing.
  guarded(POUT, 0, () => w.tls12Prf(KEY, 48, KEY + 1024, label.length, SEED, 64, POUT, 0));
});

// ---------------------------------------------------------------- ct

test("ctEqual: equal, and unequal at each position and each bit", () => {
  const r = prng(SEED0 ^ 11);
  for (let len = 0; len <= 64; len++) {
    const a = r.bytes(len);
    m.write(a, KEY);
    m.write(a, SEED);
    assert.equal(w.ctEqual(KEY, SEED, len), 1, `equal len ${len}`);
    for (let pos = 0; pos < len; pos++) {
      const bit = 1 << (pos % 8);
      m.mem()[SEED + pos] ^= bit;
      assert.equal(w.ctEqual(KEY, SEED, len), 0, `len ${len} differs at ${pos} bit ${bit}`);
      assert.equal(w.ctEqual(SEED, KEY, len), 0, `len ${len} differs at ${pos} (swapped)`);
      m.mem()[SEED + pos] ^= bit;
    }
    // Bytes past len are not compared.
    m.mem()[SEED + len] = m.mem()[KEY + len] ^ 0xff;
    assert.equal(w.ctEqual(KEY, SEED, len), 1, `len ${len}: byte after the end is ignored`);
  }
  assert.equal(w.ctEqual(KEY, SEED, -1), 1, "negative length compares nothing");
});

test("wipe zeroes exactly [ptr, ptr+len)", () => {
  for (const len of [0, 1, 7, 32, 224, 1000]) {
    m.mem().fill(0x5a, DATA - 16, DATA + len + 16);
    w.wipe(DATA, len);
    const b = m.read(DATA - 16, len + 32);
    assert.ok(b.subarray(16, 16 + len).every((x) => x === 0), `len ${len}: not zero`);
    assert.ok(b.subarray(0, 16).every((x) => x === 0x5a) && b.subarray(16 + len).every((x) => x === 0x5a), `len ${len}: outside touched`);
  }
  m.mem().fill(0x5a, DATA, DATA + 8);
  w.wipe(DATA, -3);
  assert.ok(m.read(DATA, 8).every((x) => x === 0x5a), "negative length wipes nothing");
});

// ---------------------------------------------------------------- util/bytes

test("util/bytes: big-endian loads and stores agree with DataView", () => {
  const r = prng(SEED0 ^ 12);
  for (let i = 0; i < 200; i++) {
    const b = r.bytes(8);
    const p = DATA + 1 + r.int(7); // unaligned on purpose
    m.write(b, p);
    const dv = new DataView(b.buffer);
    assert.equal(w.testLoadBe16(p), dv.getUint16(0));
    assert.equal(w.testLoadBe24(p), (dv.getUint16(0) << 8) | b[2]);
    assert.equal(w.testLoadBe32(p) >>> 0, dv.getUint32(0));
    assert.equal(BigInt.asUintN(64, w.testLoadBe48(p)), (BigInt(dv.getUint16(0)) << 32n) | BigInt(dv.getUint32(2)));
    assert.equal(BigInt.asUintN(64, w.testLoadBe64(p)), dv.getBigUint64(0));
    const q = DATA + 64;
    m.mem().fill(0, q, q + 10);
    w.testStoreBe16(q, dv.getUint16(0));
    assert.equal(hex(m.read(q, 3)), hex(b.subarray(0, 2)) + "00");
    w.testStoreBe24(q, (dv.getUint16(0) << 8) | b[2]);
    assert.equal(hex(m.read(q, 4)), hex(b.subarray(0, 3)) + "00");
    w.testStoreBe32(q, dv.getUint32(0) | 0);
    assert.equal(hex(m.read(q, 5)), hex(b.subarray(0, 4)) + "00");
    w.testStoreBe48(q, (BigInt(dv.getUint16(0)) << 32n) | BigInt(dv.getUint32(2)));
    assert.equal(hex(m.read(q, 7)), hex(b.subarray(0, 6)) + "00");
    w.testStoreBe64(q, BigInt.asIntN(64, dv.getBigUint64(0)));
    assert.equal(hex(m.read(q, 9)), hex(b) + "00");
  }
});

// ---------------------------------------------------------------- no leftovers

test("one-shot helpers and the PRF leave no secret state in static memory", () => {
  // A fresh instance: everything outside the test scratch area must be byte
  // for byte as it was at load (the static scratch areas are wiped).
  const f = loadTest<Api>("crypto_hash");
  const size = f.exports.scratchSize!();
  const outside = () => {
    const mem = f.mem();
    return Buffer.concat([mem.subarray(0, f.scratch), mem.subarray(f.scratch + size)]);
  };
  const before = outside();
  const r = prng(SEED0 ^ 13);
  const B = f.scratch;
  f.write(r.bytes(300), B + 1024); // key / secret
  f.write(r.bytes(300), B + 2048); // message / label / seed
  const fx = f.exports;
  fx.sha256(B + 2048, 200, B);
  fx.hmacSha256(B + 1024, 20, B + 2048, 100, B);
  fx.hmacSha256(B + 1024, 150, B + 2048, 100, B); // key hashed first
  fx.tls12Prf(B + 1024, 48, B + 2048, 13, B + 2100, 64, B + 4096, 104);
  fx.tls12Prf2(B + 1024, 100, B + 2048, 13, B + 2100, 32, B + 2200, 32, B + 4096, 200);
  assert.ok(outside().equals(before), "static memory differs after use: a secret was left behind");
});
