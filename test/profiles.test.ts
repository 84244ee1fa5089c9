// Build profiles (issue 11 §1, §2): profiles.json lists the profiles, the
// flags (what each removes) and the capacities (default, floor, reason);
// scripts/build.mjs passes them to asc; assembly/profile.ts reads them.
// The rest of the suite runs on `full` (build/firmware.wasm); here the
// profile-specific behaviour runs on `psk-lpwa` (build/firmware-psk-lpwa.wasm,
// built by `node scripts/build.mjs firmware`): it boots, bootstraps and
// registers over DTLS-PSK against the development servers (server/, DTLS
// from the firmware's server role), is managed in the formats it keeps, and
// refuses what it does not carry cleanly: a Content-Format compiled out gets
// 4.06 / 4.15, a Security Mode compiled out a logged refusal — never a trap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { startDevServers, type DevServers } from "../server/index";
import { Device, type ClientEvent } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import { assertAllDtls } from "./helpers/dtls-records";

const ROOT = join(__dirname, "..");
const PROFILES = JSON.parse(readFileSync(join(ROOT, "profiles.json"), "utf8"));
const LPWA = join(ROOT, PROFILES.profiles["psk-lpwa"].output);

test("profiles.json: every profile's flags are described and its capacities named, at or above their floor; assembly/profile.ts falls back to the defaults", async () => {
  const src = readFileSync(join(ROOT, "assembly/profile.ts"), "utf8");
  for (const [name, c] of Object.entries<{ default: number; min: number; why: string }>(PROFILES.capacities)) {
    const m = src.match(new RegExp(`isDefined\\(${name}\\) \\? ${name} : (\\d+);`));
    assert.ok(m, `assembly/profile.ts reads ${name}`);
    assert.equal(Number(m[1]), c.default, `${name}: profile.ts's fallback is profiles.json's default`);
    assert.ok(c.default >= c.min && c.why.length > 20, `${name}: default at or above its floor, with the reason`);
  }
  for (const flag of Object.keys(PROFILES.flags)) {
    if (flag !== "DTLS_CLIENT_ONLY") assert.match(src, new RegExp(`isDefined\\(${flag}\\)`), `assembly/profile.ts reads ${flag}`);
  }
  const { profileUseFlags } = await import("../scripts/profiles.mjs");
  for (const name of Object.keys(PROFILES.profiles)) {
    const flags: string[] = profileUseFlags(name);
    for (const f of PROFILES.profiles[name].flags) assert.ok(flags.includes(`${f}=1`), `${name}: --use ${f}=1`);
    for (const k of Object.keys(PROFILES.capacities)) assert.ok(flags.some((x) => x.startsWith(`${k}=`)), `${name}: --use ${k}`);
  }
  // the floor is enforced
  const { checkProfile } = await import("../scripts/profiles.mjs");
  const low = structuredClone(PROFILES);
  low.profiles["psk-lpwa"].capacities.CAP_SERVERS = 0;
  assert.throws(() => checkProfile(low, "psk-lpwa"), /CAP_SERVERS = 0 is below its floor 1/);
  const small = structuredClone(PROFILES);
  small.profiles["psk-lpwa"].capacities.CAP_COAP_MSG = 400;
  small.profiles["psk-lpwa"].capacities.CAP_COAP_SZX = 5;
  assert.throws(() => checkProfile(small, "psk-lpwa"), /cannot hold a 2\^\(CAP_COAP_SZX\+4\)-byte block/);
  const unknown = structuredClone(PROFILES);
  unknown.profiles["psk-lpwa"].flags.push("PROFILE_NO_SOMETHING");
  assert.throws(() => checkProfile(unknown, "psk-lpwa"), /not described/);
});

test("tests on a profile: features named after profiles.json's flags, what a profile lacks, @needs headers, the test-entry variants' flags", async () => {
  const { featureOf, flagOf, lackedFeatures, fileNeeds, profileSensitive, testProfileFlags } = await import("../scripts/profiles.mjs");
  for (const flag of Object.keys(PROFILES.flags)) assert.equal(flagOf(featureOf(flag)), flag, `${flag} <-> ${featureOf(flag)}`);
  assert.equal(featureOf("PROFILE_NO_SENML_JSON"), "senml-json");
  assert.throws(() => flagOf("x.509"), /unknown feature "x\.509"/, "a misspelt feature is an error, never a silent skip");
  assert.deepEqual(lackedFeatures("full"), []);
  // DTLS_CLIENT_ONLY is in `full` too: every profile's test entries keep the server role
  assert.deepEqual(lackedFeatures("psk-lpwa").sort(), ["est", "rpk", "senml-json", "x509"]);
  assert.deepEqual(fileNeeds("// about\n// @needs x509 est\nimport x;\n"), ["x509", "est"]);
  assert.throws(() => fileNeeds("// @needs x-509\n"), /unknown feature/);
  for (const f of readdirSync(join(ROOT, "test")).filter((n) => n.endsWith(".test.ts"))) fileNeeds(readFileSync(join(ROOT, "test", f), "utf8"));
  assert.equal(profileSensitive("lwm2m_model"), true, "the model imports the capacities");
  assert.equal(profileSensitive("crypto_hash"), false, "SHA-256 does not change with a profile");
  const flags = testProfileFlags("psk-lpwa", new Set(["CAP_MODEL_ARENA"]));
  assert.ok(flags.includes("PROFILE_NO_X509=1") && flags.includes("CAP_SERVERS=1"), flags.join(" "));
  assert.ok(!flags.some((x) => x.startsWith("DTLS_CLIENT_ONLY=") || x.startsWith("CAP_MODEL_ARENA=")), flags.join(" "));
  assert.deepEqual(testProfileFlags("full"), []);
  // LWM2M_PROFILE picks the simulator's firmware (host-shim/node/profile.ts); an unknown name is refused
  const probe = (profile: string | undefined) => spawnSync(process.execPath, ["--import", "tsx", "-e",
    'const d = require("./host-shim/node/device"); const p = require("./host-shim/node/profile"); console.log(p.PROFILE, d.FIRMWARE_PATH)'],
  { cwd: ROOT, encoding: "utf8", env: { ...process.env, LWM2M_PROFILE: profile ?? "" } });
  assert.equal(probe("psk-lpwa").stdout.trim(), `psk-lpwa ${LPWA}`);
  assert.equal(probe(undefined).stdout.trim(), `full ${join(ROOT, "build/firmware.wasm")}`);
  const bad = probe("psk-lpwan");
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /LWM2M_PROFILE=psk-lpwan: not a profile of profiles\.json/);
});

test("psk-lpwa is smaller than full and carries no EST, X.509 or raw-public-key code (function names of a names-keeping build of each)", async () => {
  const full = readFileSync(join(ROOT, PROFILES.profiles.full.output));
  const lpwa = readFileSync(LPWA);
  assert.ok(lpwa.length < full.length, `${lpwa.length} < ${full.length}`);
  // the log texts are tokens in both (a log dictionary): the removed code is seen by its function names
  const scripts = (f: string) => join(ROOT, "scripts", f); // build tooling (.mjs, untyped)
  const { compileFirmwareWithNames } = await import(scripts("build.mjs"));
  const { readLayout } = await import(scripts("wasm-sections.mjs"));
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-names-"));
  try {
    const names = async (profile: string) => {
      const out = join(dir, `${profile}.wasm`);
      await compileFirmwareWithNames(out, profile);
      return [...readLayout(readFileSync(out)).functionNames.values()] as string[];
    };
    const layer = (fns: string[], prefix: string) => fns.filter((n) => n.startsWith(prefix)).length;
    const [inFull, inLpwa] = [await names("full"), await names("psk-lpwa")];
    for (const prefix of ["assembly/est/", "assembly/x509/"]) {
      assert.ok(layer(inFull, prefix) > 0, `full has ${prefix} functions`);
      assert.equal(layer(inLpwa, prefix), 0, `psk-lpwa has no ${prefix} functions: ${inLpwa.filter((n) => n.startsWith(prefix)).slice(0, 5)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const CONFIG = join(ROOT, "server", "dev-config.json");

async function withServers(fn: (dev: DevServers) => Promise<void>) {
  const pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-devpki-"));
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: CONFIG, log: () => {}, coap: { blockSzx: 1 }, secure: { pkiDir } });
  try {
    await fn(dev);
  } finally {
    await dev.close();
    rmSync(pkiDir, { recursive: true, force: true });
  }
}

class SpyNet extends UdpNet {
  sent: Uint8Array[] = [];
  send(peer: number, data: Uint8Array) { this.sent.push(new Uint8Array(data)); return super.send(peer, data); }
}

function lpwaDevice(): { d: Device; net: SpyNet; logs: string[] } {
  let d!: Device;
  const net = new SpyNet((peer, data) => d.deliver(peer, data));
  d = new Device({ net, firmware: new Uint8Array(readFileSync(LPWA)) });
  const logs: string[] = [];
  d.on("log", (l: { text: string }) => logs.push(l.text));
  return { d, net, logs };
}

function waitFor<T>(emitter: { once(ev: string, f: (x: T) => void): unknown }, ev: string, ms = 8000): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`timed out waiting for '${ev}'`)), ms);
    emitter.once(ev, (x: T) => { clearTimeout(t); res(x); });
  });
}

test("psk-lpwa: boots, bootstraps and registers over DTLS-PSK with the development servers; TLV / SenML-CBOR / text served, SenML-JSON answered 4.06 / 4.15", async () => {
  await withServers(async (dev) => {
    const { d, net } = lpwaDevice();
    let fatal: unknown = null;
    d.on("fatal", (e) => { fatal = e; });
    const ep = "lwm2m-wasm-demo";
    try {
      assert.equal(d.start(), 7, "boot status: DRBG, SE, flash");
      const registered = waitFor(dev.server, "registered");
      const bootstrapped = waitFor<ClientEvent>(d, "bootstrapped");
      d.provision({
        endpoint: ep,
        bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: "lwm2m-wasm-demo-bs", pskKey: "3a69e6a5615ea6170cf7958bafcadba9" },
      });
      await bootstrapped;
      await registered;
      const reg = dev.server.getRegistration(ep)!;
      assert.deepEqual(reg.identity, { kind: "psk", identity: "lwm2m-wasm-demo" });
      assertAllDtls(net.sent);

      const tlv = await dev.server.read(ep, "/3/0", { format: "tlv" });
      assert.equal(tlv.code, "2.05");
      assert.equal(tlv.content!.find((e) => e.path === "/3/0/0")!.value, "lwm2m-wasm");
      const cbor = await dev.server.read(ep, "/1/0/1", { format: "senml-cbor" });
      assert.equal(cbor.code, "2.05");
      assert.equal(typeof cbor.content![0].value, "number");
      assert.equal((await dev.server.read(ep, "/3/0/0", { format: "text" })).code, "2.05");
      // SenML-JSON is compiled out: Accept -> 4.06 Not Acceptable, a payload in it -> 4.15 Unsupported Content-Format
      assert.equal((await dev.server.read(ep, "/3/0", { format: "senml-json" })).code, "4.06");
      assert.equal((await dev.server.read(ep, "/3/0/0", { format: "senml-json" })).code, "4.06", "one Resource too");
      assert.equal((await dev.server.write(ep, "/1/0/1", 120, { format: "senml-json" })).code, "4.15");
      // still managed afterwards: a Write in TLV and the Update it causes
      const updated = waitFor<ClientEvent>(d, "updated");
      assert.equal((await dev.server.write(ep, "/1/0/1", 120, { format: "tlv" })).code, "2.04");
      assert.equal((await updated).arg, 120);
      const gone = waitFor(dev.server, "deregistered");
      await d.shutdown(3000);
      await gone;
      assertAllDtls(net.sent);
      assert.equal(fatal, null, "no trap");
    } finally {
      d.stop();
    }
  });
});

// ConfigError.ModeNotBuilt (assembly/lwm2m/bootstrap-config.ts): the configuration check refuses an
// account in a Security Mode the profile does not carry, before anything is stored or sent
const MODE_NOT_BUILT = -15;

for (const mode of ["x509", "rpk", "est"] as const) {
  test(`psk-lpwa: a Security Mode ${mode} account (compiled out) is refused by the configuration check (ModeNotBuilt), nothing is sent, no trap`, async () => {
    await withServers(async (dev) => {
      const { d, net } = lpwaDevice();
      let fatal: unknown = null;
      d.on("fatal", (e) => { fatal = e; });
      try {
        assert.equal(d.start(), 7);
        const key = new Uint8Array(91).fill(1); // within psk-lpwa's Security capacities
        assert.throws(() => d.provision({
          endpoint: "lwm2m-wasm-x509",
          servers: [{ uri: dev.secureServerUri!, securityMode: mode, publicKey: key, secretKey: new Uint8Array(32).fill(7), shortServerId: 101 }],
        }), (e: { configError?: number }) => e.configError === MODE_NOT_BUILT, `refused with ConfigError.ModeNotBuilt (${MODE_NOT_BUILT})`);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(net.sent.length, 0, "nothing sent");
        assert.equal(fatal, null, "no trap");
      } finally {
        d.stop();
      }
    });
  });
}
