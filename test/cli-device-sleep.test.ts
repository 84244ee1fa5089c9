// `npx lwm2m-wasm device --sleep S` (LPWA-1, DTLS-10): the CLI powers the
// simulated device down after each completed Register/Update (close_notify,
// the DTLS session stays sealed in --state DIR) and wakes it S seconds later
// as a new firmware instance on the same flash and SE: the wake resumes the
// session with an abbreviated handshake (the development server's DTLS
// session cache) before its request goes out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, type DevServers } from "../server/index";
import { exampleDevices } from "../server/cli";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin", "lwm2m-wasm.js");
const CONFIG = join(ROOT, "server", "dev-config.json");

let dev: DevServers;
let pkiDir: string;
let stateRoot: string;
const lines: string[] = [];

before(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-sleep-pki-"));
  stateRoot = mkdtempSync(join(tmpdir(), "lwm2m-sleep-state-"));
  dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: CONFIG, secure: { pkiDir }, log: (l) => { lines.push(l); } });
});

after(async () => {
  await dev?.close();
  rmSync(pkiDir, { recursive: true, force: true });
  rmSync(stateRoot, { recursive: true, force: true });
});

test("device --sleep 1 over DTLS-PSK: powers down after the Register, wakes as a new instance, resumes the sealed session and Updates the kept registration", async () => {
  const e = exampleDevices(dev, null, stateRoot).find((x) => x.mode === "psk");
  assert.ok(e);
  let registrations = 0;
  const onReg = (r: { endpoint: string }) => { if (r.endpoint === e.endpoint) registrations++; };
  dev.server.on("registered", onReg);
  let updates = 0;
  const onUpd = (r: { endpoint: string }) => { if (r.endpoint === e.endpoint) updates++; };
  dev.server.on("updated", onUpd);
  const proc = spawn(process.execPath, [BIN, "device", ...e.args, "--sleep", "1"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => { out += d; });
  proc.stderr!.on("data", (d) => { out += d; });
  const exited = new Promise((res) => proc.once("exit", res));
  try {
    const t0 = Date.now();
    // two wakes: each one resumed
    while ((out.match(/established ssid=1, suite 0x[0-9a-f]{4}, resumed/g) ?? []).length < 2) {
      if (Date.now() - t0 > 20000) throw new Error(`no two resumed wakes in 20 s\n--- device ---\n${out}\n--- server ---\n${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(out, /power-down for 1 s \(deep sleep\)/);
    assert.match(out, /wake: power-up \(new firmware instance, same flash and SE\)/);
    assert.match(out, /offering the stored session \(session ID, age \d+ s\)/);
    // the first handshake was a full one; every wake after it resumed
    const est = out.match(/established ssid=1, suite 0x[0-9a-f]{4}.*/g)!;
    assert.doesNotMatch(est[0], /resumed/);
    assert.ok(est.slice(1).every((l) => /resumed/.test(l)), est.join("\n"));
    // LPWA-1: the wake's request is an Update of the registration kept across the sleep, not a Register
    assert.match(out, /registration: Update to coaps:\/\/.* \(the registration kept across the reboot, \/rd\/[0-9a-f]+\)/);
    assert.equal(registrations, 1, `the server saw ${registrations} registrations`);
    assert.ok(updates >= 1, "the server saw the wake's Update");
  } finally {
    dev.server.off("registered", onReg);
    dev.server.off("updated", onUpd);
    proc.kill("SIGKILL");
    await exited;
  }
});

test("device --sleep 1 --sleep-mode keep --cid 4: each wake carries the DTLS connection on with no handshake (the server finds it by its CID from the new port) and Updates", async () => {
  const e = exampleDevices(dev, null, stateRoot).find((x) => x.mode === "psk");
  assert.ok(e);
  const args = e.args.map((a, i) => (e.args[i - 1] === "--state" ? `${a}-keep` : a)); // a state folder of its own
  const t = dev.serverTransports.secure!;
  const proc = spawn(process.execPath, [BIN, "device", ...args, "--sleep", "1", "--sleep-mode", "keep", "--cid", "4"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => { out += d; });
  proc.stderr!.on("data", (d) => { out += d; });
  const exited = new Promise((res) => proc.once("exit", res));
  try {
    const t0 = Date.now();
    let handshakesAtFirstWake = -1;
    while ((out.match(/connection kept across sleep, no handshake/g) ?? []).length < 2) {
      if (handshakesAtFirstWake < 0 && /connection kept across sleep/.test(out)) handshakesAtFirstWake = t.stats.handshakes;
      if (Date.now() - t0 > 20000) throw new Error(`no two kept wakes in 20 s\n--- device ---\n${out}\n--- server ---\n${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(out, /DTLS: established ssid=\d+, suite 0xc0a8, connection ID 4\/8/);
    assert.match(out, /power-down for 1 s \(deep sleep\): DTLS connection kept in the sealed store/);
    assert.equal((out.match(/DTLS: established/g) ?? []).length, 1, "one handshake: at the first boot only");
    assert.equal(t.stats.handshakes, handshakesAtFirstWake, "the server saw no handshake at the second wake");
  } finally {
    proc.kill("SIGKILL");
    await exited;
  }
});
