// LwM2M data model, objects 0/1/3, DM and bootstrap operations, access rules
// SEC-2 / SEC-3, bootstrap staging and commit BS-5, Bootstrap-Server account
// clean-up BS-4, Write-Attributes (OMA-TS-LightweightM2M_Core-V1_1 §5.1.2,
// §6.1, §6.3, Appendix E). Each test runs on a fresh module instance.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { loadTest, hex } from "./helpers/wasm";
import { needs, profileHas } from "./helpers/profile";

const NONE = 0xffff;
const BS = -1;
const FACTORY = -2;
const SRV = 101; // Short Server ID of the LwM2M Server account used below
const GET = 1, POST = 2, PUT = 3, DELETE = 4;
const C = {
  CREATED: 0x41, DELETED: 0x42, CHANGED: 0x44, CONTENT: 0x45, BAD_REQUEST: 0x80, UNAUTHORIZED: 0x81, NOT_FOUND: 0x84,
  METHOD_NOT_ALLOWED: 0x85, NOT_ACCEPTABLE: 0x86, TOO_LARGE: 0x8d, UNSUPPORTED: 0x8f, INTERNAL: 0xa0,
};
const F = { TEXT: 0, LINK: 40, OPAQUE: 42, SENML_JSON: 110, SENML_CBOR: 112, TLV: 11542 };
const A = { Reboot: 1, FactoryReset: 2, RegistrationUpdate: 3, Disable: 4, BootstrapRequest: 5, ConfigChanged: 6, ServerChanged: 7 };
const ConfigError = {
  NoServerAccount: -1, MissingResource: -2, BadUri: -3, UriModeMismatch: -4, MissingCredential: -5, BadShortServerId: -6,
  DuplicateShortServerId: -7, NoServerObject: -8, OrphanServerObject: -9, BootstrapAccounts: -10, Empty: -11, Persist: -12,
  Custody: -13, Image: -14,
};

let cborDecode: (b: Uint8Array, o?: object) => unknown;
before(async () => { cborDecode = (await import("cborg")).decode; });

const enc = new TextEncoder();
const dec = new TextDecoder();

// ---- TLV (LwM2M 1.1 §7.4.3) ----
type T = Uint8Array;
function tlv(kind: number, id: number, v: T): T {
  const hdr: number[] = [kind | (id > 255 ? 0x20 : 0)];
  if (id > 255) hdr.push(id >> 8, id & 255); else hdr.push(id);
  const n = v.length;
  if (n < 8) hdr[0] |= n;
  else if (n < 256) { hdr[0] |= 0x08; hdr.push(n); }
  else if (n < 65536) { hdr[0] |= 0x10; hdr.push(n >> 8, n & 255); }
  else { hdr[0] |= 0x18; hdr.push(n >> 16, (n >> 8) & 255, n & 255); }
  return cat(new Uint8Array(hdr), v);
}
const cat = (...a: T[]) => { const o = new Uint8Array(a.reduce((s, x) => s + x.length, 0)); let p = 0; for (const x of a) { o.set(x, p); p += x.length; } return o; };
const inst = (id: number, ...res: T[]) => tlv(0x00, id, cat(...res));
const multi = (id: number, ...ri: T[]) => tlv(0x80, id, cat(...ri));
function intBytes(v: number | bigint): T {
  const b = BigInt(v);
  for (const n of [1, 2, 4, 8]) {
    const lim = 1n << BigInt(n * 8 - 1);
    if (b >= -lim && b < lim) {
      const o = new Uint8Array(n);
      let x = BigInt.asUintN(n * 8, b);
      for (let i = n - 1; i >= 0; i--) { o[i] = Number(x & 255n); x >>= 8n; }
      return o;
    }
  }
  throw new Error("range");
}
const rInt = (id: number, v: number | bigint) => tlv(0xc0, id, intBytes(v));
const rStr = (id: number, s: string) => tlv(0xc0, id, enc.encode(s));
const rBytes = (id: number, b: T) => tlv(0xc0, id, b);
const rBool = (id: number, v: boolean) => tlv(0xc0, id, new Uint8Array([v ? 1 : 0]));
const riInt = (id: number, v: number) => tlv(0x40, id, intBytes(v));

/** Parses TLV into {kind, id, value, children}. */
interface Tlv { kind: number; id: number; value: T; children: Tlv[] }
function parseTlv(b: T): Tlv[] {
  const out: Tlv[] = [];
  let p = 0;
  while (p < b.length) {
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

// ---- module ----
function fresh() {
  const m = loadTest<any>("lwm2m_model");
  const E = m.exports;
  assert.equal(E.init(), 0);
  const IN = m.scratch;
  const OUT = m.scratch + 65536;
  const Q = m.scratch + 131072;
  const BUF = m.scratch + 196608;
  const ids = (s: string) => { const p = s.split("/").filter(Boolean).map(Number); while (p.length < 4) p.push(NONE); return p; };
  const body = () => m.read(OUT, E.respLen());
  const api = {
    m, E, OUT, BUF,
    read(caller: number, path: string, accept = -1) { const [o, i, r, ri] = ids(path); return E.read(caller, o, i, r, ri, accept, OUT, 8192); },
    text(caller: number, path: string) { const c = api.read(caller, path, F.TEXT); assert.equal(c, C.CONTENT, `read ${path}`); return dec.decode(body()); },
    body,
    bodyText: () => dec.decode(body()),
    discover(caller: number, path: string) { const [o, i, r, ri] = ids(path); return E.discover(caller, o, i, r, ri, OUT, 8192); },
    write(caller: number, path: string, payload: T, format = F.TLV, partial = false) {
      m.write(payload, IN);
      const [o, i, r, ri] = ids(path);
      return E.write(caller, o, i, r, ri, partial ? 1 : 0, format, IN, payload.length, OUT, 8192);
    },
    writeText(caller: number, path: string, s: string) { return api.write(caller, path, enc.encode(s), F.TEXT); },
    create(caller: number, path: string, payload: T, format = F.TLV) {
      m.write(payload, IN);
      const [o] = ids(path);
      return E.create(caller, o, format, IN, payload.length, OUT, 8192);
    },
    del(caller: number, path: string) { const [o, i, r, ri] = ids(path); return E.del(caller, o, i, r, ri); },
    exec(caller: number, path: string, args = "") {
      const a = enc.encode(args);
      m.write(a, IN);
      const [o, i, r] = ids(path);
      return E.execute(caller, o, i, r, IN, a.length);
    },
    attrs(caller: number, path: string, q: string) {
      const b = enc.encode(q);
      m.write(b, Q);
      const [o, i, r, ri] = ids(path);
      return E.writeAttributes(caller, o, i, r, ri, Q, b.length);
    },
    handle(caller: number, method: number, path: string, o: { format?: number; accept?: number; query?: string; payload?: T } = {}) {
      const q = enc.encode(o.query ?? "");
      const pl = o.payload ?? new Uint8Array(0);
      m.write(q, Q);
      m.write(pl, IN);
      const [a, b, c, d] = ids(path);
      return E.handle(caller, method, a, b, c, d, o.format ?? -1, o.accept ?? -1, Q, q.length, IN, pl.length, OUT, 8192);
    },
    bsFinish(now = 0, wall = -1) { return E.bsFinish(BigInt(now), BigInt(wall), BUF, 4096); },
    factoryFinish(high: boolean, now = 0) { return E.factoryFinish(BigInt(now), high ? 1 : 0, BUF, 4096); },
    /** Bytes of an Object's pools (active and staging). */
    snap(oid: number) {
      const n = E.poolSize(oid);
      const a = m.read(E.poolPtr(oid, 0), n);
      const s = E.poolPtr(oid, 1) ? m.read(E.poolPtr(oid, 1), n) : new Uint8Array(0);
      return hex(a) + "|" + hex(s);
    },
    active(oid: number) { return m.read(E.poolPtr(oid, 0), E.poolSize(oid)); },
    memHas(ptr: number, len: number, needle: T) { return Buffer.from(m.read(ptr, len)).includes(Buffer.from(needle)); },
    actions() { const a: number[] = []; for (let x = E.action(); x; x = E.action()) a.push(x); return a; },
    int(path: string) { const [o, i, r, ri] = ids(path); const v = E.valInt(o, i, r, ri); return E.valFound() ? Number(v) : undefined; },
    str(path: string) { const [o, i, r, ri] = ids(path); const p = E.valBytes(o, i, r, ri); return E.valFound() ? dec.decode(m.read(p, E.valLen())) : undefined; },
  };
  return api;
}
type Api = ReturnType<typeof fresh>;

const BS_KEY = new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x01]);
const SRV_KEY = new Uint8Array([0xa5, 0x5a, 0xc3, 0x3c, 0x0f, 0xf0, 0x96, 0x69, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf7]);
const NEW_BS_KEY = new Uint8Array([0x42, 0x24, 0x42, 0x24, 0x13, 0x31, 0x13, 0x31, 0x77, 0x88, 0x77, 0x88, 0x01, 0x02, 0x03, 0x04]);

function securityInstance(iid: number, o: { uri: string; bs: boolean; mode: number; id?: string; key?: T; srvKey?: T; ssid?: number; timeout?: number; extra?: T[] }) {
  const r = [rStr(0, o.uri), rBool(1, o.bs), rInt(2, o.mode)];
  if (o.id !== undefined) r.push(rStr(3, o.id));
  if (o.srvKey) r.push(rBytes(4, o.srvKey));
  if (o.key) r.push(rBytes(5, o.key));
  if (o.ssid !== undefined) r.push(rInt(10, o.ssid));
  if (o.timeout !== undefined) r.push(rInt(12, o.timeout));
  return inst(iid, ...r, ...(o.extra ?? []));
}
const serverInstance = (iid: number, ssid: number, lifetime = 300, binding = "U") =>
  inst(iid, rInt(0, ssid), rInt(1, lifetime), rInt(2, 1), rBool(6, false), rStr(7, binding));

/** Factory: the Bootstrap-Server account /0/0 (PSK), low or high entropy, optional resource 12. */
function factory(t: Api, high: boolean, timeout?: number) {
  assert.equal(t.write(FACTORY, "/0", securityInstance(0, { uri: "coaps://bs.example:5684", bs: true, mode: 0, id: "dev-1", key: BS_KEY, timeout })), C.CHANGED);
  assert.equal(t.factoryFinish(high), C.CHANGED);
  t.actions();
}

/** Bootstrap-Server: an LwM2M Server account (ssid 101, PSK) at /0/1 + /1/0, then Finish. */
function bootstrap(t: Api, now = 0, extra: () => void = () => {}) {
  assert.equal(t.write(BS, "/0/1", securityInstance(1, { uri: "coaps://lwm2m.example:5684", bs: false, mode: 0, id: "dev-1-dm", key: SRV_KEY, ssid: SRV })), C.CHANGED);
  assert.equal(t.write(BS, "/1/0", serverInstance(0, SRV)), C.CHANGED);
  extra();
  const c = t.bsFinish(now, 1_700_000_000);
  assert.equal(c, C.CHANGED, `finish: config error ${t.E.configError()}`);
  t.actions();
}

function configured(high = true) {
  const t = fresh();
  factory(t, high);
  bootstrap(t);
  return t;
}

// ---------------------------------------------------------------------------

test("tables: objects 0/1/3 and a test object declared; Device has its mandatory values", () => {
  const t = fresh();
  assert.ok(t.E.arena() > 0 && t.E.arena() <= 12288);
  assert.equal(t.text(SRV, "/3/0/16"), "U");
  assert.equal(t.text(SRV, "/3/0/11/0"), "0");
  assert.equal(t.E.setDeviceManufacturer(), 1);
  assert.equal(t.text(SRV, "/3/0/0"), "Acme");
  // factory provisioning fills the Device Object directly (no staging session for it)
  assert.equal(t.write(FACTORY, "/3/0", inst(0, rStr(1, "Model-7"), rStr(2, "SN-0042"))), C.CHANGED);
  assert.equal(t.E.sessionKind(), 0);
  assert.equal(t.text(SRV, "/3/0/2"), "SN-0042");
  assert.equal(t.E.setDeviceInt(9, 87n), 1);
  assert.equal(t.text(SRV, "/3/0/9"), "87");
  // registration list without Object 0 (SEC-2)
  const n = t.E.regPayload(t.OUT, 512);
  assert.equal(dec.decode(t.m.read(t.OUT, n)), "</1>;ver=1.1,</3/0>,</33000>");
});

test("factory provisioning: staging, validation, read-back without the secret", () => {
  const t = fresh();
  assert.equal(t.write(FACTORY, "/0", securityInstance(0, { uri: "coaps://bs.example:5684", bs: true, mode: 0, id: "dev-1", key: BS_KEY })), C.CHANGED);
  assert.equal(t.E.sessionKind(), 2);
  assert.equal(t.snap(0).split("|")[0], hex(new Uint8Array(t.E.poolSize(0))), "nothing active before provisionFinish");
  assert.equal(t.factoryFinish(false), C.CHANGED);
  assert.equal(t.E.sessionKind(), 0);
  assert.equal(t.E.persistCount(), 1);
  assert.ok(t.actions().includes(A.ConfigChanged));
  assert.equal(t.E.secFind(0), 0);
  assert.equal(t.E.secMode(0), 0);
  // factory read-back: everything but the Secret Key
  assert.equal(t.read(FACTORY, "/0/0"), C.CONTENT);
  const rids = parseTlv(t.body()).map((x) => x.id);
  assert.deepEqual(rids, [0, 1, 2, 3]);
  assert.equal(t.text(FACTORY, "/0/0/0"), "coaps://bs.example:5684");
  assert.equal(t.read(FACTORY, "/0/0/5"), C.METHOD_NOT_ALLOWED);
});

test("SEC-2: every LwM2M Server operation on Object 0 is 4.04 and changes nothing", () => {
  const t = configured();
  const before = t.snap(0);
  const image = t.E.imageLength();
  const cases: Array<[string, () => number]> = [
    ["Read /0", () => t.read(SRV, "/0")],
    ["Read /0/1", () => t.read(SRV, "/0/1")],
    ["Read /0/1/0", () => t.read(SRV, "/0/1/0", F.TEXT)],
    ["Read /0/1/5", () => t.read(SRV, "/0/1/5")],
    ["Read /0/1/16/0", () => t.read(SRV, "/0/1/16/0")],
    ["Discover /0", () => t.discover(SRV, "/0")],
    ["Discover /0/1", () => t.discover(SRV, "/0/1")],
    ["Write /0/1 replace", () => t.write(SRV, "/0/1", securityInstance(1, { uri: "coap://evil", bs: false, mode: 3, ssid: SRV }))],
    ["Write /0/1 partial", () => t.write(SRV, "/0/1", inst(1, rStr(0, "coap://evil")), F.TLV, true)],
    ["Write /0/1/0", () => t.writeText(SRV, "/0/1/0", "coap://evil")],
    ["Write /0/1/5", () => t.write(SRV, "/0/1/5", new Uint8Array(16), F.OPAQUE)],
    ["Write /0", () => t.write(SRV, "/0", securityInstance(2, { uri: "coap://evil", bs: false, mode: 3, ssid: 7 }))],
    ["Create /0", () => t.create(SRV, "/0", securityInstance(2, { uri: "coap://evil", bs: true, mode: 3 }))],
    ["Delete /0/0", () => t.del(SRV, "/0/0")],
    ["Delete /0/1", () => t.del(SRV, "/0/1")],
    ["Delete /0", () => t.del(SRV, "/0")],
    ["Execute /0/1/0", () => t.exec(SRV, "/0/1/0")],
    ["Write-Attributes /0/1/2", () => t.attrs(SRV, "/0/1/2", "pmin=1")],
    ["Write-Attributes /0", () => t.attrs(SRV, "/0", "pmax=5")],
    ["CoAP GET /0/1", () => t.handle(SRV, GET, "/0/1", { accept: F.TLV })],
    ["CoAP GET /0 link", () => t.handle(SRV, GET, "/0", { accept: F.LINK })],
    ["CoAP PUT /0/1", () => t.handle(SRV, PUT, "/0/1", { format: F.TLV, payload: inst(1, rStr(0, "coap://evil")) })],
    ["CoAP POST /0", () => t.handle(SRV, POST, "/0", { format: F.TLV, payload: inst(3, rBool(1, true)) })],
    ["CoAP POST /0/0/5", () => t.handle(SRV, POST, "/0/0/5", { format: F.OPAQUE, payload: new Uint8Array(4) })],
    ["CoAP DELETE /0/0", () => t.handle(SRV, DELETE, "/0/0")],
  ];
  for (const [name, op] of cases) {
    assert.equal(op(), C.NOT_FOUND, name);
    assert.equal(t.E.respLen(), 0, `${name}: no payload`);
    assert.equal(t.snap(0), before, `${name}: Object 0 unchanged`);
    assert.equal(t.E.sessionKind(), 0, `${name}: no staging opened`);
  }
  // another server id (not configured at all) gets the same
  assert.equal(t.read(4242, "/0/0"), C.NOT_FOUND);
  assert.deepEqual(t.actions(), []);
  assert.equal(t.E.imageLength(), image);
  // read back through the factory identity: intact
  assert.equal(t.text(FACTORY, "/0/1/0"), "coaps://lwm2m.example:5684");
  assert.equal(t.text(FACTORY, "/0/1/10"), String(SRV));
  assert.equal(t.text(FACTORY, "/0/0/0"), "coaps://bs.example:5684");
});

test("SEC-3: the Secret Key is never readable (factory, Bootstrap-Read, Discover) and is wiped after custody", () => {
  const t = fresh();
  t.E.setCustody(1, -1);
  factory(t, true);
  bootstrap(t);
  // no Read path returns it
  assert.equal(t.read(FACTORY, "/0/1/5"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.read(FACTORY, "/0/1/5", F.OPAQUE), C.METHOD_NOT_ALLOWED);
  for (const p of ["/0", "/0/0", "/0/1"]) {
    assert.equal(t.read(FACTORY, p), C.CONTENT);
    assert.ok(!Buffer.from(t.body()).includes(Buffer.from(SRV_KEY)) && !Buffer.from(t.body()).includes(Buffer.from(BS_KEY)), p);
    for (const i of parseTlv(t.body())) {
      const res = i.kind === 0x00 ? i.children : [i];
      assert.ok(!res.some((r) => r.id === 5), `${p}: no resource 5`);
    }
  }
  if (profileHas("senml-json")) {
    assert.equal(t.read(FACTORY, "/0", F.SENML_JSON), C.CONTENT);
    assert.ok(!/"n":"\d+\/5"/.test(t.bodyText()));
  }
  assert.equal(t.read(FACTORY, "/0", F.SENML_CBOR), C.CONTENT);
  assert.ok(!Buffer.from(t.body()).includes(Buffer.from(SRV_KEY)) && !Buffer.from(t.body()).includes(Buffer.from(BS_KEY)), "SenML-CBOR: no key");
  // Bootstrap-Read: only the Server (and Access Control) Object (§6.1) -> 4.01
  assert.equal(t.read(BS, "/0/1/5"), C.UNAUTHORIZED);
  assert.equal(t.read(BS, "/0/1"), C.UNAUTHORIZED);
  assert.equal(t.read(BS, "/0"), C.UNAUTHORIZED);
  assert.equal(t.read(BS, "/1"), C.CONTENT);
  // Bootstrap-Discover lists the instance, never the key
  assert.equal(t.discover(BS, "/"), C.CONTENT);
  assert.ok(t.bodyText().startsWith("</>;lwm2m=1.1,</0>;ver=1.1,</0/0>;uri=\"coaps://bs.example:5684\",</0/1>;ssid=101;"));
  t.E.abortSession();
  // custody: the key went to the (fake) SE; the RAM copies are wiped
  const h = t.E.secKeyHandle(1);
  assert.ok(h >= 0);
  assert.equal(hex(t.m.read(t.E.seKey(h), t.E.seKeyLen(h))), hex(SRV_KEY));
  assert.equal(t.E.secSecret(1) === 0 || t.E.secSecretLen() === 0, true);
  for (const oid of [0, 1]) {
    const size = t.E.poolSize(oid);
    for (const st of [0, 1]) {
      assert.ok(!t.memHas(t.E.poolPtr(oid, st), size, SRV_KEY), `pool ${oid}/${st}: server key gone`);
      assert.ok(!t.memHas(t.E.poolPtr(oid, st), size, BS_KEY), `pool ${oid}/${st}: bootstrap key gone`);
    }
  }
  assert.ok(!t.memHas(t.E.image(), t.E.imageLength(), SRV_KEY), "persisted image has no key");
  assert.ok(!t.memHas(t.BUF, 4096, SRV_KEY), "image buffer wiped");
  assert.ok(!t.memHas(t.OUT, 8192, SRV_KEY), "decode scratch wiped");
});

test("SEC-3: a key written as SenML JSON base64 does not linger in the decode scratch", needs("senml-json"), () => {
  const t = fresh();
  factory(t, true);
  const key = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9]);
  const senml = JSON.stringify([
    { bn: "/0/1/", n: "0", vs: "coaps://s.example" }, { n: "1", vb: false }, { n: "2", v: 0 }, { n: "3", vd: Buffer.from("id").toString("base64url") },
    { n: "5", vd: Buffer.from(key).toString("base64url") }, { n: "10", v: 7 },
  ]);
  assert.equal(t.write(BS, "/0/1", enc.encode(senml), F.SENML_JSON), C.CHANGED);
  assert.ok(!t.memHas(t.OUT, 8192, key));
  t.E.abortSession();
});

test("write scratch (issue 11): the instance being written lives in the response buffer; one too small for it, or overlapping the payload, is 5.00 and nothing changes", () => {
  const t = fresh();
  factory(t, true);
  assert.equal(t.create(SRV, "/33000", inst(0, rInt(0, 1))), C.CREATED);
  assert.equal(t.writeText(SRV, "/33000/0/1", "first"), C.CHANGED);
  const payload = enc.encode("second");
  t.m.write(payload, t.OUT);
  // the payload inside the scratch area: refused, not decoded over itself
  assert.equal(t.E.write(SRV, 33000, 0, 1, NONE, 0, F.TEXT, t.OUT, payload.length, t.OUT, 8192), C.INTERNAL);
  // a scratch smaller than the instance: refused
  t.m.write(payload, t.BUF);
  assert.equal(t.E.write(SRV, 33000, 0, 1, NONE, 0, F.TEXT, t.BUF, payload.length, t.OUT, 16), C.INTERNAL);
  assert.equal(t.text(SRV, "/33000/0/1"), "first", "nothing changed");
  // room enough, apart from the payload: written
  assert.equal(t.E.write(SRV, 33000, 0, 1, NONE, 0, F.TEXT, t.BUF, payload.length, t.OUT, 8192), C.CHANGED);
  assert.equal(t.text(SRV, "/33000/0/1"), "second");
});

test("BS-5: incomplete or inconsistent bootstrap refused with 4.06, previous configuration intact", needs({ CAP_SERVERS: 2 }), () => {
  const bad: Array<[string, (t: Api) => void, number]> = [
    ["Server Object without its account", (t) => { t.del(BS, "/"); t.write(BS, "/1/0", serverInstance(0, 202)); }, ConfigError.OrphanServerObject],
    ["account without its Server Object", (t) => {
      t.del(BS, "/");
      t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://a.example", bs: false, mode: 0, id: "x", key: SRV_KEY, ssid: 202 }));
    }, ConfigError.NoServerObject],
    ["PSK without key", (t) => {
      t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://a.example", bs: false, mode: 0, id: "x", ssid: 202 }));
      t.write(BS, "/1/1", serverInstance(1, 202));
    }, ConfigError.MissingCredential],
    ["RPK without server key", (t) => {
      t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://a.example", bs: false, mode: 1, id: "pub", key: SRV_KEY, ssid: 202 }));
      t.write(BS, "/1/1", serverInstance(1, 202));
    }, ConfigError.MissingCredential],
    ["Certificate without client certificate", (t) => {
      t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://a.example", bs: false, mode: 2, srvKey: SRV_KEY, key: SRV_KEY, ssid: 202 }));
      t.write(BS, "/1/1", serverInstance(1, 202));
    }, ConfigError.MissingCredential],
    ["EST without server certificate", (t) => {
      t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://a.example", bs: false, mode: 4, ssid: 202 }));
      t.write(BS, "/1/1", serverInstance(1, 202));
    }, ConfigError.MissingCredential],
    ["coap:// with PSK", (t) => { t.writeText(BS, "/0/1/0", "coap://lwm2m.example"); }, ConfigError.UriModeMismatch],
    ["coaps:// with NoSec", (t) => { t.writeText(BS, "/0/1/2", "3"); }, ConfigError.UriModeMismatch],
    ["http URI", (t) => { t.writeText(BS, "/0/1/0", "http://lwm2m.example"); }, ConfigError.BadUri],
    ["URI without host", (t) => { t.writeText(BS, "/0/1/0", "coaps://:5684"); }, ConfigError.BadUri],
    ["URI with bad port", (t) => { t.writeText(BS, "/0/1/0", "coaps://h:70000"); }, ConfigError.BadUri],
    ["duplicate Short Server ID", (t) => {
      t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://a.example", bs: false, mode: 0, id: "x", key: SRV_KEY, ssid: SRV }));
    }, ConfigError.DuplicateShortServerId],
    ["duplicate Server Object SSID", (t) => { t.write(BS, "/1/1", serverInstance(1, SRV)); }, ConfigError.DuplicateShortServerId],
    ["no LwM2M Server account", (t) => { t.del(BS, "/"); }, ConfigError.NoServerAccount],
    ["Server Object missing Binding", (t) => {
      t.del(BS, "/1/0");
      t.write(BS, "/1/0", inst(0, rInt(0, SRV), rInt(1, 300), rBool(6, false)));
    }, ConfigError.MissingResource],
    ["two Bootstrap-Server accounts, same secret", (t) => {
      t.write(BS, "/0/2", securityInstance(2, { uri: "coaps://bs2.example", bs: true, mode: 0, id: "dev-1", key: BS_KEY }));
    }, ConfigError.BootstrapAccounts],
  ];
  for (const [name, mutate, why] of bad) {
    const t = configured(true);
    const before0 = t.active(0);
    const before1 = t.active(1);
    const persisted = t.E.persistCount();
    mutate(t);
    assert.equal(t.bsFinish(), C.NOT_ACCEPTABLE, name);
    assert.equal(t.E.configError(), why, name);
    assert.equal(hex(t.active(0)), hex(before0), `${name}: Security unchanged`);
    assert.equal(hex(t.active(1)), hex(before1), `${name}: Server unchanged`);
    assert.equal(t.E.persistCount(), persisted, `${name}: nothing persisted`);
    assert.ok(!t.actions().includes(A.ConfigChanged), name);
    // the LwM2M Server still sees the old configuration
    assert.equal(t.text(SRV, "/1/0/1"), "300");
  }
});

test("BS-5: staging is invisible to LwM2M Servers; a corrected bootstrap commits atomically", needs({ CAP_SERVERS: 2 }), () => {
  const t = configured(true);
  assert.equal(t.writeText(BS, "/1/0/1", "999"), C.CHANGED);
  assert.equal(t.text(SRV, "/1/0/1"), "300", "server sees the active copy");
  assert.equal(t.read(BS, "/1/0/1", F.TEXT), C.CONTENT);
  assert.equal(t.bodyText(), "999", "bootstrap sees its staging copy");
  // make it invalid, refused, then fix it and finish
  assert.equal(t.write(BS, "/0/3", securityInstance(3, { uri: "coaps://b.example", bs: false, mode: 0, id: "y", ssid: 303 })), C.CHANGED);
  assert.equal(t.write(BS, "/1/1", serverInstance(1, 303)), C.CHANGED);
  assert.equal(t.bsFinish(), C.NOT_ACCEPTABLE);
  assert.equal(t.E.configError(), ConfigError.MissingCredential);
  assert.equal(t.write(BS, "/0/3/5", SRV_KEY, F.OPAQUE), C.CHANGED);
  assert.equal(t.bsFinish(5, 1_700_000_100), C.CHANGED);
  assert.equal(t.text(SRV, "/1/0/1"), "999");
  assert.equal(t.text(303, "/1/1/0"), "303");
  assert.equal(t.text(SRV, "/1/0/12"), "1700000100", "Last Bootstrapped");
  assert.equal(t.E.secFind(303), 3);
  assert.ok(t.actions().includes(A.ConfigChanged));
  // EST (mode 4) needs only the server certificate; the pools are bounded (3 Security, 2 Server instances)
  assert.equal(t.write(BS, "/0/4", securityInstance(4, { uri: "coaps://est.example", bs: false, mode: 4, srvKey: new Uint8Array([0x30, 0x82, 1, 2]), ssid: 404 })), C.INTERNAL);
  assert.equal(t.del(BS, "/0/3"), C.DELETED);
  assert.equal(t.del(BS, "/1/1"), C.DELETED);
  assert.equal(t.write(BS, "/0/4", securityInstance(4, { uri: "coaps://est.example", bs: false, mode: 4, srvKey: new Uint8Array([0x30, 0x82, 1, 2]), ssid: 404 })), C.CHANGED);
  assert.equal(t.write(BS, "/1/2", serverInstance(2, 404)), C.CHANGED);
  assert.equal(t.write(BS, "/1/3", serverInstance(3, 505)), C.INTERNAL);
  assert.equal(t.bsFinish(), C.CHANGED, `config error ${t.E.configError()}`);
  assert.equal(t.E.secMode(4), 4);
  assert.equal(t.E.secFind(303), -1);
  // NoSec with coap:// is accepted
  assert.equal(t.write(BS, "/0/4", securityInstance(4, { uri: "coap://[::1]:5683", bs: false, mode: 3, ssid: 404 })), C.CHANGED);
  assert.equal(t.bsFinish(), C.CHANGED, `config error ${t.E.configError()}`);
  assert.equal(t.E.secMode(4), 3);
});

test("BS-5: custody or persistence failure -> 5.00, nothing applied, new key handles released", () => {
  for (const kind of ["custody", "persist"]) {
    const t = fresh();
    t.E.setCustody(1, -1);
    factory(t, true);
    bootstrap(t);
    const before0 = t.active(0);
    const before1 = t.active(1);
    assert.equal(t.write(BS, "/0/1/5", NEW_BS_KEY, F.OPAQUE), C.CHANGED);
    assert.equal(t.writeText(BS, "/1/0/1", "77"), C.CHANGED);
    const aborts = t.E.abortCount();
    if (kind === "custody") t.E.setCustody(1, 1); // the first custody call fails
    else t.E.setPersistFail(1);
    const rel = t.E.released();
    assert.equal(t.bsFinish(), C.INTERNAL, kind);
    assert.equal(t.E.configError(), kind === "custody" ? ConfigError.Custody : ConfigError.Persist);
    assert.equal(hex(t.active(0)), hex(before0), kind);
    assert.equal(hex(t.active(1)), hex(before1), kind);
    assert.equal(t.E.sessionKind(), 0, "session dropped");
    assert.equal(t.E.abortCount(), aborts + 1);
    if (kind === "persist") assert.notEqual(t.E.released(), rel, "the new handle was released");
    assert.equal(t.text(SRV, "/1/0/1"), "300");
    assert.ok(!t.memHas(t.E.poolPtr(0, 1), t.E.poolSize(0), NEW_BS_KEY), "staging wiped");
  }
});

test("BS-4: high-entropy Bootstrap-Server account is kept", () => {
  const t = fresh();
  factory(t, true, 60);
  bootstrap(t, 1000);
  assert.equal(t.E.secFind(0), 0);
  assert.equal(t.E.entropyHigh(), 1);
  assert.equal(t.E.purgeIsPending(), 0);
  assert.equal(t.E.cleanupDeadline(), -1n);
  assert.equal(t.E.cleanup(10_000_000n), 0);
  assert.equal(t.E.secFind(0), 0);
});

test("BS-4: low-entropy account replaced by a new secret written during bootstrap (same instance)", () => {
  const t = fresh();
  t.E.setCustody(1, -1);
  factory(t, false, 60);
  const oldHandle = t.E.secKeyHandle(0);
  assert.ok(oldHandle >= 0);
  bootstrap(t, 1000, () => {
    assert.equal(t.write(BS, "/0/0", inst(0, rStr(3, "dev-1-new"), rBytes(5, NEW_BS_KEY))), C.CHANGED);
  });
  assert.equal(t.E.secFind(0), 0);
  assert.equal(t.E.entropyHigh(), 1);
  assert.equal(t.E.purgeIsPending(), 0);
  const h = t.E.secKeyHandle(0);
  assert.notEqual(h, oldHandle);
  assert.equal(hex(t.m.read(t.E.seKey(h), 16)), hex(NEW_BS_KEY));
  assert.ok(t.E.released() & (1 << oldHandle), "the old key was released");
});

test("BS-4: low-entropy account replaced by a new Bootstrap-Server instance", needs({ CAP_SERVERS: 2 }), () => {
  const t = fresh();
  t.E.setCustody(1, -1);
  factory(t, false);
  const oldHandle = t.E.secKeyHandle(0);
  bootstrap(t, 1000, () => {
    assert.equal(t.write(BS, "/0/2", securityInstance(2, { uri: "coaps://bs.example:5684", bs: true, mode: 0, id: "dev-1-new", key: NEW_BS_KEY })), C.CHANGED);
  });
  assert.equal(t.E.secFind(0), 2, "the new account is the Bootstrap-Server account");
  assert.equal(t.read(FACTORY, "/0/0"), C.NOT_FOUND, "the old one is gone");
  assert.equal(t.E.entropyHigh(), 1);
  assert.ok(t.E.released() & (1 << oldHandle));
});

test("BS-4: low-entropy account purged after the Bootstrap-Server Account Timeout (fake clock)", () => {
  const t = fresh();
  t.E.setCustody(1, -1);
  factory(t, false, 60);
  const h = t.E.secKeyHandle(0);
  bootstrap(t, 1000);
  assert.equal(t.E.secFind(0), 0, "kept until the timeout");
  assert.equal(t.E.purgeIsPending(), 1);
  assert.equal(t.E.cleanupDeadline(), 61_000n);
  // the pending purge is persisted: the image round-trips with the flag
  assert.equal(t.m.read(t.E.image() + 4, 1)[0] & 2, 2);
  assert.equal(t.E.cleanup(60_999n), 0);
  assert.equal(t.E.secFind(0), 0);
  assert.equal(t.E.cleanup(61_000n), 1);
  assert.equal(t.E.secFind(0), -1, "purged");
  assert.equal(t.E.cleanupDeadline(), -1n);
  assert.ok(t.E.released() & (1 << h), "its key was released");
  assert.ok(t.actions().includes(A.ConfigChanged));
  assert.equal(t.E.secFind(SRV), 1, "the LwM2M Server account stays");
  // what is persisted next has no Bootstrap-Server account and no pending purge
  const n = t.E.saveImage(t.BUF, 4096);
  assert.ok(n > 0);
  assert.equal(t.m.read(t.BUF + 4, 1)[0] & 2, 0);
});

test("BS-4: pending purge survives a reboot (timer restarts from load time)", () => {
  const t = fresh();
  factory(t, false, 30);
  bootstrap(t, 0);
  const n = t.E.saveImage(t.BUF, 4096);
  const img = t.m.read(t.BUF, n);
  const u = fresh();
  u.m.write(img, u.BUF);
  assert.equal(u.E.loadImage(u.BUF, n, 5000n), 0);
  assert.equal(u.E.purgeIsPending(), 1);
  assert.equal(u.E.cleanupDeadline(), 35_000n);
  assert.equal(u.E.cleanup(35_000n), 1);
  assert.equal(u.E.secFind(0), -1);
});

test("BS-4: low-entropy account purged at once without a timeout (absent or 0)", () => {
  for (const timeout of [undefined, 0]) {
    const t = fresh();
    factory(t, false, timeout);
    bootstrap(t, 1000);
    assert.equal(t.E.secFind(0), -1, `timeout ${timeout}`);
    assert.equal(t.E.purgeIsPending(), 0);
    assert.equal(t.E.secFind(SRV), 1);
    // the persisted image already lacks it
    const u = fresh();
    u.m.write(t.m.read(t.E.image(), t.E.imageLength()), u.BUF);
    assert.equal(u.E.loadImage(u.BUF, t.E.imageLength(), 0n), 0);
    assert.equal(u.E.secFind(0), -1);
    assert.equal(u.E.secFind(SRV), 1);
  }
});

test("Bootstrap interface: Discover, Delete rules, Write ignores unknown Resources, non-configuration Objects refused", () => {
  const t = configured(true);
  assert.equal(t.discover(BS, "/"), C.CONTENT);
  assert.equal(t.bodyText(),
    "</>;lwm2m=1.1,</0>;ver=1.1,</0/0>;uri=\"coaps://bs.example:5684\",</0/1>;ssid=101;uri=\"coaps://lwm2m.example:5684\"," +
    "</1>;ver=1.1,</1/0>;ssid=101,</3/0>,</33000>");
  assert.equal(t.discover(BS, "/1"), C.CONTENT);
  assert.equal(t.bodyText(), "</1>;ver=1.1,</1/0>;ssid=101");
  assert.equal(t.discover(BS, "/1/0"), C.BAD_REQUEST);
  assert.equal(t.discover(BS, "/7"), C.NOT_FOUND);
  assert.equal(t.del(BS, "/0/0"), C.BAD_REQUEST, "the Bootstrap-Server account cannot be deleted");
  assert.equal(t.del(BS, "/0/1/0"), C.BAD_REQUEST);
  assert.equal(t.del(BS, "/3/0"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.write(BS, "/3/0/13", enc.encode("5"), F.TEXT), C.METHOD_NOT_ALLOWED);
  assert.equal(t.del(BS, "/"), C.DELETED);
  assert.equal(t.discover(BS, "/"), C.CONTENT);
  assert.equal(t.bodyText(), "</>;lwm2m=1.1,</0>;ver=1.1,</0/0>;uri=\"coaps://bs.example:5684\",</1>;ver=1.1,</3/0>,</33000>");
  // SMS resources 6-9 are not supported: ignored by Bootstrap-Write
  const sms = [tlv(0xc0, 6, new Uint8Array([1])), rBytes(7, new Uint8Array(6)), rBytes(8, new Uint8Array(16)), rStr(9, "+123")];
  assert.equal(t.write(BS, "/0/1", securityInstance(1, { uri: "coaps://lwm2m.example:5684", bs: false, mode: 0, id: "i", key: SRV_KEY, ssid: SRV, extra: sms })), C.CHANGED);
  assert.equal(t.write(BS, "/1/0", serverInstance(0, SRV)), C.CHANGED);
  // a Bootstrap-Write cannot forge internal bookkeeping (custody handle 0xff00)
  assert.equal(t.write(BS, "/0/1", inst(1, rInt(0xff00, 3))), C.CHANGED);
  assert.equal(t.bsFinish(), C.CHANGED);
  assert.equal(t.E.secKeyHandle(1), -1, "key in RAM, no forged handle");
  // Bootstrap-Server cannot Execute / Create / Write-Attributes
  assert.equal(t.exec(BS, "/1/0/8"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.create(BS, "/33000", inst(0, rInt(0, 1))), C.METHOD_NOT_ALLOWED);
  assert.equal(t.attrs(BS, "/3/0/9", "pmin=1"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.handle(BS, POST, "/1/0", { format: F.TLV, payload: inst(0, rInt(1, 5)) }), C.METHOD_NOT_ALLOWED);
  t.E.abortSession();
});

test("Read: every level and format, with the right codes", needs("senml-json"), () => {
  const t = configured(true);
  t.E.setDeviceManufacturer();
  // /1 object, /1/0 instance (TLV)
  assert.equal(t.read(SRV, "/1"), C.CONTENT);
  assert.equal(t.E.respFormat(), F.TLV);
  const obj = parseTlv(t.body());
  assert.equal(obj.length, 1);
  assert.equal(obj[0].kind, 0x00);
  assert.deepEqual(obj[0].children.map((r) => r.id), [0, 1, 2, 6, 7, 12]);
  assert.equal(t.read(SRV, "/1/0"), C.CONTENT);
  assert.deepEqual(parseTlv(t.body()).map((r) => r.id), [0, 1, 2, 6, 7, 12]);
  // single resource: text/plain by default; opaque for Opaque
  assert.equal(t.read(SRV, "/1/0/1"), C.CONTENT);
  assert.equal(t.E.respFormat(), F.TEXT);
  assert.equal(t.bodyText(), "300");
  assert.equal(t.read(SRV, "/1/0/7", F.TLV), C.CONTENT);
  assert.equal(hex(t.body()), hex(rStr(7, "U")));
  // Multiple Resource and Resource Instance
  assert.equal(t.read(SRV, "/3/0/11"), C.CONTENT);
  assert.equal(hex(t.body()), hex(multi(11, riInt(0, 0))));
  assert.equal(t.read(SRV, "/3/0/11/0"), C.CONTENT);
  assert.equal(t.bodyText(), "0");
  assert.equal(t.read(SRV, "/3/0/11/1"), C.NOT_FOUND);
  // SenML JSON and CBOR
  assert.equal(t.read(SRV, "/3/0", F.SENML_JSON), C.CONTENT);
  assert.equal(t.E.respFormat(), F.SENML_JSON);
  assert.deepEqual(JSON.parse(t.bodyText()), [{ bn: "/3/0/", n: "0", vs: "Acme" }, { n: "11/0", v: 0 }, { n: "16", vs: "U" }]);
  assert.equal(t.read(SRV, "/1/0", F.SENML_CBOR), C.CONTENT);
  const recs = cborDecode(t.body(), { useMaps: true }) as Array<Map<number, unknown>>;
  assert.equal(recs.length, 6);
  // refusals
  assert.equal(t.read(SRV, "/1/0", F.TEXT), C.NOT_ACCEPTABLE);
  assert.equal(t.read(SRV, "/1/0/1", 9999), C.NOT_ACCEPTABLE);
  assert.equal(t.read(SRV, "/1/0/8"), C.METHOD_NOT_ALLOWED, "executable");
  assert.equal(t.read(SRV, "/1/0/99"), C.NOT_FOUND);
  assert.equal(t.read(SRV, "/1/0/3"), C.NOT_FOUND, "optional, absent");
  assert.equal(t.read(SRV, "/1/7"), C.NOT_FOUND);
  assert.equal(t.read(SRV, "/4"), C.NOT_FOUND);
  assert.equal(t.read(SRV, "/"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.read(SRV, "/1/0/1/0"), C.NOT_FOUND, "single resource has no instances");
  // output too small -> 5.00
  assert.equal(t.E.read(SRV, 1, 0, NONE, NONE, -1, t.OUT, 4), C.INTERNAL);
  // empty object
  assert.equal(t.read(SRV, "/33000"), C.CONTENT);
  assert.equal(t.E.respLen(), 0);
  // dynamic value through a read hook (Current Time from the glue's clock)
  t.E.setWall(1_700_000_000n);
  assert.equal(t.text(SRV, "/3/0/13"), "1700000000");
});

test("Write: replace and partial update, access and value rules", needs("senml-json"), () => {
  const t = configured(true);
  t.actions();
  assert.equal(t.writeText(SRV, "/1/0/1", "600"), C.CHANGED);
  assert.equal(t.text(SRV, "/1/0/1"), "600");
  const acts = t.actions();
  assert.ok(acts.includes(A.ServerChanged | (SRV << 8)), "registration layer told to Update");
  assert.ok(acts.includes(A.ConfigChanged), "persist");
  // partial update keeps other resources
  assert.equal(t.write(SRV, "/1/0", inst(0, rInt(1, 700)), F.TLV, true), C.CHANGED);
  assert.equal(t.text(SRV, "/1/0/2"), "1");
  // replace removes optional writable resources not given (res 2), keeps mandatory ones
  assert.equal(t.write(SRV, "/1/0", inst(0, rInt(1, 800), rBool(6, true), rStr(7, "UQ"))), C.CHANGED);
  assert.equal(t.read(SRV, "/1/0/2"), C.NOT_FOUND);
  assert.equal(t.text(SRV, "/1/0/7"), "UQ");
  assert.equal(t.text(SRV, "/1/0/0"), String(SRV));
  // SenML JSON write
  assert.equal(t.write(SRV, "/1/0", enc.encode(JSON.stringify([{ bn: "/1/0/", n: "3", v: 3600 }])), F.SENML_JSON, true), C.CHANGED);
  assert.equal(t.text(SRV, "/1/0/3"), "3600");
  // refusals, each with the state unchanged
  const before = t.snap(1);
  const refusals: Array<[string, () => number, number]> = [
    ["read-only SSID", () => t.writeText(SRV, "/1/0/0", "5"), C.METHOD_NOT_ALLOWED],
    ["read-only SSID in instance", () => t.write(SRV, "/1/0", inst(0, rInt(0, 5), rInt(1, 1)), F.TLV, true), C.METHOD_NOT_ALLOWED],
    ["executable", () => t.writeText(SRV, "/1/0/8", "1"), C.METHOD_NOT_ALLOWED],
    ["object level", () => t.write(SRV, "/1", inst(0, rInt(1, 5))), C.METHOD_NOT_ALLOWED],
    ["absent instance", () => t.writeText(SRV, "/1/5/1", "5"), C.NOT_FOUND],
    ["unknown resource", () => t.writeText(SRV, "/1/0/99", "5"), C.NOT_FOUND],
    ["unknown resource in payload", () => t.write(SRV, "/1/0", inst(0, rInt(1, 5), rInt(99, 1)), F.TLV, true), C.NOT_FOUND],
    ["bad binding", () => t.writeText(SRV, "/1/0/7", "X"), C.BAD_REQUEST],
    ["binding too long", () => t.writeText(SRV, "/1/0/7", "UMHTSNQUU"), C.TOO_LARGE],
    ["negative lifetime", () => t.writeText(SRV, "/1/0/1", "-1"), C.BAD_REQUEST],
    ["text not a number", () => t.writeText(SRV, "/1/0/1", "abc"), C.BAD_REQUEST],
    ["unsupported format", () => t.write(SRV, "/1/0/1", enc.encode("1"), 9999), C.UNSUPPORTED],
    ["no Content-Format", () => t.write(SRV, "/1/0/1", enc.encode("1"), -1), C.UNSUPPORTED],
    ["malformed TLV", () => t.write(SRV, "/1/0", new Uint8Array([0xc8, 1, 9, 0])), C.BAD_REQUEST],
    ["TLV for another instance", () => t.write(SRV, "/1/0", inst(1, rInt(1, 5))), C.BAD_REQUEST],
    ["second change after an invalid one", () => t.write(SRV, "/1/0", inst(0, rInt(1, 5), rStr(7, "X")), F.TLV, true), C.BAD_REQUEST],
    ["wrong TLV length for an integer", () => t.write(SRV, "/1/0", inst(0, tlv(0xc0, 1, new Uint8Array(3))), F.TLV, true), C.BAD_REQUEST],
    ["text/plain on an instance", () => t.write(SRV, "/1/0", enc.encode("5"), F.TEXT), C.UNSUPPORTED],
  ];
  for (const [name, op, code] of refusals) {
    assert.equal(op(), code, name);
    assert.equal(t.snap(1), before, `${name}: unchanged`);
  }
  // Device: Current Time writable; everything else read-only
  t.E.setWall(1000n);
  assert.equal(t.writeText(SRV, "/3/0/13", "5000"), C.CHANGED);
  t.E.setWall(1010n);
  assert.equal(t.text(SRV, "/3/0/13"), "5010");
  assert.equal(t.writeText(SRV, "/3/0/0", "Evil"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.writeText(SRV, "/3/0/16", "U"), C.METHOD_NOT_ALLOWED);
});

test("test Object: every data type, Multiple Resources, Create / Delete up to the pool limit", needs("senml-json"), () => {
  const t = configured(true);
  const all = inst(0,
    rInt(0, -5), rStr(1, "héllo"), tlv(0xc0, 2, new Uint8Array(new Float64Array([2.5]).buffer).reverse()), rBool(3, true),
    tlv(0xc0, 4, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), rBytes(5, new Uint8Array([0, 1, 2, 0xff])),
    rInt(6, 1_700_000_000), tlv(0xc0, 7, new Uint8Array([0, 3, 0, 0])), multi(8, riInt(1, 10), riInt(7, 70)),
    rStr(11, "</3/0>"));
  assert.equal(t.create(SRV, "/33000", all), C.CREATED);
  assert.equal(t.E.createdId(), 0);
  assert.equal(t.read(SRV, "/33000/0", F.SENML_JSON), C.CONTENT);
  assert.deepEqual(JSON.parse(t.bodyText()), [
    { bn: "/33000/0/", n: "0", v: -5 }, { n: "1", vs: "héllo" }, { n: "2", v: 2.5 }, { n: "3", vb: true },
    { n: "4", v: 18446744073709551615 }, { n: "5", vd: "AAEC_w" }, { n: "6", v: 1700000000 }, { n: "7", vlo: "3:0" },
    { n: "8/1", v: 10 }, { n: "8/7", v: 70 }, { n: "11", vs: "</3/0>" },
  ]);
  assert.equal(t.text(SRV, "/33000/0/4"), "18446744073709551615");
  assert.equal(t.text(SRV, "/33000/0/7"), "3:0");
  // read-back round trip through TLV: the object read equals a fresh TLV of the same values
  assert.equal(t.read(SRV, "/33000/0/8"), C.CONTENT);
  assert.equal(hex(t.body()), hex(multi(8, riInt(1, 10), riInt(7, 70))));
  // Multiple Resource: replace, partial add, overflow refused
  assert.equal(t.write(SRV, "/33000/0/8", multi(8, riInt(2, 20))), C.CHANGED);
  assert.equal(hex((t.read(SRV, "/33000/0/8"), t.body())), hex(multi(8, riInt(2, 20))));
  assert.equal(t.write(SRV, "/33000/0/8", multi(8, riInt(0, 1), riInt(5, 50)), F.TLV, true), C.CHANGED);
  assert.equal(hex((t.read(SRV, "/33000/0/8"), t.body())), hex(multi(8, riInt(0, 1), riInt(2, 20), riInt(5, 50))));
  const before = t.snap(33000);
  assert.equal(t.write(SRV, "/33000/0/8", multi(8, riInt(9, 9)), F.TLV, true), C.TOO_LARGE);
  assert.equal(t.snap(33000), before);
  assert.equal(t.write(SRV, "/33000/0/8/2", enc.encode("22"), F.TEXT), C.CHANGED, "write one Resource Instance");
  assert.equal(t.text(SRV, "/33000/0/8/2"), "22");
  // check hook and type rules
  assert.equal(t.writeText(SRV, "/33000/0/0", "-999"), C.BAD_REQUEST);
  assert.equal(t.write(SRV, "/33000/0/1", enc.encode(JSON.stringify([{ n: "/33000/0/1", v: 5 }])), F.SENML_JSON), C.BAD_REQUEST);
  assert.equal(t.write(SRV, "/33000/0", enc.encode(JSON.stringify([{ n: "/33000/0/1", vs: "x".repeat(17) }])), F.SENML_JSON, true), C.TOO_LARGE);
  assert.equal(t.writeText(SRV, "/33000/0/10", "ro"), C.METHOD_NOT_ALLOWED);
  // Create: explicit id, SenML names, duplicates, missing mandatory, several instances
  assert.equal(t.create(SRV, "/33000", inst(3, rInt(0, 3))), C.CREATED);
  assert.equal(t.E.createdId(), 3);
  assert.equal(t.create(SRV, "/33000", inst(3, rInt(0, 3))), C.BAD_REQUEST, "exists");
  assert.equal(t.create(SRV, "/33000", inst(2, rStr(1, "no res 0"))), C.BAD_REQUEST, "mandatory missing");
  assert.equal(t.create(SRV, "/33000", cat(inst(1, rInt(0, 1)), inst(2, rInt(0, 2)))), C.BAD_REQUEST, "two instances");
  assert.equal(t.create(SRV, "/33000", enc.encode(JSON.stringify([{ bn: "/33000/2/", n: "0", v: 2 }])), F.SENML_JSON), C.CREATED);
  assert.equal(t.E.createdId(), 2);
  // TLV without an Object Instance TLV: the lowest free id
  assert.equal(t.create(SRV, "/33000", rInt(0, 1)), C.CREATED);
  assert.equal(t.E.createdId(), 1);
  // pool full (4): refused, nothing created
  const full = t.snap(33000);
  assert.equal(t.create(SRV, "/33000", rInt(0, 9)), C.INTERNAL);
  assert.equal(t.create(SRV, "/33000", inst(9, rInt(0, 9))), C.INTERNAL);
  assert.equal(t.snap(33000), full);
  assert.equal(t.read(SRV, "/33000"), C.CONTENT);
  assert.deepEqual(parseTlv(t.body()).map((i) => i.id), [0, 1, 2, 3]);
  // Create refused on Objects that do not allow it
  assert.equal(t.create(SRV, "/1", inst(5, rInt(0, 5))), C.METHOD_NOT_ALLOWED);
  assert.equal(t.create(SRV, "/3", inst(1)), C.METHOD_NOT_ALLOWED);
  assert.equal(t.create(SRV, "/7", inst(1)), C.NOT_FOUND);
  assert.equal(t.create(SRV, "/33000", inst(8, rInt(0, 1)), 9999), C.INTERNAL, "full pool answered first");
  // Delete
  assert.equal(t.del(SRV, "/33000/2"), C.DELETED);
  assert.equal(t.del(SRV, "/33000/2"), C.NOT_FOUND);
  assert.equal(t.create(SRV, "/33000", inst(8, rInt(0, 1)), 9999), C.UNSUPPORTED);
  assert.equal(t.create(SRV, "/33000", new Uint8Array([0xff])), C.BAD_REQUEST);
  assert.equal(t.del(SRV, "/33000"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.del(SRV, "/33000/0/1"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.del(SRV, "/3/0"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.del(SRV, "/1/0"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.handle(SRV, DELETE, "/33000/3"), C.DELETED);
  assert.equal(t.handle(SRV, POST, "/33000", { format: F.TLV, payload: inst(6, rInt(0, 6)) }), C.CREATED);
  assert.equal(t.E.createdId(), 6);
  assert.ok(t.E.changeCount() > 0);
});

test("Execute: Device and Server executables post actions; arguments grammar", () => {
  const t = configured(true);
  assert.equal(t.exec(SRV, "/3/0/4"), C.CHANGED);
  assert.equal(t.E.deviceAction(), A.Reboot);
  assert.equal(t.E.deviceAction(), 0);
  assert.equal(t.handle(SRV, POST, "/3/0/5"), C.CHANGED);
  assert.equal(t.E.deviceAction(), A.FactoryReset);
  t.actions();
  assert.equal(t.exec(SRV, "/1/0/8"), C.CHANGED);
  assert.equal(t.exec(SRV, "/1/0/9"), C.CHANGED);
  assert.equal(t.exec(SRV, "/1/0/4"), C.CHANGED);
  assert.deepEqual(t.actions(), [A.RegistrationUpdate | (SRV << 8), A.BootstrapRequest | (SRV << 8), A.Disable | (SRV << 8)]);
  assert.equal(t.exec(SRV, "/1/0/1"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.exec(SRV, "/1/0/99"), C.NOT_FOUND);
  assert.equal(t.exec(SRV, "/1/3/8"), C.NOT_FOUND);
  assert.equal(t.exec(SRV, "/1/0"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.exec(FACTORY, "/3/0/4"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.E.deviceAction(), 0);
  for (const ok of ["", "0", "0,1", "5='abc'", "0='',9='x~!#&(['", "1,2='http://a/b?c=1'"]) assert.equal(t.exec(SRV, "/33000/0/9", ok), C.NOT_FOUND);
  t.create(SRV, "/33000", inst(0, rInt(0, 1)));
  for (const ok of ["", "0", "0,1", "5='abc'", "0='',9='x~!#&(['", "1,2='http://a/b?c=1'"]) assert.equal(t.exec(SRV, "/33000/0/9", ok), C.CHANGED, ok);
  assert.equal(t.E.execArgsLen(), "1,2='http://a/b?c=1'".length);
  for (const bad of ["a", "10", "0=", "0='abc", "0,", ",0", "0='a\"b'", "0='a\\b'", "0 ", "0;1", "0='x'1"]) {
    const calls = t.E.execCalls();
    assert.equal(t.exec(SRV, "/33000/0/9", bad), C.BAD_REQUEST, bad);
    assert.equal(t.E.execCalls(), calls);
  }
});

test("Discover: link-format with dim and attributes; Register list", () => {
  const t = configured(true);
  assert.equal(t.discover(SRV, "/3"), C.CONTENT);
  assert.equal(t.E.respFormat(), F.LINK);
  assert.equal(t.bodyText(), "</3>,</3/0>,</3/0/4>,</3/0/5>,</3/0/11>;dim=1,</3/0/16>");
  assert.equal(t.discover(SRV, "/1/0"), C.CONTENT);
  assert.equal(t.bodyText(), "</1/0>,</1/0/0>,</1/0/1>,</1/0/2>,</1/0/4>,</1/0/6>,</1/0/7>,</1/0/8>,</1/0/9>,</1/0/12>");
  assert.equal(t.attrs(SRV, "/3/0/11", "pmin=10&pmax=60"), C.CHANGED);
  assert.equal(t.attrs(SRV, "/3", "pmax=300"), C.CHANGED);
  assert.equal(t.discover(SRV, "/3/0/11"), C.CONTENT);
  assert.equal(t.bodyText(), "</3/0/11>;dim=1;pmin=10;pmax=60,</3/0/11/0>");
  assert.equal(t.discover(SRV, "/3"), C.CONTENT);
  assert.ok(t.bodyText().startsWith("</3>;pmax=300,</3/0>,"));
  // attributes are per server
  assert.equal(t.discover(202, "/3/0/11"), C.CONTENT);
  assert.equal(t.bodyText(), "</3/0/11>;dim=1,</3/0/11/0>");
  assert.equal(t.handle(SRV, GET, "/1", { accept: F.LINK }), C.CONTENT);
  assert.ok(t.bodyText().startsWith("</1>;ver=1.1,</1/0>,</1/0/0>"));
  assert.equal(t.discover(SRV, "/3/0/99"), C.NOT_FOUND);
  assert.equal(t.discover(SRV, "/3/4"), C.NOT_FOUND);
  assert.equal(t.discover(SRV, "/9"), C.NOT_FOUND);
  assert.equal(t.discover(SRV, "/"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.discover(SRV, "/0"), C.NOT_FOUND);
  assert.equal(t.E.discover(SRV, 3, NONE, NONE, NONE, t.OUT, 8), C.INTERNAL);
  const n = t.E.regPayload(t.OUT, 512);
  assert.equal(dec.decode(t.m.read(t.OUT, n)), "</1>;ver=1.1,</1/0>,</3/0>,</33000>");
  assert.ok(t.E.regPayload(t.OUT, 10) < 0);
});

test("Write-Attributes: parsing, validation (lt < gt, lt + 2*st < gt), per-server, inheritance", () => {
  const t = configured(true);
  assert.equal(t.create(SRV, "/33000", inst(0, rInt(0, 1), rStr(1, "a"), tlv(0xc0, 2, new Uint8Array(new Float64Array([1.5]).buffer).reverse()), rBool(3, false))), C.CREATED);
  assert.equal(t.attrs(SRV, "/33000/0/2", "gt=50&lt=10&st=5"), C.CHANGED);
  assert.equal(t.E.attrEff(SRV, 33000, 0, 2, NONE, 3), 1);
  assert.equal(t.E.attrNum(), 50);
  const snapshot = () => [3, 4, 5].map((id) => (t.E.attrEff(SRV, 33000, 0, 2, NONE, id), t.E.attrNum()));
  const ok = snapshot();
  const refused: Array<[string, string]> = [
    ["/33000/0/2", "lt=60"], // lt >= gt
    ["/33000/0/2", "lt=50"],
    ["/33000/0/2", "st=20"], // 10 + 40 >= 50
    ["/33000/0/2", "gt=30&st=10"], // 10 + 20 >= 30
    ["/33000/0/2", "st=-1"],
    ["/33000/0/2", "pmin=-1"],
    ["/33000/0/2", "pmin=1.5"],
    ["/33000/0/2", "foo=1"],
    ["/33000/0/2", "pmin=10&bar"],
    ["/33000/0/2", "gt=abc"],
    ["/33000/0/2", ""],
    ["/33000/0", "gt=5"], // not on an instance
    ["/33000/0/1", "gt=5"], // not on a string
    ["/33000/0/3", "lt=5"], // not on a boolean
  ];
  for (const [p, q] of refused) {
    assert.equal(t.attrs(SRV, p, q), C.BAD_REQUEST, `${p}?${q}`);
    assert.deepEqual(snapshot(), ok, `${p}?${q}: unchanged`);
  }
  assert.equal(t.attrs(SRV, "/33000/0/2", "st=19"), C.CHANGED); // 10 + 38 < 50
  assert.equal(t.attrs(SRV, "/33000/0/2", "gt=60&lt=70"), C.BAD_REQUEST);
  assert.equal(t.attrs(SRV, "/33000/0/2", "gt&lt&st"), C.CHANGED, "removed");
  assert.equal(t.E.attrEff(SRV, 33000, 0, 2, NONE, 3), 0);
  // periods, inheritance (Resource -> Instance -> Object), epmin/epmax
  assert.equal(t.attrs(SRV, "/33000", "pmin=5&epmin=1&epmax=9"), C.CHANGED);
  assert.equal(t.attrs(SRV, "/33000/0", "pmax=50"), C.CHANGED);
  assert.equal(t.E.attrEff(SRV, 33000, 0, 2, NONE, 1), 1);
  assert.equal(t.E.attrInt(), 5);
  assert.equal(t.E.attrEff(SRV, 33000, 0, 2, NONE, 2), 1);
  assert.equal(t.E.attrInt(), 50);
  assert.equal(t.E.attrEff(SRV, 33000, 0, 2, NONE, 7), 1);
  assert.equal(t.E.attrInt(), 9);
  assert.equal(t.E.attrEff(202, 33000, 0, 2, NONE, 1), 0, "other server");
  assert.equal(t.attrs(SRV, "/33000/0", "pmax"), C.CHANGED);
  assert.equal(t.E.attrEff(SRV, 33000, 0, 2, NONE, 2), 0);
  // targets
  assert.equal(t.attrs(SRV, "/33000/5", "pmin=1"), C.NOT_FOUND);
  assert.equal(t.attrs(SRV, "/33000/0/99", "pmin=1"), C.NOT_FOUND);
  assert.equal(t.attrs(SRV, "/33000/0/9", "pmin=1"), C.METHOD_NOT_ALLOWED, "executable");
  assert.equal(t.attrs(SRV, "/", "pmin=1"), C.METHOD_NOT_ALLOWED);
  assert.equal(t.attrs(SRV, "/33000/0/8/0", "pmin=1"), C.NOT_FOUND);
  assert.equal(t.attrs(SRV, "/33000/0/6", "pmin=1"), C.NOT_FOUND, "absent optional Resource");
  // via the dispatcher: PUT with a query and no payload
  assert.equal(t.handle(SRV, PUT, "/3/0/11", { query: "pmin=2" }), C.CHANGED);
  assert.equal(t.handle(SRV, PUT, "/3/0/11", { query: "pmin=2", payload: enc.encode("1"), format: 0 }), C.BAD_REQUEST);
  // deleting the instance drops its attributes
  assert.equal(t.attrs(SRV, "/33000/0/1", "pmin=3"), C.CHANGED);
  const n = t.E.attrs();
  assert.equal(t.del(SRV, "/33000/0"), C.DELETED);
  assert.ok(t.E.attrs() < n);
  // the table is bounded: 5.00 when full, nothing half-written
  let code = C.CHANGED;
  for (let i = 0; i < 40 && code === C.CHANGED; i++) code = t.attrs(100 + i, "/3/0/11", "pmin=1");
  assert.equal(code, C.INTERNAL);
});

test("configuration image: round trip, hostile images refused with the active configuration intact", () => {
  const t = configured(false);
  const n = t.E.saveImage(t.BUF, 4096);
  assert.ok(n > 0);
  const img = t.m.read(t.BUF, n);
  assert.equal(t.E.saveImage(t.BUF, n - 1), -1);
  const u = fresh();
  u.m.write(img, u.BUF);
  assert.equal(u.E.loadImage(u.BUF, n, 0n), 0);
  assert.equal(u.E.saveImage(u.BUF, 4096), n);
  assert.equal(hex(u.m.read(u.BUF, n)), hex(img));
  assert.equal(u.E.entropyHigh(), 0);
  assert.equal(u.text(SRV, "/1/0/1"), "300");
  // truncations and bit flips: never a trap, refused or valid, and when refused nothing changes
  const v = fresh();
  v.m.write(img, v.BUF);
  assert.equal(v.E.loadImage(v.BUF, n, 0n), 0);
  const before = v.snap(0) + v.snap(1);
  let refusedCount = 0;
  for (let cut = 0; cut < n; cut++) {
    v.m.write(img.slice(0, cut), v.BUF);
    assert.notEqual(v.E.loadImage(v.BUF, cut, 0n), 0, `cut ${cut}`);
    refusedCount++;
  }
  assert.equal(v.snap(0) + v.snap(1), before);
  let rng = 12345;
  for (let k = 0; k < 2000; k++) {
    const b = img.slice();
    rng = (rng * 1103515245 + 12345) >>> 0;
    b[rng % n] ^= 1 << ((rng >>> 16) & 7);
    v.m.write(b, v.BUF);
    if (v.E.loadImage(v.BUF, n, 0n) !== 0) assert.equal(v.snap(0) + v.snap(1), before, `flip ${k}`);
    else {
      v.m.write(img, v.BUF);
      assert.equal(v.E.loadImage(v.BUF, n, 0n), 0);
    }
  }
  assert.ok(refusedCount > 0);
});

test("URI syntax for resource 0", () => {
  const t = fresh();
  const u = (s: string) => { const b = enc.encode(s); t.m.write(b, t.BUF); return t.E.uriCheck(t.BUF, b.length); };
  assert.equal(u("coap://h"), 0);
  assert.equal(u("coaps://h:5684"), 1);
  assert.equal(u("COAPS://Host.example:1/path"), 1);
  assert.equal(u("coap://[::1]:5683"), 0);
  assert.equal(u("coap://192.0.2.1"), 0);
  for (const bad of ["", "coap:/h", "coap://", "coaps://:1", "coap://h:", "coap://h:123456", "coap://h:65536", "coap://h:x", "coapx://h",
    "http://h", "coap://us@h", "coap://h h", "coap://[]:1", "coap://[::1", "coap://h/#f", "coap+tcp://h"]) {
    assert.equal(u(bad), -1, bad);
  }
});

test("server retry parameters: 1.1 defaults and configured values", () => {
  const t = configured(true);
  const split = (v: bigint) => [Number(v & 0xffn), Number((v >> 8n) & 0xffn), Number((v >> 16n) & 0xffffffn), Number(v >> 40n)];
  assert.deepEqual(split(t.E.retries(SRV)), [5, 60, 86400, 1]);
  assert.equal(t.write(SRV, "/1/0", inst(0, tlv(0xc0, 17, new Uint8Array([3])), tlv(0xc0, 18, new Uint8Array([30]))), F.TLV, true), C.CHANGED);
  assert.deepEqual(split(t.E.retries(SRV)), [3, 30, 86400, 1]);
  assert.equal(t.E.srvFind(SRV), 0);
  assert.equal(t.E.srvFind(7), -1);
});
