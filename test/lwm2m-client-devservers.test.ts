// The firmware's LwM2M client (build/firmware.wasm in the Node host) against
// the development servers (server/: an independent TypeScript CoAP stack and
// LwM2M Bootstrap-Server / Server; DTLS from the firmware's server role) over
// real UDP on loopback, in every security mode: NoSec, DTLS-PSK, DTLS-RPK
// (RFC 7250) and DTLS-X.509 (certificates from the development PKI, made by
// the OpenSSL CLI).
//   bootstrap then register: factory bootstrap account -> Bootstrap-Request ->
//   Bootstrap-Delete / -Discover / -Write -> Finish -> Register, then Read,
//   Write (Update with the new lifetime), Execute, Discover, Create with a
//   Block1 upload, Delete, Write-Attributes, Observe with notifications,
//   Cancel, a Block2 read, De-register;
//   direct registration: a factory LwM2M Server account, no bootstrap; after
//   De-register the channel is closed and no timer is left.
// In the DTLS modes every datagram the device sends is a DTLS record and the
// server sees the identity the mode proves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, type DevServers, type PeerIdentity } from "../server/index";
import { Device, ClientState, FakeClock, type AccountConfig, type ClientEvent } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import { requirePeer } from "./helpers/peers";
import { assertAllDtls } from "./helpers/dtls-records";
import { needs, profileHas } from "./helpers/profile";

/** SenML-JSON, or SenML-CBOR on a profile without it. */
const SENML = profileHas("senml-json") ? "senml-json" as const : "senml-cbor" as const;

function waitFor<T>(emitter: { once(ev: string, f: (x: T) => void): unknown }, ev: string, ms = 5000): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`timed out waiting for '${ev}'`)), ms);
    emitter.once(ev, (x: T) => { clearTimeout(t); res(x); });
  });
}

/** The real UdpNet, keeping a copy of every datagram the device sends. */
class SpyNet extends UdpNet {
  sent: Uint8Array[] = [];
  send(peer: number, data: Uint8Array) { this.sent.push(new Uint8Array(data)); return super.send(peer, data); }
}

function newDevice(): { d: Device; net: SpyNet } {
  let d!: Device;
  const net = new SpyNet((peer, data) => d.deliver(peer, data));
  d = new Device({ net });
  return { d, net };
}

const CONFIG = join(__dirname, "..", "server", "dev-config.json");

interface Mode {
  name: string;
  /** An endpoint of server/dev-config.json. */
  endpoint: string;
  identity: PeerIdentity["kind"] | null;
  /** The factory account towards `uri` (a Bootstrap-Server or the LwM2M Server). */
  account(dev: DevServers, uri: "bootstrap" | "server"): AccountConfig;
}

const MODES: Mode[] = [
  { name: "NoSec", endpoint: "wasm-e2e", identity: null, account: (dev, to) => ({ uri: to === "bootstrap" ? dev.bootstrapUri : dev.serverUri }) },
  {
    name: "DTLS-PSK", endpoint: "lwm2m-wasm-demo", identity: "psk",
    account: (dev, to) => to === "bootstrap"
      ? { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: "lwm2m-wasm-demo-bs", pskKey: "3a69e6a5615ea6170cf7958bafcadba9" }
      : { uri: dev.secureServerUri!, securityMode: "psk", pskIdentity: "lwm2m-wasm-demo", pskKey: "e3f44a4d285867330c457c686d5489b2" },
  },
  {
    name: "DTLS-RPK", endpoint: "lwm2m-wasm-rpk", identity: "rpk",
    account: (dev, to) => {
      const own = dev.pki!.device("lwm2m-wasm-rpk");
      return { uri: to === "bootstrap" ? dev.secureBootstrapUri! : dev.secureServerUri!, securityMode: "rpk", publicKey: own.publicKey, secretKey: own.privateKey, serverPublicKey: dev.pki!.server.publicKey };
    },
  },
  {
    name: "DTLS-X.509", endpoint: "lwm2m-wasm-x509", identity: "x509",
    account: (dev, to) => {
      const own = dev.pki!.device("lwm2m-wasm-x509");
      return {
        uri: to === "bootstrap" ? dev.secureBootstrapUri! : dev.secureServerUri!, securityMode: "x509",
        publicKey: own.certificate, secretKey: own.privateKey, serverPublicKey: dev.pki!.ca.certificate, certificateUsage: 2,
      };
    },
  },
];

async function withServers(fn: (dev: DevServers, lines: string[]) => Promise<void>, blockSzx = 1) {
  const pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-devpki-"));
  const lines: string[] = [];
  const dev = await startDevServers({
    bootstrapPort: 0, serverPort: 0, config: CONFIG, log: (l) => { lines.push(l); },
    coap: { blockSzx }, // default 32-byte blocks: uploads and large reads go block-wise
    secure: { pkiDir },
  });
  try {
    await fn(dev, lines);
  } finally {
    await dev.close();
    rmSync(pkiDir, { recursive: true, force: true });
  }
}

function checkChannel(mode: Mode, dev: DevServers, net: SpyNet) {
  const reg = dev.server.getRegistration(mode.endpoint)!;
  assert.ok(reg, "the server keeps the registration");
  assert.equal(reg.secure, mode.identity !== null, "secure channel");
  assert.equal(reg.identity?.kind ?? null, mode.identity, "the identity the mode proves");
  if (mode.identity === "psk") assert.deepEqual(reg.identity, { kind: "psk", identity: "lwm2m-wasm-demo" });
  if (mode.identity === "rpk") assert.deepEqual((reg.identity as { publicKey: Uint8Array }).publicKey, dev.pki!.device("lwm2m-wasm-rpk").publicKey);
  if (mode.identity === "x509") assert.match((reg.identity as { subject: string }).subject, /CN=lwm2m-wasm-x509/);
  if (mode.identity) assertAllDtls(net.sent);
}

const needsPki = (mode: Mode) => mode.identity === "rpk" || mode.identity === "x509";

for (const mode of MODES) {
  test(`${mode.name}: bootstrap, register, device management, reporting, block-wise and de-register through the development servers`, needsPki(mode) ? needs(mode.identity!) : {}, async (t) => {
    if (needsPki(mode) && !requirePeer(t, "openssl")) return;
    await withServers(async (dev, lines) => {
      const { d, net } = newDevice();
      let fatal: unknown = null;
      d.on("fatal", (e) => { fatal = e; });
      const ep = mode.endpoint;
      try {
        assert.equal(d.start(), 7);
        const registered = waitFor(dev.server, "registered");
        const bootstrapped = waitFor<ClientEvent>(d, "bootstrapped");
        d.provision({ endpoint: ep, bootstrap: mode.account(dev, "bootstrap") });
        await bootstrapped;
        await registered;
        assert.ok(lines.some((l) => new RegExp(`${ep}: Bootstrap-Request from .*pct=112`).test(l)), lines.join("\n"));
        if (mode.identity) assert.ok(lines.some((l) => new RegExp(`${ep}: Bootstrap-Request from \\S+ \\(DTLS, `).test(l)), "bootstrap over DTLS");
        checkChannel(mode, dev, net);

        const r = await dev.server.read(ep, "/3/0");
        assert.equal(r.code, "2.05");
        assert.equal(r.content!.find((e) => e.path === "/3/0/0")!.value, "lwm2m-wasm");
        // block-wise read (RFC 7959 §2.4): the server asks for 32-byte blocks up front; the device's answers arrive block by block
        const t = dev.serverTransports[mode.identity ? "secure" : "plain"]!;
        const before = t.stats.receivedDatagrams;
        const big = await dev.server.read(ep, "/3/0", { format: SENML, blockSzx: 1 });
        assert.equal(big.code, "2.05");
        assert.ok(big.payload.length > (SENML === "senml-json" ? 96 : 64), `${big.payload.length} bytes`); // /3/0: 164 B in SenML-JSON, 85 B in SenML-CBOR
        assert.ok(t.stats.receivedDatagrams - before >= Math.ceil(big.payload.length / 32), `${t.stats.receivedDatagrams - before} datagrams for ${big.payload.length} bytes`);
        assert.deepEqual(big.content!.find((e) => e.path === "/3/0/0")!.value, "lwm2m-wasm");
        assert.equal((await dev.server.read(ep, "/0/0")).code, "4.04", "SEC-2");
        assert.equal((await dev.server.read(ep, "/1/0/1", { format: "senml-cbor" })).content![0].value, 300);

        const updated = waitFor<ClientEvent>(d, "updated");
        assert.equal((await dev.server.write(ep, "/1/0/1", 120)).code, "2.04");
        assert.equal((await updated).arg, 120, "Update with the new lifetime");

        const disc = await dev.server.discover(ep, "/1/0");
        assert.equal(disc.code, "2.05");
        assert.ok(disc.links!.some((l) => l.uri === "/1/0/1"), JSON.stringify(disc.links));

        const created = waitFor<ClientEvent>(d, "updated");
        const c = await dev.server.create(ep, "/16", { id: 1, resources: { 0: ["first-identity-of-the-device", "second-identity-abc"] } });
        assert.equal(c.code, "2.01", "Create with a Block1 upload");
        await created;
        const p = await dev.server.read(ep, "/16/1/0", { format: SENML });
        assert.deepEqual(p.content!.map((e) => e.value), ["first-identity-of-the-device", "second-identity-abc"]);
        assert.equal((await dev.server.delete(ep, "/16/1")).code, "2.02");

        d.setResource(3, 0, 9, 90);
        assert.equal((await dev.server.writeAttributes(ep, "/3/0/9", { pmin: 0, st: 5 })).code, "2.04");
        const values: unknown[] = [];
        const h = await dev.server.observe(ep, "/3/0/9", (n) => { values.push(n.content?.[0]?.value); });
        const sent = waitFor<ClientEvent>(d, "notification");
        d.setResource(3, 0, 9, 88); // below st
        d.setResource(3, 0, 9, 80); // -10 from the last notified value
        assert.equal((await sent).text, "/3/0/9");
        await new Promise((res) => setTimeout(res, 100));
        assert.deepEqual(values, [80]);
        await h.cancel();

        const trig = waitFor<ClientEvent>(d, "updated");
        assert.equal((await dev.server.execute(ep, "/1/0/8")).code, "2.04");
        await trig;

        const gone = waitFor(dev.server, "deregistered");
        await d.shutdown(3000);
        await gone;
        if (mode.identity) assertAllDtls(net.sent);
        assert.equal(fatal, null);
      } finally {
        d.stop();
      }
    });
  });

  test(`${mode.name}: direct registration with a factory LwM2M Server account, Update, De-register`, needsPki(mode) ? needs(mode.identity!) : {}, async (t) => {
    if (needsPki(mode) && !requirePeer(t, "openssl")) return;
    await withServers(async (dev) => {
      const { d, net } = newDevice();
      const ep = mode.endpoint;
      try {
        assert.equal(d.start(), 7);
        const registered = waitFor(dev.server, "registered");
        d.provision({ endpoint: ep, servers: [{ ...mode.account(dev, "server"), shortServerId: 101, lifetime: 60 }] });
        await registered;
        checkChannel(mode, dev, net);
        assert.equal(dev.server.getRegistration(ep)!.lifetime, 60);
        const updated = waitFor(dev.server, "updated");
        assert.equal((await dev.server.execute(ep, "/1/0/8")).code, "2.04", "Registration Update Trigger");
        await updated;
        let lastDeadline = 0;
        d.on("deadline", (ms: number) => { lastDeadline = ms; });
        const gone = waitFor(dev.server, "deregistered");
        await d.shutdown(3000);
        await gone;
        assert.equal(lastDeadline, -1, "after De-register nothing is left running: the channel is closed (close_notify over DTLS)");
        if (mode.identity) assertAllDtls(net.sent);
      } finally {
        d.stop();
      }
    });
  });
}

test("DTLS: a device whose raw public key the servers do not know is refused at the handshake; nothing is registered", needs("rpk"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  await withServers(async (dev) => {
    const { d, net } = newDevice();
    const logs: string[] = [];
    d.on("log", (l) => logs.push(l.text));
    try {
      d.start();
      const stranger = dev.pki!.device("stranger"); // a real P-256 key pair, but in no configuration
      d.provision({
        endpoint: "lwm2m-wasm-rpk",
        servers: [{ uri: dev.secureServerUri!, securityMode: "rpk", publicKey: stranger.publicKey, secretKey: stranger.privateKey, serverPublicKey: dev.pki!.server.publicKey, shortServerId: 101 }],
      });
      const secure = dev.serverTransports.secure!;
      for (let i = 0; i < 200 && secure.stats.refused === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(secure.stats.refused, 1, "the DTLS listener refused the unknown key");
      await new Promise((r) => setTimeout(r, 300));
      // the device is told at once (a fatal alert right after the handshake), it does not wait for a timeout
      assert.ok(logs.some((l) => /fatal alert from the server .*alert received 42\)/.test(l)), logs.join("\n")); // 42 bad_certificate
      assert.equal(dev.server.registrations.length, 0, "nothing registered");
      assert.notEqual(d.state(101), ClientState.Registered, "the device is not registered");
      assertAllDtls(net.sent);
    } finally {
      d.stop();
    }
  });
});

test("DTLS-X.509 bootstrap with the servers' default 1024-byte blocks: the device takes the whole first block and asks for 512 from then on (RFC 7959 §2.5)", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  await withServers(async (dev, lines) => {
    const { d } = newDevice();
    const mode = MODES.find((m) => m.identity === "x509")!;
    try {
      assert.equal(d.start(), 7);
      const registered = waitFor(dev.server, "registered");
      d.provision({ endpoint: mode.endpoint, bootstrap: mode.account(dev, "bootstrap") });
      await registered;
      // the Security instance with two certificates and a key is over 1 KiB: Block1 with a size change
      assert.ok(lines.some((l) => /Bootstrap-Write \/0\/\d+ -> 2\.04/.test(l)), lines.join("\n"));
      assert.equal(dev.server.getRegistration(mode.endpoint)!.identity?.kind, "x509");
    } finally {
      d.stop();
    }
  }, 6);
});

test("DTLS-10: at the session age limit (24 h) the device makes a new full handshake (the old master secret is not resumed) and stays registered", async () => {
  await withServers(async (dev) => {
    const clock = new FakeClock(0);
    let d!: Device;
    const net = new SpyNet((peer, data) => d.deliver(peer, data));
    d = new Device({ net, clock, manualTimers: true }); // the device's time is ours to move; the network is real
    const logs: string[] = [];
    d.on("log", (l) => logs.push(l.text));
    const until = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(done(), `${what}:\n${logs.join("\n")}`);
    };
    try {
      d.start();
      const mode = MODES.find((m) => m.identity === "psk")!;
      // a lifetime past the session age, so that no Update is due before the limit
      d.provision({ endpoint: mode.endpoint, servers: [{ ...mode.account(dev, "server"), shortServerId: 101, lifetime: 100_000 }] });
      await until("registered", () => d.state(101) === ClientState.Registered);
      assert.ok(!logs.some((l) => /resumed/.test(l)), "the first handshake is a full one");
      const handshakes = dev.serverTransports.secure!.stats.handshakes;

      d.advanceTo(86_400_000 + 1); // the default DTLS-10 session age: 24 h after the full handshake
      assert.ok(logs.some((l) => /session age limit \(DTLS-10\), new handshake/.test(l)), logs.join("\n"));
      await until("established again", () => logs.filter((l) => /DTLS: established ssid=101, suite 0xc0a8$/.test(l)).length === 2);
      assert.ok(!logs.some((l) => /resumed/.test(l)), "a session at its age limit is not resumed: new keys from a full handshake");
      assert.equal(dev.serverTransports.secure!.stats.handshakes, handshakes + 1, "one new handshake at the server");

      // the registration goes on over the new channel
      const updated = waitFor(dev.server, "updated");
      assert.equal((await dev.server.execute(mode.endpoint, "/1/0/8")).code, "2.04");
      await updated;
      await until("registered after the Update", () => d.state(101) === ClientState.Registered);
      assertAllDtls(net.sent);
    } finally {
      d.stop();
    }
  });
});
