// Fuzz: malformed and mutated CoAP traffic into a registered LwM2M client
// (build/firmware.wasm in the Node Device, scripted peers, fake clock):
// mutated real exchanges — requests of every interface (Read, Write, Execute,
// Create, Delete, Discover, Write-Attributes, Observe, Block1/Block2,
// Bootstrap operations and Finish) and responses to our Register / Update /
// Bootstrap-Request. Pass: zero traps (a Device 'fatal' is a failure), every
// datagram the device sends is well-formed CoAP, a datagram our reference
// decoder rejects is answered with RST / 4.xx / 5.xx or dropped, Object 0
// never answers 2.xx to an LwM2M Server, and the device still answers a
// valid Read at the end. FUZZ_ITERATIONS inputs (>= 10,000; seeded, printed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device, FakeClock } from "../host-shim/node/device";
import type { NetService } from "../host-shim/node/host";
import { encode, decode, opt, uriPath, ascii, text, block, prng, T, C, O, type Msg } from "./helpers/coap-harness";
import { hex } from "./helpers/wasm";

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x1d2c3b4a);
const SRV_PORT = 5683;
const BS_PORT = 5783;

class Net implements NetService {
  opened: { handle: number; port: number }[] = [];
  sent: { peer: number; raw: Uint8Array }[] = [];
  open(_host: string, port: number) { const handle = 200 + this.opened.length; this.opened.push({ handle, port }); return handle; }
  send(peer: number, data: Uint8Array) { this.sent.push({ peer, raw: data.slice() }); return 0; }
  close() {}
  handle(port: number) { for (let i = this.opened.length - 1; i >= 0; i--) if (this.opened[i].port === port) return this.opened[i].handle; return -1; }
  portOf(peer: number) { return this.opened.find((o) => o.handle === peer)?.port ?? -1; }
}

const u = (v: number) => { const o: number[] = []; while (v > 0) { o.unshift(v & 255); v = Math.floor(v / 256); } return Uint8Array.from(o); };
const cat = (...a: Uint8Array[]) => { const o = new Uint8Array(a.reduce((s, x) => s + x.length, 0)); let p = 0; for (const x of a) { o.set(x, p); p += x.length; } return o; };
function tlv(kind: number, id: number, v: Uint8Array): Uint8Array {
  const h = [kind | (v.length < 8 ? v.length : 0x08), id];
  if (v.length >= 8) h.push(v.length);
  return cat(Uint8Array.from(h), v);
}

test(`fuzz: ${ITERATIONS} mutated CoAP requests and responses into a registered client, zero traps (seed ${SEED})`, () => {
  console.log(`fuzz-lwm2m-client seed=${SEED} iterations=${ITERATIONS}`);
  const rnd = prng(SEED);
  const clock = new FakeClock(0);
  const net = new Net();
  const dev = new Device({ net, clock, manualTimers: true });
  let fatal: unknown = null;
  let lastInput: Uint8Array = new Uint8Array(0);
  dev.on("fatal", (e) => { fatal = e; });
  assert.equal(dev.start(), 7);

  const config = {
    endpoint: "fuzz1",
    bootstrap: { uri: `coap://127.0.0.1:${BS_PORT}`, clientHoldOffTime: 5 },
    servers: [{ uri: `coap://127.0.0.1:${SRV_PORT}`, shortServerId: 101, lifetime: 600, communicationRetryTimer: 1 }],
  };
  let mid = 1;
  const tok = () => rnd.bytes(rnd.int(9));
  /** Answers the device's requests (Register, Update, Bootstrap-Request) correctly. */
  function serve() {
    for (let guard = 0; guard < 20 && net.sent.length; guard++) {
      const out = net.sent.splice(0);
      for (const s of out) {
        const m = decode(s.raw); // our own output must always be well-formed
        if (m.type !== T.CON || m.code < 1 || m.code > 4) continue;
        const path = opt(m, O.URI_PATH).map(text).join("/");
        const code = m.code === C.DELETE ? C.DELETED : path === "rd" ? C.CREATED : 0x44;
        const options: [number, Uint8Array][] = path === "rd" ? [[O.LOCATION_PATH, ascii("rd")], [O.LOCATION_PATH, ascii("f1")]] : [];
        dev.deliver(s.peer, encode({ type: T.ACK, code, mid: m.mid, token: m.token, options }));
      }
    }
  }
  function ensureRegistered() {
    if (!dev.provisioned) dev.provision(config);
    for (let i = 0; i < 40 && dev.state(101) !== 4; i++) {
      serve();
      if (dev.state(101) === 4) break;
      dev.advance(2_000);
    }
    serve();
  }

  // ---- the corpus: real exchanges of every kind ----
  const req = (code: number, path: string, extra: [number, Uint8Array][] = [], payload?: Uint8Array) =>
    encode({ type: T.CON, code, mid: mid++ & 0xffff, token: tok(), options: [...uriPath(path), ...extra], payload });
  const seeds: (() => [number, Uint8Array])[] = [
    () => [SRV_PORT, req(C.GET, "/3/0")],
    () => [SRV_PORT, req(C.GET, "/3/0/0", [[O.ACCEPT, u(0)]])],
    () => [SRV_PORT, req(C.GET, "/1/0", [[O.ACCEPT, u(110)]])],
    () => [SRV_PORT, req(C.GET, "/3/0", [[O.ACCEPT, u(112)], [O.BLOCK2, block(rnd.int(4), false, rnd.int(3))]])],
    () => [SRV_PORT, req(C.GET, "/3", [[O.ACCEPT, u(40)]])],
    () => [SRV_PORT, req(C.GET, "/3/0/9", [[O.OBSERVE, u(0)]])],
    () => [SRV_PORT, req(C.GET, "/1/0/1", [[O.OBSERVE, u(rnd.int(2))]])],
    () => [SRV_PORT, req(C.PUT, "/1/0/2", [[O.CONTENT_FORMAT, u(0)]], ascii(String(rnd.int(100))))],
    () => [SRV_PORT, req(C.POST, "/1/0", [[O.CONTENT_FORMAT, u(11542)]], tlv(0xc0, 3, u(rnd.int(200) + 1)))],
    () => [SRV_PORT, req(C.PUT, "/3/0/9", [[O.URI_QUERY, ascii("pmin=1")], [O.URI_QUERY, ascii("pmax=5")], [O.URI_QUERY, ascii("gt=50.5")]])],
    () => [SRV_PORT, req(C.POST, "/16", [[O.CONTENT_FORMAT, u(11542)]], tlv(0x00, rnd.int(3), tlv(0x80, 0, tlv(0x40, 0, ascii("id")))))],
    () => [SRV_PORT, req(C.POST, "/16", [[O.CONTENT_FORMAT, u(110)]], ascii(`[{"bn":"/16/1/0/","n":"0","vs":"x"}]`))],
    () => [SRV_PORT, req(C.DELETE, `/16/${rnd.int(3)}`)],
    () => [SRV_PORT, req(C.POST, "/1/0/8")],
    () => [SRV_PORT, req(C.POST, "/16/0/1", [], ascii("0='a',1"))],
    () => [SRV_PORT, req(C.PUT, "/16/0", [[O.CONTENT_FORMAT, u(11542)], [O.BLOCK1, block(rnd.int(3), rnd.int(2) === 1, 0)]], rnd.bytes(16))],
    () => [SRV_PORT, req(C.GET, "/0/0/5")],
    () => [SRV_PORT, req(C.PUT, "/0/1/0", [[O.CONTENT_FORMAT, u(0)]], ascii("coap://evil"))],
    () => [SRV_PORT, encode({ type: T.NON, code: C.GET, mid: mid++ & 0xffff, token: tok(), options: uriPath("/3/0/1") })],
    () => [SRV_PORT, encode({ type: T.CON, code: 0, mid: mid++ & 0xffff })], // ping
    () => [SRV_PORT, encode({ type: T.RST, code: 0, mid: rnd.int(0x10000) })],
    () => [SRV_PORT, encode({ type: T.ACK, code: C.CHANGED, mid: rnd.int(0x10000), token: tok() })],
    () => [SRV_PORT, encode({ type: T.CON, code: C.CREATED, mid: mid++ & 0xffff, token: tok(), options: [[O.LOCATION_PATH, ascii("rd")]] })],
    () => [BS_PORT, req(C.PUT, "/1/0", [[O.CONTENT_FORMAT, u(11542)]], cat(tlv(0xc0, 0, u(101)), tlv(0xc0, 1, u(60))))],
    () => [BS_PORT, req(C.GET, "/", [[O.ACCEPT, u(40)]])],
    () => [BS_PORT, req(C.DELETE, "/0")],
    () => [BS_PORT, req(C.POST, "/bs")],
    () => [BS_PORT, req(C.PUT, "/0/1", [[O.CONTENT_FORMAT, u(112)]], rnd.bytes(1 + rnd.int(40)))],
  ];

  function mutate(b: Uint8Array): Uint8Array {
    const x = Array.from(b);
    const n = 1 + rnd.int(4);
    for (let k = 0; k < n; k++) {
      const op = rnd.int(8);
      const i = x.length ? rnd.int(x.length) : 0;
      if (op === 0 && x.length) x[i] ^= 1 << rnd.int(8);
      else if (op === 1 && x.length) x[i] = rnd.int(256);
      else if (op === 2) x.splice(i, 0, rnd.int(256));
      else if (op === 3 && x.length) x.splice(i, 1 + rnd.int(4));
      else if (op === 4) x.length = rnd.int(x.length + 1);
      else if (op === 5 && x.length > 4) x[4 + rnd.int(x.length - 4)] = [0x0d, 0x0e, 0xff, 0xd1, 0xe2][rnd.int(5)]; // option nibbles
      else if (op === 6) x.push(...rnd.bytes(rnd.int(20)));
      else if (op === 7 && x.length) x[0] = (x[0] & 0xf0) | rnd.int(16); // token length
    }
    return Uint8Array.from(x);
  }

  let malformedAnsweredOk = 0;
  let sec2 = 0;
  const stats = { delivered: 0, answered: 0, success: 0, registered: 0, bootstrapping: 0, reboots: 0 };
  dev.on("restart", () => stats.reboots++);
  for (let it = 0; it < ITERATIONS && !fatal; it++) {
    if (it % 50 === 0) ensureRegistered();
    if (it % 500 === 250 && dev.state(0) !== 8) {
      // open a bootstrap session (Bootstrap-Request Trigger, /1/0/9) so the Bootstrap-Server side is fuzzed too
      dev.deliver(net.handle(SRV_PORT), req(C.POST, "/1/0/9"));
      serve();
    }
    const [port, seed] = seeds[rnd.int(seeds.length)]();
    const input = rnd.int(10) === 0 ? seed : mutate(seed);
    lastInput = input;
    let wellFormed = true;
    let m: Msg | null = null;
    try { m = decode(input); } catch { wellFormed = false; }
    const handle = net.handle(port);
    if (handle < 0) continue;
    net.sent.length = 0;
    dev.deliver(handle, input);
    stats.delivered++;
    if (dev.state(101) === 4) stats.registered++;
    if (dev.state(0) === 8) stats.bootstrapping++;
    if (fatal) break;
    for (const s of net.sent) {
      let r: Msg;
      try { r = decode(s.raw); } catch { assert.fail(`the device sent a malformed datagram ${hex(s.raw)} for input ${hex(input)}`); }
      const answers = r.type === T.ACK || r.type === T.RST || (r.type === T.NON && r.code >= 64);
      if (!answers || net.portOf(s.peer) !== port) continue;
      stats.answered++;
      if (r.code >= 0x40 && r.code < 0x80) stats.success++;
      if (!wellFormed && r.code >= 0x40 && r.code < 0x80) malformedAnsweredOk++;
      // (a duplicate MID gets the cached answer of the earlier request, with its token: RFC 7252 §4.5)
      if (wellFormed && port === SRV_PORT && m && m.code >= 1 && m.code <= 4 && r.mid === m.mid && hex(r.token) === hex(m.token)
          && opt(m, O.URI_PATH).length && text(opt(m, O.URI_PATH)[0]) === "0" && r.code >= 0x40 && r.code < 0x80) {
        sec2++;
        console.log(`object 0 answered ${hex(s.raw)} to ${hex(input)}`);
      }
    }
    if (rnd.int(50) === 0) dev.advance(rnd.int(20_000));
  }
  console.log(`fuzz-lwm2m-client: ${JSON.stringify(stats)}`);
  if (fatal) assert.fail(`trap (seed ${SEED}) on input ${hex(lastInput)}: ${String(fatal)}`);
  assert.equal(malformedAnsweredOk, 0, "a datagram the reference decoder rejects never gets a 2.xx");
  assert.equal(sec2, 0, "Object 0 never answers 2.xx to an LwM2M Server");
  // still alive and serving
  ensureRegistered();
  net.sent.length = 0;
  const probe = encode({ type: T.CON, code: C.GET, mid: 0x7777, token: Uint8Array.of(9), options: uriPath("/3/0/0") });
  dev.deliver(net.handle(SRV_PORT), probe);
  const r = net.sent.map((s) => decode(s.raw)).find((x) => x.mid === 0x7777);
  assert.ok(r && r.code === C.CONTENT, "a valid Read still works after the fuzzing");
  assert.equal(fatal, null);
});
