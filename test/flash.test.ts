// Simulated NOR flash: bit-clearing program, sector erase, bounds, counters,
// torn program/erase on a power cut, and a reopened image seeing the torn state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hex } from "./helpers/wasm";
import { FlashStatus as S, NorFlash } from "../host-shim/node/flash";

const bytes = (x: Uint8Array | number): Uint8Array => {
  assert.ok(x instanceof Uint8Array, `expected bytes, got status ${x}`);
  return x as Uint8Array;
};

test("fresh flash is erased (0xFF) with the configured geometry", () => {
  const f = new NorFlash();
  assert.equal(f.size, 65536);
  assert.equal(f.sectorSize, 4096);
  assert.ok(bytes(f.read(0, f.size)).every((b) => b === 0xff));
  const g = new NorFlash({ size: 8192, sectorSize: 1024 });
  assert.equal(bytes(g.read(0, 8192)).length, 8192);
  assert.throws(() => new NorFlash({ size: 5000, sectorSize: 1024 }), RangeError);
});

test("program only clears bits; a 0->1 bit is NotPermitted and writes nothing", () => {
  const f = new NorFlash();
  assert.equal(f.program(10, Uint8Array.of(0xf0, 0x0f)), S.Ok);
  assert.equal(hex(bytes(f.read(9, 4))), "fff00fff");
  assert.equal(f.program(10, Uint8Array.of(0x30, 0x0f)), S.Ok); // clears more bits, keeps zeros
  assert.equal(hex(bytes(f.read(10, 2))), "300f");
  // first byte fine, second needs a 0->1 bit: nothing at all is written
  assert.equal(f.program(9, Uint8Array.of(0x00, 0x30, 0x1f)), S.NotPermitted);
  assert.equal(hex(bytes(f.read(9, 3))), "ff300f");
  assert.equal(f.program(11, Uint8Array.of(0xff)), S.NotPermitted);
  assert.equal(f.program(11, new Uint8Array(0)), S.Ok);
});

test("erase resets exactly one aligned sector to 0xFF", () => {
  const f = new NorFlash({ size: 16384, sectorSize: 4096 });
  assert.equal(f.program(4095, new Uint8Array(4098)), S.Ok); // spans sectors 0..2
  assert.equal(f.eraseSector(4096), S.Ok);
  assert.equal(hex(bytes(f.read(4095, 1))), "00");
  assert.ok(bytes(f.read(4096, 4096)).every((b) => b === 0xff));
  assert.equal(hex(bytes(f.read(8192, 1))), "00");
  assert.equal(f.program(5000, Uint8Array.of(0x12)), S.Ok);
  assert.deepEqual([...f.sectorErases], [0, 1, 0, 0]);
});

test("bounds and alignment are checked (Invalid), nothing changes", () => {
  const f = new NorFlash({ size: 8192, sectorSize: 4096 });
  for (const [a, n] of [[-1, 1], [8191, 2], [8192, 1], [0, -1], [1.5, 1], [NaN, 1]]) {
    assert.equal(f.read(a, n), S.Invalid, `read ${a},${n}`);
  }
  assert.equal(f.read(8191, 1) instanceof Uint8Array, true);
  assert.equal(f.program(8190, new Uint8Array(3)), S.Invalid);
  assert.equal(f.program(-1, new Uint8Array(1)), S.Invalid);
  for (const a of [1, 4095, 8192, -4096, 2.5]) assert.equal(f.eraseSector(a), S.Invalid, `erase ${a}`);
  assert.ok(bytes(f.read(0, 8192)).every((b) => b === 0xff));
  assert.deepEqual(f.stats, { reads: 2, programs: 0, erases: 0, bytesProgrammed: 0 });
});

test("counters count program and erase operations", () => {
  const f = new NorFlash();
  f.program(0, new Uint8Array(5));
  f.program(100, Uint8Array.of(1));
  f.eraseSector(0);
  f.read(0, 1);
  assert.deepEqual(f.stats, { reads: 1, programs: 2, erases: 1, bytesProgrammed: 6 });
});

test("power cut tears the n-th program (random-length prefix); then Io until power returns", () => {
  const f = new NorFlash({ random: () => 0.5 });
  const lost: unknown[] = [];
  f.on("powerlost", (kind, addr) => lost.push([kind, addr]));
  f.cutPowerAfter(2);
  assert.equal(f.program(0, Uint8Array.of(0x11)), S.Ok);
  assert.equal(f.program(100, new Uint8Array(10)), S.Io); // torn: 5 of 10 bytes written
  assert.equal(f.powerLost, true);
  assert.deepEqual(lost, [["program", 100]]);
  assert.equal(f.read(100, 10), S.Io);
  assert.equal(f.program(0, Uint8Array.of(0)), S.Io);
  assert.equal(f.eraseSector(0), S.Io);
  f.restorePower();
  assert.equal(hex(bytes(f.read(100, 10))), "0000000000ffffffffff");
  assert.equal(hex(bytes(f.read(0, 1))), "11");
  assert.equal(f.program(200, Uint8Array.of(0)), S.Ok, "no cut armed after restore");
});

test("a torn operation never completes, whatever the random draw", () => {
  for (const r of [0, 0.3, 0.999999999]) {
    const f = new NorFlash({ random: () => r });
    f.cutPowerAfter(1);
    f.program(0, new Uint8Array(64));
    f.restorePower();
    const written = bytes(f.read(0, 64)).filter((b) => b === 0).length;
    assert.ok(written < 64, `r=${r}`);
    assert.equal(written, Math.min(63, Math.floor(r * 64)));
  }
});

test("power cut tears an erase: a prefix of the sector is 0xFF, the rest keeps old data", () => {
  const f = new NorFlash({ random: () => 0.25 });
  assert.equal(f.program(4096, new Uint8Array(4096)), S.Ok);
  f.cutPowerAfter(1);
  assert.equal(f.eraseSector(4096), S.Io);
  f.restorePower();
  const s = bytes(f.read(4096, 4096));
  assert.ok(s.subarray(0, 1024).every((b) => b === 0xff));
  assert.ok(s.subarray(1024).every((b) => b === 0x00));
});

test("file-backed image: created erased, written through, reopen sees exactly the torn state", () => {
  const dir = mkdtempSync(join(tmpdir(), "flash-test-"));
  try {
    const path = join(dir, "flash.img");
    const a = new NorFlash({ path, size: 16384, random: () => 0.6 });
    assert.ok(readFileSync(path).every((b) => b === 0xff));
    assert.equal(a.program(0, Uint8Array.of(1, 2, 3)), S.Ok);
    assert.equal(a.program(4096, new Uint8Array(4096)), S.Ok);
    a.cutPowerAfter(2);
    assert.equal(a.program(10000, new Uint8Array(100).fill(0x5a)), S.Ok);
    assert.equal(a.eraseSector(4096), S.Io); // torn erase
    assert.equal(a.program(12000, new Uint8Array(10)), S.Io); // rejected: power is off
    a.close();
    a.restorePower();
    const before = bytes(a.read(0, 16384));

    const b = new NorFlash({ path, size: 16384, random: () => 0.6 }); // "reboot"
    const after = bytes(b.read(0, 16384));
    assert.equal(hex(after), hex(before));
    assert.equal(hex(after.subarray(0, 4)), "010203ff");
    assert.ok(after.subarray(4096, 4096 + 2457).every((x) => x === 0xff));
    assert.ok(after.subarray(4096 + 2457, 8192).every((x) => x === 0x00));
    assert.ok(after.subarray(10000, 10100).every((x) => x === 0x5a));
    assert.ok(after.subarray(12000, 12010).every((x) => x === 0xff));
    // a torn program is persisted too
    b.cutPowerAfter(1);
    assert.equal(b.program(9000, new Uint8Array(10)), S.Io);
    b.close();
    const c = new NorFlash({ path, size: 16384 });
    assert.equal(hex(bytes(c.read(9000, 10))), "000000000000ffffffff");
    c.close();
    assert.throws(() => new NorFlash({ path, size: 65536 }), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
