// Issue 7 regression tests of the stored state (SE-2, docs/storage.md):
// defect 2 (a record that fails at boot refuses the configuration loudly,
// and the firmware and the CLI agree that the device is not provisioned),
// defect 5 (a replaced or missing SE key store never silently re-formats a
// sealed store; an explicit factory reset does), defect 6 (every broken
// state folder gets its own message and exit code 3 from the CLI, never a
// stack trace). The firmware as shipped (build/firmware.wasm).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, unlinkSync, truncateSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Device, FakeClock } from "../host-shim/node/device";
import type { NetService } from "../host-shim/node/host";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { BootStatus, StoreStatus } from "../host-shim/node/status";
import { ROOT } from "./helpers/wasm";
import { flipDataRecord } from "./helpers/store-boot";

const ALL = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), "lwm2m-state-")); dirs.push(d); return d; };
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

class CaptureNet implements NetService {
  sent: Uint8Array[] = [];
  open() { return 1; }
  send(_p: number, d: Uint8Array) { this.sent.push(d.slice()); return 0; }
  close() {}
}

const CONFIG = { endpoint: "issue7-store", servers: [{ uri: "coap://127.0.0.1:5683", shortServerId: 101, lifetime: 300 }] };
const CLIENT_RECORD = 17; // assembly/firmware/persist.ts ClientRecord.Client (endpoint name)


/** Clears one bit in the body of the newest commit record ('C'). */
function flipNewestCommit(flash: NorFlash): void {
  const img = flash.read(0, flash.size) as Uint8Array;
  let best = -1, gen = -1;
  for (let a = flash.sectorSize; a + 24 < flash.size; a += 4) {
    if (img[a] === 0x43 && img[a + 1] === 1 && img[a + 2] === 0 && img[a + 3] === 0) {
      const g = img[a + 8] | (img[a + 9] << 8) | (img[a + 10] << 16) | (img[a + 11] << 24);
      if (g > gen) { gen = g; best = a; }
    }
  }
  assert.ok(best > 0, "a commit record");
  for (let at = best + 16 + 4; ; at++) if (img[at]) { assert.equal(flash.program(at, Uint8Array.of(img[at] & (img[at] - 1))), 0); return; }
}

function provisioned(flash: NorFlash, se: SimulatedSecureElement) {
  const d = new Device({ flash, se, net: new CaptureNet(), clock: new FakeClock(0), manualTimers: true });
  assert.equal(d.start(), ALL);
  d.provision(CONFIG);
  d.stop();
}

test("issue 7 defect 2: a flipped bit in the record holding the endpoint name refuses the configuration loudly; nothing is sent", () => {
  const flash = new NorFlash();
  const se = new SimulatedSecureElement();
  provisioned(flash, se);
  assert.ok(flipDataRecord(flash, CLIENT_RECORD) >= 1, "the client record was found");
  const net = new CaptureNet();
  const d = new Device({ flash, se, net, clock: new FakeClock(0), manualTimers: true });
  assert.equal(d.start(), ALL, "the store itself mounts: one record is damaged");
  d.advanceTo(60_000);
  assert.equal(net.sent.length, 0, `nothing sent (was: a Register with ep= empty): ${net.sent.length} datagrams`);
  assert.equal(d.provisioned, false);
  assert.ok(d.configStatus < 0, `config_status ${d.configStatus}`);
  assert.equal(d.configStatus, StoreStatus.AuthFailed);
  assert.ok(d.logs.some((l) => l.levelName === "error" && /config: REFUSED, stored record 17 \(endpoint name\).*storage corrupt, not provisioned/.test(l.text)),
    d.logs.map((l) => l.text).join("\n"));
  assert.ok(!d.logs.some((l) => /configuration loaded/.test(l.text)));
});

test("issue 7 defect 5: a replaced or missing SE key store never re-formats a sealed store; an explicit factory reset does", () => {
  const flash = new NorFlash();
  provisioned(flash, new SimulatedSecureElement());
  const before = Buffer.from(flash.read(0, flash.size) as Uint8Array);
  const se2 = new SimulatedSecureElement(); // a new key store: its counter is 0, its key another
  const d = new Device({ flash, se: se2, net: new CaptureNet(), clock: new FakeClock(0), manualTimers: true });
  const status = d.start();
  assert.equal(status & BootStatus.FlashMounted, 0, "refused");
  assert.equal(d.storeStatus, StoreStatus.ForeignStore);
  assert.ok(!d.logs.some((l) => /store: empty, formatted/.test(l.text)), d.logs.map((l) => l.text).join("\n"));
  assert.ok(d.logs.some((l) => l.levelName === "error" && /SE key store replaced or missing/.test(l.text)));
  assert.ok(Buffer.from(flash.read(0, flash.size) as Uint8Array).equals(before), "the flash is untouched");
  // a second boot refuses again (nothing was written)
  const d2 = new Device({ flash, se: se2, net: new CaptureNet(), clock: new FakeClock(0), manualTimers: true });
  assert.equal(d2.start() & BootStatus.FlashMounted, 0);
  // the explicit reset: formatted under the new SE, the device boots unprovisioned
  assert.equal(d2.factoryReset(), ALL);
  assert.equal(d2.provisioned, false);
  const d3 = new Device({ flash, se: se2, net: new CaptureNet(), clock: new FakeClock(0), manualTimers: true });
  assert.equal(d3.start(), ALL);
  assert.equal(d3.storeStatus, StoreStatus.Ok);
});

// ---- defect 6: the CLI on broken state folders --------------------------------------

const BIN = join(ROOT, "bin", "lwm2m-wasm.js");
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** A state folder with a provisioned device (flash.img + se-keystore.json). */
function stateDir(): string {
  const dir = tmp();
  const d = new Device({ stateDir: dir, net: new CaptureNet(), clock: new FakeClock(0), manualTimers: true });
  assert.equal(d.start(), ALL);
  d.provision(CONFIG);
  d.stop();
  d.flash.close();
  return dir;
}

const FLASH = (dir: string) => join(dir, "flash.img");
const KEYS = (dir: string) => join(dir, "se-keystore.json");
const fill = (dir: string, f: (i: number) => number) => writeFileSync(FLASH(dir), Buffer.from(Array.from({ length: 65536 }, (_, i) => f(i))));

const CASES: [string, (dir: string) => void, RegExp][] = [
  ["erased flash.img", (d) => fill(d, () => 0xff), /holds none \(erased, zeroed or replaced\).*the image is erased \(all 0xFF\)/s],
  ["zeroed flash.img", (d) => fill(d, () => 0), /holds none.*the image is zeroed \(all 0x00\)/s],
  ["random flash.img", (d) => { let x = 12345; fill(d, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24); }, /holds none.*overwritten \(random or foreign content\)/s],
  ["a bit flip in the newest commit", (d) => { const f = new NorFlash({ path: FLASH(d) }); flipNewestCommit(f); f.close(); }, /newest commit in the flash image is damaged \(CRC mismatch: a bit flip\)/],
  ["a bit flip in the endpoint-name record", (d) => { const f = new NorFlash({ path: FLASH(d) }); assert.ok(flipDataRecord(f, CLIENT_RECORD) >= 1); f.close(); }, /stored configuration is corrupt.*not provisioned/],
  ["rollback (an older flash.img)", (d) => {
    const old = join(d, "old.img");
    copyFileSync(FLASH(d), old);
    const dev = new Device({ stateDir: d, net: new CaptureNet(), clock: new FakeClock(0), manualTimers: true });
    dev.start(); dev.provision({ ...CONFIG, endpoint: "issue7-newer" }); dev.stop(); dev.flash.close();
    copyFileSync(old, FLASH(d));
  }, /older than the SE's monotonic counter \(rollback\)/],
  ["truncated flash.img", (d) => truncateSync(FLASH(d), 40000), /flash image .*flash\.img is truncated: 40000 bytes, expected 65536/],
  ["extended flash.img", (d) => appendFileSync(FLASH(d), Buffer.alloc(100)), /flash image .*flash\.img is extended: 65636 bytes, expected 65536/],
  ["empty key store", (d) => writeFileSync(KEYS(d), ""), /SE key store .*se-keystore\.json is empty/],
  ["corrupt key store", (d) => writeFileSync(KEYS(d), "{ not json"), /SE key store .*se-keystore\.json is unreadable or corrupt/],
  ["missing key store", (d) => unlinkSync(KEYS(d)), /holds a sealed store that this SE key store never committed \(key store replaced or missing\)/],
  ["another device's key store", (d) => { const other = stateDir(); copyFileSync(KEYS(other), KEYS(d)); }, /fails authentication with this SE's key \(a different SE key store, or forged\)/],
];

test("issue 7 defect 6: each broken state folder is refused by the CLI with its own message and exit code 3, never a stack trace", () => {
  const seen = new Set<string>();
  for (const [name, breakIt, message] of CASES) {
    const dir = stateDir();
    breakIt(dir);
    for (const command of [["boot"], ["device"]]) {
      const r = cli(...command, "--state", dir);
      assert.equal(r.code, 3, `${name} (${command}): exit code\n${r.out}`);
      assert.match(r.out, message, `${name} (${command})`);
      assert.doesNotMatch(r.out, /\n\s+at .*\(.*:\d+:\d+\)|node:internal|Error: /, `${name} (${command}): no stack trace`);
    }
    const line = cli("boot", "--state", dir).out.split("\n").find((l) => l.startsWith("lwm2m-wasm: "))!.replaceAll(dir, "DIR");
    assert.ok(!seen.has(line), `${name}: a message of its own: ${line}`);
    seen.add(line);
  }
});

test("issue 7 defect 5/6: `device --state DIR --factory-reset` is the explicit way past a refused store", () => {
  const dir = stateDir();
  unlinkSync(KEYS(dir));
  assert.equal(cli("boot", "--state", dir).code, 3);
  const r = cli("device", "--state", dir, "--factory-reset");
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /factory reset: .* erased/);
  const b = cli("boot", "--state", dir);
  assert.equal(b.code, 0, b.out);
  assert.match(b.out, /flash ok/);
  assert.match(readFileSync(KEYS(dir), "utf8"), /"counter":[1-9]/, "the new key store now anchors the store");
});
