// Issue 7 defect 1: several DTLS records in one datagram (RFC 6347 4.1.1),
// each carrying a CoAP request, in the real firmware (build/firmware.wasm in
// Device, fake clock) against our DTLS server role in-process
// (build/test/dtls_server.wasm, DTLS-PSK): every request is answered, and a
// retransmission of each is answered from the deduplication cache (RFC 7252
// 4.5), not executed again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device, FakeClock, ClientState } from "../host-shim/node/device";
import type { NetService } from "../host-shim/node/host";
import { DtlsServer, Suite, ConnState, type ServerPeer } from "./helpers/dtls-harness";
import { encode, decode, opt, ascii, uriPath, text, T, C, O } from "./helpers/coap-harness";
import { profileHas } from "./helpers/profile";

type Req = Parameters<typeof encode>[0];

const PSK_ID = "issue7-records";
const PSK = Buffer.from("issue7-records-psk-0123456789ab");
const KEY = "10.0.0.1:5684";

/** The device's datagrams go to the server role in-process; the test pumps both ways. */
class PairNet implements NetService {
  toServer: Uint8Array[] = [];
  handle = -1;
  open() { this.handle = 7; return 7; }
  send(_peer: number, data: Uint8Array) { this.toServer.push(data.slice()); return 0; }
  close() {}
}

/** TLV of a /16 (Portfolio) instance with Identity 0/0 = "a" (Core §7.4.3). */
const inst = (iid: number) => Uint8Array.from([0x08, iid, 0x05, 0x83, 0x00, 0x41, 0x00, 0x61]);

test("issue 7 defect 1: two CoAP requests in one DTLS datagram are both answered, and both retransmissions from the dedup cache", () => {
  const clock = new FakeClock(1000);
  const net = new PairNet();
  const dev = new Device({ net, clock, manualTimers: true });
  const srv = new DtlsServer().configure({ suites: Suite.PskCcm8, psk: { identity: PSK_ID, key: PSK }, timers: null });
  let peer: ServerPeer | undefined;
  const pump = () => {
    for (let round = 0; round < 20 && net.toServer.length; round++) {
      for (const d of net.toServer.splice(0)) {
        for (const back of srv.datagram(KEY, d, clock.now)) dev.deliver(net.handle, back);
      }
      peer = srv.peer(KEY);
    }
  };
  const appData = () => { const out = peer!.appData.splice(0).map((b) => decode(b)); return out; };
  /** One CoAP message as one protected record (a datagram of its own). */
  const record = (m: Req) => { const [r, ds] = srv.send(peer!, encode(m), clock.now); assert.equal(r, 0); assert.equal(ds.length, 1); return ds[0]; };
  try {
    dev.start();
    dev.provision({
      endpoint: "issue7-dev",
      servers: [{ uri: "coaps://10.0.0.1:5684", shortServerId: 1, lifetime: 300, securityMode: "psk", pskIdentity: PSK_ID, pskKey: PSK.toString("hex") }],
    });
    pump();
    assert.ok(peer, "the handshake reached the server");
    assert.equal(srv.state(peer!), ConnState.Established, srv.describe(peer));
    const [reg] = appData();
    assert.equal(reg.code, C.POST, "Register");
    dev.deliver(net.handle, record({ type: T.ACK, code: C.CREATED, mid: reg.mid, token: reg.token, options: [[O.LOCATION_PATH, ascii("rd")], [O.LOCATION_PATH, ascii("r1")]] }));
    pump();
    assert.equal(dev.state(1), ClientState.Registered);
    appData();

    const acks = () => appData().filter((m) => m.type === T.ACK);
    const cf = (v: number) => [O.CONTENT_FORMAT, Uint8Array.of(v >> 8, v & 255)] as [number, Uint8Array];
    // (a) a large response (all of /3/0) and a Create in one datagram: both answered
    const readAll: Req = { type: T.CON, code: C.GET, mid: 0x7001, token: Uint8Array.of(1), options: [...uriPath("/3/0"), [O.ACCEPT, Uint8Array.of(profileHas("senml-json") ? 110 : 112)]] }; // SenML-JSON, or -CBOR without it
    const create0: Req = { type: T.CON, code: C.POST, mid: 0x7002, token: Uint8Array.of(2), options: [...uriPath("/16"), cf(11542)], payload: inst(0) };
    dev.deliver(net.handle, Buffer.concat([record(readAll), record(create0)]));
    pump();
    const a = acks();
    assert.deepEqual(a.map((m) => [m.mid, m.code]).sort(), [[0x7001, C.CONTENT], [0x7002, C.CREATED]], "both requests answered");
    assert.ok(a.find((m) => m.mid === 0x7001)!.payload.length > (profileHas("senml-json") ? 100 : 64), "the large one too"); // /3/0: 164 B in SenML-JSON, 85 B in SenML-CBOR

    // (b) a Create (not idempotent: executed again it would answer 4.00) and a Read in one datagram,
    // then both retransmitted (new records, the same CoAP messages) in one datagram: the cached responses
    const create1: Req = { type: T.CON, code: C.POST, mid: 0x7003, token: Uint8Array.of(3), options: [...uriPath("/16"), cf(11542)], payload: inst(1) };
    const read: Req = { type: T.CON, code: C.GET, mid: 0x7004, token: Uint8Array.of(4), options: uriPath("/3/0/0") };
    dev.deliver(net.handle, Buffer.concat([record(create1), record(read)]));
    pump();
    const b = acks();
    assert.deepEqual(b.map((m) => [m.mid, m.code]).sort(), [[0x7003, C.CREATED], [0x7004, C.CONTENT]], "both requests answered");
    assert.equal(text(b.find((m) => m.mid === 0x7004)!.payload), "lwm2m-wasm");
    dev.deliver(net.handle, Buffer.concat([record(create1), record(read)]));
    pump();
    const again = acks();
    assert.deepEqual(again.map((m) => [m.mid, m.code]).sort(), [[0x7003, C.CREATED], [0x7004, C.CONTENT]], "both retransmissions answered, from the cache");
    assert.deepEqual(opt(again.find((m) => m.mid === 0x7003)!, O.LOCATION_PATH).map(text), ["16", "1"]);
    // one at a time too: the older exchange is still answered after the newer one
    dev.deliver(net.handle, record(create1));
    pump();
    assert.deepEqual(acks().map((m) => [m.mid, m.code]), [[0x7003, C.CREATED]]);
  } finally {
    dev.stop();
  }
});
