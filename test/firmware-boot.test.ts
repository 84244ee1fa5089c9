// The firmware module as shipped (build/firmware.wasm) booting in the Node
// host: DRBG health (EST-2), SE self-test and key custody (SE-1, EST-3, SE-3),
// flash mount.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicKey, verify as nodeVerify, createHash } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { Device } from "../host-shim/node/device";
import { DeviceRng } from "../host-shim/node/drbg";
import { StuckEntropySource } from "../host-shim/node/entropy";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { NorFlash } from "../host-shim/node/flash";
import { BootStatus, HostStatus } from "../host-shim/node/status";

const ALL = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
const tmp = () => mkdtempSync(join(tmpdir(), "lwm2m-boot-"));

/** Every occurrence of `needle` (or any 16-byte window of it) in `haystack`. */
function findWindows(haystack: Uint8Array, needle: Uint8Array, window = 16): number[] {
  const hits: number[] = [];
  const hay = Buffer.from(haystack);
  for (let i = 0; i + window <= needle.length; i += 8) {
    const at = hay.indexOf(Buffer.from(needle.subarray(i, i + window)));
    if (at >= 0) hits.push(at);
  }
  return hits;
}

test("boots: DRBG healthy, SE self-test passes, flash and store formatted, then mounted again", () => {
  const dir = tmp();
  try {
    const d1 = new Device({ stateDir: dir });
    assert.equal(d1.start(), ALL);
    d1.stop();
    assert.ok(d1.logs.some((l) => /flash: no valid superblock, formatted/.test(l.text)));
    assert.ok(d1.logs.some((l) => /store: empty, formatted/.test(l.text)));
    const d2 = new Device({ stateDir: dir });
    assert.equal(d2.start(), ALL);
    d2.stop();
    assert.ok(!d2.logs.some((l) => /formatted/.test(l.text)), "second boot must find the superblock and the store");
    assert.ok(d2.logs.some((l) => /store: mounted, records: 0$/.test(l.text)));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("a replayed (older) flash image is refused loudly at boot (SE-2 rollback)", () => {
  const flash = new NorFlash();
  const se = new SimulatedSecureElement();
  const d1 = new Device({ flash, se });
  assert.equal(d1.start(), ALL);
  const old = flash.read(0, flash.size) as Uint8Array;
  // A newer commit moves the SE counter on; then the old image is put back.
  se.counter(true); se.counter(true);
  const d2 = new Device({ flash: new NorFlash(), se });
  // write the old image into a fresh flash
  const f2 = d2.flash;
  for (let a = 0; a < f2.size; a += f2.sectorSize) f2.eraseSector(a);
  f2.program(0, old);
  const status = d2.start();
  assert.equal(status & BootStatus.FlashMounted, 0);
  assert.ok(d2.logs.some((l) => l.levelName === "error" && /rollback/.test(l.text)));
});

test("a torn superblock write is detected and the flash re-formatted", () => {
  const flash = new NorFlash({ random: () => 0.5 });
  const d1 = new Device({ flash });
  flash.cutPowerAfter(2); // erase ok, program of the superblock torn
  assert.equal(d1.start() & BootStatus.FlashMounted, 0);
  flash.restorePower();
  const d2 = new Device({ flash });
  assert.equal(d2.start(), ALL);
  assert.ok(d2.logs.some((l) => /formatted/.test(l.text)));
});

test("EST-2: with a stuck entropy source the DRBG fails its health test and key generation is refused", () => {
  const rng = new DeviceRng(new StuckEntropySource(0x42));
  const se = new SimulatedSecureElement();
  let generateCalls = 0;
  const realGenerate = se.generate.bind(se);
  se.generate = (slot, r) => { generateCalls++; return realGenerate(slot, r); };
  const d = new Device({ rng, se });
  const status = d.start();
  assert.equal(status & BootStatus.RngHealthy, 0);
  assert.equal(status & BootStatus.SeHealthy, 0);
  assert.ok(d.logs.some((l) => l.levelName === "error" && /DRBG: health test failure/.test(l.text)));
  const pubOut = 64; // any in-bounds address
  assert.equal(d.exports.generate_device_key(0, pubOut), HostStatus.RngHealth);
  assert.equal(generateCalls, 0, "the SE must not be asked to generate a key from an unhealthy DRBG");
  assert.deepEqual(se.occupiedSlots(), []);
});

test("EST-3 / SE-3: after generate + sign + ECDH from the firmware, no private key or shared secret is in WASM memory", () => {
  const dir = tmp();
  try {
    const storePath = join(dir, "se-keystore.json");
    const se = new SimulatedSecureElement(storePath);
    // Capture every key the SE generates: its private key is the rng draw that generate() accepts.
    const privateKeys: Uint8Array[] = [];
    const realGenerate = se.generate.bind(se);
    se.generate = (slot, rng) => {
      let last: Uint8Array | null = null;
      const r = realGenerate(slot, { fill: (b: Uint8Array) => { const st = rng.fill(b); last = b.slice(); return st; } });
      if (last) privateKeys.push(last);
      return r;
    };
    const d = new Device({ se, stateDir: dir });
    assert.equal(d.start(), ALL);
    // The device identity key, generated through the firmware export.
    const pubPtr = 1024;
    assert.equal(d.exports.generate_device_key(0, pubPtr), HostStatus.Ok);
    const pub = new Uint8Array(d.memory.buffer, pubPtr, 65).slice();
    assert.ok(privateKeys.length >= 2, "captured the self-test key and the identity key");
    const stored = JSON.parse(readFileSync(storePath, "utf8")).slots["0"];
    assert.equal(stored, Buffer.from(privateKeys[privateKeys.length - 1]).toString("hex"), "the capture sees the key the SE stored");
    const identity = privateKeys[privateKeys.length - 1];
    assert.deepEqual(p256.getPublicKey(identity, false), pub, "the returned public key belongs to the SE's private key");

    const mem = new Uint8Array(d.memory.buffer);
    for (const k of privateKeys) {
      assert.deepEqual(findWindows(mem, k), [], "private key bytes found in linear memory");
      // The self-test's ECDH (key with its own public key): the secret must have been wiped.
      const shared = p256.getSharedSecret(k, p256.getPublicKey(k, false)).subarray(1);
      assert.deepEqual(findWindows(mem, shared), [], "ECDH shared secret left in linear memory");
    }
    // The scan can find a key when one is there (the test can fail).
    mem.set(privateKeys[0], 2048);
    assert.notDeepEqual(findWindows(mem, privateKeys[0]), []);
    mem.fill(0, 2048, 2048 + 32);
    d.stop();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("SE-1: a signature made in the SE for the firmware's key verifies with @noble/curves and node:crypto", () => {
  const se = new SimulatedSecureElement();
  const d = new Device({ se });
  d.start();
  const pubPtr = 1024;
  assert.equal(d.exports.generate_device_key(0, pubPtr), HostStatus.Ok);
  const pub = new Uint8Array(d.memory.buffer, pubPtr, 65).slice();
  const message = Buffer.from("lwm2m-wasm signature interop");
  const digest = createHash("sha256").update(message).digest();
  const sig = se.signDigest(0, new Uint8Array(digest));
  assert.ok(sig instanceof Uint8Array && sig.length === 64);
  assert.ok(p256.verify(sig, digest, pub, { prehash: false }));
  const key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(pub.subarray(1, 33)).toString("base64url"), y: Buffer.from(pub.subarray(33)).toString("base64url") }, format: "jwk" });
  assert.ok(nodeVerify("sha256", message, { key, dsaEncoding: "ieee-p1363" }, sig));
  assert.ok(!nodeVerify("sha256", Buffer.from("other message"), { key, dsaEncoding: "ieee-p1363" }, sig));
});
