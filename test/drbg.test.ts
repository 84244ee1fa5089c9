// HMAC_DRBG (SP 800-90A §10.1.2) against the NIST CAVP vectors shipped in the
// hmac-drbg package, cross-checked with that package, plus the device RNG's
// reseeding and SP 800-90B health tests / error state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, hex, unhex } from "./helpers/wasm";
import { DeviceRng, HmacDrbg, MAX_BYTES_PER_REQUEST, RNG_HEALTH } from "../host-shim/node/drbg";
import {
  APT_CUTOFF_TABLE_W512, BiasedEntropySource, HealthTests, OsEntropySource, STARTUP_SAMPLES,
  ScriptedEntropySource, StuckEntropySource, aptCutoff, rctCutoff,
} from "../host-shim/node/entropy";

const PackageDrbg = (require as NodeJS.Require)("hmac-drbg");
const hashJs = (require as NodeJS.Require)("hash.js");

interface Fixture { name: string; entropy: string; nonce: string; pers: string | null; add: (string | null)[]; expected: string }
const fixtures: Fixture[] = JSON.parse(
  readFileSync(join(ROOT, "node_modules/hmac-drbg/test/fixtures/hmac-drbg-nist.json"), "utf8"));
const opt = (s: string | null) => (s === null ? null : unhex(s));

/** As the package's own test: instantiate, generate once per `add`, expected = the last output. */
function runFixture(f: Fixture, expected = f.expected): string {
  const d = new HmacDrbg();
  d.instantiate(unhex(f.entropy), unhex(f.nonce), opt(f.pers));
  let last = "";
  for (const a of f.add) last = hex(d.generate(expected.length / 2, opt(a))!);
  return last;
}

test("NIST CAVP HMAC_DRBG SHA-256 vectors (hmac-drbg package fixtures)", () => {
  assert.equal(fixtures.length, 30);
  assert.ok(fixtures.some((f) => f.add.some((a) => a !== null)), "fixtures include additional input");
  for (const f of fixtures) assert.equal(runFixture(f), f.expected, `fixture ${f.name}`);
  // The comparison covers every byte: a one-bit change in an expected value fails it.
  const f = fixtures[0];
  const flipped = f.expected.slice(0, -1) + (parseInt(f.expected.slice(-1), 16) ^ 1).toString(16);
  assert.notEqual(runFixture(f, flipped), flipped);
});

test("cross-check with the hmac-drbg package: random inputs, reseed, additional input", () => {
  const seed = new HmacDrbg();
  seed.instantiate(new Uint8Array(32).fill(0x42), new Uint8Array(16), null); // seeded PRNG for the inputs
  const rnd = (n: number) => seed.generate(n)!;
  for (let i = 0; i < 50; i++) {
    const entropy = rnd(32 + (rnd(1)[0] % 32)), nonce = rnd(16), pers = rnd(rnd(1)[0] % 40);
    const ours = new HmacDrbg();
    ours.instantiate(entropy, nonce, pers);
    const theirs = PackageDrbg({ hash: hashJs.sha256, entropy: hex(entropy), nonce: hex(nonce), pers: hex(pers) || null });
    for (let j = 0; j < 4; j++) {
      const n = 1 + (rnd(2)[0] << 2);
      const add = j % 2 ? rnd(1 + (rnd(1)[0] % 48)) : null; // non-empty or absent
      assert.equal(hex(ours.generate(n, add)!), theirs.generate(n, "hex", add ? hex(add) : undefined), `case ${i}.${j}`);
      if (j === 1) {
        const e = rnd(32), a = rnd(8);
        ours.reseed(e, a);
        theirs.reseed(hex(e), "hex", hex(a), "hex");
      }
    }
  }
});

test("reseed counter forces a reseed from the entropy source at the interval", () => {
  const pool = new Uint8Array(32 * 4).map((_, i) => i * 7);
  let calls = 0;
  const auto = new HmacDrbg({ reseedInterval: 3, getEntropy: () => pool.slice(32 * calls, 32 * ++calls) });
  const manual = new HmacDrbg({ reseedInterval: 3 });
  for (const d of [auto, manual]) d.instantiate(new Uint8Array(32).fill(1), new Uint8Array(16).fill(2), null);
  const add = Uint8Array.of(9, 9, 9);
  for (let i = 1; i <= 3; i++) {
    assert.equal(auto.reseedCounter, i);
    assert.equal(hex(auto.generate(40, add)!), hex(manual.generate(40, add)!));
  }
  assert.equal(calls, 0);
  assert.throws(() => manual.generate(40), /reseed required/);
  // §9.3.1 step 7: the reseed consumes the additional input, generate then runs with Null.
  manual.reseed(pool.slice(0, 32), add);
  assert.equal(hex(auto.generate(40, add)!), hex(manual.generate(40)!));
  assert.equal(calls, 1);
  assert.equal(auto.reseedCounter, 2);
  // An entropy failure during the automatic reseed is reported as null, not output.
  const failing = new HmacDrbg({ reseedInterval: 1, getEntropy: () => null });
  failing.instantiate(new Uint8Array(32), new Uint8Array(0));
  assert.ok(failing.generate(8));
  assert.equal(failing.generate(8), null);
});

test("request size, entropy length and uninstantiate", () => {
  const d = new HmacDrbg();
  assert.throws(() => d.generate(1), /not instantiated/);
  assert.throws(() => d.instantiate(new Uint8Array(31), new Uint8Array(16)), RangeError);
  d.instantiate(new Uint8Array(32), new Uint8Array(16));
  assert.equal(d.generate(MAX_BYTES_PER_REQUEST)!.length, MAX_BYTES_PER_REQUEST);
  assert.throws(() => d.generate(MAX_BYTES_PER_REQUEST + 1), RangeError);
  d.uninstantiate();
  assert.equal(d.instantiated, false);
  assert.throws(() => d.generate(1), /not instantiated/);
});

test("health test cutoffs: RCT 1+ceil(20/H), APT matches SP 800-90B Table 2", () => {
  assert.equal(rctCutoff(1), 21);
  assert.equal(rctCutoff(8), 4);
  for (const [h, c] of APT_CUTOFF_TABLE_W512) assert.equal(aptCutoff(h), c, `H=${h}`);
  const t = new HealthTests(1);
  assert.equal(t.rctCutoff, 21);
  assert.equal(t.aptCutoff, 311);
});

test("RCT fails a stuck source on the 21st identical sample; APT fails a biased one", () => {
  const t = new HealthTests();
  assert.equal(t.feed(new Uint8Array(20).fill(7)), true);
  assert.equal(t.feed(Uint8Array.of(7)), false);
  assert.equal(t.failure, "rct");
  assert.equal(t.samples, 21);
  assert.equal(t.feed(Uint8Array.of(1, 2, 3)), false, "failure is sticky");

  const b = new HealthTests();
  b.feed(new BiasedEntropySource(0x3c, 0.7, 5).read(8 * 512));
  assert.equal(b.failure, "apt");
});

test("a healthy OS source passes 10 MB of samples without a false alarm", () => {
  const t = new HealthTests();
  for (let i = 0; i < 160; i++) assert.ok(t.feed(randomBytes(65536)), `false alarm after ${t.samples} samples`);
  assert.equal(t.samples, 10 * 1024 * 1024);
});

test("DeviceRng output = HMAC_DRBG seeded after start-up tests with ceil(256/H) entropy + ceil(128/H) nonce samples", () => {
  const script = randomBytes(4096);
  const rng = new DeviceRng(new ScriptedEntropySource(script), { personalization: Uint8Array.of(1, 2) });
  const d = new HmacDrbg();
  const e0 = STARTUP_SAMPLES;
  d.instantiate(script.subarray(e0, e0 + 256), script.subarray(e0 + 256, e0 + 384), Uint8Array.of(1, 2));
  const buf = new Uint8Array(MAX_BYTES_PER_REQUEST + 100); // two requests
  assert.equal(rng.fill(buf), 0);
  assert.equal(hex(buf), hex(d.generate(MAX_BYTES_PER_REQUEST)!) + hex(d.generate(100)!));
});

test("DeviceRng: stuck source fails at instantiate; fill returns -3 until reinstantiated", () => {
  const rng = new DeviceRng(new StuckEntropySource(0));
  assert.equal(rng.healthy, false);
  assert.equal(rng.failure, "rct");
  const buf = new Uint8Array(16).fill(0xaa);
  assert.equal(rng.fill(buf), RNG_HEALTH);
  assert.equal(hex(buf), "00".repeat(16), "no output on failure");
  assert.equal(rng.reinstantiate(new StuckEntropySource(0xff)), RNG_HEALTH);
  assert.equal(rng.fill(buf), RNG_HEALTH);
  assert.equal(rng.reinstantiate(new OsEntropySource()), 0);
  assert.equal(rng.fill(buf), 0);
  assert.notEqual(hex(buf), "00".repeat(16));
});

test("DeviceRng: source goes stuck mid-stream, caught at the automatic reseed; error state is permanent", () => {
  const healthy = randomBytes(STARTUP_SAMPLES + 256 + 128); // exactly what start-up + instantiate consume
  const rng = new DeviceRng(new ScriptedEntropySource(healthy, new StuckEntropySource(0x55)), { reseedInterval: 2 });
  const buf = new Uint8Array(32);
  assert.equal(rng.fill(buf), 0);
  assert.equal(rng.fill(buf), 0);
  assert.equal(rng.fill(buf), RNG_HEALTH); // third request reseeds from the stuck source
  assert.equal(rng.failure, "rct");
  assert.equal(rng.healthy, false);
  for (let i = 0; i < 5; i++) assert.equal(rng.fill(buf), RNG_HEALTH);
  assert.equal(rng.reinstantiate(new OsEntropySource()), 0);
  assert.equal(rng.fill(buf), 0);
});

test("DeviceRng: heavily biased source fails the APT", () => {
  const rng = new DeviceRng(new BiasedEntropySource(0x3c, 0.7, 99));
  assert.equal(rng.failure, "apt");
  assert.equal(rng.fill(new Uint8Array(8)), RNG_HEALTH);
});

test("DeviceRng with the OS source reseeds every request without false alarms", () => {
  const rng = new DeviceRng(new OsEntropySource(), { reseedInterval: 1 });
  const buf = new Uint8Array(64);
  for (let i = 0; i < 1000; i++) assert.equal(rng.fill(buf), 0);
  assert.equal(rng.reseeds, 999);
  assert.equal(rng.healthy, true);
});
