// `lwm2m-wasm fleet` (host-shim/node/fleet.ts) against the development servers
// over real UDP on loopback: 20 devices bootstrap over DTLS-PSK with the
// fleet-* entry of server/dev-config.json (keys from the development KDF),
// register, de-register at the end, and the JSON report says so. Also: the
// development KDF against the openssl command's HMAC, the pattern rule's
// limits (a wrong key, another endpoint's identity), the lazily backed flash
// against NorFlash, and the per-device credential templates and lists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, lookupPsk, devPsk, DEV_CONFIG_FILE, type DevServers, type Registration } from "../server/index";
import { Device, type ClientEvent } from "../host-shim/node/device";
import { NorFlash } from "../host-shim/node/flash";
import { SparseNorFlash } from "../host-shim/node/sparse-flash";
import { deviceArgs, readCredentialList, type FleetReport } from "../host-shim/node/fleet";
import { requirePeer } from "./helpers/peers";
import { runCli } from "./helpers/cli";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

async function servers(dir: string): Promise<DevServers> {
  return startDevServers({ config: DEV_CONFIG_FILE, bootstrapPort: 0, serverPort: 0, log: false, secure: { pkiDir: join(dir, "pki") } });
}

test("development KDF: HMAC-SHA256 keyed with the documented label, first 16 bytes (as the openssl command computes it)", (t) => {
  if (!requirePeer(t, "openssl")) return;
  for (const id of ["fleet-1", "fleet-1-bs", "fleet-10000"]) {
    const out = execFileSync("openssl", ["dgst", "-sha256", "-hmac", "lwm2m-wasm development PSK v1"], { input: id, encoding: "utf8" });
    const mac = /([0-9a-f]{64})\s*$/.exec(out.trim())![1];
    assert.equal(hex(devPsk(id)), mac.slice(0, 32), id);
  }
});

test("fleet-* rule: identities of the pattern get their derived key, others nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-rule-"));
  const dev = await servers(dir);
  try {
    const { bootstrap, server } = dev.clients;
    assert.equal(hex(lookupPsk(bootstrap, "fleet-7-bs")!), hex(devPsk("fleet-7-bs")));
    assert.equal(hex(lookupPsk(server, "fleet-7")!), hex(devPsk("fleet-7")));
    assert.equal(lookupPsk(bootstrap, "fleet-7"), undefined, "the server identity is not a bootstrap identity");
    assert.equal(lookupPsk(server, "fleet-"), undefined, "the pattern needs something after the prefix");
    assert.equal(lookupPsk(server, "other-7"), undefined);
    assert.equal(lookupPsk(server, "xfleet-7"), undefined, "anchored at the start");
    // the named endpoints keep their own keys
    assert.equal(hex(lookupPsk(server, "lwm2m-wasm-demo")!), "e3f44a4d285867330c457c686d5489b2");
    // the Bootstrap-Server's configuration by endpoint: own entry, else the pattern, else "*"
    const cfg = dev.bootstrap.config;
    assert.equal(dev.bootstrap.configFor("fleet-7"), cfg["fleet-*"]);
    assert.equal(dev.bootstrap.configFor("lwm2m-wasm-demo"), cfg["lwm2m-wasm-demo"]);
    assert.equal(dev.bootstrap.configFor("xfleet-7"), cfg["*"]);
    assert.equal(dev.bootstrap.configFor("fleet-"), cfg["*"]);
  } finally {
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** One device bootstrapping against the fleet-* entry; resolves with its first decisive event. */
async function bootstrapOnce(dev: DevServers, endpoint: string, identity: string, key: Uint8Array): Promise<{ ev: ClientEvent | null; logs: string[] }> {
  const d = new Device({ logLimit: 50 });
  try {
    d.start();
    const done = new Promise<ClientEvent | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 6000);
      d.on("event", (e: ClientEvent) => {
        if (["registered", "bootstrapFailed"].includes(e.name)) { clearTimeout(t); resolve(e); }
      });
    });
    d.provision({ endpoint, bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: identity, pskKey: key, clientHoldOffTime: 0 } });
    return { ev: await done, logs: d.logs.map((l) => l.text) };
  } finally {
    d.stop();
  }
}

test("fleet-* rule: the right derived key registers; a wrong key or another endpoint's identity does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-auth-"));
  const dev = await servers(dir);
  try {
    const ok = await bootstrapOnce(dev, "fleet-31", "fleet-31-bs", devPsk("fleet-31-bs"));
    assert.equal(ok.ev?.name, "registered", ok.logs.join("\n"));
    const reg = dev.server.getRegistration("fleet-31")!;
    assert.deepEqual(reg.identity, { kind: "psk", identity: "fleet-31" }, "the bootstrapped account is the endpoint's own");

    const wrongKey = await bootstrapOnce(dev, "fleet-32", "fleet-32-bs", devPsk("fleet-33-bs"));
    assert.notEqual(wrongKey.ev?.name, "registered");
    assert.equal(dev.server.getRegistration("fleet-32"), undefined);
    assert.ok(wrongKey.logs.some((l) => /DTLS: handshake failed/.test(l)), wrongKey.logs.join("\n"));

    // fleet-34 proves the identity of fleet-35: the handshake succeeds, the Bootstrap-Request is refused (4.03)
    const otherIdentity = await bootstrapOnce(dev, "fleet-34", "fleet-35-bs", devPsk("fleet-35-bs"));
    assert.equal(otherIdentity.ev?.name, "bootstrapFailed", otherIdentity.logs.join("\n"));
    assert.equal(otherIdentity.ev?.arg, 0x83, "4.03 Forbidden");
    assert.equal(dev.server.getRegistration("fleet-34"), undefined);
  } finally {
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SparseNorFlash behaves as NorFlash (random program/erase/read, statuses, file images both ways) and holds only programmed pages", () => {
  const dir = mkdtempSync(join(tmpdir(), "sparse-flash-"));
  try {
    const a = new NorFlash({ path: join(dir, "a.img") });
    const b = new SparseNorFlash({ path: join(dir, "b.img") });
    assert.equal(b.residentBytes, 0);
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    for (let i = 0; i < 3000; i++) {
      const op = rnd(10);
      if (op === 0) {
        const addr = rnd(16) * 4096 + (rnd(8) === 0 ? 1 : 0); // some unaligned: Invalid
        assert.equal(b.eraseSector(addr), a.eraseSector(addr));
      } else if (op < 7) {
        const addr = rnd(65536 + 64) - 32, len = rnd(300);
        const data = new Uint8Array(len).map(() => rnd(256) | (rnd(3) ? 0 : 0xff));
        assert.equal(b.program(addr, data), a.program(addr, data), `program ${addr}+${len}`);
      } else {
        const addr = rnd(65536 + 64) - 32, len = rnd(5000);
        const ra = a.read(addr, len), rb = b.read(addr, len);
        if (typeof ra === "number") assert.equal(rb, ra);
        else assert.equal(hex(rb as Uint8Array), hex(ra));
      }
    }
    assert.equal(hex(b.read(0, 65536) as Uint8Array), hex(a.read(0, 65536) as Uint8Array));
    a.close();
    assert.ok(readFileSync(join(dir, "a.img")).equals(readFileSync(join(dir, "b.img"))), "the same image on disk");
    // each reopens the other's file
    assert.equal(hex(new SparseNorFlash({ path: join(dir, "a.img") }).read(0, 65536) as Uint8Array), hex(b.read(0, 65536) as Uint8Array));
    const c = new NorFlash({ path: join(dir, "b.img") });
    assert.equal(hex(c.read(0, 65536) as Uint8Array), hex(b.read(0, 65536) as Uint8Array));
    c.close();
    // memory: erasing everything gives it all back
    for (let s = 0; s < 16; s++) b.eraseSector(s * 4096);
    assert.equal(b.residentBytes, 0);
    assert.equal(b.program(100, Uint8Array.of(0)), 0);
    assert.equal(b.residentBytes, 256, "one page");
    assert.equal(b.program(100, Uint8Array.of(1)), -8, "0 -> 1 is NotPermitted");
    assert.equal(statSync(join(dir, "b.img")).size, 65536);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("credentials per device: {n}/{ep} templates, dev-kdf keys, JSON and CSV lists", () => {
  const args = ["--psk-identity", "{ep}-bs", "--psk-key", "dev-kdf", "--rpk-key", "keys/dev-{n}.key"];
  const a = deviceArgs(args, 7, "fleet-7");
  assert.deepEqual(a, ["--psk-identity", "fleet-7-bs", "--psk-key", hex(devPsk("fleet-7-bs")), "--rpk-key", "keys/dev-7.key"]);
  const dir = mkdtempSync(join(tmpdir(), "fleet-creds-"));
  try {
    writeFileSync(join(dir, "c.csv"), "endpoint,pskIdentity,pskKey\n# comment\nsensor-a,id-a,00112233\nsensor-b,id-b,44556677\n");
    writeFileSync(join(dir, "c.json"), JSON.stringify([{ endpoint: "sensor-a", pskIdentity: "id-a", pskKey: "00112233" }]));
    const csv = readCredentialList(join(dir, "c.csv"));
    assert.deepEqual(csv[1], { endpoint: "sensor-b", pskIdentity: "id-b", pskKey: "44556677" });
    assert.deepEqual(readCredentialList(join(dir, "c.json"))[0], csv[0]);
    assert.deepEqual(deviceArgs(["--psk-identity", "x", "--psk-key", "dev-kdf"], 2, "sensor-b", csv[1]), ["--psk-identity", "id-b", "--psk-key", "44556677"]);
    writeFileSync(join(dir, "bad.csv"), "endpoint,password\na,b\n");
    assert.throws(() => readCredentialList(join(dir, "bad.csv")), /unknown column 'password'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lwm2m-wasm fleet: 20 devices bootstrap and register over DTLS-PSK, de-register at the end; the JSON report says so", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-"));
  const dev = await servers(dir);
  const seen = new Map<string, Registration>();
  const gone = new Set<string>();
  dev.server.on("registered", (r: Registration) => seen.set(r.endpoint, r));
  dev.server.on("deregistered", (r: Registration) => gone.add(r.endpoint));
  try {
    const report = join(dir, "report.json");
    const { code, out } = await runCli(["fleet", "--count", "20", "--endpoint-prefix", "fleet-t", "--bootstrap", dev.secureBootstrapUri!,
      "--psk-identity", "{ep}-bs", "--psk-key", "dev-kdf", "--rate", "20", "--duration", "2", "--report", report, "--quiet",
      "--state", join(dir, "state"), "--logs", join(dir, "logs")]);
    assert.equal(code, 0, out);
    assert.match(out, /registered\s+20/);

    const r = JSON.parse(readFileSync(report, "utf8")) as FleetReport;
    assert.equal(r.count, 20);
    assert.equal(r.registered, 20);
    assert.equal(r.deregistered, 20);
    assert.equal(r.failed, 0);
    assert.deepEqual(r.failuresByReason, {});
    const t = r.timeToRegisterMs;
    assert.ok(t.min! > 0 && t.min! <= t.median! && t.median! <= t.p99! && t.p99! <= t.max!, JSON.stringify(t));
    assert.ok(r.allRegisteredMs! >= t.max!);
    assert.ok(r.handshakes >= 40, `two DTLS handshakes per device (bootstrap, server): ${r.handshakes}`);
    assert.equal(r.sockets.open, 0, "every socket closed");
    assert.ok(r.memory.rssPerDevice! > 0 && r.memory.flashResidentPerDevice! > 0 && r.memory.flashResidentPerDevice! < 64 * 1024);

    // the servers saw the same: each device under its own derived identity, each de-registered
    for (let n = 1; n <= 20; n++) {
      const reg = seen.get(`fleet-t${n}`);
      assert.ok(reg, `fleet-t${n} registered`);
      assert.deepEqual(reg.identity, { kind: "psk", identity: `fleet-t${n}` });
      assert.ok(gone.has(`fleet-t${n}`), `fleet-t${n} de-registered`);
    }
    assert.equal(dev.server.registrations.filter((x) => x.endpoint.startsWith("fleet-t")).length, 0);
    // --state: each device's flash and SE in its own folder; --logs: its log ring
    assert.equal(statSync(join(dir, "state", "fleet-t7", "flash.img")).size, 65536);
    assert.ok(existsSync(join(dir, "state", "fleet-t7", "se-keystore.json")));
    assert.match(readFileSync(join(dir, "logs", "fleet-t7.log"), "utf8"), /registered ssid=101/);
  } finally {
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
