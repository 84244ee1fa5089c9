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
import { needs } from "./helpers/profile";

const ACCOUNTS = [
  { ssid: 101, identity: "footprint-a", key: "00112233445566778899aabbccddeeff" },
  { ssid: 102, identity: "footprint-b", key: "ffeeddccbbaa99887766554433221100" },
];

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Error(`no ${what} within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
}

test("DTLS handshake buffers shared by the connections: two handshakes in overlap, then a new handshake back to back while the other connection is used", needs({ CAP_SERVERS: 2 }), async () => {
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

// REPR (lwm2m/client/conn.ts) is the representation buffer of every Read, Discover and
// notification, and — since issue 11 — also the write engine's scratch: the instance being
// written and the decoded-string room live in it while a Write / Create runs (a write answers
// with no payload). The Block1 upload buffer stays separate (an upload spans requests).
// In overlap: server A uploads a Create block by block (32-byte blocks) and writes, while
// server B reads /3/0 block by block (each block rebuilds the representation in REPR, cut at
// the ETag'd offset) and writes; the device's received datagrams alternate between the two.
// Back to back: A's Create is read back at once, B's Write is read back at once. A write
// that left its instance in REPR while a representation was cut from it, or a read that
// overwrote an instance being written, breaks the values or the ETag of the blocks here.
test("REPR shared by representations and the write scratch: block-wise reads, Block1 Creates and Writes of two servers in overlap and back to back", needs({ CAP_SERVERS: 2 }), async () => {
  const servers: { server: LwM2MServer; transport: DtlsTransport; port: number }[] = [];
  let dev: Device | undefined;
  let net: UdpNet | undefined;
  const arrivals: number[] = []; // the peer handle of each datagram the device received
  try {
    for (const a of ACCOUNTS) {
      const transport = new DtlsTransport({ psk: { lookup: (id) => (id === a.identity ? new Uint8Array(Buffer.from(a.key, "hex")) : undefined) } });
      const server = new LwM2MServer({ coap: { blockSzx: 1 } }); // 32-byte blocks: every upload and read goes block-wise
      const { port } = await transport.bind(0, "127.0.0.1");
      server.addTransport(transport);
      servers.push({ server, transport, port });
    }
    net = new UdpNet((peer, d) => { arrivals.push(peer); dev!.deliver(peer, d); });
    dev = new Device({ net });
    const registered = servers.map((s) => within(once(s.server, "registered"), 15_000, "Register"));
    dev.start();
    dev.provision({
      endpoint: "footprint-repr",
      servers: ACCOUNTS.map((a, i) => ({
        uri: `coaps://127.0.0.1:${servers[i].port}`, securityMode: "psk" as const, pskIdentity: a.identity, pskKey: a.key,
        shortServerId: a.ssid, lifetime: 300,
      })),
    });
    await Promise.all(registered);
    const ep = "footprint-repr";
    const [A, B] = servers.map((s) => s.server);
    const reference = await B.read(ep, "/3/0", { format: "senml-cbor", blockSzx: 1 });
    assert.equal(reference.code, "2.05");
    assert.ok(reference.payload.length > 64, `a representation of three or more 32-byte blocks (${reference.payload.length} B)`);
    const firstArrival = arrivals.length;

    const ids = [1, 2, 3];
    // Portfolio strings (32 B max) with JSON escapes: the SenML-JSON Create decodes them into the
    // write's decoded-string room in REPR, right after the instance being written
    const names = (k: number) => [`id-"${k}"-of\\the-device-\u00e9t\u00e9`, `second-${k}-${"x".repeat(20)}`];
    const aSide = (async () => {
      for (const k of ids) {
        const c = await A.create(ep, "/16", { id: 1, resources: { 0: names(k) } }, { format: "senml-json" });
        assert.equal(c.code, "2.01", `Create /16/1 (Block1), round ${k}: ${c.code}`);
        const back = await A.read(ep, "/16/1/0", { format: "senml-cbor", blockSzx: 1 }); // back to back with the Create
        assert.deepEqual(back.content!.map((e) => e.value), names(k), `/16/1/0 read back, round ${k}`);
        assert.equal((await A.write(ep, "/1/0/1", 300 + k)).code, "2.04");
        if (k !== ids[ids.length - 1]) assert.equal((await A.delete(ep, "/16/1")).code, "2.02");
      }
    })();
    const bSide = (async () => {
      for (let k = 0; k < 6; k++) {
        const r = await B.read(ep, "/3/0", { format: "senml-cbor", blockSzx: 1 });
        assert.equal(r.code, "2.05");
        assert.deepEqual(Buffer.from(r.payload), Buffer.from(reference.payload), `block-wise read ${k} of /3/0 equals the reference`);
        assert.equal((await B.write(ep, "/1/1/1", 400 + k)).code, "2.04");
        const l = await B.read(ep, "/1/1/1", { format: "text" }); // back to back with the Write
        assert.equal(l.content![0].value, 400 + k);
      }
    })();
    await Promise.all([aSide, bSide]);

    // overlap: the datagrams of the two servers interleaved at the device
    const window = arrivals.slice(firstArrival);
    let switches = 0;
    for (let i = 1; i < window.length; i++) if (window[i] !== window[i - 1]) switches++;
    assert.ok(switches >= 10, `the two servers' requests interleaved (${switches} switches in ${window.length} datagrams)`);
    const last = await B.read(ep, "/16/1/0", { format: "senml-cbor" });
    assert.deepEqual(last.content!.map((e) => e.value), names(ids[ids.length - 1]), "/16/1/0 after the overlap");
    assert.equal(dev.state(101), ClientState.Registered);
    assert.equal(dev.state(102), ClientState.Registered);
  } finally {
    dev?.stop();
    net?.closeAll();
    for (const s of servers) {
      await s.server.close();
      await s.transport.close();
    }
  }
});
