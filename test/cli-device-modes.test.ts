// `npx lwm2m-wasm device` (bin/lwm2m-wasm.js as a child process, the
// firmware in the Node host) registers with the development servers in every
// security mode: NoSec, DTLS-PSK, DTLS-RPK and DTLS-X.509 straight to the
// LwM2M Server, and a bootstrap over DTLS-PSK that ends in a DTLS-PSK
// registration. The argument lists are exactly the ones `lwm2m-wasm server`
// prints (exampleDevices() in server/cli.ts), with a fresh state folder each.
// Each run: the server sees the registration over the channel and identity
// the mode proves, reads /3/0 (2.05), then SIGINT makes the CLI de-register
// and exit 0. No child, socket or timer outlives the file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventEmitter } from "node:events";
import { startDevServers, type DevServers, type DevKeyPair, type Registration, type PeerInfo } from "../server/index";
import { acceptExampleDevice, exampleDevices, formatExampleDevices, type ExampleDevice } from "../server/cli";
import { requirePeer } from "./helpers/peers";
import { needs } from "./helpers/profile";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin", "lwm2m-wasm.js");
const CONFIG = join(ROOT, "server", "dev-config.json");
const STEP_MS = 15_000;

let dev: DevServers;
let device: DevKeyPair | null = null;
let pkiDir: string;
let stateRoot: string;
const lines: string[] = [];

before(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-cli-pki-"));
  stateRoot = mkdtempSync(join(tmpdir(), "lwm2m-cli-state-"));
  dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: CONFIG, secure: { pkiDir }, log: (l) => { lines.push(l); } });
  try {
    device = acceptExampleDevice(dev); // null without openssl: the RPK / X.509 cases skip (or fail under REQUIRE_PEERS=1)
  } catch { device = null; }
});

after(async () => {
  await dev?.close();
  rmSync(pkiDir, { recursive: true, force: true });
  rmSync(stateRoot, { recursive: true, force: true });
});

/** A running `lwm2m-wasm device` with everything it printed. */
class Child {
  readonly proc: ChildProcess;
  out = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [BIN, "device", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d) => { this.out += d; });
    this.proc.stderr!.on("data", (d) => { this.out += d; });
    this.exited = new Promise((res) => this.proc.once("exit", (code, signal) => res({ code, signal })));
  }
  get running() { return this.proc.exitCode === null && this.proc.signalCode === null; }
  /** Makes sure the child is gone (SIGKILL if it still runs). */
  async end() {
    if (this.running) this.proc.kill("SIGKILL");
    await this.exited;
  }
}

/** `p`, or a failure after STEP_MS naming the step and showing what the child printed. */
async function step<T>(what: string, child: Child, p: Promise<T>, ms = STEP_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no result after ${ms} ms\n--- device output ---\n${child.out}\n--- server log ---\n${lines.join("\n")}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next `ev` whose first argument passes `pred` (listener removed on resolve; call cancel() otherwise). */
function next<T>(emitter: EventEmitter, ev: string, pred: (x: T) => boolean): { promise: Promise<T>; cancel(): void } {
  let f!: (x: T) => void;
  const promise = new Promise<T>((res) => {
    f = (x: T) => { if (pred(x)) { emitter.off(ev, f); res(x); } };
    emitter.on(ev, f);
  });
  return { promise, cancel: () => emitter.off(ev, f) };
}

function example(mode: ExampleDevice["mode"]): ExampleDevice {
  const e = exampleDevices(dev, device, stateRoot).find((x) => x.mode === mode);
  assert.ok(e, `the server CLI offers a ${mode} example`);
  return e;
}

/** Runs one example device: registered over the expected channel, Read /3/0 2.05, SIGINT de-registers, exit 0. */
async function runExample(e: ExampleDevice, check: (reg: Registration) => void, before?: (child: Child) => Promise<void>) {
  assert.equal(dev.server.getRegistration(e.endpoint), undefined, "not registered before");
  const registered = next<Registration>(dev.server, "registered", (r) => r.endpoint === e.endpoint);
  const gone = next<Registration>(dev.server, "deregistered", (r) => r.endpoint === e.endpoint);
  const child = new Child(e.args);
  try {
    if (before) await before(child);
    const reg = await step(`registration of ${e.endpoint} (${e.title})`, child, registered.promise);
    check(reg);
    const r = await step(`Read /3/0 on ${e.endpoint}`, child, dev.server.read(e.endpoint, "/3/0"));
    assert.equal(r.code, "2.05", child.out);
    assert.equal(r.content!.find((x) => x.path === "/3/0/0")?.value, "lwm2m-wasm");
    await step(`the device's 'registered' line`, child, (async () => { while (!/\[event\]\s+registered \(ssid \d+\)/.test(child.out)) await new Promise((res) => setTimeout(res, 20)); })());

    child.proc.kill("SIGINT"); // the CLI de-registers on Ctrl-C, then exits
    await step(`De-register of ${e.endpoint} after SIGINT`, child, gone.promise);
    const { code, signal } = await step(`exit of the device after SIGINT`, child, child.exited);
    assert.equal(signal, null, child.out);
    assert.equal(code, 0, child.out);
    assert.match(child.out, /shutting down: de-registering/);
    assert.equal(dev.server.getRegistration(e.endpoint), undefined, "the registration is gone");
  } finally {
    registered.cancel();
    gone.cancel();
    await child.end();
  }
}

test("the printed example commands are one copy-pasteable `npx lwm2m-wasm device` line per mode, with public development keys and file names only", (t) => {
  if (!requirePeer(t, "openssl")) return;
  const text = formatExampleDevices(exampleDevices(dev, device));
  const cmds = text.split("\n").filter((l) => /^\s+npx lwm2m-wasm device /.test(l));
  assert.equal(cmds.length, 5, text);
  assert.ok(cmds.some((l) => l.includes(`--server ${dev.secureServerUri} --psk-identity lwm2m-wasm-demo --psk-key e3f44a4d285867330c457c686d5489b2`)), text);
  assert.ok(cmds.some((l) => l.includes(`--rpk-key ${join(dev.pki!.dir, "device-lwm2m-wasm-device.key")} --server-rpk ${join(dev.pki!.dir, "server.pub.pem")}`)), text);
  assert.ok(cmds.some((l) => l.includes(`--cert ${join(dev.pki!.dir, "device-lwm2m-wasm-device.crt")} --key ${join(dev.pki!.dir, "device-lwm2m-wasm-device.key")} --ca ${join(dev.pki!.dir, "ca.crt")} --cert-usage 2`)), text);
  assert.ok(cmds.some((l) => l.includes(`--server ${dev.serverUri} `)), text);
  assert.ok(cmds.some((l) => l.includes(`--bootstrap ${dev.secureBootstrapUri} --psk-identity lwm2m-wasm-demo-bs --psk-key 3a69e6a5615ea6170cf7958bafcadba9`)), text);
  assert.doesNotMatch(text, /PRIVATE KEY|BEGIN/, "no key material beyond the PSK development keys");
});

test("`npx lwm2m-wasm device` registers over NoSec (coap://), is read, and de-registers on SIGINT", async () => {
  const e = example("nosec");
  assert.match(e.args.join(" "), /--server coap:\/\//);
  await runExample(e, (reg) => {
    assert.equal(reg.secure, false);
    assert.equal(reg.identity, undefined);
  });
});

test("`npx lwm2m-wasm device` registers over DTLS-PSK, is read, and de-registers on SIGINT", async () => {
  await runExample(example("psk"), (reg) => {
    assert.equal(reg.secure, true);
    assert.deepEqual(reg.identity, { kind: "psk", identity: "lwm2m-wasm-demo" });
  });
});

test("`npx lwm2m-wasm device` registers over DTLS-RPK (the example key pair the server CLI accepts), is read, and de-registers on SIGINT", needs("rpk"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  assert.ok(device, "the example device key pair was issued");
  await runExample(example("rpk"), (reg) => {
    assert.equal(reg.secure, true);
    assert.equal(reg.identity?.kind, "rpk");
    assert.deepEqual((reg.identity as { publicKey: Uint8Array }).publicKey, device!.publicKey);
  });
});

test("`npx lwm2m-wasm device` registers over DTLS-X.509 (certificate usage 2 against the development CA), is read, and de-registers on SIGINT", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  assert.ok(device, "the example device certificate was issued");
  await runExample(example("x509"), (reg) => {
    assert.equal(reg.secure, true);
    assert.equal(reg.identity?.kind, "x509");
    assert.match((reg.identity as { subject: string }).subject, /CN=lwm2m-wasm-device/);
  });
});

test("`npx lwm2m-wasm device --bootstrap coaps://...` bootstraps over DTLS-PSK and registers over DTLS-PSK", async () => {
  const e = example("bootstrap-psk");
  assert.match(e.args.join(" "), /--bootstrap coaps:\/\//);
  const request = next<{ endpoint: string; peer?: PeerInfo }>(dev.bootstrap, "bootstrapRequest", (x) => x.endpoint === e.endpoint);
  const finished = next<{ endpoint: string; ok: boolean }>(dev.bootstrap, "bootstrapFinished", (x) => x.endpoint === e.endpoint);
  try {
    await runExample(e, (reg) => {
      assert.equal(reg.secure, true);
      assert.deepEqual(reg.identity, { kind: "psk", identity: "lwm2m-wasm-demo" });
    }, async (child) => {
      const req = await step("Bootstrap-Request over DTLS-PSK", child, request.promise);
      assert.equal(req.peer?.secure, true);
      assert.deepEqual(req.peer?.identity, { kind: "psk", identity: "lwm2m-wasm-demo-bs" });
      assert.equal((await step("Bootstrap-Finish", child, finished.promise)).ok, true);
    });
  } finally {
    request.cancel();
    finished.cancel();
  }
});
