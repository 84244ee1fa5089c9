// The development LwM2M Server and Bootstrap-Server, driven by clients
// scripted in this file: libcoap's coap-client-notls for Register / Update /
// De-register and Bootstrap-Request, and a scripted device (a UDP socket
// with the independent reference codec of test/helpers/coap-harness.ts) that
// answers the servers' requests with exact, inspectable messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LwM2MServer, LwM2MTimeoutError, NotRegisteredError, Notification, Registration } from "../server/lwm2m-server";
import { BootstrapServer, BootstrapResult, BootstrapConfig, ConfigError, loadBootstrapConfig, keyBytes } from "../server/bootstrap-server";
import { startDevServers, pskCredentialsFromConfig } from "../server/index";
import { runCommand, parseValue, words, parseArgs } from "../server/cli";
import { FAST_PARAMS } from "../server/coap";
import { decodeTlv, decodeSenmlCbor, encodeSenmlCbor, objlnk, LwM2MEntry } from "../server/formats";
import { encode, decode, Msg, T, C, O, ascii, text, opt, readUint, uintBytes, prng } from "./helpers/coap-harness";
import { requirePeer } from "./helpers/peers";
import { runCoapClient, coapBinary } from "./helpers/libcoap-peer";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLIENT = coapBinary("client");
const path = (m: Msg) => "/" + opt(m, O.URI_PATH).map(text).join("/");
const query = (m: Msg) => opt(m, O.URI_QUERY).map(text);
const cf = (m: Msg) => (opt(m, O.CONTENT_FORMAT).length ? readUint(opt(m, O.CONTENT_FORMAT)[0]) : -1);
const once = <T>(em: NodeJS.EventEmitter, ev: string, ms = 3000) => new Promise<T>((res, rej) => {
  const t = setTimeout(() => rej(new Error(`no '${ev}' within ${ms} ms`)), ms);
  em.once(ev, (x: T) => { clearTimeout(t); res(x); });
});

type Reply = Partial<Msg> & { code: number };
/** A device scripted in the test: answers requests with `onRequest`, makes CON requests, sends notifications. */
class ScriptedDevice {
  sock = dgram.createSocket("udp4");
  port = 0;
  mid = 0x1000;
  requests: Msg[] = [];
  onRequest: (m: Msg) => Reply | null = () => ({ code: C.NOT_FOUND });
  private waiting = new Map<number, (m: Msg) => void>();
  async start() {
    await new Promise<void>((r) => this.sock.bind(0, "127.0.0.1", () => r()));
    this.port = this.sock.address().port;
    this.sock.on("message", (buf, rinfo) => {
      const m = decode(new Uint8Array(buf));
      if (m.type === T.ACK || m.type === T.RST) { this.waiting.get(m.mid)?.(m); this.waiting.delete(m.mid); return; }
      if (m.code === 0) return;
      if (m.code < 32) {
        this.requests.push(m);
        const r = this.onRequest(m);
        if (!r) return; // stay silent
        const type = m.type === T.CON ? T.ACK : T.NON;
        this.sock.send(encode({ type, mid: m.type === T.CON ? m.mid : this.mid++, token: m.token, ...r }), rinfo.port, rinfo.address);
      } else if (m.type === T.CON) {
        this.sock.send(encode({ type: T.ACK, code: 0, mid: m.mid }), rinfo.port, rinfo.address);
      }
    });
    return this;
  }
  request(port: number, m: Partial<Msg> & { code: number }): Promise<Msg> {
    const mid = this.mid++;
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error("no answer")), 2000);
      this.waiting.set(mid, (a) => { clearTimeout(t); res(a); });
      this.sock.send(encode({ type: T.CON, mid, token: Uint8Array.of(mid & 0xff), ...m }), port, "127.0.0.1");
    });
  }
  send(port: number, m: Partial<Msg> & { type: number; code: number }) { this.sock.send(encode({ mid: this.mid++, ...m }), port, "127.0.0.1"); }
  async register(port: number, ep: string, links = "</1/0>,</3/0>", extra: string[] = []): Promise<string> {
    const a = await this.request(port, {
      code: C.POST, payload: ascii(links),
      options: [[O.URI_PATH, ascii("rd")], [O.CONTENT_FORMAT, uintBytes(40)], ...[`ep=${ep}`, "lt=60", "lwm2m=1.1", "b=U", ...extra].map((q) => [O.URI_QUERY, ascii(q)] as [number, Uint8Array])],
    });
    assert.equal(a.code, C.CREATED);
    return "/" + opt(a, O.LOCATION_PATH).map(text).join("/");
  }
  close() { return new Promise<void>((r) => this.sock.close(() => r())); }
}

async function withServer(body: (s: LwM2MServer, port: number) => Promise<void>, opts = {}) {
  const s = new LwM2MServer({ coap: FAST_PARAMS, ...opts });
  const a = await s.listen(0);
  try { await body(s, a.port); } finally { await s.close(); }
}

// ---- Registration interface ----------------------------------------------------------------

test("coap-client registers (2.01 + Location-Path /rd/<id>), updates (2.04) and de-registers (2.02)", async (t) => {
  if (!requirePeer(t, CLIENT)) return;
  await withServer(async (s, port) => {
    const reg = once<Registration>(s, "registered");
    let r = await runCoapClient(["-B", "3", "-v", "7", "-m", "post", `coap://127.0.0.1:${port}/rd?ep=x&lt=60&lwm2m=1.1&b=U`, "-t", "40", "-e", '</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>']);
    assert.equal(r.code, 0, r.stderr);
    const loc = /c:2\.01 .*Location-Path:rd, Location-Path:([0-9a-f]+)/.exec(r.stdout + r.stderr);
    assert.ok(loc, `2.01 with Location-Path in:\n${r.stdout}${r.stderr}`);
    const g = await reg;
    assert.equal(g.id, loc[1]);
    assert.deepEqual([g.endpoint, g.lifetime, g.version, g.binding, g.queueMode], ["x", 60, "1.1", "U", false]);
    assert.deepEqual(g.objectLinks.map((l) => l.uri), ["/", "/1/0", "/3/0"]);
    assert.equal(s.getRegistration("x"), g);

    const upd = once<Registration>(s, "updated");
    r = await runCoapClient(["-B", "3", "-v", "7", "-m", "post", `coap://127.0.0.1:${port}/rd/${g.id}?lt=120`]);
    assert.match(r.stdout + r.stderr, /c:2\.04/);
    assert.equal((await upd).lifetime, 120);

    r = await runCoapClient(["-B", "3", "-m", "post", `coap://127.0.0.1:${port}/rd/nosuchid`]);
    assert.match(r.stdout + r.stderr, /4\.04/);

    const dereg = once<Registration>(s, "deregistered");
    r = await runCoapClient(["-B", "3", "-v", "7", "-m", "delete", `coap://127.0.0.1:${port}/rd/${g.id}`]);
    assert.match(r.stdout + r.stderr, /c:2\.02/);
    assert.equal((await dereg).id, g.id);
    assert.equal(s.registrations.length, 0);
  });
});

test("Register refusals: no ep 4.00, lwm2m=2.0 4.12, bad link-format 4.00; a large Register payload arrives block-wise (coap-client -b 64)", async (t) => {
  if (!requirePeer(t, CLIENT)) return;
  await withServer(async (s, port) => {
    let r = await runCoapClient(["-B", "3", "-m", "post", `coap://127.0.0.1:${port}/rd?lt=60`, "-t", "40", "-e", "</3/0>"]);
    assert.match(r.stdout + r.stderr, /4\.00/);
    r = await runCoapClient(["-B", "3", "-m", "post", `coap://127.0.0.1:${port}/rd?ep=y&lwm2m=2.0`, "-t", "40", "-e", "</3/0>"]);
    assert.match(r.stdout + r.stderr, /4\.12/);
    r = await runCoapClient(["-B", "3", "-m", "post", `coap://127.0.0.1:${port}/rd?ep=y`, "-t", "40", "-e", "</3/0"]);
    assert.match(r.stdout + r.stderr, /4\.00/);
    assert.equal(s.registrations.length, 0);
    const links = Array.from({ length: 60 }, (_, i) => `</${3300 + i}/0>`).join(",");
    const reg = once<Registration>(s, "registered");
    r = await runCoapClient(["-B", "3", "-b", "64", "-m", "post", `coap://127.0.0.1:${port}/rd?ep=big&lt=60`, "-t", "40", "-e", links]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await reg).objectLinks.length, 60);
  });
});

test("a registration expires after its lifetime; a second Register of the same endpoint replaces the first", async () => {
  await withServer(async (s, port) => {
    const d = await new ScriptedDevice().start();
    try {
      const t0 = Date.now();
      const exp = once<Registration>(s, "expired", 3000);
      await d.request(port, { code: C.POST, options: [[O.URI_PATH, ascii("rd")], [O.URI_QUERY, ascii("ep=short")], [O.URI_QUERY, ascii("lt=1")]] });
      assert.equal((await exp).endpoint, "short");
      assert.ok(Date.now() - t0 >= 1000);
      assert.equal(s.registrations.length, 0);
      const a = await d.register(port, "twice");
      const reg2 = once<[Registration]>(s, "registered");
      const b = await d.register(port, "twice");
      await reg2;
      assert.notEqual(a, b);
      assert.equal(s.registrations.length, 1);
      assert.equal("/rd/" + s.getRegistration("twice")!.id, b);
      const old = await d.request(port, { code: C.POST, options: [[O.URI_PATH, ascii("rd")], [O.URI_PATH, ascii(a.split("/")[2])]] });
      assert.equal(old.code, C.NOT_FOUND, "the replaced registration is gone");
    } finally { await d.close(); }
  }, { lifetimeGraceMs: 0 });
});

// ---- Device management & reporting ------------------------------------------------------------

const DEVICE_TLV = unhex("C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65 C3 03 31 2E 30 C1 09 64"); // /3/0: 0, 3, 9

test("Read / Write (replace and update) / Execute / Create / Delete / Discover / Write-Attributes reach the device as the TS says", async () => {
  await withServer(async (s, port) => {
    const d = await new ScriptedDevice().start();
    try {
      await d.register(port, "dev");
      d.onRequest = (m) => {
        const p = path(m);
        if (m.code === C.GET && opt(m, O.ACCEPT).length && readUint(opt(m, O.ACCEPT)[0]) === 40) return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(40)]], payload: ascii("</3/0>;pmax=60,</3/0/0>,</3/0/9>") };
        if (m.code === C.GET && p === "/3/0") return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(11542)]], payload: DEVICE_TLV };
        if (m.code === C.GET && p === "/3/0/9") return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(0)]], payload: ascii("87") };
        if (m.code === C.POST && p === "/1234") return { code: C.CREATED, options: [[O.LOCATION_PATH, ascii("1234")], [O.LOCATION_PATH, ascii("7")]] };
        if (m.code === C.DELETE) return { code: C.DELETED };
        if (m.code === C.POST && p === "/3/0/4") return { code: C.CHANGED };
        if (m.code === C.PUT || m.code === C.POST) return { code: C.CHANGED };
        return { code: C.NOT_FOUND };
      };
      let r = await s.read("dev", "/3/0");
      assert.equal(r.code, "2.05");
      assert.deepEqual(r.content, [{ path: "/3/0/0", value: "Open Mobile Alliance" }, { path: "/3/0/3", value: "1.0" }, { path: "/3/0/9", value: 100 }]);
      r = await s.read("dev", "/3/0/9", { format: "text" });
      assert.deepEqual(r.content, [{ path: "/3/0/9", value: 87 }]);
      assert.equal(readUint(opt(d.requests[1], O.ACCEPT)[0]), 0);

      r = await s.write("dev", "/1/0/1", 300);
      assert.equal(r.code, "2.04");
      let m = d.requests[d.requests.length - 1];
      assert.deepEqual([m.code, path(m), cf(m), hex(m.payload)], [C.PUT, "/1/0/1", 11542, "c201012c"]);
      r = await s.write("dev", "/1/0", [{ path: "/1/0/2", value: 5 }, { path: "/1/0/3", value: 60 }], { mode: "update", format: "senml-cbor" });
      m = d.requests[d.requests.length - 1];
      assert.deepEqual([m.code, path(m), cf(m)], [C.POST, "/1/0", 112]);
      assert.deepEqual(decodeSenmlCbor(m.payload), [{ path: "/1/0/2", value: 5 }, { path: "/1/0/3", value: 60 }]);

      r = await s.execute("dev", "/3/0/4", "0='now'");
      m = d.requests[d.requests.length - 1];
      assert.deepEqual([r.code, m.code, path(m), text(m.payload)], ["2.04", C.POST, "/3/0/4", "0='now'"]);

      r = await s.create("dev", "/1234", { id: 7, resources: { 0: "a", 1: [1, 2] } });
      assert.deepEqual([r.code, r.location], ["2.01", "/1234/7"]);
      m = d.requests[d.requests.length - 1];
      assert.deepEqual(decodeTlv(m.payload, "/1234", () => undefined).map((e) => e.path), ["/1234/7/0", "/1234/7/1/0", "/1234/7/1/1"]);
      assert.equal(m.payload[0] >> 6, 0, "an Object Instance TLV when the id is chosen");

      r = await s.delete("dev", "/1234/7");
      assert.equal(r.code, "2.02");
      assert.deepEqual([d.requests[d.requests.length - 1].code, path(d.requests[d.requests.length - 1])], [C.DELETE, "/1234/7"]);

      r = await s.discover("dev", "/3/0");
      assert.deepEqual(r.links!.map((l) => l.uri), ["/3/0", "/3/0/0", "/3/0/9"]);
      assert.equal(r.links![0].params.pmax, "60");

      r = await s.writeAttributes("dev", "/3/0/9", { pmin: 1, pmax: 5, gt: 50.5, st: null });
      m = d.requests[d.requests.length - 1];
      assert.deepEqual([r.code, m.code, path(m), query(m), m.payload.length], ["2.04", C.PUT, "/3/0/9", ["pmin=1", "pmax=5", "gt=50.5", "st"], 0]);

      r = await s.read("dev", "/5/0");
      assert.deepEqual([r.code, r.ok], ["4.04", false]);
    } finally { await d.close(); }
  });
});

test("Observe: notifications (CON and NON) decoded and emitted; Cancel Observation sends Observe=1 with the same token", async () => {
  await withServer(async (s, port) => {
    const d = await new ScriptedDevice().start();
    try {
      await d.register(port, "obs");
      let token: Uint8Array = new Uint8Array(0);
      d.onRequest = (m) => {
        if (opt(m, O.OBSERVE).length && readUint(opt(m, O.OBSERVE)[0]) === 0) { token = m.token; return { code: C.CONTENT, options: [[O.OBSERVE, uintBytes(1)], [O.CONTENT_FORMAT, uintBytes(0)]], payload: ascii("10") }; }
        return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(0)]], payload: ascii("12") };
      };
      const got: Notification[] = [];
      const emitted: Notification[] = [];
      s.on("notification", (n: Notification) => emitted.push(n));
      const h = await s.observe("obs", "/3/0/9", (n) => got.push(n));
      assert.ok(h.established);
      assert.deepEqual(h.response.content, [{ path: "/3/0/9", value: 10 }]);
      d.send(port, { type: T.NON, code: C.CONTENT, token, options: [[O.OBSERVE, uintBytes(2)], [O.CONTENT_FORMAT, uintBytes(0)]], payload: ascii("11") });
      d.send(port, { type: T.CON, code: C.CONTENT, token, options: [[O.OBSERVE, uintBytes(3)], [O.CONTENT_FORMAT, uintBytes(11542)]], payload: unhex("c10963") });
      await sleep(50);
      assert.deepEqual(got.map((n) => [n.observe, n.content]), [[2, [{ path: "/3/0/9", value: 11 }]], [3, [{ path: "/3/0/9", value: 99 }]]]);
      assert.equal(emitted.length, 2);
      await h.cancel();
      const last = d.requests[d.requests.length - 1];
      assert.deepEqual([hex(last.token), readUint(opt(last, O.OBSERVE)[0]), path(last)], [hex(token), 1, "/3/0/9"]);
    } finally { await d.close(); }
  });
});

test("block-wise: a 3000-byte Read comes in Block2 blocks, a 3000-byte Write goes out in Block1 blocks", async () => {
  await withServer(async (s, port) => {
    const d = await new ScriptedDevice().start();
    const big = prng(8).bytes(3000);
    const up: Uint8Array[] = [];
    try {
      await d.register(port, "blk");
      d.onRequest = (m) => {
        if (m.code === C.GET) {
          const b = opt(m, O.BLOCK2);
          const num = b.length ? readUint(b[0]) >> 4 : 0;
          const more = (num + 1) * 512 < big.length;
          return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(42)], [O.BLOCK2, uintBytes((num << 4) | (more ? 8 : 0) | 5)]], payload: big.subarray(num * 512, num * 512 + 512) };
        }
        const b1 = readUint(opt(m, O.BLOCK1)[0]);
        up.push(m.payload);
        return { code: b1 & 8 ? C.CONTINUE : C.CHANGED, options: [[O.BLOCK1, uintBytes(b1)]] };
      };
      const r = await s.read("blk", "/5/0/0");
      assert.equal(hex(r.content![0].value as Uint8Array), hex(big));
      assert.equal(d.requests.filter((m) => m.code === C.GET).length, 6);
      const w = await s.write("blk", "/5/0/0", big, { format: "opaque" });
      assert.equal(w.code, "2.04");
      assert.equal(up.length, 3);
      assert.equal(hex(Buffer.concat(up)), hex(big));
    } finally { await d.close(); }
  });
});

test("errors: a silent device times out with LwM2MTimeoutError; an unknown endpoint is NotRegisteredError; the alternate root path is used; Send is reported", async () => {
  await withServer(async (s, port) => {
    const d = await new ScriptedDevice().start();
    try {
      await d.register(port, "alt", '</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>');
      d.onRequest = () => null;
      const t0 = Date.now();
      await assert.rejects(s.read("alt", "/3/0"), (e: Error) => e instanceof LwM2MTimeoutError && /Read \/3\/0 on 'alt' timed out/.test(e.message));
      assert.ok(Date.now() - t0 < 2000);
      assert.equal(path(d.requests[0]), "/lwm2m/3/0");
      await assert.rejects(s.read("nobody", "/3/0"), NotRegisteredError);
      const sent = once<{ content: LwM2MEntry[] }>(s, "send");
      const a = await d.request(port, { code: C.POST, options: [[O.URI_PATH, ascii("dp")], [O.CONTENT_FORMAT, uintBytes(112)]], payload: encodeSenmlCbor([{ path: "/3/0/9", value: 42 }], "/3/0") });
      assert.equal(a.code, C.CHANGED);
      assert.deepEqual((await sent).content, [{ path: "/3/0/9", value: 42 }]);
    } finally { await d.close(); }
  });
});

// ---- Bootstrap ------------------------------------------------------------------------------------

const BS_CONFIG: BootstrapConfig = {
  dev1: {
    security: [
      { uri: "coaps://127.0.0.1:{serverPort}", securityMode: "psk", pskIdentity: "dev1-id", pskKey: "000102030405060708090a0b0c0d0e0f", shortServerId: 101, clientHoldOffTime: 0 },
    ],
    servers: [{ shortServerId: 101, lifetime: 300, binding: "U", defaultMaxPeriod: 60 }],
    read: ["/1"],
  },
  plain: {
    delete: [], discover: false,
    security: [{ instanceId: 3, uri: "coap://127.0.0.1:5683", securityMode: "nosec", shortServerId: 7 }],
    servers: [{ instanceId: 0, shortServerId: 7, lifetime: 60 }],
  },
};

/** The device side of a bootstrap: answers Delete, Discover (BS account at /0/0), Write, Read, Finish. */
function bootstrapDevice(d: ScriptedDevice, finish: number = C.CHANGED, writeCode: number = C.CHANGED) {
  d.onRequest = (m) => {
    const p = path(m);
    if (m.code === C.DELETE) return { code: C.DELETED };
    if (m.code === C.GET && p === "/") return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(40)]], payload: ascii('</>;lwm2m=1.1, </0/0>, </1>, </3/0>') };
    if (m.code === C.GET) return { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(11542)]], payload: unhex("08 00 06 c1 00 65 c1 01 3c") };
    if (m.code === C.PUT) return { code: writeCode };
    if (m.code === C.POST && p === "/bs") return { code: finish };
    return { code: C.NOT_FOUND };
  };
}

test("Bootstrap: Request → 2.04, then Delete /0 /1, Discover, Write /0/1 (BS account /0/0 kept) and /1/0 in TLV, Read /1, Finish 2.04", async () => {
  const bs = new BootstrapServer({ config: BS_CONFIG, coap: FAST_PARAMS, uriVariables: { serverPort: 5684 } });
  const { port } = await bs.listen(0);
  const d = await new ScriptedDevice().start();
  try {
    bootstrapDevice(d);
    const fin = once<BootstrapResult>(bs, "bootstrapFinished");
    const a = await d.request(port, { code: C.POST, options: [[O.URI_PATH, ascii("bs")], [O.URI_QUERY, ascii("ep=dev1")], [O.URI_QUERY, ascii("pct=11542")]] });
    assert.equal(a.code, C.CHANGED);
    const r = await fin;
    assert.ok(r.ok);
    assert.equal(r.code, "2.04");
    assert.deepEqual(r.operations.map((o) => `${o.op} ${o.path} ${o.code}`), ["Delete /0 2.02", "Delete /1 2.02", "Discover / 2.05", "Write /0/1 2.04", "Write /1/0 2.04", "Read /1 2.05", "Finish /bs 2.04"]);
    assert.deepEqual(d.requests.map((m) => [m.code, path(m)]), [[C.DELETE, "/0"], [C.DELETE, "/1"], [C.GET, "/"], [C.PUT, "/0/1"], [C.PUT, "/1/0"], [C.GET, "/1"], [C.POST, "/bs"]]);
    const sec = d.requests[3];
    assert.equal(cf(sec), 11542);
    const secEntries = decodeTlv(sec.payload, "/0/1");
    assert.deepEqual(secEntries, [
      { path: "/0/1/0", value: "coaps://127.0.0.1:5684" }, { path: "/0/1/1", value: false }, { path: "/0/1/2", value: 0 },
      { path: "/0/1/3", value: new TextEncoder().encode("dev1-id") }, { path: "/0/1/4", value: new Uint8Array(0) },
      { path: "/0/1/5", value: unhex("000102030405060708090a0b0c0d0e0f") }, { path: "/0/1/10", value: 101 }, { path: "/0/1/11", value: 0 },
    ]);
    assert.deepEqual(decodeTlv(d.requests[4].payload, "/1/0"), [
      { path: "/1/0/0", value: 101 }, { path: "/1/0/1", value: 300 }, { path: "/1/0/3", value: 60 }, { path: "/1/0/6", value: true }, { path: "/1/0/7", value: "U" },
    ]);
    assert.equal(readUint(opt(d.requests[2], O.ACCEPT)[0]), 40);
    assert.deepEqual(r.reads[0].content, [{ path: "/1/0/0", value: 101 }, { path: "/1/0/1", value: 60 }]);
  } finally { await d.close(); await bs.close(); }
});

test("Bootstrap: pct=112 writes SenML CBOR; a 4.06 Finish is reported as refused; a refused Write stops before Finish", async () => {
  const bs = new BootstrapServer({ config: BS_CONFIG, coap: FAST_PARAMS });
  const { port } = await bs.listen(0);
  const d = await new ScriptedDevice().start();
  try {
    bootstrapDevice(d, 0x86); // 4.06 Not Acceptable: configuration refused (BS-5)
    let fin = once<BootstrapResult>(bs, "bootstrapFinished");
    await d.request(port, { code: C.POST, options: [[O.URI_PATH, ascii("bs")], [O.URI_QUERY, ascii("ep=plain")], [O.URI_QUERY, ascii("pct=112")]] });
    const r = await fin;
    assert.deepEqual([r.ok, r.code], [false, "4.06"]);
    assert.deepEqual(d.requests.map((m) => [m.code, path(m), cf(m)]), [[C.PUT, "/0/3", 112], [C.PUT, "/1/0", 112], [C.POST, "/bs", -1]]);
    assert.deepEqual(decodeSenmlCbor(d.requests[0].payload), [
      { path: "/0/3/0", value: "coap://127.0.0.1:5683" }, { path: "/0/3/1", value: false }, { path: "/0/3/2", value: 3 },
      { path: "/0/3/3", value: new Uint8Array(0) }, { path: "/0/3/4", value: new Uint8Array(0) }, { path: "/0/3/5", value: new Uint8Array(0) },
      { path: "/0/3/10", value: 7 },
    ]);

    d.requests.length = 0;
    bootstrapDevice(d, C.CHANGED, C.BAD_REQUEST);
    const failed = once<BootstrapResult>(bs, "bootstrapFailed");
    await d.request(port, { code: C.POST, options: [[O.URI_PATH, ascii("bs")], [O.URI_QUERY, ascii("ep=plain")]] });
    const f = await failed;
    assert.match(f.error!, /Bootstrap-Write \/0\/3 refused with 4\.00/);
    assert.ok(!d.requests.some((m) => path(m) === "/bs"), "no Bootstrap-Finish after a refused write");

    // server-initiated: no Bootstrap-Request, same writes and Finish
    d.requests.length = 0;
    bootstrapDevice(d);
    const res = await bs.bootstrap("plain", `coap://127.0.0.1:${d.port}`);
    assert.ok(res.ok);
    assert.deepEqual(d.requests.map((m) => path(m)), ["/0/3", "/1/0", "/bs"]);
    assert.equal(cf(d.requests[0]), 11542, "TLV without a pct");
  } finally { await d.close(); await bs.close(); }
});

test("Bootstrap-Request with coap-client: known endpoint 2.04, unknown endpoint 4.00", async (t) => {
  if (!requirePeer(t, CLIENT)) return;
  const bs = new BootstrapServer({ config: { plain: BS_CONFIG.plain }, coap: FAST_PARAMS });
  const { port } = await bs.listen(0);
  try {
    const req = once<{ endpoint: string; preferredFormat?: number }>(bs, "bootstrapRequest");
    let r = await runCoapClient(["-B", "3", "-v", "7", "-m", "post", `coap://127.0.0.1:${port}/bs?ep=plain&pct=112`]);
    assert.match(r.stdout + r.stderr, /t:ACK c:2\.04/);
    const e = await req;
    assert.deepEqual([e.endpoint, e.preferredFormat], ["plain", 112]);
    r = await runCoapClient(["-B", "3", "-m", "post", `coap://127.0.0.1:${port}/bs?ep=stranger`]);
    assert.match(r.stdout + r.stderr, /4\.00/);
  } finally { await bs.close(); }
});

test("config: validation errors, key material from hex / PEM text / PEM and DER files, consistency warnings, PSK credential stores", () => {
  const dir = mkdtempSync(join(tmpdir(), "bs-config-"));
  try {
    const der = prng(1).bytes(91);
    const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PUBLIC KEY-----\n`;
    writeFileSync(join(dir, "k.pem"), pem);
    writeFileSync(join(dir, "k.der"), der);
    assert.equal(hex(keyBytes("k.pem", dir)), hex(der));
    assert.equal(hex(keyBytes("k.der", dir)), hex(der));
    assert.equal(hex(keyBytes(pem)), hex(der));
    assert.equal(hex(keyBytes("00ff")), "00ff");
    assert.throws(() => keyBytes("nothing.pem", dir), ConfigError);

    const file = join(dir, "bs.json");
    writeFileSync(file, JSON.stringify({ d: { security: [{ uri: "coaps://h:5684", securityMode: "rpk", publicKey: "k.pem", secretKey: "k.der", serverPublicKey: "k.pem", shortServerId: 1 }] } }));
    const { config, baseDir, warnings } = loadBootstrapConfig(file);
    assert.equal(baseDir, dir);
    assert.ok(config.d);
    assert.ok(warnings.some((w) => /has no Server instance/.test(w)));

    const bad: [string, unknown][] = [
      ["uri", { x: { security: [{ securityMode: "nosec", shortServerId: 1 }] } }],
      ["PSK", { x: { security: [{ uri: "coaps://a", securityMode: "psk", pskIdentity: "i", shortServerId: 1 }] } }],
      ["pskKey must be hex", { x: { security: [{ uri: "coaps://a", securityMode: "psk", pskIdentity: "i", pskKey: "xyz", shortServerId: 1 }] } }],
      ["shortServerId", { x: { security: [{ uri: "coap://a", securityMode: "nosec" }] } }],
      ["securityMode", { x: { security: [{ uri: "coap://a", securityMode: "tls", shortServerId: 1 }] } }],
      ["lifetime", { x: { security: [], servers: [{ shortServerId: 1 }] } }],
      ["not an LwM2M path", { x: { security: [], delete: ["/a"] } }],
    ];
    for (const [msg, c] of bad) assert.throws(() => loadBootstrapConfig(c as BootstrapConfig), (e: Error) => e instanceof ConfigError && e.message.includes(msg), msg);

    const creds = pskCredentialsFromConfig({ ...BS_CONFIG, e: { bootstrapCredentials: { pskIdentity: "bs-id", pskKey: "aabb" }, security: [] } });
    assert.equal(hex(creds.server.get("dev1-id")!), "000102030405060708090a0b0c0d0e0f");
    assert.equal(hex(creds.bootstrap.get("bs-id")!), "aabb");
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

// ---- both servers together, and the CLI ---------------------------------------------------------

test("startDevServers: a scripted device bootstraps, registers at the URI it was given, and the CLI commands reach it; every step is logged", async () => {
  const lines: string[] = [];
  const dev = await startDevServers({
    bootstrapPort: 0, serverPort: 0, coap: FAST_PARAMS, log: (l) => lines.push(l),
    config: { "*": { security: [{ uri: "coap://{serverHost}:{serverPort}", securityMode: "nosec", shortServerId: 101 }], servers: [{ shortServerId: 101, lifetime: 60 }] } },
  });
  const d = await new ScriptedDevice().start();
  try {
    bootstrapDevice(d);
    const fin = once<BootstrapResult>(dev.bootstrap, "bootstrapFinished");
    await d.request(dev.bootstrapAddress.port, { code: C.POST, options: [[O.URI_PATH, ascii("bs")], [O.URI_QUERY, ascii("ep=sim1")]] });
    assert.ok((await fin).ok);
    const uri = decodeTlv(d.requests.find((m) => path(m) === "/0/1")!.payload, "/0/1")[0].value as string;
    assert.equal(uri, dev.serverUri);
    await d.register(Number(uri.split(":")[2]), "sim1");
    await sleep(5);
    d.onRequest = (m) => (m.code === C.GET ? { code: C.CONTENT, options: [[O.CONTENT_FORMAT, uintBytes(11542)]], payload: DEVICE_TLV } : { code: C.CHANGED });
    const obs = new Map();
    const out = await runCommand(dev, "read sim1 /3/0", obs, () => {});
    assert.equal(out, '2.05 /3/0/0="Open Mobile Alliance" /3/0/3="1.0" /3/0/9=100');
    assert.match(await runCommand(dev, "list", obs, () => {}), /^sim1 \/rd\/[0-9a-f]+ lt=60 b=U 127\.0\.0\.1:\d+ <\/1\/0>,<\/3\/0>$/);
    assert.equal(await runCommand(dev, 'write sim1 /3/0/14 "+02:00"', obs, () => {}), "2.04");
    assert.equal(text(d.requests[d.requests.length - 1].payload.subarray(2)), "+02:00");
    await assert.rejects(runCommand(dev, "frobnicate", obs, () => {}), /unknown command/);
    for (const want of [/\[bootstrap\] sim1: Bootstrap-Request from 127\.0\.0\.1:\d+/, /\[bootstrap\] sim1: Bootstrap-Write \/0\/1 -> 2\.04/, /\[bootstrap\] sim1: bootstrap finished/, /\[server\] sim1: registered \/rd\/\w+ lt=60 lwm2m=1\.1 b=U/]) {
      assert.ok(lines.some((l) => want.test(l)), `log line ${want} in:\n${lines.join("\n")}`);
    }
  } finally { await d.close(); await dev.close(); }
});

test("CLI value and word parsing", () => {
  assert.deepEqual(words('write ep /3/0/14 "+02 00" --update'), ["write", "ep", "/3/0/14", '"+02 00"', "--update"]);
  assert.equal(parseValue("12"), 12);
  assert.equal(parseValue("-1.5"), -1.5);
  assert.equal(parseValue("99999999999999999999"), 99999999999999999999n);
  assert.equal(parseValue("true"), true);
  assert.deepEqual(parseValue("0x0aff"), Uint8Array.of(10, 255));
  assert.deepEqual(parseValue("objlnk:3:0"), objlnk(3, 0));
  assert.equal(parseValue('"12"'), "12");
  assert.equal(parseValue("U"), "U");
});

/** Runs server/cli.ts with `args`: 'help', 'list', then 'quit' on stdin; resolves with everything it printed once it exited 0. */
async function runServerCliChild(args: string[]): Promise<string> {
  const { spawn } = await import("node:child_process");
  const p = spawn(process.execPath, ["--import", "tsx", join(__dirname, "..", "server", "cli.ts"), "--server-port", "0", "--bootstrap-port", "0", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (d) => { out += d; });
  p.stderr.on("data", (d) => { out += d; });
  const exited = new Promise<number | null>((res) => p.on("exit", (c) => res(c)));
  const t0 = Date.now();
  while (!/type 'help'/.test(out) && Date.now() - t0 < 8000) await sleep(50);
  p.stdin.write("help\nlist\n");
  while (!/no registrations/.test(out) && Date.now() - t0 < 8000) await sleep(50);
  p.stdin.write("quit\n");
  const timer = setTimeout(() => p.kill("SIGKILL"), 5000);
  assert.equal(await exited, 0, out);
  clearTimeout(timer);
  return out;
}

test("the CLI starts both servers, answers 'help' and 'list' on stdin and exits on 'quit'", async () => {
  const pki = mkdtempSync(join(tmpdir(), "lwm2m-cli-pki-"));
  try {
    const out = await runServerCliChild(["--pki", pki]);
    assert.match(out, /\[bootstrap\] listening on coap:\/\/127\.0\.0\.1:\d+ and coaps:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /\[server\] listening on coap:\/\/127\.0\.0\.1:\d+ and coaps:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /observe EP PATH/);
    assert.match(out, /\(no registrations\)/);
    // ready-made device commands (test/cli-device-modes.test.ts runs each)
    assert.match(out, /^ {2}npx lwm2m-wasm device --endpoint lwm2m-wasm-demo --server coaps:\/\/127\.0\.0\.1:\d+ --psk-identity lwm2m-wasm-demo --psk-key e3f44a4d285867330c457c686d5489b2 /m);
    assert.match(out, /^ {2}npx lwm2m-wasm device --endpoint \S+ --server coap:\/\/127\.0\.0\.1:\d+ /m);
    assert.match(out, /^ {2}npx lwm2m-wasm device --endpoint lwm2m-wasm-demo --bootstrap coaps:\/\/127\.0\.0\.1:\d+ --psk-identity lwm2m-wasm-demo-bs /m);
  } finally { rmSync(pki, { recursive: true, force: true }); }
});

test("CLI flags: --no-dtls serves plain CoAP only and prints only the NoSec example; DTLS ports and the PKI folder are options", async () => {
  const out = await runServerCliChild(["--no-dtls"]);
  assert.match(out, /\[server\] listening on coap:\/\/127\.0\.0\.1:\d+\n/);
  assert.doesNotMatch(out, /coaps:\/\//);
  assert.equal(out.match(/npx lwm2m-wasm device /g)?.length, 1, out);
  const a = parseArgs(["--secure-bootstrap-port", "15784", "--secure-server-port", "15684", "--pki", "/tmp/p"]);
  assert.deepEqual([a.dtls, a.secureBootstrapPort, a.secureServerPort, a.pki], [true, 15784, 15684, "/tmp/p"]);
  assert.equal(parseArgs(["--no-dtls"]).dtls, false);
  assert.throws(() => parseArgs(["--secure-server-port", "x"]), /not a port/);
});
