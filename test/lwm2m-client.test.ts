// The LwM2M client of build/firmware.wasm (OMA-TS-LightweightM2M_Core-V1_1
// §6.1 Bootstrap, §6.2 Registration, §6.3 Device Management, §6.4 Reporting)
// in the Node Device, against scripted CoAP peers written here: the test
// plays the LwM2M Server and the Bootstrap-Server byte by byte (reference
// codec test/helpers/coap-harness.ts), with a fake clock for every timing
// rule (lifetime, pmin/pmax, Client Hold Off Time, retries, BS-4 timeout).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device, FakeClock, ClientState, type FactoryConfig, type ClientEvent } from "../host-shim/node/device";
import type { NetService } from "../host-shim/node/host";
import { encode, decode, opt, optUint, uriPath, ascii, text, block, readUint, T, C, O, type Msg } from "./helpers/coap-harness";
import { hex } from "./helpers/wasm";
import { needs, profileHas } from "./helpers/profile";

const F = { TEXT: 0, LINK: 40, OPAQUE: 42, SENML_JSON: 110, SENML_CBOR: 112, TLV: 11542 };
const X = {
  ...C, UNAUTHORIZED: 0x81, FORBIDDEN: 0x83, NOT_ACCEPTABLE: 0x86, INTERNAL: 0xa0, UNSUPPORTED: 0x8f,
};
const codeStr = (c: number) => `${c >> 5}.${String(c & 31).padStart(2, "0")}`;

// ---- LwM2M TLV (Core §7.4.3) -------------------------------------------------
type B = Uint8Array;
const cat = (...a: B[]) => { const o = new Uint8Array(a.reduce((s, x) => s + x.length, 0)); let p = 0; for (const x of a) { o.set(x, p); p += x.length; } return o; };
function tlv(kind: number, id: number, v: B): B {
  const h: number[] = [kind | (id > 255 ? 0x20 : 0)];
  if (id > 255) h.push(id >> 8, id & 255); else h.push(id);
  if (v.length < 8) h[0] |= v.length;
  else if (v.length < 256) { h[0] |= 0x08; h.push(v.length); }
  else { h[0] |= 0x10; h.push(v.length >> 8, v.length & 255); }
  return cat(Uint8Array.from(h), v);
}
function intB(v: number): B {
  for (const n of [1, 2, 4]) if (v >= -(2 ** (n * 8 - 1)) && v < 2 ** (n * 8 - 1)) {
    const o = new Uint8Array(n); let x = v < 0 ? v + 2 ** (n * 8) : v;
    for (let i = n - 1; i >= 0; i--) { o[i] = x & 255; x = Math.floor(x / 256); }
    return o;
  }
  throw new Error("range");
}
const inst = (id: number, ...r: B[]) => tlv(0x00, id, cat(...r));
const rInt = (id: number, v: number) => tlv(0xc0, id, intB(v));
const rStr = (id: number, s: string) => tlv(0xc0, id, ascii(s));
const rBool = (id: number, v: boolean) => tlv(0xc0, id, Uint8Array.of(v ? 1 : 0));
const rBytes = (id: number, v: B) => tlv(0xc0, id, v);
const multi = (id: number, ...ri: B[]) => tlv(0x80, id, cat(...ri));
const riStr = (id: number, s: string) => tlv(0x40, id, ascii(s));
interface Tlv { kind: number; id: number; value: B; children: Tlv[] }
function parseTlv(b: B): Tlv[] {
  const out: Tlv[] = [];
  for (let p = 0; p < b.length;) {
    const t = b[p++];
    const id = t & 0x20 ? (b[p++] << 8) | b[p++] : b[p++];
    const lt = (t >> 3) & 3;
    let n = t & 7;
    if (lt) { n = 0; for (let i = 0; i < lt; i++) n = (n << 8) | b[p++]; }
    const v = b.slice(p, p + n);
    p += n;
    const kind = t & 0xc0;
    out.push({ kind, id, value: v, children: kind === 0x00 || kind === 0x80 ? parseTlv(v) : [] });
  }
  return out;
}

/** A Security instance (/0/iid) as a Bootstrap-Write payload. */
function secInstance(iid: number, uri: string, bs: boolean, ssid?: number, extra: B[] = []): B {
  const r = [rStr(0, uri), rBool(1, bs), rInt(2, 3), rBytes(3, new Uint8Array(0)), rBytes(4, new Uint8Array(0)), rBytes(5, new Uint8Array(0))];
  if (ssid !== undefined) r.push(rInt(10, ssid));
  return inst(iid, ...r, ...extra);
}
function srvInstance(iid: number, ssid: number, lifetime: number, extra: B[] = []): B {
  return inst(iid, rInt(0, ssid), rInt(1, lifetime), rBool(6, true), rStr(7, "U"), ...extra);
}

// ---- scripted network and peers --------------------------------------------------
interface Sent { peer: number; raw: Uint8Array; msg: Msg }

class ScriptNet implements NetService {
  opened: { handle: number; host: string; port: number }[] = [];
  queue: Sent[] = [];
  closed: number[] = [];
  open(host: string, port: number) {
    const handle = 100 + this.opened.length;
    this.opened.push({ handle, host, port });
    return handle;
  }
  /** DTLS records (content types 20..23, version FEFD) sent to a coaps:// account: kept raw, not CoAP. */
  dtls: Sent[] = [];
  send(peer: number, data: Uint8Array) {
    if (data.length >= 3 && data[0] >= 20 && data[0] <= 23 && data[1] === 0xfe && data[2] === 0xfd) {
      this.dtls.push({ peer, raw: data.slice() } as Sent);
      return 0;
    }
    this.queue.push({ peer, raw: data.slice(), msg: decode(data) });
    return 0;
  }
  close(peer: number) { this.closed.push(peer); }
  /** The newest handle opened towards this port (-1 none). */
  handleFor(port: number) {
    for (let i = this.opened.length - 1; i >= 0; i--) if (this.opened[i].port === port) return this.opened[i].handle;
    return -1;
  }
}

const pathOf = (m: Msg) => "/" + opt(m, O.URI_PATH).map(text).join("/");
const queryOf = (m: Msg) => opt(m, O.URI_QUERY).map(text);
const locationOf = (m: Msg) => opt(m, O.LOCATION_PATH).map(text);

interface ReqOpts { query?: string[]; cf?: number; accept?: number; payload?: B; observe?: number; block2?: B; block1?: B; size1?: number; token?: B; type?: number; options?: [number, B][] }

class Peer {
  mid = 0x4000;
  tok = 0x1000;
  constructor(readonly h: Harness, readonly port: number) {}
  get handle() { return this.h.net.handleFor(this.port); }
  /** Sent to this peer (any handle the device opened towards its port, e.g. before a reboot). */
  private mine(q: Sent) { return this.h.net.opened.some((o) => o.handle === q.peer && o.port === this.port); }
  /** Messages the device has sent to this peer so far (taken). */
  takeAll(): Msg[] {
    const out: Msg[] = [];
    this.h.net.queue = this.h.net.queue.filter((q) => { if (this.mine(q)) { out.push(q.msg); return false; } return true; });
    return out;
  }
  next(what = "a message"): Msg {
    const i = this.h.net.queue.findIndex((q) => this.mine(q));
    assert.ok(i >= 0, `expected ${what} to port ${this.port}; queue: ${this.h.net.queue.map((q) => `${q.peer}:${codeStr(q.msg.code)} ${pathOf(q.msg)}`).join(", ")}`);
    return this.h.net.queue.splice(i, 1)[0].msg;
  }
  none(why = "") {
    const left = this.h.net.queue.filter((q) => this.mine(q));
    assert.equal(left.length, 0, `no message expected to port ${this.port} ${why}: ${left.map((q) => codeStr(q.msg.code) + " " + pathOf(q.msg)).join(", ")}`);
  }
  deliver(b: Uint8Array) { this.h.dev.deliver(this.handle, b); }
  /** Piggybacked response to a request the device sent. */
  reply(req: Msg, code: number, options: [number, B][] = [], payload?: B) {
    this.deliver(encode({ type: T.ACK, code, mid: req.mid, token: req.token, options, payload }));
  }
  /** A request to the device; returns its (piggybacked) response. */
  request(code: number, path: string, o: ReqOpts = {}): Msg {
    const options: [number, B][] = [...uriPath(path), ...(o.options ?? [])];
    for (const q of o.query ?? []) options.push([O.URI_QUERY, ascii(q)]);
    if (o.cf !== undefined) options.push([O.CONTENT_FORMAT, uintB(o.cf)]);
    if (o.accept !== undefined) options.push([O.ACCEPT, uintB(o.accept)]);
    if (o.observe !== undefined) options.push([O.OBSERVE, uintB(o.observe)]);
    if (o.block2) options.push([O.BLOCK2, o.block2]);
    if (o.block1) options.push([O.BLOCK1, o.block1]);
    if (o.size1 !== undefined) options.push([O.SIZE1, uintB(o.size1)]);
    const mid = this.mid++ & 0xffff;
    const token = o.token ?? uintB(this.tok++);
    this.deliver(encode({ type: o.type ?? T.CON, code, mid, token, options, payload: o.payload }));
    const r = this.next(`the response to ${codeStr(code)} ${path}`);
    assert.equal(r.type, (o.type ?? T.CON) === T.CON ? T.ACK : T.NON, "piggybacked response");
    if ((o.type ?? T.CON) === T.CON) assert.equal(r.mid, mid);
    assert.deepEqual(r.token, token, "response token");
    return r;
  }
  get(path: string, o: ReqOpts = {}) { return this.request(C.GET, path, o); }
}

function uintB(v: number): B {
  const out: number[] = [];
  while (v > 0) { out.unshift(v & 0xff); v = Math.floor(v / 256); }
  return Uint8Array.from(out);
}

class Harness {
  clock = new FakeClock(0);
  net = new ScriptNet();
  dev: Device;
  fatal: unknown = null;
  constructor(flash?: Device["flash"], se?: Device["se"]) {
    this.dev = new Device({ net: this.net, clock: this.clock, manualTimers: true, flash, se });
    this.dev.on("fatal", (e) => { this.fatal = e; });
  }
  peer(port: number) { return new Peer(this, port); }
  events(name?: string): ClientEvent[] { return this.dev.events.filter((e) => !name || e.name === name); }
  lastEvent(name: string) { const e = this.events(name); return e[e.length - 1]; }
  clearEvents() { this.dev.events.length = 0; }
  at(t: number) { this.dev.advanceTo(t); }
  get now() { return this.clock.now; }
  /** A fresh device on the same flash and SE (a power cycle). */
  powerCycle(): Harness {
    const h = new Harness(this.dev.flash, this.dev.se);
    h.clock.now = this.clock.now;
    h.dev.start();
    return h;
  }
}

const SRV_PORT = 5683;
const BS_PORT = 5783;
const SRV_URI = `coap://127.0.0.1:${SRV_PORT}`;
const BS_URI = `coap://127.0.0.1:${BS_PORT}`;

function serverConfig(extra: Partial<FactoryConfig> = {}, srv: Record<string, unknown> = {}): FactoryConfig {
  return { endpoint: "dev1", servers: [{ uri: SRV_URI, shortServerId: 101, lifetime: 100, ...srv }], ...extra };
}

/** Answers the Register in the queue with 2.01 Location /rd/<loc>; returns the Register. */
function acceptRegister(s: Peer, loc = "a1b2"): Msg {
  const reg = s.next("Register");
  assert.equal(reg.code, C.POST);
  assert.equal(pathOf(reg), "/rd");
  s.reply(reg, C.CREATED, [[O.LOCATION_PATH, ascii("rd")], [O.LOCATION_PATH, ascii(loc)]]);
  return reg;
}

function registered(extra: Partial<FactoryConfig> = {}, srv: Record<string, unknown> = {}) {
  const h = new Harness();
  assert.equal(h.dev.start(), 7);
  h.dev.provision(serverConfig(extra, srv));
  const s = h.peer(SRV_PORT);
  const reg = acceptRegister(s);
  assert.equal(h.dev.state(101), ClientState.Registered);
  return { h, s, reg };
}

// ---------------------------------------------------------------------------------
// Registration (§6.2)

test("Register: ep, lt, lwm2m=1.1, b=U, link-format Objects without Object 0; 2.01 Location kept", () => {
  const h = new Harness();
  assert.equal(h.dev.start(), 7);
  assert.equal(h.dev.provisioned, false);
  h.dev.provision(serverConfig());
  assert.equal(h.dev.provisioned, true);
  const s = h.peer(SRV_PORT);
  const reg = s.next("Register");
  assert.equal(reg.type, T.CON);
  assert.equal(reg.code, C.POST);
  assert.equal(pathOf(reg), "/rd");
  assert.deepEqual(queryOf(reg), ["ep=dev1", "lt=100", "lwm2m=1.1", "b=U"]);
  assert.equal(optUint(reg, O.CONTENT_FORMAT), F.LINK);
  const links = text(reg.payload);
  assert.equal(links, "</1>;ver=1.1,</1/0>,</3/0>,</16>");
  assert.ok(!/<\/0[>/]/.test(links), "SEC-2: Object 0 is never listed");
  assert.ok(h.dev.logs.some((l) => l.levelName === "warn" && /INSECURE.*NoSec/.test(l.text)), "DTLS-11: NoSec reported loudly");
  assert.equal(h.events("insecure")[0]?.text, "coap://127.0.0.1:5683");
  s.reply(reg, C.CREATED, [[O.LOCATION_PATH, ascii("rd")], [O.LOCATION_PATH, ascii("a1b2")]]);
  const ev = h.lastEvent("registered");
  assert.deepEqual({ ssid: ev.ssid, text: ev.text, arg: ev.arg }, { ssid: 101, text: "/rd/a1b2", arg: 100 });
  assert.equal(h.dev.state(101), ClientState.Registered);
  assert.equal(h.fatal, null);
});

test("Update before the lifetime runs out, to the Location; lifetime change and Registration Update Trigger", () => {
  const { h, s } = registered();
  h.at(89_999);
  s.none("before 90 % of the lifetime");
  h.at(90_000);
  const up = s.next("Update");
  assert.equal(up.code, C.POST);
  assert.equal(pathOf(up), "/rd/a1b2");
  assert.deepEqual(queryOf(up), []);
  assert.equal(up.payload.length, 0);
  s.reply(up, C.CHANGED);
  assert.equal(h.lastEvent("updated").ssid, 101);
  // the server writes its lifetime: Update with lt= (§6.2.2)
  const w = s.request(C.PUT, "/1/0/1", { cf: F.TEXT, payload: ascii("300") });
  assert.equal(w.code, C.CHANGED);
  const up2 = s.next("Update after the lifetime changed");
  assert.deepEqual(queryOf(up2), ["lt=300"]);
  s.reply(up2, C.CHANGED);
  h.at(h.now + 269_999);
  s.none();
  h.at(h.now + 1);
  s.reply(s.next("Update at 90 % of the new lifetime"), C.CHANGED);
  // Registration Update Trigger (/1/0/8)
  assert.equal(s.request(C.POST, "/1/0/8").code, C.CHANGED);
  const up3 = s.next("Update after the trigger");
  assert.equal(pathOf(up3), "/rd/a1b2");
  s.reply(up3, C.CHANGED);
  // an Update answered 4.04 (registration gone): Register again
  h.at(h.now + 270_000);
  s.reply(s.next("Update"), C.NOT_FOUND);
  acceptRegister(s, "new1");
  assert.equal(h.lastEvent("registered").text, "/rd/new1");
  assert.equal(h.fatal, null);
});

test("De-register on shutdown; Disable de-registers and registers again after the Disable Timeout", async () => {
  const { h, s } = registered({}, { disableTimeout: 30 });
  assert.equal(s.request(C.POST, "/1/0/4").code, C.CHANGED); // Disable
  const del = s.next("De-register");
  assert.equal(del.code, C.DELETE);
  assert.equal(pathOf(del), "/rd/a1b2");
  s.reply(del, C.DELETED);
  assert.equal(h.lastEvent("deregistered").ssid, 101);
  assert.equal(h.lastEvent("disabled").arg, 30);
  assert.equal(h.dev.state(101), ClientState.Disabled);
  const t0 = h.now;
  h.at(t0 + 29_999);
  s.none("while disabled");
  h.at(t0 + 30_000);
  acceptRegister(s, "back");
  // shutdown
  h.clearEvents();
  await h.dev.shutdown();
  const d2 = s.next("De-register on shutdown");
  assert.equal(d2.code, C.DELETE);
  assert.equal(pathOf(d2), "/rd/back");
});

test("retries follow resources 17-20, then the client falls back to bootstrap (BS-2)", () => {
  const h = new Harness();
  h.dev.start();
  h.dev.provision(serverConfig({ bootstrap: { uri: BS_URI } }, {
    communicationRetryCount: 2, communicationRetryTimer: 10, communicationSequenceDelayTimer: 100, communicationSequenceRetryCount: 2,
  }));
  const s = h.peer(SRV_PORT);
  const b = h.peer(BS_PORT);
  const r1 = s.next("Register #1");
  s.reply(r1, X.FORBIDDEN);
  const t1 = h.now;
  h.at(t1 + 9_999);
  s.none("retry timer");
  h.at(t1 + 10_000);
  s.reply(s.next("Register #2 after Communication Retry Timer"), X.FORBIDDEN);
  const t2 = h.now;
  h.at(t2 + 99_999);
  s.none("sequence delay");
  h.at(t2 + 100_000);
  s.reply(s.next("Register #3: second sequence"), X.FORBIDDEN);
  b.none("not yet");
  h.at(h.now + 10_000);
  const r4 = s.next("Register #4");
  s.reply(r4, X.FORBIDDEN);
  assert.equal(h.dev.state(101), ClientState.Failed);
  assert.ok(h.events("registrationFailed").length >= 1);
  const bsr = b.next("Bootstrap-Request after every registration failed");
  assert.equal(pathOf(bsr), "/bs");
  assert.deepEqual(queryOf(bsr), ["ep=dev1", "pct=112"]);
  assert.equal(h.fatal, null);
});

test("an unanswered Register times out (CoAP retransmissions) and counts as a failed attempt", () => {
  const h = new Harness();
  h.dev.start();
  h.dev.provision(serverConfig({}, { communicationRetryCount: 1, communicationSequenceRetryCount: 1 }));
  const s = h.peer(SRV_PORT);
  const first = s.next("Register");
  h.at(200_000);
  const again = s.takeAll();
  assert.ok(again.length >= 4 && again.every((m) => m.mid === first.mid), "retransmissions of the same CON");
  assert.equal(h.dev.state(101), ClientState.Failed);
  assert.equal(h.lastEvent("registrationFailed").arg, -1);
});

// ---------------------------------------------------------------------------------
// Device management (§6.3)

test("Read, Write, Execute, Discover, Write-Attributes through CoAP with the server's identity", () => {
  const { h, s } = registered();
  // Read /3/0 without Accept: TLV
  let r = s.get("/3/0");
  assert.equal(r.code, C.CONTENT);
  assert.equal(optUint(r, O.CONTENT_FORMAT), F.TLV);
  const res = new Map(parseTlv(r.payload).map((t) => [t.id, t]));
  assert.equal(text(res.get(0)!.value), "lwm2m-wasm");
  assert.equal(text(res.get(16)!.value), "U");
  // single Resource: text/plain
  r = s.get("/3/0/0");
  assert.equal(optUint(r, O.CONTENT_FORMAT), F.TEXT);
  assert.equal(text(r.payload), "lwm2m-wasm");
  r = s.get("/1/0/1", { accept: F.SENML_JSON });
  if (profileHas("senml-json")) {
    assert.equal(optUint(r, O.CONTENT_FORMAT), F.SENML_JSON);
    assert.deepEqual(JSON.parse(text(r.payload)), [{ bn: "/1/0/1", v: 100 }]);
  } else assert.equal(r.code, X.NOT_ACCEPTABLE, "an Accept of a Content-Format compiled out: 4.06");
  // Write (replace) of a Resource, partial update of an instance
  assert.equal(s.request(C.PUT, "/1/0/2", { cf: F.TEXT, payload: ascii("5") }).code, C.CHANGED);
  assert.equal(s.request(C.POST, "/1/0", { cf: F.TLV, payload: rInt(3, 50) }).code, C.CHANGED);
  assert.equal(text(s.get("/1/0/2").payload), "5");
  assert.equal(text(s.get("/1/0/3").payload), "50");
  assert.equal(s.request(C.PUT, "/3/0/0", { cf: F.TEXT, payload: ascii("x") }).code, C.METHOD_NOT_ALLOWED, "read-only");
  assert.equal(s.request(C.PUT, "/1/0/1", { cf: F.TEXT, payload: ascii("abc") }).code, C.BAD_REQUEST);
  assert.equal(s.request(C.PUT, "/1/0/1", { cf: 9999, payload: ascii("1") }).code, X.UNSUPPORTED);
  assert.equal(s.get("/3/0/4").code, C.METHOD_NOT_ALLOWED, "executable");
  assert.equal(s.get("/4/0").code, C.NOT_FOUND);
  assert.equal(s.get("/3/0", { accept: 9999 }).code, X.NOT_ACCEPTABLE);
  // Execute: arguments checked
  assert.equal(s.request(C.POST, "/16/0/1").code, C.NOT_FOUND, "no instance yet");
  assert.equal(s.request(C.POST, "/1/0/8", { payload: ascii("bad args") }).code, C.BAD_REQUEST);
  s.takeAll();
  // Discover
  r = s.get("/3/0", { accept: F.LINK });
  assert.equal(optUint(r, O.CONTENT_FORMAT), F.LINK);
  assert.match(text(r.payload), /^<\/3\/0>,<\/3\/0\/0>,.*<\/3\/0\/11>;dim=1/);
  // Write-Attributes, visible in Discover
  assert.equal(s.request(C.PUT, "/3/0/9", { query: ["pmin=2", "pmax=20"] }).code, C.NOT_FOUND, "battery level not set yet");
  assert.equal(s.request(C.PUT, "/1/0/1", { query: ["pmin=2", "gt=50"] }).code, C.CHANGED);
  assert.match(text(s.get("/1/0/1", { accept: F.LINK }).payload), /<\/1\/0\/1>;pmin=2;gt=50/);
  assert.equal(s.request(C.PUT, "/1/0/1", { query: ["lt=60", "gt=50"] }).code, C.BAD_REQUEST, "lt < gt");
  assert.equal(s.request(C.PUT, "/1/0/7", { query: ["gt=1"] }).code, C.BAD_REQUEST, "gt on a string");
  assert.equal(s.request(5 /* FETCH */, "/3/0").code, C.METHOD_NOT_ALLOWED);
  assert.equal(h.fatal, null);
});

test("Create and Delete on /16 (Portfolio) with Location-Path, and the Registration Update they trigger", () => {
  const { h, s } = registered();
  const body = inst(0, multi(0, riStr(0, "host-a"), riStr(1, "host-b")));
  const r = s.request(C.POST, "/16", { cf: F.TLV, payload: body });
  assert.equal(r.code, C.CREATED);
  assert.deepEqual(locationOf(r), ["16", "0"]);
  const up = s.next("Update with the new Object list");
  assert.equal(pathOf(up), "/rd/a1b2");
  assert.equal(optUint(up, O.CONTENT_FORMAT), F.LINK);
  assert.equal(text(up.payload), "</1>;ver=1.1,</1/0>,</3/0>,</16/0>");
  s.reply(up, C.CHANGED);
  if (profileHas("senml-json")) {
    assert.deepEqual(JSON.parse(text(s.get("/16/0/0", { accept: F.SENML_JSON }).payload)),
      [{ bn: "/16/0/0/", n: "0", vs: "host-a" }, { n: "1", vs: "host-b" }]);
  } else assert.match(text(s.get("/16/0/0", { accept: F.TLV }).payload), /host-a[^]*host-b/);
  assert.equal(s.request(C.POST, "/16", { cf: F.TLV, payload: body }).code, C.BAD_REQUEST, "instance 0 exists");
  assert.equal(s.request(C.POST, "/16", { cf: F.TLV, payload: inst(1) }).code, C.BAD_REQUEST, "mandatory Identity missing");
  assert.equal(s.request(C.POST, "/16", { cf: F.TLV, payload: inst(1, multi(0, riStr(0, "y")), rInt(3, 1)) }).code, C.METHOD_NOT_ALLOWED, "Auth Status is read-only");
  assert.equal(s.request(C.POST, "/3", { cf: F.TLV, payload: inst(1) }).code, C.METHOD_NOT_ALLOWED);
  assert.equal(s.request(C.DELETE, "/3/0").code, C.METHOD_NOT_ALLOWED);
  assert.equal(s.request(C.DELETE, "/16/0").code, C.DELETED);
  const up2 = s.next("Update after Delete");
  assert.equal(text(up2.payload), "</1>;ver=1.1,</1/0>,</3/0>,</16>");
  s.reply(up2, C.CHANGED);
  assert.equal(s.get("/16/0").code, C.NOT_FOUND);
  assert.equal(s.request(C.DELETE, "/16/0").code, C.NOT_FOUND);
  assert.equal(h.fatal, null);
});

test("block-wise: Block2 read of a large representation (ETag, Size2), Block1 write", () => {
  const { h, s } = registered();
  const senml = profileHas("senml-json") ? F.SENML_JSON : F.SENML_CBOR; // the larger SenML the profile has
  const whole = s.get("/3/0", { accept: senml });
  assert.equal(whole.code, C.CONTENT);
  const full = whole.payload;
  assert.ok(full.length > (senml === F.SENML_JSON ? 100 : 64), `${full.length} bytes`); // /3/0: 164 B in SenML-JSON, 85 B in SenML-CBOR
  // early negotiation: 32-byte blocks (SZX 1)
  const parts: B[] = [];
  let etag: string | null = null;
  for (let num = 0; ; num++) {
    const r = s.get("/3/0", { accept: senml, block2: block(num, false, 1) });
    assert.equal(r.code, C.CONTENT);
    const b2 = optUint(r, O.BLOCK2);
    assert.equal(b2 >> 4, num);
    assert.equal(b2 & 7, 1);
    const e = hex(opt(r, O.ETAG)[0]);
    if (etag === null) { etag = e; assert.equal(optUint(r, O.SIZE2), full.length); } else assert.equal(e, etag, "same ETag for every block");
    parts.push(r.payload);
    if (!(b2 & 8)) break;
    assert.equal(r.payload.length, 32);
  }
  assert.deepEqual(cat(...parts), full);
  if (senml === F.SENML_JSON) assert.ok(Array.isArray(JSON.parse(text(cat(...parts)))));
  assert.equal(s.get("/3/0", { block2: block(99, false, 1) }).code, C.BAD_REQUEST, "block past the end");
  // Block1: create /16/0 with a body in 16-byte blocks
  const body = inst(0, multi(0, riStr(0, "a-rather-long-identity-01234567"), riStr(1, "second-identity-abcdefghij")));
  let r: Msg | null = null;
  for (let num = 0; num * 16 < body.length; num++) {
    const more = (num + 1) * 16 < body.length;
    r = s.request(C.POST, "/16", { cf: F.TLV, payload: body.slice(num * 16, num * 16 + 16), block1: block(num, more, 0), size1: num === 0 ? body.length : undefined });
    if (more) { assert.equal(r.code, C.CONTINUE); assert.equal(optUint(r, O.BLOCK1), (num << 4) | 8); }
  }
  assert.equal(r!.code, C.CREATED);
  s.takeAll();
  assert.equal(text(s.get("/16/0/0/0").payload), "a-rather-long-identity-01234567");
  // a Block1 block out of sequence: 4.08
  const bad = s.request(C.PUT, "/16/0", { cf: F.TLV, payload: body.slice(16, 32), block1: block(1, true, 0) });
  assert.equal(bad.code, 0x88);
  assert.equal(h.fatal, null);
});

// ---------------------------------------------------------------------------------
// SEC-2 / SEC-3 through CoAP

test("SEC-2 / SEC-3: every LwM2M Server operation on Object 0 is refused 4.04 and changes nothing", () => {
  const { h, s } = registered({ bootstrap: { uri: BS_URI } });
  const flashBefore = Buffer.from(h.dev.flash.read(0, h.dev.flash.size) as Uint8Array);
  const ops: [number, string, ReqOpts][] = [
    [C.GET, "/0", {}], [C.GET, "/0/0", {}], [C.GET, "/0/1/5", {}], [C.GET, "/0/1/0", { accept: F.TEXT }],
    [C.GET, "/0", { accept: F.LINK }], [C.GET, "/0/1", { observe: 0 }],
    [C.PUT, "/0/1/0", { cf: F.TEXT, payload: ascii("coap://evil:1") }], [C.PUT, "/0/1", { cf: F.TLV, payload: rStr(0, "coap://evil:1") }],
    [C.POST, "/0/1", { cf: F.TLV, payload: rInt(10, 7) }], [C.POST, "/0", { cf: F.TLV, payload: secInstance(5, "coap://evil:1", false, 9) }],
    [C.DELETE, "/0/0", {}], [C.DELETE, "/0", {}], [C.PUT, "/0/1/10", { query: ["pmin=1"] }], [C.POST, "/0/1/5", {}],
  ];
  for (const [code, path, o] of ops) {
    const r = s.request(code, path, o);
    assert.equal(r.code, C.NOT_FOUND, `${codeStr(code)} ${path}`);
    assert.equal(opt(r, O.OBSERVE).length, 0);
  }
  s.none("no Update: nothing changed");
  assert.ok(Buffer.from(h.dev.flash.read(0, h.dev.flash.size) as Uint8Array).equals(flashBefore), "nothing was persisted");
  // nothing changed: the device still registers with the same account after a power cycle
  const h2 = h.powerCycle();
  const s2 = h2.peer(SRV_PORT);
  const reg = acceptRegister(s2);
  assert.deepEqual(queryOf(reg), ["ep=dev1", "lt=100", "lwm2m=1.1", "b=U"]);
  assert.equal(h.fatal, null);
  assert.equal(h2.fatal, null);
});

test("Bootstrap-Finish from an LwM2M Server (no bootstrap session): POST /bs is 4.04, nothing happens", () => {
  const { h, s } = registered({ bootstrap: { uri: BS_URI } });
  const flashBefore = Buffer.from(h.dev.flash.read(0, h.dev.flash.size) as Uint8Array);
  assert.equal(s.request(C.POST, "/bs", {}).code, C.NOT_FOUND);
  s.none("no Update, no new Register");
  assert.ok(Buffer.from(h.dev.flash.read(0, h.dev.flash.size) as Uint8Array).equals(flashBefore), "nothing was persisted");
  assert.equal(h.fatal, null);
});

test("SEC-3: a PSK given at provisioning is sealed in the store, never left in linear memory", () => {
  const h = new Harness();
  h.dev.start();
  const key = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  h.dev.provision({
    endpoint: "dev-psk",
    bootstrap: { uri: "coaps://127.0.0.1:5784", securityMode: "psk", pskIdentity: "dev-psk-bs", pskKey: key },
    servers: [{ uri: SRV_URI, shortServerId: 101 }],
  });
  const mem = Buffer.from(new Uint8Array(h.dev.memory.buffer));
  assert.equal(mem.indexOf(Buffer.from(key)), -1, "the PSK bytes are not in linear memory");
  mem.set(key, 1024); // the scan can fail
  assert.notEqual(mem.indexOf(Buffer.from(key)), -1);
  const flash = Buffer.from(h.dev.flash.read(0, h.dev.flash.size) as Uint8Array);
  assert.equal(flash.indexOf(Buffer.from(key)), -1, "not in the flash image in the clear either");
  acceptRegister(h.peer(SRV_PORT));
  if (profileHas("rpk")) {
    // an RPK account: the private key goes into an SE slot (se_import_p256), never stays in linear memory
    const priv = Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + 5) & 0xff);
    const spki = Uint8Array.from({ length: 91 }, (_, i) => i);
    h.dev.provision({
      endpoint: "dev-rpk",
      servers: [{ uri: "coaps://127.0.0.1:5684", securityMode: "rpk", publicKey: spki, secretKey: priv, serverPublicKey: spki, shortServerId: 7 }],
    });
    assert.equal(Buffer.from(new Uint8Array(h.dev.memory.buffer)).indexOf(Buffer.from(priv)), -1);
    assert.deepEqual(h.dev.se.occupiedSlots(), [1], "the key is in SE slot 1");
  }
  // a PSK account opens a DTLS handshake (no fallback to NoSec): the account waits in Connecting,
  // and the PSK is not left in RAM after the ClientHello went out
  h.dev.provision({
    endpoint: "dev-psk",
    servers: [{ uri: "coaps://127.0.0.1:5684", securityMode: "psk", pskIdentity: "dev-psk", pskKey: key, shortServerId: 101 }],
  });
  // (the DTLS handshake itself is proven in test/lwm2m-client-dtls.test.ts against coap-rd-gnutls)
  assert.ok([ClientState.Wait, ClientState.Connecting].includes(h.dev.state(101) as 1 | 2), `state ${h.dev.state(101)}`);
  assert.ok(!h.dev.logs.some((l) => /INSECURE/.test(l.text) && /5684/.test(l.text)), "no NoSec fallback for a PSK account");
  assert.equal(Buffer.from(new Uint8Array(h.dev.memory.buffer)).indexOf(Buffer.from(key)), -1, "the PSK is not left in RAM");
  assert.equal(h.fatal, null);
});

// ---------------------------------------------------------------------------------
// Reporting (§6.4)

test("Observe with pmin / pmax: notifications held back by pmin, forced by pmax; Cancel; RST", () => {
  const { h, s } = registered({}, { lifetime: 86400 }); // no Update in the way
  h.dev.setResource(3, 0, 9, 80); // battery level
  s.takeAll();
  assert.equal(s.request(C.PUT, "/3/0/9", { query: ["pmin=10", "pmax=60"] }).code, C.CHANGED);
  const token = Uint8Array.of(0xbe, 0xef);
  const first = s.get("/3/0/9", { observe: 0, token });
  assert.equal(first.code, C.CONTENT);
  const seq0 = optUint(first, O.OBSERVE);
  assert.ok(seq0 >= 0);
  assert.equal(text(first.payload), "80");
  assert.equal(h.lastEvent("observed").text, "/3/0/9");
  const t0 = h.now;
  // a change right away: held back until pmin
  h.clock.now = t0 + 1000;
  h.dev.setResource(3, 0, 9, 70);
  s.none("pmin holds it back");
  h.at(t0 + 9_999);
  s.none();
  h.at(t0 + 10_000);
  const n1 = s.next("notification at pmin");
  assert.deepEqual(n1.token, token);
  assert.equal(n1.code, C.CONTENT);
  assert.equal(text(n1.payload), "70");
  assert.ok(optUint(n1, O.OBSERVE) > seq0, "increasing sequence numbers");
  assert.equal(h.lastEvent("notification").text, "/3/0/9");
  // no change: pmax forces one 60 s after the last
  h.at(t0 + 69_999);
  s.none();
  h.at(t0 + 70_000);
  const n2 = s.next("notification at pmax");
  assert.equal(text(n2.payload), "70");
  assert.ok(optUint(n2, O.OBSERVE) > optUint(n1, O.OBSERVE));
  // a change after pmin has passed goes out at once
  h.at(t0 + 85_000);
  h.dev.setResource(3, 0, 9, 65);
  assert.equal(text(s.next("immediate notification").payload), "65");
  // Cancel Observe (GET with Observe=1)
  const c = s.get("/3/0/9", { observe: 1, token });
  assert.equal(c.code, C.CONTENT);
  assert.equal(opt(c, O.OBSERVE).length, 0);
  assert.equal(h.lastEvent("observeCancelled").text, "/3/0/9");
  h.dev.setResource(3, 0, 9, 10);
  h.at(h.now + 200_000);
  assert.equal(s.takeAll().filter((m) => m.code === C.CONTENT && m.type !== T.CON).length, 0, "no notification after Cancel");
  // observe again, then a RST to a notification ends it
  s.get("/3/0/9", { observe: 0, token: Uint8Array.of(7) });
  h.at(h.now + 10_000);
  h.dev.setResource(3, 0, 9, 11);
  const n3 = s.next("notification");
  s.deliver(encode({ type: T.RST, code: 0, mid: n3.mid }));
  h.dev.setResource(3, 0, 9, 12);
  h.at(h.now + 100_000);
  assert.equal(s.takeAll().filter((m) => m.code === C.CONTENT).length, 0, "RST ended the observation");
  assert.equal(h.fatal, null);
});

test("Observe with gt / lt / st: only qualifying changes of a numeric Resource are notified", () => {
  const { h, s } = registered({}, { lifetime: 86400 });
  h.dev.setResource(3, 0, 9, 50);
  assert.equal(s.request(C.PUT, "/3/0/9", { query: ["gt=80", "lt=20", "st=15"] }).code, C.CHANGED);
  s.get("/3/0/9", { observe: 0 });
  const step = (v: number) => { h.at(h.now + 1000); h.dev.setResource(3, 0, 9, v); return s.takeAll().map((m) => text(m.payload)); };
  assert.deepEqual(step(55), [], "+5: below st, no threshold crossed");
  assert.deepEqual(step(64), [], "+14 from the last notified value (50)");
  assert.deepEqual(step(66), ["66"], "+16 >= st");
  assert.deepEqual(step(75), [], "+9");
  assert.deepEqual(step(81), ["81"], "crossed gt upwards");
  assert.deepEqual(step(79), ["79"], "crossed gt downwards");
  assert.deepEqual(step(70), [], "-9");
  assert.deepEqual(step(19), ["19"], "crossed lt");
  // a Delete of the observed instance ends the observation with 4.04 (§6.4.2)
  const cr = s.request(C.POST, "/16", { cf: F.TLV, payload: inst(0, multi(0, riStr(0, "x"))) });
  assert.equal(cr.code, C.CREATED);
  s.reply(s.next("Update"), C.CHANGED);
  const tok = Uint8Array.of(0x16);
  assert.equal(s.get("/16/0", { observe: 0, token: tok }).code, C.CONTENT);
  assert.equal(s.request(C.DELETE, "/16/0").code, C.DELETED);
  h.at(h.now + 1);
  const msgs = s.takeAll();
  const last = msgs.find((m) => hex(m.token) === "16");
  assert.ok(last, "a final notification");
  assert.equal(last!.code, C.NOT_FOUND);
  assert.equal(h.fatal, null);
});

// ---------------------------------------------------------------------------------
// Bootstrap (§6.1)

/** Runs a Bootstrap-Server session on peer b: Delete, Discover, Writes, Finish. Returns the Finish code. */
function bootstrapSession(b: Peer, writes: [string, B][], opts: { discover?: boolean } = {}): number {
  assert.equal(b.request(C.DELETE, "/0").code, C.DELETED);
  assert.equal(b.request(C.DELETE, "/1").code, C.DELETED);
  if (opts.discover !== false) {
    const d = b.get("/", { accept: F.LINK });
    assert.equal(d.code, C.CONTENT);
    assert.match(text(d.payload), /^<\/>;lwm2m=1\.1,/);
  }
  for (const [path, payload] of writes) assert.equal(b.request(C.PUT, path, { cf: F.TLV, payload }).code, C.CHANGED, `write ${path}`);
  return b.request(C.POST, "/bs").code;
}

function bootstrapOnly(bs: Record<string, unknown> = {}, lowEntropy = false) {
  const h = new Harness();
  h.dev.start();
  h.dev.provision({ endpoint: "dev-bs", bootstrap: { uri: BS_URI, lowEntropy, ...bs } });
  return { h, b: h.peer(BS_PORT), s: h.peer(SRV_PORT) };
}

const GOOD_WRITES = (): [string, B][] => [
  ["/0/1", secInstance(1, SRV_URI, false, 101)],
  ["/1/0", srvInstance(0, 101, 60)],
];

test("bootstrap then register: Bootstrap-Request with ep and pct, Write / Delete / Discover / Read, Finish, Register", () => {
  const { h, b, s } = bootstrapOnly();
  const req = b.next("Bootstrap-Request");
  assert.equal(req.code, C.POST);
  assert.equal(pathOf(req), "/bs");
  assert.deepEqual(queryOf(req), ["ep=dev-bs", "pct=112"]);
  assert.equal(h.events("bootstrapRequested").length, 1);
  b.reply(req, C.CHANGED);
  assert.equal(h.dev.state(0), ClientState.Bootstrapping);
  // Bootstrap-Discover lists the kept Bootstrap-Server account
  assert.equal(b.request(C.DELETE, "/0").code, C.DELETED);
  const d = b.get("/", { accept: F.LINK });
  assert.equal(text(d.payload), `</>;lwm2m=1.1,</0>;ver=1.1,</0/0>;uri="${BS_URI}",</1>;ver=1.1,</3/0>,</16>`);
  assert.equal(b.request(C.DELETE, "/0/0").code, C.BAD_REQUEST, "the Bootstrap-Server account stays");
  assert.equal(b.request(C.PUT, "/0/1", { cf: F.TLV, payload: secInstance(1, SRV_URI, false, 101) }).code, C.CHANGED);
  // a SenML-JSON write is fine too (a profile without it: 4.15, and the same instance in TLV)
  const senml = JSON.stringify([{ bn: "/1/0/", n: "0", v: 101 }, { n: "1", v: 60 }, { n: "6", vb: true }, { n: "7", vs: "U" }]);
  if (profileHas("senml-json")) {
    assert.equal(b.request(C.PUT, "/1/0", { cf: F.SENML_JSON, payload: ascii(senml) }).code, C.CHANGED);
    // Bootstrap-Read: Server Object yes, Security Object no (4.01), Device no
    const rd = b.get("/1/0", { accept: F.SENML_JSON });
    assert.equal(rd.code, C.CONTENT);
    assert.equal(JSON.parse(text(rd.payload))[0].v, 101);
  } else {
    assert.equal(b.request(C.PUT, "/1/0", { cf: F.SENML_JSON, payload: ascii(senml) }).code, X.UNSUPPORTED);
    assert.equal(b.request(C.PUT, "/1/0", { cf: F.TLV, payload: srvInstance(0, 101, 60) }).code, C.CHANGED);
    assert.equal(b.get("/1/0", { accept: F.TLV }).code, C.CONTENT);
  }
  assert.equal(b.get("/0/1").code, X.UNAUTHORIZED);
  assert.equal(b.get("/0/1/5").code, X.UNAUTHORIZED);
  assert.equal(b.request(C.PUT, "/3/0/0", { cf: F.TEXT, payload: ascii("x") }).code, C.METHOD_NOT_ALLOWED);
  s.none("nothing before Finish");
  assert.equal(b.request(C.POST, "/bs").code, C.CHANGED);
  assert.equal(h.events("bootstrapped").length, 1);
  const reg = acceptRegister(s);
  assert.deepEqual(queryOf(reg), ["ep=dev-bs", "lt=60", "lwm2m=1.1", "b=U"]);
  assert.equal(h.dev.state(101), ClientState.Registered);
  // a duplicate Finish (lost ACK) is answered from the cache while the connection lingers
  assert.equal(h.dev.state(0), ClientState.Lingering);
  h.at(h.now + 61_000);
  assert.equal(h.dev.state(0), ClientState.None);
  // the configuration survives a power cycle
  const h2 = h.powerCycle();
  acceptRegister(h2.peer(SRV_PORT));
  assert.equal(h.fatal, null);
});

test("Client Hold Off Time is honoured; a server-initiated bootstrap may come first", () => {
  const { h, b, s } = bootstrapOnly({ clientHoldOffTime: 30 });
  assert.ok(h.dev.logs.some((l) => /Client Hold Off Time 30 s/.test(l.text)));
  h.at(29_999);
  b.none("during the Client Hold Off Time");
  h.at(30_000);
  const req = b.next("Bootstrap-Request at the end of the hold-off");
  b.reply(req, C.CHANGED);
  assert.equal(bootstrapSession(b, GOOD_WRITES()), C.CHANGED);
  acceptRegister(s);

  // server-initiated: the Bootstrap-Server writes during the hold-off, no Bootstrap-Request at all
  const x = bootstrapOnly({ clientHoldOffTime: 30 });
  x.h.at(5_000);
  assert.equal(bootstrapSession(x.b, GOOD_WRITES()), C.CHANGED);
  assert.ok(x.h.dev.logs.some((l) => /server-initiated bootstrap/.test(l.text)));
  acceptRegister(x.s);
  x.h.at(60_000);
  assert.equal(x.b.takeAll().filter((m) => m.code === C.POST).length, 0, "no Bootstrap-Request after it");
  assert.equal(h.fatal, null);
  assert.equal(x.h.fatal, null);
});

test("BS-5: an incomplete bootstrap is refused (4.06) and the old configuration is intact, also across a reboot", () => {
  const { h, s } = registered({ bootstrap: { uri: BS_URI } });
  const b = h.peer(BS_PORT);
  // the server asks for a bootstrap (Bootstrap-Request Trigger, /1/0/9)
  assert.equal(s.request(C.POST, "/1/0/9").code, C.CHANGED);
  const req = b.next("Bootstrap-Request after the trigger");
  b.reply(req, C.CHANGED);
  // a server account without its Server Object instance
  const code = bootstrapSession(b, [["/0/1", secInstance(1, "coap://10.0.0.9:5683", false, 202)]]);
  assert.equal(code, X.NOT_ACCEPTABLE);
  assert.equal(h.lastEvent("bootstrapRefused").arg, -8 /* NoServerObject */);
  // a bad URI / mode pair is refused too
  assert.equal(b.request(C.PUT, "/1/0", { cf: F.TLV, payload: srvInstance(0, 202, 60) }).code, C.CHANGED);
  assert.equal(b.request(C.PUT, "/0/1", { cf: F.TLV, payload: secInstance(1, "coaps://10.0.0.9:5684", false, 202) }).code, C.CHANGED);
  assert.equal(b.request(C.POST, "/bs").code, X.NOT_ACCEPTABLE);
  assert.equal(h.lastEvent("bootstrapRefused").arg, -4 /* UriModeMismatch */);
  // still registered with the old server, which still answers for itself
  assert.equal(h.dev.state(101), ClientState.Registered);
  assert.equal(text(s.get("/1/0/0").payload), "101");
  // no Finish comes: the session is dropped after its timeout (MAX_TRANSMIT_WAIT of quiet)
  h.at(h.now + 93_000);
  assert.equal(h.lastEvent("bootstrapFailed").arg, -2 /* NoFinish */);
  s.takeAll();
  // reboot: the old configuration, registered-capable without provisioning
  const h2 = h.powerCycle();
  assert.equal(h2.dev.provisioned, true);
  const reg = acceptRegister(h2.peer(SRV_PORT));
  assert.deepEqual(queryOf(reg), ["ep=dev1", "lt=100", "lwm2m=1.1", "b=U"]);
  assert.equal(h2.net.opened.filter((o) => o.host === "10.0.0.9").length, 0, "the refused server was never contacted");
  assert.equal(h.fatal, null);
  assert.equal(h2.fatal, null);
});

test("a failed Bootstrap-Request and a session without Finish are retried later; nothing half-applied", () => {
  const { h, b, s } = bootstrapOnly();
  const r1 = b.next();
  b.reply(r1, 0xa3); // 5.03
  assert.equal(h.lastEvent("bootstrapFailed").arg, 0xa3);
  h.at(h.now + 14_999);
  b.none("retry back-off");
  h.at(h.now + 1);
  const r2 = b.next("retry");
  b.reply(r2, C.CHANGED);
  assert.equal(b.request(C.PUT, "/0/1", { cf: F.TLV, payload: secInstance(1, SRV_URI, false, 101) }).code, C.CHANGED);
  assert.equal(b.request(C.PUT, "/1/0", { cf: F.TLV, payload: srvInstance(0, 101, 60) }).code, C.CHANGED);
  h.at(h.now + 93_000);
  assert.equal(h.lastEvent("bootstrapFailed").arg, -2);
  s.none("the staged writes were dropped, never used");
  // the next attempt starts from the old configuration: Discover shows no server account
  h.at(h.now + 30_000);
  const r3 = b.next("next Bootstrap-Request");
  b.reply(r3, C.CHANGED);
  const d = text(b.get("/", { accept: F.LINK }).payload);
  assert.ok(!d.includes("</0/1>") && !d.includes("</1/0>"), d);
  assert.equal(h.fatal, null);
});

test("issue 7 (lossy network): a bootstrap session quiet for MAX_TRANSMIT_WAIT (93 s) is given up and requested again, not after EXCHANGE_LIFETIME (247 s)", () => {
  const { h, b } = bootstrapOnly();
  b.reply(b.next(), C.CHANGED);
  assert.equal(b.request(C.PUT, "/0/1", { cf: F.TLV, payload: secInstance(1, SRV_URI, false, 101) }).code, C.CHANGED);
  // the Bootstrap-Server gave up its next exchange (all its transmissions lost): nothing more comes
  const quiet = h.now;
  h.at(quiet + 92_999);
  assert.equal(h.dev.state(0), ClientState.Bootstrapping, "a living server could still reach us");
  h.at(quiet + 93_000);
  assert.equal(h.lastEvent("bootstrapFailed").arg, -2 /* NoFinish */);
  b.takeAll();
  h.at(quiet + 93_000 + 14_999);
  b.none("the retry back-off (15 s) runs");
  h.at(quiet + 93_000 + 15_000);
  assert.equal(pathOf(b.next("a new Bootstrap-Request, 108 s after the last operation")), "/bs");
  assert.equal(h.fatal, null);
});

// ---------------------------------------------------------------------------------
// BS-4: Bootstrap-Server account clean-up by key entropy

/** Whether the device still has a Bootstrap-Server account: ask for a bootstrap (trigger) and see. */
function hasBootstrapAccount(h: Harness, s: Peer): boolean {
  h.clearEvents();
  assert.equal(s.request(C.POST, "/1/0/9").code, C.CHANGED);
  if (h.events("bootstrapRequested").length) return true;
  assert.equal(h.lastEvent("bootstrapFailed").arg, -4 /* NoAccount */);
  return false;
}

function bs4(bs: Record<string, unknown>, lowEntropy: boolean, writes = GOOD_WRITES()) {
  const { h, b, s } = bootstrapOnly(bs, lowEntropy);
  b.reply(b.next(), C.CHANGED);
  assert.equal(bootstrapSession(b, writes), C.CHANGED);
  acceptRegister(s);
  return { h, b, s };
}

test("BS-4: a high-entropy Bootstrap-Server account is kept", () => {
  const { h, s } = bs4({ bootstrapServerAccountTimeout: 0 }, false);
  assert.equal(hasBootstrapAccount(h, s), true);
  assert.equal(h.fatal, null);
});

test("BS-4: a low-entropy account without timeout is purged at once", () => {
  const { h, b, s } = bs4({}, true);
  // the lingering Bootstrap-Server connection is refused now
  assert.equal(b.get("/", { accept: F.LINK }).code, X.UNAUTHORIZED);
  assert.equal(hasBootstrapAccount(h, s), false);
  assert.equal(h.fatal, null);
});

test("BS-4: a low-entropy account is purged after the Bootstrap-Server Account Timeout (fake clock, across a reboot)", () => {
  const { h, b, s } = bs4({ bootstrapServerAccountTimeout: 3600 }, true);
  const t0 = h.now;
  assert.match(text(b.get("/", { accept: F.LINK }).payload), /<\/0\/0>;uri=/, "still there right after Finish");
  h.at(t0 + 1_800_000);
  // reboot half way: the timer restarts from the boot (the clock is monotonic per boot)
  const h2 = h.powerCycle();
  const s2 = h2.peer(SRV_PORT);
  acceptRegister(s2);
  const t1 = h2.now;
  h2.at(t1 + 3_599_000);
  s2.takeAll().forEach((m) => s2.reply(m, C.CHANGED));
  assert.ok(!h2.dev.logs.some((l) => /purged/.test(l.text)));
  h2.at(t1 + 3_600_000);
  assert.ok(h2.dev.logs.some((l) => /low-entropy account purged \(BS-4\)/.test(l.text)));
  s2.takeAll().forEach((m) => s2.reply(m, C.CHANGED));
  assert.equal(hasBootstrapAccount(h2, s2), false);
  assert.equal(h.fatal, null);
  assert.equal(h2.fatal, null);
});

test("BS-4: a low-entropy account replaced by a new account written during bootstrap is not purged", () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const newBs = secInstance(0, BS_URI, true, undefined, [rBytes(5, key)]);
  const { h, s } = bs4({}, true, [["/0/0", newBs], ...GOOD_WRITES()]);
  // SEC-3: the secret written by the Bootstrap-Server went to the sealed store; no copy in linear memory
  assert.equal(Buffer.from(new Uint8Array(h.dev.memory.buffer)).indexOf(Buffer.from(key)), -1);
  assert.equal(hasBootstrapAccount(h, s), true);
  assert.equal(h.fatal, null);
});

// ---------------------------------------------------------------------------------
// Device executes

test("Reboot (/3/0/4) restarts the firmware, which registers again from its stored configuration", () => {
  const { h, s } = registered();
  let restarts = 0;
  h.dev.on("restart", () => restarts++);
  assert.equal(s.request(C.POST, "/3/0/4").code, C.CHANGED);
  assert.equal(restarts, 1);
  assert.equal(h.events("reboot").length, 1);
  const reg = acceptRegister(s, "again");
  assert.deepEqual(queryOf(reg), ["ep=dev1", "lt=100", "lwm2m=1.1", "b=U"]);
  assert.equal(h.fatal, null);
});

test("Factory Reset (/3/0/5) de-registers, wipes the configuration and restarts unprovisioned", () => {
  const { h, s } = registered();
  assert.equal(s.request(C.POST, "/3/0/5").code, C.CHANGED);
  const msgs = s.takeAll();
  assert.ok(msgs.some((m) => m.code === C.DELETE && pathOf(m) === "/rd/a1b2"), "De-register before the reset");
  assert.equal(h.events("factoryReset").length, 1);
  assert.equal(h.dev.provisioned, false);
  h.at(h.now + 100_000);
  assert.equal(s.takeAll().filter((m) => m.code === C.POST).length, 0, "no Register after the reset");
  const h2 = h.powerCycle();
  assert.equal(h2.dev.provisioned, false);
  assert.equal(h.fatal, null);
});

test("provisioning refuses an inconsistent factory configuration and keeps the previous one", () => {
  const h = new Harness();
  h.dev.start();
  assert.throws(() => h.dev.provision({ endpoint: "dev1", servers: [{ uri: "coaps://x:1", securityMode: "nosec", shortServerId: 1 }] }), /config error -4/);
  assert.throws(() => h.dev.provision({ endpoint: "bad&name", servers: [{ uri: SRV_URI, shortServerId: 1 }] }), /finish: CoAP 4.00/);
  assert.equal(h.dev.provisioned, false);
  h.dev.provision(serverConfig());
  acceptRegister(h.peer(SRV_PORT));
  assert.throws(() => h.dev.provision({ endpoint: "dev1", servers: [{ uri: "coap://x:1", shortServerId: 0 }] }), /CoAP 4.00|config error/);
  acceptRegister(h.peer(SRV_PORT), "kept"); // the running device goes on with the previous configuration
  const h2 = h.powerCycle();
  acceptRegister(h2.peer(SRV_PORT));
  assert.equal(h.fatal, null);
});

// ---------------------------------------------------------------------------------
// Issue 7 regression tests (defects 4 and 8)

test("issue 7 defect 4 (SEC-3): a Bootstrap-Write in Block1 pieces leaves no key bytes in linear memory after Finish", needs({ CAP_SECRET_KEY: 70 }), () => {
  const { h, b } = bootstrapOnly();
  b.reply(b.next("Bootstrap-Request"), C.CHANGED);
  assert.equal(b.request(C.DELETE, "/0").code, C.DELETED);
  assert.equal(b.request(C.PUT, "/1/0", { cf: F.TLV, payload: srvInstance(0, 101, 60) }).code, C.CHANGED);
  // PSKs with distinct bytes (any 6-byte run of one in memory is a leak), last in the instance, their
  // lengths chosen for what stays in the receive buffer when the wipe is missing:
  // key1 in 64-byte blocks with a 2-byte last block: the tail of the CONTINUE block before it is never
  // overwritten (later datagrams are shorter); key2 (written over key1) in 16-byte blocks with a 14-byte
  // last block: the final block, followed only by the short Finish
  const secOf = (key: B) => inst(1, rStr(0, "coaps://127.0.0.1:5684"), rBool(1, false), rInt(2, 0), rStr(3, "issue7-identity"),
    rBytes(4, new Uint8Array(0)), rInt(10, 101), rBytes(5, key));
  const keyFor = (seed: number, szx: number, rest: number) => {
    for (let n = 32; n < 120; n++) {
      const k = Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);
      if (secOf(k).length % (16 << szx) === rest) return k;
    }
    throw new Error("no key length fits");
  };
  const key1 = keyFor(0x9e, 2, 2), key2 = keyFor(0x31, 0, 14);
  for (const [key, szx] of [[key1, 2], [key2, 0]] as [B, number][]) {
    const sec = secOf(key), size = 16 << szx;
    for (let num = 0; num * size < sec.length; num++) {
      const more = (num + 1) * size < sec.length;
      const r = b.request(C.PUT, "/0/1", { cf: F.TLV, payload: sec.slice(num * size, num * size + size), block1: block(num, more, szx) });
      assert.equal(r.code, more ? C.CONTINUE : C.CHANGED, `block ${num} of ${size} bytes`);
    }
  }
  assert.equal(b.request(C.POST, "/bs").code, C.CHANGED);
  assert.equal(h.events("bootstrapped").length, 1);
  const mem = Buffer.from(new Uint8Array(h.dev.memory.buffer));
  for (const [name, key] of [["key1", key1], ["key2", key2]] as [string, B][]) {
    const leaks: number[] = [];
    for (let i = 0; i + 6 <= key.length; i++) if (mem.indexOf(Buffer.from(key.subarray(i, i + 6))) >= 0) leaks.push(i);
    assert.deepEqual(leaks, [], `no 6-byte run of ${name} is left in linear memory`);
  }
  mem.set(key2.subarray(10, 16), 2048); // the scan can find one
  assert.notEqual(mem.indexOf(Buffer.from(key2.subarray(10, 16))), -1);
  mem.fill(0, 2048, 2054);
  assert.equal(h.fatal, null);
});

test("issue 7 defect 8: a Register answered with Location-Path '.' or '..' is refused and never reused (RFC 7252 §5.10.7)", () => {
  for (const bad of [[".", "x"], ["rd", ".."], ["."]]) {
    const h = new Harness();
    h.dev.start();
    h.dev.provision(serverConfig({}, { communicationRetryCount: 1, communicationSequenceRetryCount: 1 }));
    const s = h.peer(SRV_PORT);
    const reg = s.next("Register");
    s.reply(reg, C.CREATED, bad.map((seg) => [O.LOCATION_PATH, ascii(seg)] as [number, B]));
    assert.notEqual(h.dev.state(101), ClientState.Registered, `Location-Path ${bad.join("/")} refused`);
    assert.ok(h.dev.logs.some((l) => /Location-Path/.test(l.text)), "the refusal is logged");
    h.at(h.now + 200_000);
    for (const m of s.takeAll()) {
      assert.ok(!(m.code === C.POST && pathOf(m) !== "/rd") && m.code !== C.DELETE, `no request to the refused location: ${codeStr(m.code)} ${pathOf(m)}`);
    }
    assert.equal(h.fatal, null);
  }
});

test("issue 7 defect 8: POST where no operation allows it answers 4.05 whatever the format; 4.15 only for an allowed method", () => {
  const { h, s } = registered();
  // /1/0/1 (Lifetime): single-instance, not executable: neither Execute nor a partial update (Transport §6.4.3)
  assert.equal(s.request(C.POST, "/1/0/1").code, C.METHOD_NOT_ALLOWED, "POST /1/0/1 without Content-Format");
  assert.equal(s.request(C.POST, "/1/0/1", { cf: F.TEXT, payload: ascii("50") }).code, C.METHOD_NOT_ALLOWED, "POST /1/0/1 text/plain");
  assert.equal(s.request(C.POST, "/3/0/0", { cf: F.TEXT, payload: ascii("x") }).code, C.METHOD_NOT_ALLOWED, "read-only Manufacturer");
  // /3/0: a partial update is allowed (Current Time /3/0/13 is writable), only the format is missing: 4.15
  assert.equal(s.request(C.POST, "/3/0").code, X.UNSUPPORTED, "POST /3/0 without Content-Format");
  assert.equal(s.request(C.POST, "/3/0", { cf: F.TLV, payload: rInt(13, 1_700_000_000) }).code, C.CHANGED, "a partial update of /3/0");
  // a multiple-instance resource takes a partial update (POST /16/0/0)
  assert.equal(s.request(C.POST, "/16", { cf: F.TLV, payload: inst(0, multi(0, riStr(0, "a"))) }).code, C.CREATED);
  s.takeAll();
  assert.equal(s.request(C.POST, "/16/0/0", { cf: F.TLV, payload: multi(0, riStr(1, "b")) }).code, C.CHANGED);
  assert.equal(h.fatal, null);
});
