// `lwm2m-wasm fleet --shared-sockets K` (issue 12: one or a few UDP sockets
// shared by many devices): each device asks for an RFC 9146 Connection ID
// (the firmware's setting, Device connectionId); a DTLS association
// handshakes on a socket of its own and moves to one of K shared sockets once
// the server uses the CID; inbound tls12_cid records are routed to the device
// by the CID in the record header. Checked against records nobody in the
// fleet wrote: the development server's (its registrations' source ports,
// its CID rebinds and drops, its resumed sessions) and Wireshark's DTLS
// dissector on a capture of the server port (the CIDs each source port
// carried).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, DEV_CONFIG_FILE, type Registration } from "../server/index";
import dgram from "node:dgram";
import { clientHelloCid, FleetNet, type FleetReport } from "../host-shim/node/fleet";
import { captureUdpPort, stopCapture } from "./helpers/dumpcap";
import { runCli } from "./helpers/cli";



/** A ClientHello record (RFC 6347 4.1, 4.2.2; RFC 5246 7.4.1.2 with the DTLS cookie) with these extensions. */
// record header (13) + handshake header (12) + body: version, random, session_id, cookie, suites, compression, extensions
const HELLO_BODY = Buffer.concat([
  Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 7), Buffer.from([0]), Buffer.from([2, 0xaa, 0xbb]), Buffer.from([0, 2, 0xc0, 0xa8]), Buffer.from([1, 0]),
]);
const u24 = (n: number) => [n >> 16, (n >> 8) & 255, n & 255];
const hello = (exts: Buffer) => {
  const b = Buffer.concat([HELLO_BODY, Buffer.from([exts.length >> 8, exts.length & 255]), exts]);
  // handshake header (RFC 6347 4.2.2): msg_type, length, message_seq, fragment_offset, fragment_length
  const hs = Buffer.concat([Buffer.from([1, ...u24(b.length), 0, 0, ...u24(0), ...u24(b.length)]), b]);
  return new Uint8Array(Buffer.concat([Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, hs.length >> 8, hs.length & 255]), hs]));
};
const ext = (type: number, data: number[]) => Buffer.from([type >> 8, type & 255, data.length >> 8, data.length & 255, ...data]);

test("clientHelloCid: the connection_id extension of a ClientHello (RFC 9146 3), none when absent or torn", () => {
  assert.deepEqual([...clientHelloCid(hello(Buffer.concat([ext(10, [0, 2, 0, 23]), ext(54, [4, 1, 2, 3, 4])])))!], [1, 2, 3, 4]);
  assert.deepEqual([...clientHelloCid(hello(ext(54, [0])))!], [], "a zero-length CID");
  assert.equal(clientHelloCid(hello(ext(10, [0, 2, 0, 23]))), null, "no extension 54");
  assert.equal(clientHelloCid(hello(ext(54, [9, 1, 2]))), null, "its length byte disagrees with the extension's");
  const whole = hello(ext(54, [4, 1, 2, 3, 4]));
  for (let cut = 0; cut < whole.length; cut += 7) assert.equal(clientHelloCid(whole.subarray(0, cut)), null, `torn at ${cut}`);
});

test("fleet --shared-sockets 2: 12 devices (3 sleepers) behind two UDP sockets once their CIDs are in use; the server sees two source ports, tshark many CIDs on each", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-shared-"));
  const dev = await startDevServers({ config: DEV_CONFIG_FILE, bootstrapPort: 0, serverPort: 0, log: false, secure: { pkiDir: join(dir, "pki") } });
  const secure = dev.serverTransports.secure!;
  const port = secure.address()!.port;
  const sources = new Map<string, Set<number>>(); // endpoint -> source ports of its Register / Updates
  const seen = (r: Registration) => { if (!sources.has(r.endpoint)) sources.set(r.endpoint, new Set()); sources.get(r.endpoint)!.add(r.port); };
  dev.server.on("registered", seen);
  dev.server.on("updated", seen);
  const cap = join(dir, "shared.pcapng");
  const dumpcap = await captureUdpPort(port, cap, "the shared sockets are");
  try {
    const report = join(dir, "report.json");
    const { code, out } = await runCli(["fleet", "--count", "12", "--endpoint-prefix", "fleet-u", "--server", dev.secureServerUri!,
      "--psk-identity", "{ep}", "--psk-key", "dev-kdf", "--rate", "0", "--duration", "3", "--sleep", "1", "--sleep-share", "0.25",
      "--shared-sockets", "2", "--report", report, "--quiet"]);
    assert.equal(code, 0, out);
    const r = JSON.parse(readFileSync(report, "utf8")) as FleetReport;
    t.diagnostic(`sockets ${JSON.stringify(r.sockets)}; sleep ${JSON.stringify(r.sleep)}; server ${JSON.stringify(secure.stats)}`);
    assert.equal(r.registered, 12);
    assert.equal(r.deregistered, 12);
    assert.equal(r.failed, 0);
    // the fleet: every association moved (12 first connections, one per wake), two sockets once all had registered
    assert.equal(r.sockets.shared, 2);
    assert.equal(r.sockets.moves, 12 + r.sleep.wakes);
    assert.ok(r.sockets.atAllRegistered! <= 2, `sockets when all had registered: ${r.sockets.atAllRegistered}`);
    assert.equal(r.sockets.open, 0, "every socket closed at the end");
    assert.ok(r.sleep.wakes >= 3);
    assert.equal(r.sleep.wakesAbbreviated, r.sleep.wakes);
    assert.equal(r.sleep.wakeUpdatesAcknowledged + r.sleep.wakeRegisters, r.sleep.wakes, "every wake's request answered through the shared socket");
    // the server: each move was one CID rebind of an authenticated record, none dropped; all Registers and Updates
    // came from two source ports (the shared sockets)
    assert.equal(secure.stats.cidRebinds, r.sockets.moves, JSON.stringify(secure.stats));
    assert.equal(secure.stats.cidDropped, 0);
    assert.equal(secure.stats.resumed, r.handshakesAbbreviated);
    assert.equal(sources.size, 12);
    const ports = new Set([...sources.values()].flatMap((s) => [...s]));
    assert.equal(ports.size, 2, `the servers saw Registers / Updates from ${[...ports].join(", ")}`);

    if (dumpcap) {
      await stopCapture(dumpcap);
      // tshark: the CIDs in the records each client port sent to the server
      const lines = execFileSync("tshark", ["-r", cap, "-d", `udp.port==${port},dtls`, "-Y", `udp.dstport==${port} && dtls.record.connection_id`,
        "-T", "fields", "-E", "separator=|", "-e", "udp.srcport", "-e", "dtls.record.connection_id"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
        .split("\n").filter((l) => l.trim());
      const cidsByPort = new Map<string, Set<string>>();
      for (const l of lines) {
        const [src, cids] = l.split("|");
        if (!cidsByPort.has(src)) cidsByPort.set(src, new Set());
        for (const c of cids.split(",")) cidsByPort.get(src)!.add(c);
      }
      for (const p of ports) {
        const n = cidsByPort.get(String(p))?.size ?? 0;
        assert.ok(n >= 4, `tshark: shared port ${p} carried ${n} connections' CIDs: ${JSON.stringify([...cidsByPort].map(([k, v]) => [k, v.size]))}`);
      }
      const total = new Set([...cidsByPort.values()].flatMap((s) => [...s]));
      assert.equal(total.size, 12 + r.sleep.wakes, "a CID per connection (each wake's resumed session has its own)");
    }
  } finally {
    if (dumpcap && dumpcap.proc.exitCode === null) dumpcap.proc.kill("SIGKILL");
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A tls12_cid record (RFC 9146 4) carrying `cid`, with an opaque fragment. */
function cidRecord(cid: number[], fragment = 24): Uint8Array {
  return new Uint8Array([25, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, ...cid, 0, fragment, ...new Array(fragment).fill(0x5a)]);
}

test("FleetNet routing: an association moves to the shared socket only once the server's records carry its CID, is found by it there, and goes back for a new handshake", async () => {
  const server = dgram.createSocket("udp4");
  await new Promise<void>((res) => server.bind(0, "127.0.0.1", () => res()));
  const sport = server.address().port;
  const heard: { port: number; first: number }[] = [];
  server.on("message", (m, r) => heard.push({ port: r.port, first: m[0] }));
  const stranger = dgram.createSocket("udp4");
  await new Promise<void>((res) => stranger.bind(0, "127.0.0.1", () => res()));
  const net = new FleetNet(1, 1);
  const got: Uint8Array[] = [];
  const view = net.forDevice(0, (_h, d) => got.push(d.slice()));
  const wait = async (what: string, pred: () => boolean) => {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > 3000) throw new Error(`timeout: ${what}; heard ${JSON.stringify(heard)}; ${JSON.stringify(net.counters)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const OWN = [9, 8, 7, 6];
  try {
    const h = view.open("127.0.0.1", sport);
    view.send(h, hello(ext(54, [4, ...OWN])));
    await wait("the ClientHello", () => heard.length === 1);
    const ownPort = heard[0].port;
    // a record with a CID from the device before any came back (a Finished on its own, say): stays on its own socket
    view.send(h, cidRecord([1, 1, 1, 1, 1, 1, 1, 1]));
    await wait("the early CID record", () => heard.length === 2);
    assert.equal(heard[1].port, ownPort);
    assert.equal(net.counters.moves, 0, "no move before the server's records carry the device's CID");
    // the server's first record with the device's CID, to its own socket: then the device's next CID record moves
    server.send(cidRecord(OWN), ownPort, "127.0.0.1");
    await wait("the server's CID record", () => got.length === 1);
    view.send(h, cidRecord([1, 1, 1, 1, 1, 1, 1, 1]));
    await wait("the moved record", () => heard.length === 3);
    const sharedPort = heard[2].port;
    assert.notEqual(sharedPort, ownPort);
    assert.equal(net.counters.moves, 1);
    assert.equal(net.counters.sockets, 1, "the own socket closed: the shared one only");
    // inbound on the shared socket: routed by the CID; another CID, or the right CID from another source, reaches nobody
    server.send(cidRecord(OWN), sharedPort, "127.0.0.1");
    await wait("routed by CID", () => got.length === 2);
    server.send(cidRecord([9, 8, 7, 5]), sharedPort, "127.0.0.1");
    stranger.send(cidRecord(OWN), sharedPort, "127.0.0.1");
    await wait("two unroutable", () => net.counters.unroutable === 2);
    assert.equal(got.length, 2);
    // a new handshake (a plaintext ClientHello): back on a socket of its own, the CID no longer routed
    view.send(h, hello(ext(54, [4, 1, 2, 3, 4])));
    await wait("the new ClientHello", () => heard.length === 4);
    assert.notEqual(heard[3].port, sharedPort);
    assert.equal(heard[3].first, 22);
    server.send(cidRecord(OWN), sharedPort, "127.0.0.1");
    await wait("the old CID unroutable", () => net.counters.unroutable === 3);
    assert.equal(net.counters.onShared, 0);
    view.closeAll!();
    net.close();
    assert.equal(net.counters.sockets, 0);
  } finally {
    server.close();
    stranger.close();
  }
});
