// Shared memory (issue 11): the DTLS handshake buffers are one pool in the
// firmware's transport (assembly/firmware/transport.ts takeHandshakeBlock),
// lent for each handshake and taken back from a connection whose handshake
// is over. This runs the operations that use them in overlap (two LwM2M
// Server accounts whose DTLS-PSK handshakes run at the same time: each needs
// its own block) and back to back (a Disable on one server, its new
// handshake while the other connection stays established and is used), in
// the real firmware against the development servers' DTLS (DtlsTransport),
// real UDP on loopback. A block lent while its holder's handshake runs would
// corrupt that handshake; one not taken back would leave a connection without
// buffers: either fails the registrations or the Reads here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { Device, ClientState } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import { DtlsTransport, LwM2MServer } from "../server/index";

const ACCOUNTS = [
  { ssid: 101, identity: "footprint-a", key: "00112233445566778899aabbccddeeff" },
  { ssid: 102, identity: "footprint-b", key: "ffeeddccbbaa99887766554433221100" },
];

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Error(`no ${what} within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
}

test("DTLS handshake buffers shared by the connections: two handshakes in overlap, then a new handshake back to back while the other connection is used", async () => {
  const servers: { server: LwM2MServer; transport: DtlsTransport; port: number }[] = [];
  let dev: Device | undefined;
  let net: UdpNet | undefined;
  try {
    for (const a of ACCOUNTS) {
      const transport = new DtlsTransport({ psk: { lookup: (id) => (id === a.identity ? new Uint8Array(Buffer.from(a.key, "hex")) : undefined) } });
      const server = new LwM2MServer({});
      const { port } = await transport.bind(0, "127.0.0.1");
      server.addTransport(transport);
      servers.push({ server, transport, port });
    }
    net = new UdpNet((peer, d) => dev!.deliver(peer, d));
    dev = new Device({ net });
    const registered = servers.map((s) => within(once(s.server, "registered"), 15_000, "Register"));
    dev.start();
    dev.provision({
      endpoint: "footprint-shared",
      servers: ACCOUNTS.map((a, i) => ({
        uri: `coaps://127.0.0.1:${servers[i].port}`, securityMode: "psk" as const, pskIdentity: a.identity, pskKey: a.key,
        shortServerId: a.ssid, lifetime: 300, disableTimeout: 1,
      })),
    });
    await Promise.all(registered);
    const logs = () => dev!.logs.map((l) => l.text);
    // overlap: both handshakes started before either completed
    const started = ACCOUNTS.map((a) => logs().findIndex((l) => l.startsWith("DTLS: handshake with") && l.includes(`ssid=${a.ssid}`)));
    const firstEstablished = logs().findIndex((l) => l.startsWith("DTLS: established"));
    assert.ok(started.every((i) => i >= 0), "both handshakes logged");
    assert.ok(started.every((i) => i < firstEstablished), `the handshakes ran in overlap:\n${logs().join("\n")}`);
    for (const s of servers) {
      const r = await s.server.read("footprint-shared", "/3/0");
      assert.equal(r.code, "2.05", "a Read over each established connection");
    }

    // back to back: Disable (/1/0/4) ends server A's registration and connection; after the
    // Disable Timeout (1 s) the device registers again with a new handshake, taking a block
    // back from a connection whose handshake is over, while server B's connection is used
    const a = servers[0], b = servers[1];
    const gone = within(once(a.server, "deregistered"), 10_000, "De-register");
    const again = within(new Promise<void>((res) => {
      const on = () => { a.server.off("registered", on); res(); };
      gone.then(() => a.server.on("registered", on), () => {});
    }), 20_000, "second Register");
    const ex = await a.server.execute("footprint-shared", "/1/0/4");
    assert.equal(ex.code, "2.04", "Disable executed");
    await gone;
    const whileDisabled = await b.server.read("footprint-shared", "/3/0");
    assert.equal(whileDisabled.code, "2.05", "server B reads while A is disabled");
    await again;
    const handshakesA = logs().filter((l) => l.startsWith("DTLS: handshake with") && l.includes("ssid=101")).length;
    assert.equal(handshakesA, 2, "server A's connection made a second handshake");
    for (const s of servers) {
      const r = await s.server.read("footprint-shared", "/3/0");
      assert.equal(r.code, "2.05", "a Read over each connection after the second handshake");
    }
    assert.equal(dev.state(101), ClientState.Registered);
    assert.equal(dev.state(102), ClientState.Registered);
    assert.ok(!logs().some((l) => /handshake failed|refused locally|connection closed/.test(l)), `no DTLS failure:\n${logs().join("\n")}`);
  } finally {
    dev?.stop();
    net?.closeAll();
    for (const s of servers) {
      await s.server.close();
      await s.transport.close();
    }
  }
});
