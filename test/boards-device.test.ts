// The same build/firmware.wasm on the C hosts (boards/): WAMR 2.4.5 classic
// and fast interpreters (and AOT through wamrc when built: opt-in), wasm2c on x86-64, and wasm2c for 32-bit ARM under
// qemu-arm, each a child process with the options of `lwm2m-wasm device`,
// against the development servers over real UDP on loopback: factory
// bootstrap account over DTLS-PSK -> Bootstrap-Request, Finish -> Register
// over DTLS-PSK with the identity the Bootstrap-Server wrote, the server reads
// /3/0 (2.05, the firmware's manufacturer), the host prints the Node device's
// event lines, SIGINT de-registers, exit 0. One host also registers over
// NoSec straight to the LwM2M Server, and a boot with a stuck entropy source
// reports the DRBG and SE failures. A server's Reboot re-instantiates the
// module in each binding, which registers again from its sealed store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventEmitter } from "node:events";
import { startDevServers, type DevServers, type Registration, type PeerInfo } from "../server/index";
import { HOSTS, notBuiltHere, requireBoard, runsProfile, type BoardHost } from "./helpers/boards";

const ROOT = join(__dirname, "..");
const CONFIG = join(ROOT, "server", "dev-config.json");
const STEP_MS = 30_000; // qemu-arm runs the ARM build several times slower

let dev: DevServers;
let stateRoot: string;
const lines: string[] = [];

before(async () => {
  stateRoot = mkdtempSync(join(tmpdir(), "lwm2m-boards-"));
  dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: CONFIG, secure: { pkiDir: join(stateRoot, "pki") }, log: (l) => { lines.push(l); } });
});

after(async () => {
  await dev?.close();
  rmSync(stateRoot, { recursive: true, force: true });
});

class Child {
  readonly proc: ChildProcess;
  out = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(host: BoardHost, args: string[]) {
    const [cmd, ...pre] = host.argv;
    this.proc = spawn(cmd, [...pre, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d) => { this.out += d; });
    this.proc.stderr!.on("data", (d) => { this.out += d; });
    this.exited = new Promise((res) => this.proc.once("exit", (code, signal) => res({ code, signal })));
  }
  get running() { return this.proc.exitCode === null && this.proc.signalCode === null; }
  async end() {
    if (this.running) this.proc.kill("SIGKILL");
    await this.exited;
  }
}

async function step<T>(what: string, child: Child, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no result after ${STEP_MS} ms\n--- device output ---\n${child.out}\n--- server log ---\n${lines.slice(-40).join("\n")}`)), STEP_MS);
  });
  try { return await Promise.race([p, timeout]); } finally { clearTimeout(timer); }
}

function next<T>(emitter: EventEmitter, ev: string, pred: (x: T) => boolean): { promise: Promise<T>; cancel(): void } {
  let f!: (x: T) => void;
  const promise = new Promise<T>((res) => {
    f = (x: T) => { if (pred(x)) { emitter.off(ev, f); res(x); } };
    emitter.on(ev, f);
  });
  return { promise, cancel: () => emitter.off(ev, f) };
}

const printed = (child: Child, re: RegExp) => (async () => { while (!re.test(child.out)) await new Promise((r) => setTimeout(r, 20)); })();

/** Registered (with `check`), Read /3/0 2.05, the 'registered' line, SIGINT -> De-register, exit 0. */
async function runDevice(host: BoardHost, endpoint: string, args: string[], check: (reg: Registration) => void, before?: (c: Child) => Promise<void>): Promise<string> {
  assert.equal(dev.server.getRegistration(endpoint), undefined, "not registered before");
  const registered = next<Registration>(dev.server, "registered", (r) => r.endpoint === endpoint);
  const gone = next<Registration>(dev.server, "deregistered", (r) => r.endpoint === endpoint);
  const child = new Child(host, ["device", "--endpoint", endpoint, ...args, "--state", mkdtempSync(join(stateRoot, "dev-"))]);
  try {
    if (before) await before(child);
    const reg = await step(`registration of ${endpoint} on ${host.name}`, child, registered.promise);
    check(reg);
    const r = await step(`Read /3/0 on ${host.name}`, child, dev.server.read(endpoint, "/3/0"));
    assert.equal(r.code, "2.05", child.out);
    assert.equal(r.content!.find((x) => x.path === "/3/0/0")?.value, "lwm2m-wasm");
    await step("the device's 'registered' line", child, printed(child, /\[event\]\s+registered \(ssid \d+\) at \/rd\/\S+, lifetime \d+ s/));
    child.proc.kill("SIGINT");
    await step(`De-register of ${endpoint} after SIGINT`, child, gone.promise);
    const { code, signal } = await step(`exit of ${host.name} after SIGINT`, child, child.exited);
    assert.equal(signal, null, child.out);
    assert.equal(code, 0, child.out);
    assert.match(child.out, /shutting down: de-registering/);
    assert.match(child.out, /\[event\]\s+de-registered \(ssid \d+\)/);
    assert.doesNotMatch(child.out, /FATAL|trapped|exception/i);
    assert.equal(dev.server.getRegistration(endpoint), undefined, "the registration is gone");
    return child.out;
  } finally {
    registered.cancel();
    gone.cancel();
    await child.end();
  }
}

/** Bootstrap over DTLS-PSK, then Register, Read /3/0 and de-register on SIGINT. */
async function bootstrapAndRegister(host: BoardHost, deviceArgs: string[] = []): Promise<string> {
  const request = next<{ endpoint: string; peer?: PeerInfo }>(dev.bootstrap, "bootstrapRequest", (x) => x.endpoint === "lwm2m-wasm-demo");
  const finished = next<{ endpoint: string; ok: boolean }>(dev.bootstrap, "bootstrapFinished", (x) => x.endpoint === "lwm2m-wasm-demo");
  try {
    return await runDevice(host, "lwm2m-wasm-demo",
      ["--bootstrap", dev.secureBootstrapUri!, "--psk-identity", "lwm2m-wasm-demo-bs", "--psk-key", "3a69e6a5615ea6170cf7958bafcadba9", ...deviceArgs],
      (reg) => {
        assert.equal(reg.secure, true);
        assert.deepEqual(reg.identity, { kind: "psk", identity: "lwm2m-wasm-demo" });
      },
      async (child) => {
        const req = await step("Bootstrap-Request over DTLS-PSK", child, request.promise);
        assert.equal(req.peer?.secure, true);
        assert.deepEqual(req.peer?.identity, { kind: "psk", identity: "lwm2m-wasm-demo-bs" });
        assert.equal((await step("Bootstrap-Finish", child, finished.promise)).ok, true);
        await step("the bootstrap lines", child, printed(child, /\[event\]\s+bootstrap finished: configuration committed/));
      });
  } finally {
    request.cancel();
    finished.cancel();
  }
}

for (const host of HOSTS) {
  test(`${host.name}: bootstraps over DTLS-PSK, registers over DTLS-PSK, is read, de-registers on SIGINT`, async (t) => {
    if (!requireBoard(t, host.binary, host.emulator, host.separateBuild)) return;
    await bootstrapAndRegister(host);
  });
}

// The pool a 32-bit board reserves for the WAMR classic interpreter (module structures, instance,
// exec env with the wasm stack; linear memory apart), issue 9's target 64 KiB: with boards/wamr's
// patches (0003: the classic interpreter's function instances without a copy of their module
// function's counts and pointers, 28 -> 8 B each) measured 60,928 B with a 4 KiB wasm stack (the
// use, 2,976 B, + 1,120 B) for the 119,453-byte module; 74,008 B before 0003. The peak --stats
// reports must be the real one: a pool of that peak rounded down to the KiB (below it) fails to
// instantiate (WAMR: allocate memory failed), so the 64 KiB run is not passing on a figure WAMR
// under-counts (patch 0002).
test("WAMR classic, 32-bit ARM under qemu-arm, the release module in a 64 KiB pool with a 4 KiB wasm stack: bootstraps, registers, is read, de-registers; a pool below its peak fails", async (t) => {
  const arm = HOSTS.find((h) => h.name === "WAMR classic interpreter, 32-bit ARM under qemu-arm")!;
  if (!requireBoard(t, arm.binary, arm.emulator)) return;
  const out = await bootstrapAndRegister({ ...arm, argv: [...arm.argv, "--pool-kib", "64", "--wasm-stack", "4096"] }, ["--stats"]);
  assert.doesNotMatch(out, /WAMR:/);
  const m = /WAMR pool: (\d+) bytes, peak used (\d+) bytes/.exec(out);
  assert.ok(m, out);
  const [size, peak] = [Number(m[1]), Number(m[2])];
  assert.ok(peak <= size && size <= 64 * 1024, out);
  const [cmd, ...pre] = arm.argv;
  const small = spawnSync(cmd, [...pre, "--pool-kib", String(Math.floor(peak / 1024)), "--wasm-stack", "4096", "boot", "--state", mkdtempSync(join(stateRoot, "pool-"))],
    { cwd: ROOT, encoding: "utf8", timeout: STEP_MS });
  assert.notEqual(small.status, 0, small.stdout + small.stderr);
  assert.match(small.stdout + small.stderr, /WAMR: .*allocate memory failed/);
});

// The psk-lpwa profile's module (build/firmware-psk-lpwa.wasm: no X.509, RPK, EST, ...) fits issue 9's
// 64 KiB pool: measured 61,120 B with the 4 KiB wasm stack (its use: 3,044 B).
test("WAMR classic, 32-bit ARM under qemu-arm, the psk-lpwa module in a 64 KiB pool with a 4 KiB wasm stack: bootstraps, registers, is read, de-registers", async (t) => {
  const arm = HOSTS.find((h) => h.name === "WAMR classic interpreter, 32-bit ARM under qemu-arm")!;
  if (!requireBoard(t, arm.binary, arm.emulator)) return;
  const fw = join(ROOT, "build", "firmware-psk-lpwa.wasm");
  const out = await bootstrapAndRegister({ ...arm, argv: [...arm.argv, "--firmware", fw, "--pool-kib", "64", "--wasm-stack", "4096"] }, ["--log-dict", `${fw}.logdict`]);
  assert.doesNotMatch(out, /WAMR:/);
});

test("wasm2c x86-64: registers over NoSec (coap://) with a factory LwM2M Server account and says the channel is insecure", async (t) => {
  const host = HOSTS.find((h) => h.name === "wasm2c x86-64")!;
  if (!requireBoard(t, host.binary)) return;
  const out = await runDevice(host, "wasm-e2e", ["--server", dev.serverUri, "--lifetime", "120"], (reg) => {
    assert.equal(reg.secure, false);
    assert.equal(reg.lifetime, 120);
  });
  assert.match(out, /\[event\]\s+INSECURE NoSec channel to coap:\/\/127\.0\.0\.1:\d+/);
});

test("every C host refuses to boot healthy on a stuck entropy source: DRBG and SE self-test FAILED, exit 1", (t) => {
  for (const host of HOSTS) {
    if (notBuiltHere(host) || !runsProfile(host.binary)) continue;
    if (!requireBoard(t, host.binary, host.emulator, host.separateBuild)) return;
    const [cmd, ...pre] = host.argv;
    const r = spawnSync(cmd, [...pre, "boot", "--state", mkdtempSync(join(stateRoot, "stuck-")), "--entropy", "stuck:0x55"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 1, `${host.name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /DRBG: health test failure/, host.name);
    assert.match(r.stdout, /boot status: DRBG FAILED, SE FAILED, flash ok/, host.name);
    const ok = spawnSync(cmd, [...pre, "boot", "--state", mkdtempSync(join(stateRoot, "ok-"))], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    assert.equal(ok.status, 0, `${host.name}: ${ok.stdout}${ok.stderr}`);
    assert.match(ok.stdout, /boot status: DRBG ok, SE ok, flash ok/, host.name);
  }
});

test("Reboot (Execute /3/0/4) on every C host: a fresh module instance boots from the stored configuration and registers again", async (t) => {
  for (const host of HOSTS) {
    if (notBuiltHere(host) || !runsProfile(host.binary)) continue;
    if (!requireBoard(t, host.binary, host.emulator, host.separateBuild)) return;
    const ep = `reboot-${host.binary.split("/").pop()}`;
    const first = next<Registration>(dev.server, "registered", (r) => r.endpoint === ep);
    const child = new Child(host, ["device", "--endpoint", ep, "--server", dev.serverUri, "--state", mkdtempSync(join(stateRoot, "reboot-"))]);
    try {
      await step(`registration of ${ep}`, child, first.promise);
      const second = next<Registration>(dev.server, "registered", (r) => r.endpoint === ep);
      assert.equal((await step("Execute Reboot", child, dev.server.execute(ep, "/3/0/4"))).code, "2.04", child.out);
      await step(`re-registration of ${ep} after the reboot`, child, second.promise);
      await step("the restart line", child, printed(child, /\[event\]\s+firmware restarted/));
      await step("the second 'registered' line", child, printed(child, /\[event\]\s+registered \(ssid[^]*\[event\]\s+registered \(ssid/));
      child.proc.kill("SIGINT");
      const { code } = await step(`exit of ${host.name}`, child, child.exited);
      assert.equal(code, 0, child.out);
      assert.doesNotMatch(child.out, /FATAL|trapped|exception/i);
    } finally {
      first.cancel();
      await child.end();
    }
  }
});
