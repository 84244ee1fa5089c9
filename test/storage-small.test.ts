// The secure record store (SE-2) built with a value capacity below 2048 bytes,
// as a build profile may set it (profiles.json CAP_STORE_VALUE; psk-lpwa tried
// 1152): build/test/storage-small.wasm (assembly/tests/storage-small.ts).
// Found by the RAM bench: with 1152 the store refused to mount after an
// ordinary power cycle ("flash is older than the SE counter", RolledBack).
// Cause: the mount's scan of a sector's used extent read 2048-byte chunks
// into the record buffer, which is only REC_MAX = 16 + (1152 + 28) + 4 bytes
// then: the read overran it into the sector table, so the scan found no
// commit. These tests power-cycle (a new module instance on the same flash
// and SE) after puts, an oversized value and a failed commit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hex } from "./helpers/wasm";
import { StoreBoot, StoreStatus } from "./helpers/store-boot";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { Device } from "../host-shim/node/device";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const S = StoreStatus;
const CAP = 1152;

/** One power-up of the 1152-byte store module on `flash` and `se`; `cycle()` powers it up again. */
class Store extends StoreBoot {
  constructor(flash: NorFlash, se: SimulatedSecureElement) { super(flash, se, "storage-small"); }
  /** Power cycle: this instance is dropped, a new one mounts the same flash and SE. */
  cycle(): { store: Store; mount: number } {
    const s = new Store(this.flash, this.se);
    return { store: s, mount: s.mount() };
  }
}
const V = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const fresh = () => {
  const s = new Store(new NorFlash({ size: 64 * 1024, sectorSize: 4096 }), new SimulatedSecureElement());
  assert.equal(s.mount(), S.Formatted);
  return s;
};

test("storage-small is built with the 1152-byte value capacity", () => {
  const s = fresh();
  assert.equal(s.x.maxValueLen?.value, CAP);
  assert.equal(s.put(1, V(CAP, 1)), S.Ok);
  assert.equal(s.put(2, V(CAP + 1, 2)), S.Invalid);
});

test("capacity 1152: puts up to the capacity, then a power cycle mounts the same state (was RolledBack)", () => {
  let s = fresh();
  assert.equal(s.put(1, V(32, 1)), S.Ok);
  assert.equal(s.put(2, V(CAP, 2)), S.Ok);
  assert.equal(s.put(3, V(500, 3)), S.Ok);
  const before = s.state();
  const c = s.cycle();
  assert.equal(c.mount, S.Ok, `mount after a power cycle: ${c.mount}`);
  s = c.store;
  assert.deepEqual(s.state(), before);
  assert.equal(s.put(4, V(10, 4)), S.Ok, "writable after the power cycle");
});

test("capacity 1152: many power cycles with GC rounds in between: every mount is Ok with the committed state", () => {
  let s = fresh();
  let gc = 0;
  for (let i = 0; i < 60; i++) {
    const id = 1 + (i % 7);
    assert.equal(s.put(id, V(i % 3 === 0 ? CAP : 64 + i * 13, i & 0xff)), S.Ok, `put ${i}`);
    gc += s.x.gcCount();
    const before = s.state();
    const c = s.cycle();
    assert.equal(c.mount, S.Ok, `mount after power cycle ${i}: ${c.mount}`);
    s = c.store;
    assert.deepEqual(s.state(), before, `state after power cycle ${i}`);
  }
  assert.ok(gc > 0, "GC ran");
});

test("capacity 1152: an oversized value is refused (Invalid) with no SE counter or flash movement, alone or in a transaction; a power cycle mounts", () => {
  let s = fresh();
  assert.equal(s.put(1, V(100, 1)), S.Ok);
  const before = s.state();
  const counter = s.se.counter(false), programs = s.flash.stats.programs;
  assert.equal(s.put(2, V(CAP + 1, 2)), S.Invalid);
  assert.equal(s.put(2, V(2048, 2)), S.Invalid);
  assert.equal(s.se.counter(false), counter, "SE counter moved by an oversized put");
  assert.equal(s.flash.stats.programs, programs, "flash written by an oversized put");
  // in a transaction: the oversized put fails, the rest commits
  assert.equal(s.x.begin(), S.Ok);
  assert.equal(s.put(3, V(40, 3)), S.Ok);
  assert.equal(s.put(4, V(CAP + 4, 4)), S.Invalid);
  assert.equal(s.x.commit(), S.Ok);
  const after = s.state();
  assert.deepEqual(after, { ...before, 3: hex(V(40, 3)) });
  assert.equal(s.se.counter(false) % 2, 0, "SE counter even (stable) after the commit");
  const c = s.cycle();
  assert.equal(c.mount, S.Ok, `mount after a power cycle: ${c.mount}`);
  s = c.store;
  assert.deepEqual(s.state(), after);
});

test("capacity 1152: a commit that fails (SE counter, then flash) and a power cycle: the store mounts with the state before or after", () => {
  for (const how of ["se", "flash"] as const) {
    let s = fresh();
    assert.equal(s.put(1, V(CAP, 1)), S.Ok);
    assert.equal(s.put(2, V(300, 2)), S.Ok);
    const before = s.state();
    const real = s.se.counter.bind(s.se);
    if (how === "se") {
      let left = 2; // the second increment: the one that makes the commit stable
      s.se.counter = (inc: boolean) => (inc && --left === 0 ? -6 : real(inc));
    } else {
      s.flash.cutPowerAfter(2); // the data record lands, the commit record is cut
    }
    const r = s.put(3, V(CAP, 3));
    if (how === "se") { assert.equal(r, S.Io, "the put reports the failed commit"); s.se.counter = real; }
    const afterState = { ...before, 3: hex(V(CAP, 3)) };
    if (how === "flash") { assert.ok(s.flash.powerLost, "the cut fired"); assert.ok(r < 0); s.flash.restorePower(); }
    const c = s.cycle();
    assert.equal(c.mount, S.Ok, `${how}: mount after the failed commit and a power cycle: ${c.mount}`);
    s = c.store;
    const got = s.state();
    assert.ok(JSON.stringify(got) === JSON.stringify(before) || JSON.stringify(got) === JSON.stringify(afterState), `${how}: state is before or after`);
    assert.equal(s.put(4, V(8, 4)), S.Ok, `${how}: writable again`);
  }
});

// The shipped psk-lpwa firmware (build/firmware-psk-lpwa.wasm, CAP_STORE_VALUE 1152 in profiles.json):
// provisioned (the factory configuration goes into the sealed store), then power-cycled twice
// (prepare_sleep / stop, a new module instance on the same flash and SE): the store mounts each time
// with the configuration, never "REFUSED ... (rollback)".
test("psk-lpwa firmware: the store mounts after power cycles (prepare_sleep and a plain stop), configuration loaded", async () => {
  const PROFILES = JSON.parse(readFileSync(join(__dirname, "..", "profiles.json"), "utf8"));
  assert.equal(PROFILES.profiles["psk-lpwa"].capacities.CAP_STORE_VALUE, CAP, "the profile this test is about");
  const firmware = join(__dirname, "..", PROFILES.profiles["psk-lpwa"].output); // a path: its .logdict decodes the log
  const net = { open: () => 1, send: () => 0, close: () => {} } as any; // nothing answers: no server needed
  const d1 = new Device({ firmware, net });
  const FLASH_MOUNTED = 4;
  try {
    assert.ok(d1.start() & FLASH_MOUNTED, "first boot mounts (formats) the store");
    d1.provision({ endpoint: "storefix-lpwa", bootstrap: { uri: "coaps://127.0.0.1:9", securityMode: "psk", pskIdentity: "storefix-bs", pskKey: "00112233445566778899aabbccddeeff" } });
    await d1.prepareSleep();
    let prev = d1;
    for (let cycle = 1; cycle <= 2; cycle++) {
      const d = new Device({ firmware, net, flash: prev.flash, se: prev.se, rng: prev.rng });
      try {
        const status = d.start();
        const text = d.logs.map((l) => l.text).join("\n");
        assert.doesNotMatch(text, /REFUSED/, `power cycle ${cycle}: ${text}`);
        assert.ok(status & FLASH_MOUNTED, `power cycle ${cycle}: boot status ${status}`);
        assert.match(text, /store: mounted, records: [1-9]/);
        assert.match(text, /config: configuration loaded from the sealed store/);
      } finally {
        if (cycle === 1) await d.prepareSleep(); else d.stop();
      }
      prev = d;
    }
  } finally {
    d1.stop();
  }
});
