// Simulated secure element: P-256 keygen/import/sign/verify/ECDH checked
// against @noble/curves and node:crypto, AES-256-GCM sealing with tamper
// detection, a persistent key store, and no private key in any output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createECDH, createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { p256 } from "@noble/curves/nist.js";
import { hex, unhex } from "./helpers/wasm";
import { HmacDrbg, DeviceRng } from "../host-shim/node/drbg";
import { StuckEntropySource } from "../host-shim/node/entropy";
import { SeStatus as S, SimulatedSecureElement, RandomFill } from "../host-shim/node/se";

const N = p256.Point.Fn.ORDER;
const SEED = Number(process.env.SE_TEST_SEED ?? 0x5e);
console.log(`se.test seed ${SEED}`);
const prng = new HmacDrbg();
prng.instantiate(new Uint8Array(32).fill(SEED), new Uint8Array(0));
const rnd = (n: number) => prng.generate(n)!;
const sha256 = (m: Uint8Array) => new Uint8Array(createHash("sha256").update(m).digest());
const be32 = (x: bigint) => unhex(x.toString(16).padStart(64, "0"));
const bytes = (x: Uint8Array | number | null): Uint8Array => {
  assert.ok(x instanceof Uint8Array, `expected bytes, got ${x}`);
  return x as Uint8Array;
};
const rng = new DeviceRng();

function nodeKey(pub: Uint8Array) {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  return createPublicKey({ key: { kty: "EC", crv: "P-256", x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33)) }, format: "jwk" });
}

test("signDigest verifies with @noble/curves and with node:crypto over the original message", () => {
  const se = new SimulatedSecureElement();
  const pub = bytes(se.generate(0, rng));
  assert.equal(pub.length, 65);
  assert.equal(pub[0], 0x04);
  assert.equal(hex(bytes(se.publicKey(0))), hex(pub));
  const key = nodeKey(pub);
  for (let i = 0; i < 100; i++) {
    const msg = rnd(1 + (rnd(1)[0] % 200));
    const sig = bytes(se.signDigest(0, sha256(msg)));
    assert.equal(sig.length, 64);
    assert.ok(p256.verify(sig, sha256(msg), pub, { prehash: false }), `noble, msg ${hex(msg)}`);
    assert.ok(nodeVerify("sha256", msg, { key, dsaEncoding: "ieee-p1363" }, sig), `node, msg ${hex(msg)}`);
    assert.ok(BigInt("0x" + hex(sig.subarray(32))) <= N / 2n, "low-S");
    assert.ok(se.verifyDigest(pub, sha256(msg), sig));
  }
});

test("verifyDigest accepts node:crypto signatures (incl. high-S) and rejects bad or malformed ones", () => {
  const se = new SimulatedSecureElement();
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const pub = new Uint8Array([4, ...Buffer.from(jwk.x!, "base64url"), ...Buffer.from(jwk.y!, "base64url")]);
  let highS = 0;
  for (let i = 0; i < 40; i++) {
    const msg = rnd(50);
    const sig = new Uint8Array(nodeSign("sha256", msg, { key: privateKey, dsaEncoding: "ieee-p1363" }));
    assert.ok(se.verifyDigest(pub, sha256(msg), sig), `msg ${hex(msg)}`);
    const s = BigInt("0x" + hex(sig.subarray(32)));
    if (s > N / 2n) highS++;
    const other = Uint8Array.from(sig);
    other.set(be32(N - s), 32); // (r, n-s) is valid too
    assert.ok(se.verifyDigest(pub, sha256(msg), other));
  }
  assert.ok(highS > 0, "some node signatures were high-S");

  const msg = rnd(10), d = sha256(msg);
  const sig = new Uint8Array(nodeSign("sha256", msg, { key: privateKey, dsaEncoding: "ieee-p1363" }));
  for (let bit = 0; bit < 512; bit += 7) {
    const t = Uint8Array.from(sig); t[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(se.verifyDigest(pub, d, t), false, `sig bit ${bit}`);
  }
  const d2 = Uint8Array.from(d); d2[31] ^= 1;
  assert.equal(se.verifyDigest(pub, d2, sig), false);
  const r = sig.subarray(0, 32), zero = new Uint8Array(32);
  for (const bad of [new Uint8Array([...zero, ...sig.subarray(32)]), new Uint8Array([...r, ...zero]),
    new Uint8Array([...be32(N), ...sig.subarray(32)]), new Uint8Array([...r, ...be32(N)]), sig.subarray(0, 63), new Uint8Array(65)]) {
    assert.equal(se.verifyDigest(pub, d, bad), false);
  }
  assert.equal(se.verifyDigest(pub, d.subarray(0, 31), sig), false);
  assert.equal(se.verifyDigest(pub.subarray(0, 64), d, sig), false);
  assert.equal(se.verifyDigest("x" as any, d, sig), false);
});

test("ECDH matches noble's getSharedSecret and node:crypto on the peer side", () => {
  const se = new SimulatedSecureElement();
  for (let i = 0; i < 10; i++) {
    const sePub = bytes(se.generate(3, rng));
    const peerPriv = p256.utils.randomSecretKey(rnd(48));
    const peerPub = p256.getPublicKey(peerPriv, false);
    const z = bytes(se.ecdh(3, peerPub));
    assert.equal(z.length, 32);
    assert.equal(hex(z), hex(p256.getSharedSecret(peerPriv, sePub).subarray(1)));
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(peerPriv);
    assert.equal(hex(z), ecdh.computeSecret(sePub).toString("hex"));
  }
});

test("invalid peer points are rejected", () => {
  const se = new SimulatedSecureElement();
  se.generate(1, rng);
  const good = p256.getPublicKey(p256.utils.randomSecretKey(rnd(48)), false);
  const P = BigInt("0x" + "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
  const offCurve = Uint8Array.from(good); offCurve[64] ^= 1;
  const xIsP = new Uint8Array([4, ...be32(P), ...good.subarray(33)]);
  const bad = [
    new Uint8Array(0), Uint8Array.of(0), new Uint8Array(65), offCurve, xIsP,
    good.subarray(0, 64), new Uint8Array([...good, 0]), p256.getPublicKey(p256.utils.randomSecretKey(rnd(48)), true),
    new Uint8Array([2, ...good.subarray(1)]), new Uint8Array([6, ...good.subarray(1)]),
  ];
  for (const b of bad) assert.equal(se.ecdh(1, b), S.Invalid, hex(b));
  assert.equal(se.ecdh(1, "04" as any), S.Invalid);
  assert.equal(bytes(se.ecdh(1, good)).length, 32);
});

test("import rejects invalid scalars and lengths; slots are range-checked; empty slots give NoKey", () => {
  const se = new SimulatedSecureElement();
  for (const k of [new Uint8Array(32), be32(N), be32(N + 1n), new Uint8Array(32).fill(0xff), new Uint8Array(31).fill(1), new Uint8Array(33).fill(1)]) {
    assert.equal(se.importPrivate(2, k), S.Invalid, hex(k));
  }
  assert.equal(se.importPrivate(2, "01" as any), S.Invalid);
  assert.equal(se.publicKey(2), S.NoKey);
  const g = p256.Point.BASE.toBytes(false);
  assert.equal(hex(bytes(se.importPrivate(2, be32(1n)))), hex(g));
  assert.equal(hex(bytes(se.importPrivate(2, be32(N - 1n)))), hex(p256.Point.BASE.negate().toBytes(false)));
  for (const slot of [-1, 16, 1.5, NaN, "0" as any]) {
    assert.equal(se.generate(slot, rng), S.Invalid);
    assert.equal(se.importPrivate(slot, be32(5n)), S.Invalid);
    assert.equal(se.publicKey(slot), S.Invalid);
    assert.equal(se.signDigest(slot, new Uint8Array(32)), S.Invalid);
    assert.equal(se.destroy(slot), S.Invalid);
  }
  assert.equal(se.signDigest(7, new Uint8Array(32)), S.NoKey);
  assert.equal(se.ecdh(7, g), S.NoKey);
  assert.equal(se.signDigest(2, new Uint8Array(31)), S.Invalid);
  assert.equal(se.destroy(2), S.Ok);
  assert.equal(se.publicKey(2), S.NoKey);
  assert.equal(se.destroy(2), S.Ok, "destroy is idempotent");
});

test("generate draws the key from the rng by rejection sampling into [1, n-1]; a failed rng gives RngHealth", () => {
  const k = be32(0x1234567890abcdefn);
  const script = [new Uint8Array(32).fill(0xff), new Uint8Array(32), be32(N), k];
  const scripted: RandomFill = { fill: (b) => { b.set(script.shift()!); return 0; } };
  const se = new SimulatedSecureElement();
  assert.equal(hex(bytes(se.generate(4, scripted))), hex(p256.getPublicKey(k, false)));
  assert.equal(script.length, 0);
  const broken = new DeviceRng(new StuckEntropySource(0));
  assert.equal(se.generate(5, broken), S.RngHealth);
  assert.equal(se.publicKey(5), S.NoKey);
  assert.deepEqual(se.occupiedSlots(), [4]);
});

test("seal/open round trip; every one-bit tamper of nonce, ciphertext, tag or aad fails", () => {
  const se = new SimulatedSecureElement();
  for (const len of [0, 1, 16, 1000]) {
    const plain = rnd(len), aad = rnd(len % 7);
    const sealed = bytes(se.seal(plain, aad));
    assert.equal(sealed.length, len + 28);
    assert.equal(hex(bytes(se.open(sealed, aad))), hex(plain));
  }
  const plain = rnd(5), aad = rnd(6);
  const sealed = bytes(se.seal(plain, aad));
  assert.notEqual(hex(bytes(se.seal(plain, aad))), hex(sealed), "fresh nonce each time");
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    const t = Uint8Array.from(sealed); t[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(se.open(t, aad), null, `sealed bit ${bit}`);
  }
  for (let bit = 0; bit < aad.length * 8; bit++) {
    const a = Uint8Array.from(aad); a[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(se.open(sealed, a), null, `aad bit ${bit}`);
  }
  assert.equal(se.open(sealed.subarray(0, sealed.length - 1), aad), null);
  assert.equal(se.open(sealed.subarray(0, 27), aad), null);
  assert.equal(se.open(new Uint8Array([...sealed, 0]), aad), null);
  assert.equal(se.open(sealed, new Uint8Array([...aad, 0])), null);
  assert.equal(new SimulatedSecureElement().open(sealed, aad), null, "another device's key");
  assert.equal(se.seal("x" as any, aad), S.Invalid);
  assert.equal(se.open("x" as any, aad), null);
});

test("key store persists slots 0..7 across instances from the same file, written atomically; volatile slots 8..15 are never stored", () => {
  const dir = mkdtempSync(join(tmpdir(), "se-test-"));
  try {
    const path = join(dir, "se.json");
    const a = new SimulatedSecureElement(path);
    const pub3 = bytes(a.generate(3, rng));
    const pub9 = bytes(a.importPrivate(7, be32(12345n)));
    const sealed = bytes(a.seal(Uint8Array.of(1, 2, 3), Uint8Array.of(9)));
    assert.deepEqual(readdirSync(dir), ["se.json"], "no temp file left");
    // volatile slots (8..15: ephemeral ECDHE, self-test) never reach the key store
    const stored = readFileSync(path, "utf8");
    const eph = bytes(a.generate(8, rng));
    assert.equal(a.ecdh(8, pub3 as Uint8Array).constructor, Uint8Array);
    bytes(a.importPrivate(15, be32(777n)));
    assert.equal(readFileSync(path, "utf8"), stored, "the store file is not rewritten for volatile slots");
    assert.deepEqual(a.occupiedSlots(), [3, 7, 8, 15]);
    assert.equal(eph.length, 65);

    const b = new SimulatedSecureElement(path);
    assert.deepEqual(b.occupiedSlots(), [3, 7], "volatile slots are gone after a power cycle");
    assert.equal(hex(bytes(b.publicKey(3))), hex(pub3));
    assert.equal(hex(bytes(b.publicKey(7))), hex(pub9));
    assert.equal(hex(bytes(b.open(sealed, Uint8Array.of(9)))), "010203");
    const d = sha256(Uint8Array.of(7));
    assert.ok(a.verifyDigest(pub3, d, bytes(b.signDigest(3, d))));
    assert.equal(b.destroy(3), S.Ok);
    assert.deepEqual(new SimulatedSecureElement(path).occupiedSlots(), [7]);

    writeFileSync(path, readFileSync(path, "utf8").slice(0, 60));
    assert.throws(() => new SimulatedSecureElement(path), (e: Error) => /corrupt/.test(e.message) && !/[0-9a-f]{16}/.test(e.message));
    assert.ok(existsSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("no private key in inspect, JSON, toString, error messages or any returned value", () => {
  const dir = mkdtempSync(join(tmpdir(), "se-test-"));
  try {
    const path = join(dir, "se.json");
    const se = new SimulatedSecureElement(path);
    const outputs: unknown[] = [];
    const imported = rnd(32);
    outputs.push(se.importPrivate(0, imported));
    // generated keys are the rng's draws (rejection sampling): capture them to search for them
    const drawn: string[] = [];
    const capturing = { fill: (b: Uint8Array) => { const st = rng.fill(b); drawn.push(hex(b)); return st; } };
    for (let s = 1; s < 16; s++) outputs.push(se.generate(s, capturing));
    const peer = p256.getPublicKey(p256.utils.randomSecretKey(rnd(48)), false);
    for (let s = 0; s < 16; s++) {
      outputs.push(se.publicKey(s), se.signDigest(s, rnd(32)), se.ecdh(s, peer), se.signDigest(s, new Uint8Array(5)));
    }
    outputs.push(se.seal(rnd(100), rnd(3)), se.selfTest(rng));
    // The store file is the SE's own storage: it holds the persistent keys (0..7) and the sealing key.
    const store = JSON.parse(readFileSync(path, "utf8"));
    const persistent = Object.values(store.slots as Record<string, string>);
    assert.equal(persistent.length, 8);
    assert.ok(persistent.includes(hex(imported)));
    assert.ok(persistent.every((k) => k === hex(imported) || drawn.includes(k)), "the stored keys are the captured draws");
    const secrets: string[] = [hex(imported), ...drawn, store.deviceKey];
    assert.ok(drawn.length >= 15);
    const texts = [
      inspect(se), inspect(se, { showHidden: true, depth: Infinity, getters: true }), JSON.stringify(se), String(se), `${se}`,
      inspect({ wrapped: se }), ...outputs.map((o) => (o instanceof Uint8Array ? hex(o) : JSON.stringify(o))),
    ];
    assert.match(inspect(se), /slots: \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\]/);
    for (const secret of secrets) {
      for (const t of texts) assert.equal(t.includes(secret), false, "private key bytes leaked");
      // byte-aligned search inside the returned binary values
      for (const o of outputs) {
        if (o instanceof Uint8Array) assert.equal(Buffer.from(o).indexOf(Buffer.from(secret, "hex")), -1);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("selfTest passes with a healthy rng, fails with a reason on a broken one, and touches no slot", () => {
  const se = new SimulatedSecureElement();
  se.generate(0, rng);
  assert.deepEqual(se.selfTest(rng), { ok: true });
  const r = se.selfTest(new DeviceRng(new StuckEntropySource(1)));
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /key generation failed \(-3\)/);
  assert.deepEqual(se.occupiedSlots(), [0]);
});
