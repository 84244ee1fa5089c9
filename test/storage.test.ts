// Secure record store (assembly/storage/store.ts) over the real Node host
// services: round trips, transactions, GC under churn, reboots, tamper
// detection, rollback refusal, no plaintext on flash or left in memory
// (SE-2, SE-3, DTLS-10, BS-5). Power cuts: storage-powerfail.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { hex } from "./helpers/wasm";
import { StoreBoot as Store, StoreStatus } from "./helpers/store-boot";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { HmacDrbg } from "../host-shim/node/drbg";

// ---- harness: test/helpers/store-boot.ts (shared with storage-powerfail and storage-small) ----
const S = StoreStatus;

const prngFor = (seed: number) => {
  const d = new HmacDrbg();
  d.instantiate(new Uint8Array(32).fill(seed & 0xff), Uint8Array.of(seed >>> 8, seed >>> 16));
  return {
    bytes: (n: number) => (n === 0 ? new Uint8Array(0) : d.generate(n)!),
    int: (n: number) => { const b = d.generate(4)!; return ((b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0) % n; },
  };
};
const image = (f: NorFlash) => f.read(0, f.size) as Uint8Array;
function flashFrom(img: Uint8Array, sectorSize = 4096): NorFlash {
  const f = new NorFlash({ size: img.length, sectorSize });
  assert.equal(f.program(0, img), 0);
  return f;
}

// ---- on-flash format, parsed independently from docs/storage.md -------------
interface Rec { addr: number; kind: string; id: number; len: number; gen: number; size: number; crcOk: boolean }
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const put32 = (b: Uint8Array, o: number, v: number) => { b[o] = v; b[o + 1] = v >>> 8; b[o + 2] = v >>> 16; b[o + 3] = v >>> 24; };
function parseRecords(img: Uint8Array, ss = 4096): Rec[] {
  const out: Rec[] = [];
  for (let a0 = ss; a0 < img.length; a0 += ss) {
    if (u32(img, a0) !== 0x5353574c || u32(img, a0 + 12) !== crc32(img.subarray(a0, a0 + 12))) continue;
    for (let pos = a0 + 16; pos + 16 <= a0 + ss;) {
      const h = img.subarray(pos, pos + 16);
      if (u32(h, 12) !== crc32(h.subarray(0, 12))) break;
      const len = u16(h, 4), size = 16 + ((len + 3) & ~3) + 4;
      out.push({ addr: pos, kind: String.fromCharCode(h[0]), id: u16(h, 2), len, gen: u32(h, 8), size,
        crcOk: u32(img, pos + size - 4) === crc32(img.subarray(pos, pos + size - 4)) });
      pos += size;
    }
  }
  return out;
}
/** Recompute a record's header and trailer CRCs after an edit (what an attacker can do). */
function fixCrcs(img: Uint8Array, r: Rec) {
  put32(img, r.addr + 12, crc32(img.subarray(r.addr, r.addr + 12)));
  put32(img, r.addr + r.size - 4, crc32(img.subarray(r.addr, r.addr + r.size - 4)));
}

// ---- tests ----------------------------------------------------------------------

test("fresh flash: mount formats an empty store; the next boot mounts it (Ok)", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const a = new Store(flash, se);
  assert.equal(a.mount(), S.Formatted);
  assert.deepEqual(a.state(), {});
  assert.equal(a.x.recordCount(), 0);
  assert.equal(se.counter(false), 2, "one commit: counter odd while in flight, even after");
  const b = new Store(flash, se);
  assert.equal(b.mount(), S.Ok);
  assert.deepEqual(b.state(), {});
  assert.ok(image(flash).subarray(0, 4096).every((x) => x === 0xff), "sector 0 (flash.ts superblock) untouched");
});

test("calls before mount are refused with NotMounted", () => {
  const s = new Store(new NorFlash(), new SimulatedSecureElement());
  assert.equal(s.put(1, Uint8Array.of(1)), S.NotMounted);
  assert.equal(s.get(1), S.NotMounted);
  assert.equal(s.x.begin(), S.NotMounted);
});

test("round trips, overwrite, delete, sizes 0..2048, argument errors; a reboot sees exactly the committed state", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const r = prngFor(1);
  let s = new Store(flash, se);
  assert.equal(s.mount(), S.Formatted);
  const model: Record<number, string> = {};
  for (const [id, n] of [[1, 0], [2, 1], [3, 2048], [4, 333], [0xfffe, 16], [7, 1000]] as const) {
    const v = r.bytes(n);
    assert.equal(s.put(id, v), S.Ok, `put ${id}`);
    model[id] = hex(v);
    assert.equal(s.x.size(id), n);
  }
  for (const id of Object.keys(model).map(Number)) assert.equal(hex(s.get(id) as Uint8Array), model[id]);
  // overwrite and delete
  const v2 = r.bytes(77);
  assert.equal(s.put(4, v2), S.Ok);
  model[4] = hex(v2);
  assert.equal(s.x.del(2), S.Ok);
  delete model[2];
  assert.equal(s.get(2), S.NotFound);
  assert.equal(s.x.del(2), S.NotFound);
  assert.equal(s.x.size(2), S.NotFound);
  // argument errors change nothing
  assert.equal(s.put(0, Uint8Array.of(1)), S.Invalid);
  assert.equal(s.put(0xffff, Uint8Array.of(1)), S.Invalid);
  assert.equal(s.x.put(5, s.m.scratch, 2049), S.Invalid);
  assert.equal(s.x.put(5, s.m.scratch, -1), S.Invalid);
  assert.equal(s.x.put(5, 0x7fff0000, 100), S.Invalid, "a buffer outside memory is refused by the host, nothing written");
  assert.equal(s.x.get(3, s.m.scratch, 2047), S.TooSmall);
  assert.equal(s.x.get(3, s.m.scratch, -5), S.TooSmall);
  assert.equal(s.x.get(3, 0x7fff0000, 4096), S.Invalid);
  const snapshot = s.state(0xfffe);
  assert.deepEqual(Object.fromEntries(Object.entries(snapshot)), model);
  // reboot
  s = new Store(flash, se);
  assert.equal(s.mount(), S.Ok);
  assert.deepEqual(s.state(0xfffe), model);
  assert.equal(s.x.recordCount(), Object.keys(model).length);
});

test("transactions: all staged changes appear together at commit; abort and errors leave the committed state", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  let s = new Store(flash, se);
  s.mount();
  const A = new Uint8Array(40).fill(0xa1), B = new Uint8Array(50).fill(0xb2), C = new Uint8Array(60).fill(0xc3);
  assert.equal(s.put(1, A), S.Ok);
  assert.equal(s.put(3, A), S.Ok);
  assert.equal(s.x.commit(), S.TxnState);
  assert.equal(s.x.abort(), S.TxnState);
  assert.equal(s.x.begin(), S.Ok);
  assert.equal(s.x.begin(), S.TxnState);
  assert.equal(s.put(1, B), S.Ok);
  assert.equal(s.put(2, C), S.Ok);
  assert.equal(s.put(2, B), S.Ok, "a second put of an id in one transaction replaces the first");
  assert.equal(s.x.del(3), S.Ok);
  assert.equal(s.x.del(3), S.NotFound);
  assert.equal(s.x.del(9), S.NotFound);
  // reads see the committed state until commit
  assert.deepEqual(s.state(), { 1: hex(A), 3: hex(A) });
  assert.equal(s.x.commit(), S.Ok);
  assert.deepEqual(s.state(), { 1: hex(B), 2: hex(B) });
  // abort after records were written: nothing changes, also after a reboot
  assert.equal(s.x.begin(), S.Ok);
  assert.equal(s.put(1, C), S.Ok);
  assert.equal(s.put(4, C), S.Ok);
  assert.equal(s.x.del(2), S.Ok);
  assert.equal(s.x.abort(), S.Ok);
  assert.deepEqual(s.state(), { 1: hex(B), 2: hex(B) });
  // an empty transaction writes nothing
  const before = flash.stats.programs;
  assert.equal(s.x.begin(), S.Ok);
  assert.equal(s.x.commit(), S.Ok);
  assert.equal(flash.stats.programs, before);
  // a delete-only transaction, and put after delete of the same id
  assert.equal(s.x.begin(), S.Ok);
  assert.equal(s.x.del(1), S.Ok);
  assert.equal(s.put(1, A), S.Ok);
  assert.equal(s.x.del(2), S.Ok);
  assert.equal(s.x.commit(), S.Ok);
  assert.deepEqual(s.state(), { 1: hex(A) });
  // a transaction is limited to 12 ids; the 13th is refused and the rest can still commit
  assert.equal(s.x.begin(), S.Ok);
  for (let id = 10; id < 22; id++) assert.equal(s.put(id, Uint8Array.of(id)), S.Ok);
  assert.equal(s.put(22, Uint8Array.of(22)), S.NoSpace);
  assert.equal(s.x.commit(), S.Ok);
  s = new Store(flash, se);
  assert.equal(s.mount(), S.Ok);
  const st = s.state(30);
  assert.equal(Object.keys(st).length, 13);
  assert.equal(st[22], undefined);
  assert.equal(st[21], "15");
});

test("GC under churn: 3000 random operations in 64 KiB / 4 KiB sectors, reboots see the model, wear is spread", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const r = prngFor(7);
  let s = new Store(flash, se);
  assert.equal(s.mount(), S.Formatted);
  const model = new Map<number, string>();
  let gcs = 0, maxOpsPerPut = 0, reboots = 0;
  for (let i = 0; i < 3000; i++) {
    const id = 1 + r.int(10), kind = r.int(20);
    const ops0 = flash.stats.programs + flash.stats.erases;
    if (kind === 0 && model.has(id)) {
      assert.equal(s.x.del(id), S.Ok);
      model.delete(id);
    } else if (kind === 1) {
      assert.equal(s.x.begin(), S.Ok);
      const staged = new Map(model);
      for (let j = 0; j < 3; j++) {
        const tid = 1 + r.int(10), v = r.bytes(r.int(300));
        assert.equal(s.put(tid, v), S.Ok);
        staged.set(tid, hex(v));
      }
      if (r.int(2) === 0) { assert.equal(s.x.commit(), S.Ok); model.clear(); staged.forEach((v, k) => model.set(k, v)); }
      else assert.equal(s.x.abort(), S.Ok);
    } else {
      const v = r.bytes(r.int(id === 3 ? 2048 : 400));
      assert.equal(s.put(id, v), S.Ok, `op ${i}`);
      model.set(id, hex(v));
      maxOpsPerPut = Math.max(maxOpsPerPut, flash.stats.programs + flash.stats.erases - ops0);
    }
    if (i % 250 === 249) {
      gcs += s.x.gcCount();
      s = new Store(flash, se);
      assert.equal(s.mount(), S.Ok);
      reboots++;
    }
    if (i % 50 === 0) assert.deepEqual(s.state(), Object.fromEntries(model), `op ${i}`);
  }
  gcs += s.x.gcCount();
  assert.deepEqual(s.state(), Object.fromEntries(model));
  assert.ok(gcs > 50, `GC ran (${gcs} rounds)`);
  const wear = [...flash.sectorErases].slice(1);
  const lo = Math.min(...wear), hi = Math.max(...wear);
  console.log(`churn: ${gcs} GC rounds, ${reboots} reboots, erases per sector ${lo}..${hi}, max flash ops in one put ${maxOpsPerPut}, SE counter ${se.counter(false)}`);
  assert.ok(lo > 0 && hi <= 2 * lo + 2, `wear spread ${wear}`);
});

test("capacity: fills to NoSpace with 2 KiB values, nothing changes on NoSpace, deletes make room again", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  let s = new Store(flash, se);
  s.mount();
  const big = (i: number) => new Uint8Array(2048).fill(i);
  let id = 1;
  const free0 = s.x.freeBytes();
  while (s.put(id, big(id)) === S.Ok) id++;
  const stored = id - 1;
  console.log(`capacity: ${stored} values of 2048 bytes in 15 x 4 KiB sectors (free bytes at start ${free0}), ${s.x.gcCount()} GC rounds`);
  assert.ok(stored >= 12, `stored ${stored}`);
  assert.equal(s.put(id, big(id)), S.NoSpace);
  for (let k = 1; k <= stored; k++) assert.equal(hex(s.get(k) as Uint8Array), hex(big(k)));
  // an overwrite needs room for the new copy while the old one is still the committed state
  assert.equal(s.put(1, big(0x55)), S.NoSpace);
  s = new Store(flash, se);
  assert.equal(s.mount(), S.Ok);
  assert.equal(s.get(id), S.NotFound);
  assert.equal(hex(s.get(1) as Uint8Array), hex(big(1)));
  assert.equal(s.x.del(2), S.Ok);
  assert.equal(s.put(1, big(0x55)), S.Ok);
  assert.equal(hex(s.get(1) as Uint8Array), hex(big(0x55)));
  assert.equal(s.x.del(3), S.Ok);
  assert.equal(s.put(id, big(id)), S.Ok);
  assert.equal(hex(s.get(id) as Uint8Array), hex(big(id)));
  // 32 ids at most
  const f2 = new NorFlash(), s2 = new Store(f2, new SimulatedSecureElement());
  s2.mount();
  for (let k = 1; k <= 32; k++) assert.equal(s2.put(k, Uint8Array.of(k)), S.Ok);
  assert.equal(s2.put(33, Uint8Array.of(1)), S.NoSpace);
  assert.equal(s2.put(32, Uint8Array.of(2)), S.Ok);
});

test("SE-2 tamper: any bit flip in a data record makes that record AuthFailed; the others still read", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const s = new Store(flash, se);
  s.mount();
  const vals = [new Uint8Array(32).fill(0x11), new Uint8Array(20).fill(0x22), new Uint8Array(45).fill(0x33)];
  vals.forEach((v, i) => assert.equal(s.put(i + 1, v), S.Ok));
  const img = image(flash);
  const target = parseRecords(img).find((r) => r.kind === "D" && r.id === 2)!;
  assert.ok(target && target.crcOk);
  let checked = 0;
  for (let bit = 0; bit < target.size * 8; bit++) {
    const bad = img.slice();
    bad[target.addr + (bit >> 3)] ^= 1 << (bit & 7);
    const t = new Store(flashFrom(bad), se);
    assert.equal(t.mount(), S.Ok, `bit ${bit}`);
    assert.equal(t.get(2), S.AuthFailed, `bit ${bit}`);
    assert.equal(hex(t.get(1) as Uint8Array), hex(vals[0]), `bit ${bit}`);
    assert.equal(hex(t.get(3) as Uint8Array), hex(vals[2]), `bit ${bit}`);
    checked++;
  }
  assert.equal(checked, target.size * 8);
  // The same with the CRCs recomputed (an attacker who knows the format): the SE's tag catches it.
  for (const off of [16, 20, 40, target.size - 21]) {
    const bad = img.slice();
    bad[target.addr + off] ^= 0x80;
    fixCrcs(bad, target);
    const t = new Store(flashFrom(bad), se);
    assert.equal(t.mount(), S.Ok);
    assert.equal(t.get(2), S.AuthFailed, `offset ${off}`);
    assert.equal(hex(t.get(3) as Uint8Array), hex(vals[2]));
  }
});

test("SE-2 tamper: swapped payloads, a record moved to another id, a changed generation are refused", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const s = new Store(flash, se);
  s.mount();
  const a = new Uint8Array(32).fill(0xaa), b = new Uint8Array(32).fill(0xbb);
  s.put(1, a);
  s.put(2, b);
  const img = image(flash);
  const recs = parseRecords(img).filter((r) => r.kind === "D");
  const r1 = recs.find((r) => r.id === 1)!, r2 = recs.find((r) => r.id === 2)!;
  // swap the sealed payloads (same length), fix the CRCs
  const sw = img.slice();
  sw.set(img.subarray(r2.addr + 16, r2.addr + 16 + r2.len), r1.addr + 16);
  sw.set(img.subarray(r1.addr + 16, r1.addr + 16 + r1.len), r2.addr + 16);
  fixCrcs(sw, r1);
  fixCrcs(sw, r2);
  let t = new Store(flashFrom(sw), se);
  assert.equal(t.mount(), S.Ok);
  assert.equal(t.get(1), S.AuthFailed);
  assert.equal(t.get(2), S.AuthFailed);
  // swap the ids in the headers (record 1 claims to be 2 and vice versa)
  const ids = img.slice();
  ids[r1.addr + 2] = 2;
  ids[r2.addr + 2] = 1;
  put32(ids, r1.addr + 8, r2.gen);
  put32(ids, r2.addr + 8, r1.gen);
  fixCrcs(ids, r1);
  fixCrcs(ids, r2);
  t = new Store(flashFrom(ids), se);
  assert.equal(t.mount(), S.Ok);
  assert.equal(t.get(1), S.AuthFailed);
  assert.equal(t.get(2), S.AuthFailed);
  // an old version of a record (older generation) cannot stand in for the new one
  s.put(1, new Uint8Array(32).fill(0xcc));
  const img2 = image(flash);
  const old = parseRecords(img2).find((r) => r.kind === "D" && r.id === 1 && r.gen === r1.gen)!;
  const cur = parseRecords(img2).find((r) => r.kind === "D" && r.id === 1 && r.gen !== r1.gen)!;
  const stale = img2.slice();
  stale.fill(0, cur.addr + 16, cur.addr + 20); // destroy the current copy
  put32(stale, old.addr + 8, cur.gen); // and relabel the old one with the new generation
  fixCrcs(stale, old);
  t = new Store(flashFrom(stale), se);
  assert.equal(t.mount(), S.Ok);
  assert.equal(t.get(1), S.AuthFailed);
  assert.equal(hex(t.get(2) as Uint8Array), hex(b));
});

test("SE-2 tamper: any damage to the newest commit record refuses the whole store (never a wrong state)", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const s = new Store(flash, se);
  s.mount();
  s.put(1, new Uint8Array(32).fill(1));
  s.put(2, new Uint8Array(32).fill(2));
  const img = image(flash);
  const commits = parseRecords(img).filter((r) => r.kind === "C");
  const newest = commits.reduce((a, b) => (b.gen > a.gen ? b : a));
  for (let bit = 0; bit < newest.size * 8; bit += 3) {
    const bad = img.slice();
    bad[newest.addr + (bit >> 3)] ^= 1 << (bit & 7);
    const t = new Store(flashFrom(bad), se);
    const st = t.mount();
    assert.ok(st === S.RolledBack || st === S.AuthFailed || st === S.Corrupt, `bit ${bit}: ${st}`);
    assert.equal(t.get(1), st, "get reports why the store was refused");
    assert.equal(t.put(3, Uint8Array.of(3)), st);
    const fixed = bad.slice();
    fixCrcs(fixed, newest);
    const u = new Store(flashFrom(fixed), se);
    const st2 = u.mount();
    // body bits: the SE's tag fails; header bits can also select another (older) commit: RolledBack.
    // A flipped CRC field is simply recomputed: the original record again.
    const inCrc = (bit >= 96 && bit < 128) || bit >= (newest.size - 4) * 8;
    if (inCrc) { assert.equal(st2, S.Ok); assert.equal(hex(u.get(2) as Uint8Array), "02".repeat(32)); }
    else if (bit >= 128) assert.equal(st2, S.AuthFailed, `bit ${bit} with CRCs fixed`);
    else assert.ok(st2 === S.RolledBack || st2 === S.AuthFailed, `bit ${bit} with CRCs fixed: ${st2}`);
  }
});

test("SE-2 rollback: an older flash image (backup replay) is refused with RolledBack; format is the way out", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  let s = new Store(flash, se);
  s.mount();
  s.put(3, new Uint8Array(48).fill(0x01)); // DTLS session, old counters
  const old = image(flash);
  s.put(3, new Uint8Array(48).fill(0x02));
  const oldSector = old.slice();
  // the whole old image
  let t = new Store(flashFrom(old), se);
  assert.equal(t.mount(), S.RolledBack);
  assert.equal(t.get(3), S.RolledBack);
  assert.equal(t.x.recordCount(), S.RolledBack);
  // the old image also after many more commits
  for (let i = 0; i < 5; i++) s.put(4, Uint8Array.of(i));
  t = new Store(flashFrom(old), se);
  assert.equal(t.mount(), S.RolledBack);
  // only the sector with the newest records replaced by its old copy
  const cur = image(flash);
  const newestCommit = parseRecords(cur).filter((r) => r.kind === "C").reduce((a, b) => (b.gen > a.gen ? b : a));
  const sec = Math.floor(newestCommit.addr / 4096) * 4096;
  const mixed = cur.slice();
  mixed.set(oldSector.subarray(sec, sec + 4096), sec);
  t = new Store(flashFrom(mixed), se);
  assert.equal(t.mount(), S.RolledBack);
  // an erased flash with a used SE: the store is missing, not silently new (issue 7: its own status)
  t = new Store(new NorFlash(), se);
  assert.equal(t.mount(), S.Missing);
  // format after a refusal: a new, empty store under a new epoch
  t = new Store(flashFrom(old), se);
  assert.equal(t.mount(), S.RolledBack);
  assert.equal(t.x.format(), S.Formatted);
  assert.deepEqual(t.state(), {});
  assert.equal(t.put(1, Uint8Array.of(9)), S.Ok);
  const again = new Store(t.flash, se);
  assert.equal(again.mount(), S.Ok);
  assert.deepEqual(again.state(), { 1: "09" });
  // the image of another device (another SE key) with the same counter value
  const other = new SimulatedSecureElement();
  while (other.counter(false) < se.counter(false)) other.counter(true);
  t = new Store(flashFrom(image(flash)), other);
  assert.equal(t.mount(), S.AuthFailed);
});

test("format of a mounted store: every value gone, a reboot agrees, old records cannot come back", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  let s = new Store(flash, se);
  s.mount();
  for (let id = 1; id <= 5; id++) s.put(id, new Uint8Array(300).fill(id));
  assert.equal(s.x.format(), S.Formatted);
  assert.deepEqual(s.state(), {});
  s = new Store(flash, se);
  assert.equal(s.mount(), S.Ok);
  assert.deepEqual(s.state(), {});
  const recs = parseRecords(image(flash));
  assert.equal(recs.filter((r) => r.kind === "D").length, 0, "no old record left on flash");
  assert.equal(recs.length, 1, "only the new commit");
});

test("SE-3: no plaintext secret on flash, and none left in linear memory outside the caller's buffer", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const s = new Store(flash, se);
  s.mount();
  const secret = new Uint8Array(32);
  for (let i = 0; i < 32; i++) secret[i] = 0xc0 ^ (i * 37);
  const windows = (hay: Uint8Array) => {
    const h = Buffer.from(hay);
    const hits: number[] = [];
    for (let i = 0; i + 8 <= 32; i += 4) { const at = h.indexOf(Buffer.from(secret.subarray(i, i + 8))); if (at >= 0) hits.push(at); }
    return hits;
  };
  assert.equal(s.put(1, secret), S.Ok);
  assert.equal(s.x.begin(), S.Ok);
  assert.equal(s.put(3, secret), S.Ok);
  assert.equal(s.x.commit(), S.Ok);
  for (let i = 0; i < 90; i++) s.put(5, new Uint8Array(900).fill(i)); // GC moves the sealed records
  assert.ok(s.x.gcCount() > 0);
  assert.equal(hex(s.get(1) as Uint8Array), hex(secret));
  assert.equal(hex(s.get(3) as Uint8Array), hex(secret));
  assert.deepEqual(windows(image(flash)), [], "plaintext secret on flash");
  // linear memory: the secret may be only in the scratch area (the caller's buffer)
  s.m.mem().fill(0, s.m.scratch, s.m.scratch + 4096);
  assert.deepEqual(windows(s.m.mem()), [], "secret left in the store's working memory");
  // the scan can find it
  const img = image(flash);
  img.set(secret, 9000);
  assert.notDeepEqual(windows(img), []);
});

test("mount and GC costs on a full 64 KiB store of small records (worst case for the scan)", () => {
  for (const ids of [1, 32]) {
    const flash = new NorFlash(), se = new SimulatedSecureElement();
    let s = new Store(flash, se);
    s.mount();
    // a log full of tiny records: empty values, their commits, superseded copies
    for (let i = 0; i < 2500; i++) assert.equal(s.put(1 + (i % ids), new Uint8Array(0)), S.Ok);
    const recs = parseRecords(image(flash)).length;
    let readBytes = 0, readCalls = 0;
    const realRead = flash.read.bind(flash);
    flash.read = (a: number, n: number) => { readBytes += n; readCalls++; return realRead(a, n); };
    const reps = 20;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) { s = new Store(flash, se); assert.equal(s.mount(), S.Ok); }
    const ms = (performance.now() - t0) / reps;
    console.log(`mount, ${ids} live ids: ${recs} records on flash, ${(readBytes / reps / 1024).toFixed(1)} KiB in ${readCalls / reps} flash reads, ${ms.toFixed(2)} ms per mount in Node (incl. instantiation)`);
    assert.ok(readBytes / reps < 2.5 * 64 * 1024);
    flash.read = realRead;
    // GC cost: flash operations of the worst put under churn
    let worst = 0, worstBytes = 0;
    for (let i = 0; i < 300; i++) {
      const p0 = flash.stats.programs + flash.stats.erases, b0 = flash.stats.bytesProgrammed;
      assert.equal(s.put(1 + (i % ids), new Uint8Array(i % 7 === 0 ? 1500 : 10)), S.Ok);
      const d = flash.stats.programs + flash.stats.erases - p0;
      if (d > worst) { worst = d; worstBytes = flash.stats.bytesProgrammed - b0; }
    }
    console.log(`GC, ${ids} live ids: worst put took ${worst} program/erase operations, ${worstBytes} bytes programmed`);
  }
  // near capacity: 30 ids with values up to 2 KiB, deleting when full
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  let s = new Store(flash, se);
  s.mount();
  const r = prngFor(3);
  const model = new Map<number, string>();
  let worst = { ops: 0, bytes: 0, gc: 0 }, full = 0;
  for (let i = 0; i < 3000; i++) {
    const id = 1 + r.int(30), v = r.bytes(r.int(3) === 0 ? 1000 + r.int(1049) : r.int(800));
    const p0 = flash.stats.programs + flash.stats.erases, b0 = flash.stats.bytesProgrammed, g0 = s.x.gcCount();
    const st = s.put(id, v);
    if (st === S.NoSpace) {
      full++;
      const d = 1 + r.int(30);
      if (s.x.del(d) === S.Ok) model.delete(d);
      continue;
    }
    assert.equal(st, S.Ok);
    model.set(id, hex(v));
    const d = flash.stats.programs + flash.stats.erases - p0;
    if (d > worst.ops) worst = { ops: d, bytes: flash.stats.bytesProgrammed - b0, gc: s.x.gcCount() - g0 };
  }
  console.log(`GC near capacity (${full} NoSpace): worst put ${worst.ops} program/erase operations, ${worst.gc} GC rounds, ${worst.bytes} bytes programmed`);
  assert.ok(full > 0 && worst.gc >= 1);
  assert.deepEqual(s.state(30), Object.fromEntries(model));
  s = new Store(flash, se);
  assert.equal(s.mount(), S.Ok);
  assert.deepEqual(s.state(30), Object.fromEntries(model));
});

test("flash changed under a mounted store: an old authentic record put in place of the current one is AuthFailed", () => {
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const s = new Store(flash, se);
  s.mount();
  s.put(3, new Uint8Array(48).fill(0x01));
  s.put(3, new Uint8Array(48).fill(0x02));
  const img = image(flash);
  const [old, cur] = parseRecords(img).filter((r) => r.kind === "D" && r.id === 3).sort((a, b) => a.gen - b.gen);
  assert.ok(old.gen < cur.gen && old.size === cur.size);
  // rewrite the sector with the old record's bytes at the current record's address
  const sec = Math.floor(cur.addr / 4096) * 4096;
  const next = img.slice(sec, sec + 4096);
  next.set(img.subarray(old.addr, old.addr + old.size), cur.addr - sec);
  assert.equal(flash.eraseSector(sec), 0);
  assert.equal(flash.program(sec, next), 0);
  assert.equal(s.get(3), S.AuthFailed, "the store checks the generation the manifest names");
});

test("GC during a transaction keeps the staged records (12 KiB flash: 2 store sectors, every GC collects the head)", () => {
  const flash = new NorFlash({ size: 12288 }), se = new SimulatedSecureElement();
  let s = new Store(flash, se);
  assert.equal(s.mount(), S.Formatted);
  let inTxnGc = 0;
  const v = (id: number, round: number) => new Uint8Array(450 + 10 * id).fill(id + 16 * round);
  for (let round = 0; round < 12; round++) {
    assert.equal(s.x.begin(), S.Ok);
    const gc0 = s.x.gcCount();
    for (let id = 1; id <= 2; id++) assert.equal(s.put(id, v(id, round)), S.Ok, `round ${round} id ${id}`);
    inTxnGc += s.x.gcCount() - gc0;
    assert.equal(s.x.commit(), S.Ok);
    s = new Store(flash, se);
    assert.equal(s.mount(), S.Ok);
    for (let id = 1; id <= 2; id++) assert.equal(hex(s.get(id) as Uint8Array), hex(v(id, round)), `round ${round} id ${id}`);
  }
  assert.ok(inTxnGc >= 4, `GC rounds inside transactions: ${inTxnGc}`);
});

test("issue 7 defects 5/6: a committed store under an SE that never committed is ForeignStore (not re-formatted); format on request", () => {
  const flash = new NorFlash();
  const s = new Store(flash, new SimulatedSecureElement());
  s.mount();
  s.put(1, Uint8Array.of(1, 2, 3));
  const before = image(flash);
  const fresh = new SimulatedSecureElement(); // counter 0: a replaced or lost key store
  const t = new Store(flash, fresh);
  assert.equal(t.mount(), S.ForeignStore);
  assert.equal(t.get(1), S.ForeignStore, "get reports why the store was refused");
  assert.deepEqual(image(flash), before, "nothing written");
  assert.equal(t.x.format(), S.Formatted);
  assert.equal(new Store(flash, fresh).mount(), S.Ok);
  // an empty flash under a fresh SE (first boot) is still formatted
  assert.equal(new Store(new NorFlash(), new SimulatedSecureElement()).mount(), S.Formatted);
});
