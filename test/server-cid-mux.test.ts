// RFC 9146 (DTLS 1.2 Connection ID) in the development servers' DTLS
// transport, for hosts that multiplex many clients over one UDP socket
// (issue 12: the fleet's shared sockets): once a connection uses a CID, its
// tls12_cid records are routed by the CID before the source address, so
// several clients behind one address and port keep their own connections.
// Each client here handshakes from its own socket, then all of them send
// through ONE shared socket; the answers come back to that socket and are
// handed to the right client by the CID in the record header.
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { DtlsTransport, type PeerInfo } from "../server/transport";
import { DtlsClient, Suite, ConnState } from "./helpers/dtls-harness";

const PSK = { identity: "mux-test", key: Buffer.from("00112233445566778899aabbccddeeff", "hex") };
const CID_LEN = 4; // the clients' own CIDs: what the server puts in its records to them

test("server/transport.ts: three clients with CIDs behind one shared socket keep three connections; answers reach each by its CID", async () => {
  const t = new DtlsTransport({ psk: { lookup: (id) => (id === PSK.identity ? PSK.key : undefined) } });
  const { port } = await t.bind(0, "127.0.0.1");
  const clients = [0, 1, 2].map(() => new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8, cid: CID_LEN }));
  const shared = dgram.createSocket("udp4");
  await new Promise<void>((res) => shared.bind(0, "127.0.0.1", () => res()));
  const sharedPort = shared.address().port;
  let unroutable = 0;
  shared.on("message", (msg) => {
    // a tls12_cid record: type 25, version, epoch, sequence number, then the CID (RFC 9146 4)
    const cid = msg.subarray(11, 11 + CID_LEN);
    const c = msg[0] === 25 ? clients.find((x) => Buffer.from(x.cids()!.own).equals(cid)) : undefined;
    if (!c) { unroutable++; return; }
    c.deliver(new Uint8Array(msg));
  });
  const got: { key: string; text: string; info: PeerInfo }[] = [];
  t.on("datagram", (key: string, bytes: Uint8Array, info: PeerInfo) => got.push({ key, text: Buffer.from(bytes).toString(), info }));
  try {
    for (const c of clients) {
      await c.udpHandshake(port);
      assert.equal(c.state, ConnState.Established, c.describe());
      assert.equal(c.cids()?.own.length, CID_LEN);
      await c.shutdown(); // its own socket is gone: from now on only the shared one
    }
    const owns = clients.map((c) => Buffer.from(c.cids()!.own).toString("hex"));
    assert.equal(new Set(owns).size, 3, "three different CIDs");
    for (const [i, c] of clients.entries()) {
      assert.equal(c.sendData(`hello from ${i}`), 0);
      for (const d of c.drain()) shared.send(d, port, "127.0.0.1");
    }
    const t0 = Date.now();
    while (got.length < 3 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got.map((g) => g.text).sort(), ["hello from 0", "hello from 1", "hello from 2"], JSON.stringify(t.stats));
    assert.equal(new Set(got.map((g) => g.key)).size, 3, "a key per connection, though one address and port");
    for (const g of got) {
      assert.equal(g.info.port, sharedPort);
      assert.deepEqual(g.info.identity, { kind: "psk", identity: PSK.identity });
    }
    assert.equal(t.stats.handshakes, 3, "no handshake for the move");
    assert.equal(t.stats.cidRebinds, 3);
    // the answers: each to its own connection, through the shared socket, routed by the CID
    for (const g of got) t.send(g.key, new TextEncoder().encode(`answer to ${g.text}`));
    for (const [i, c] of clients.entries()) {
      const text = await c.waitAppData((all) => all.includes(`answer to hello from ${i}`));
      assert.doesNotMatch(text, new RegExp(`answer to hello from [^${i}]`), "only its own answers");
    }
    assert.equal(unroutable, 0);
    // a second round on the moved connections: no more rebinds, the same keys
    for (const [i, c] of clients.entries()) {
      c.sendData(`again ${i}`);
      for (const d of c.drain()) shared.send(d, port, "127.0.0.1");
    }
    while (got.length < 6 && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 6);
    for (const i of [0, 1, 2]) assert.equal(got.find((g) => g.text === `again ${i}`)!.key, got.find((g) => g.text === `hello from ${i}`)!.key);
    assert.equal(t.stats.cidRebinds, 3);
    // a record with a CID nobody was given, from the shared socket: dropped, counted, nothing else moves
    const stray = Buffer.from(clients[0].sent.at(-1)!);
    stray.fill(0xee, 11, 11 + 8);
    const dropped = t.stats.cidDropped;
    shared.send(stray, port, "127.0.0.1");
    const t1 = Date.now();
    while (t.stats.cidDropped === dropped && Date.now() - t1 < 3000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(t.stats.cidDropped, dropped + 1);
    assert.equal(t.peerCount, 3);
  } finally {
    for (const c of clients) await c.shutdown();
    shared.close();
    await t.close();
  }
});
