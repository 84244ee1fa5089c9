// Power-fail safety of the secure record store (SE-2, BS-5): a scripted
// workload (puts, overwrites, transactions, abort, deletes, GC rounds,
// format) is cut after EVERY flash program/erase in turn, also a second time
// during the recovery mount, and the SE counter is made to fail at every
// increment; each time the re-mounted store holds exactly the state before or
// after the interrupted operation, stays writable, and nothing traps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StoreBoot as Store, StoreStatus } from "./helpers/store-boot";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";

// ---- harness: test/helpers/store-boot.ts ----
const S = StoreStatus;
/** Deterministic [0,1) source for the torn lengths. */
function lcg(seed: number) { let x = seed >>> 0 || 1; return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32); }

// ---- the workload: 20 KiB flash = superblock + 4 store sectors, so GC runs often ----
const V = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 7) & 0xff);
/** Run steps until one fails; the op's status is the first negative one (or the last). */
const steps = (...fs: (() => number)[]) => { let r = 0; for (const f of fs) { r = f(); if (r < 0) return r; } return r; };
type Op = [string, (s: Store) => number];
const OPS: Op[] = [
  ["mount (format)", (s) => s.mount()],
  ["put 1 secret", (s) => s.put(1, SECRET)],
  ["put 9 64 B (lives on: GC copies it)", (s) => s.put(9, V(64, 9))],
  ["put 2 1200 B", (s) => s.put(2, V(1200, 2))],
  ["put 3 100 B", (s) => s.put(3, V(100, 3))],
  ["overwrite 2 1500 B", (s) => s.put(2, V(1500, 0x22))],
  ["txn: put 4, put 1, delete 3, commit", (s) => steps(() => s.x.begin(), () => s.put(4, V(300, 4)), () => s.put(1, V(40, 0x11)), () => s.x.del(3), () => s.x.commit())],
  ["overwrite 2 1800 B", (s) => s.put(2, V(1800, 0x23))],
  ["txn: put 5, put 2, abort", (s) => steps(() => s.x.begin(), () => s.put(5, V(200, 5)), () => s.put(2, V(20, 0x24)), () => s.x.abort())],
  ["delete 4", (s) => s.x.del(4)],
  ["put 6 2000 B", (s) => s.put(6, V(2000, 6))],
  ...[0, 1, 2, 3, 4, 5].map((i): Op => [`overwrite 1 (${i}) 500 B`, (s) => s.put(1, V(500, 0x30 + i))]),
  ["txn: put 2 10 B, put 7 700 B, delete 6, commit", (s) => steps(() => s.x.begin(), () => s.put(2, V(10, 0x25)), () => s.put(7, V(700, 7)), () => s.x.del(6), () => s.x.commit())],
  ...[0, 1, 2, 3].map((i): Op => [`overwrite 7 (${i}) 1900 B`, (s) => s.put(7, V(1900, 0x70 + i))]),
  ["put 3 900 B", (s) => s.put(3, V(900, 0x33))],
  ["format", (s) => s.x.format()],
  ["put 1 secret again", (s) => s.put(1, SECRET)],
  ["txn: put 2, put 3, commit", (s) => steps(() => s.x.begin(), () => s.put(2, V(64, 0x42)), () => s.put(3, V(64, 0x43)), () => s.x.commit())],
];
const newFlash = (seed: number) => new NorFlash({ size: 20 * 1024, sectorSize: 4096, random: lcg(seed) });

/** The uninterrupted run: state after each op, results, flash operation count, GC rounds. */
function reference() {
  const flash = newFlash(1), se = new SimulatedSecureElement();
  const s = new Store(flash, se);
  const states: Record<number, string | number>[] = [];
  const results: number[] = [];
  let gc = 0;
  for (const [, run] of OPS) {
    results.push(run(s));
    states.push(s.state());
    gc = s.x.gcCount();
  }
  return { states, results, ops: flash.stats.programs + flash.stats.erases, increments: se.counter(false), gc };
}
const REF = reference();

test("reference workload: every op succeeds, GC runs, the store is exercised", () => {
  assert.deepEqual(REF.results, OPS.map(([name]) => (name.startsWith("mount") || name === "format" ? S.Formatted : S.Ok)));
  assert.ok(REF.gc >= 3, `GC rounds ${REF.gc}`);
  const at = (name: string) => OPS.findIndex(([n]) => n.startsWith(name));
  assert.equal(REF.states[at("txn: put 4")][3], undefined, "txn deleted 3");
  assert.deepEqual(REF.states[at("txn: put 5")], REF.states[at("txn: put 5") - 1], "abort changed nothing");
  console.log(`workload: ${OPS.length} operations, ${REF.ops} flash programs/erases, ${REF.gc} GC rounds since the last mount, SE counter ${REF.increments}`);
});

/** After a failure during op k: mount again (possibly cut again), check before/after, check still writable. */
function recoverAndCheck(flash: NorFlash, se: SimulatedSecureElement, k: number, label: string, secondCut = 0) {
  const before = k === 0 ? {} : REF.states[k - 1];
  const after = REF.states[k];
  let s = new Store(flash, se);
  if (secondCut) flash.cutPowerAfter(secondCut);
  let st = s.mount();
  if (flash.powerLost) { // cut again during the recovery mount
    assert.equal(st, S.Io, `${label}: mount under a power cut`);
    flash.restorePower();
    s = new Store(flash, se);
    st = s.mount();
  }
  flash.restorePower(); // disarm
  assert.ok(st === S.Ok || st === S.Formatted, `${label}: mount returned ${st}`);
  const got = s.state();
  const isBefore = JSON.stringify(got) === JSON.stringify(before), isAfter = JSON.stringify(got) === JSON.stringify(after);
  assert.ok(isBefore || isAfter, `${label}: state is neither before nor after "${OPS[k][0]}":\n${JSON.stringify(got)}\nbefore ${JSON.stringify(before)}\nafter ${JSON.stringify(after)}`);
  // still writable, and a further reboot agrees
  assert.equal(s.put(8, Uint8Array.of(8, 8)), S.Ok, `${label}: put after recovery`);
  const s2 = new Store(flash, se);
  assert.equal(s2.mount(), S.Ok, `${label}: second mount`);
  assert.deepEqual(s2.state(), { ...got, 8: "0808" }, `${label}: second mount state`);
  return isAfter ? "after" : "before";
}

test("a power cut after every flash program/erase: re-mount gives the state before or after the interrupted op", () => {
  const outcomes = { before: 0, after: 0 };
  const tornKinds = new Set<string>();
  for (let n = 1; n <= REF.ops; n++) {
    const flash = newFlash(n), se = new SimulatedSecureElement();
    flash.on("powerlost", (kind: string) => tornKinds.add(kind));
    flash.cutPowerAfter(n);
    const s = new Store(flash, se);
    let k = 0;
    for (; k < OPS.length; k++) {
      const r = OPS[k][1](s);
      if (flash.powerLost) { assert.ok(r < 0, `cut ${n}: "${OPS[k][0]}" reported ${r} under a power cut`); break; }
      assert.equal(r, REF.results[k], `cut ${n}: "${OPS[k][0]}" before the cut`);
    }
    assert.ok(k < OPS.length, `cut ${n} never fired`);
    flash.restorePower();
    outcomes[recoverAndCheck(flash, se, k, `cut after op ${n} (during "${OPS[k][0]}")`, 1 + (n % 4))]++;
  }
  console.log(`power cuts: ${REF.ops} cut points, outcome before ${outcomes.before} / after ${outcomes.after}, torn kinds ${[...tornKinds]}`);
  assert.ok(tornKinds.has("erase") && tornKinds.has("program"));
  assert.ok(outcomes.before > 0 && outcomes.after > 0);
});

test("the SE counter failing at every increment: the op fails, re-mount gives before or after", () => {
  const outcomes = { before: 0, after: 0 };
  for (let j = 1; j <= REF.increments; j++) {
    const flash = newFlash(j), se = new SimulatedSecureElement();
    const real = se.counter.bind(se);
    let left = j;
    se.counter = (inc: boolean) => (inc && --left === 0 ? -6 : real(inc));
    const s = new Store(flash, se);
    let k = 0;
    for (; k < OPS.length; k++) {
      const r = OPS[k][1](s);
      if (left === 0) { assert.ok(r < 0, `SE failure ${j}: "${OPS[k][0]}" reported ${r}`); break; }
      assert.equal(r, REF.results[k]);
    }
    assert.ok(k < OPS.length);
    outcomes[recoverAndCheck(flash, se, k, `SE failure at increment ${j} (during "${OPS[k][0]}")`)]++;
  }
  console.log(`SE counter failures: ${REF.increments} points, before ${outcomes.before} / after ${outcomes.after}`);
  assert.ok(outcomes.before > 0 && outcomes.after > 0, "both windows (before the commit, after it) were hit");
});

test("power cuts during GC on the 64 KiB / 4 KiB geometry under churn", () => {
  // Warm up a store until the next put runs a GC round, then cut at each of its operations.
  // ids 10..14 are written once and live on, so GC has records to copy
  const churn = (s: Store, i: number) => s.put(1 + (i % 9), V(100 + ((i * 37) % 900), i & 0xff));
  const warm = () => {
    const flash = new NorFlash({ random: lcg(99) }), se = new SimulatedSecureElement();
    const s = new Store(flash, se);
    s.mount();
    for (let id = 10; id <= 14; id++) assert.equal(s.put(id, V(300, id)), S.Ok);
    return { flash, se, s };
  };
  // find the first put that collects, and how many flash ops it takes
  const probe = warm();
  let i = 0, gcAt = -1, opsIn = 0, stateBefore = {}, stateAfter = {};
  for (; i < 2000 && gcAt < 0; i++) {
    const g0 = probe.s.x.gcCount(), o0 = probe.flash.stats.programs + probe.flash.stats.erases;
    stateBefore = probe.s.state(14);
    assert.equal(churn(probe.s, i), S.Ok);
    if (probe.s.x.gcCount() > g0) { gcAt = i; opsIn = probe.flash.stats.programs + probe.flash.stats.erases - o0; stateAfter = probe.s.state(14); }
  }
  assert.ok(gcAt > 0 && opsIn >= 9, `GC at put ${gcAt}, ${opsIn} flash ops (5 live records copied)`);
  for (let n = 1; n <= opsIn; n++) {
    const w = warm();
    for (let j = 0; j < gcAt; j++) churn(w.s, j);
    w.flash.cutPowerAfter(n);
    assert.ok(churn(w.s, gcAt) < 0);
    w.flash.restorePower();
    const t = new Store(w.flash, w.se);
    assert.equal(t.mount(), S.Ok, `cut ${n} of ${opsIn}`);
    const got = JSON.stringify(t.state(14));
    assert.ok(got === JSON.stringify(stateBefore) || got === JSON.stringify(stateAfter), `cut ${n} of ${opsIn} in a GC put`);
    for (let j = gcAt + 1; j < gcAt + 60; j++) assert.equal(churn(t, j), S.Ok, `writable after cut ${n}`);
  }
  console.log(`GC put ${gcAt}: ${opsIn} flash operations, each cut recovered`);
});
