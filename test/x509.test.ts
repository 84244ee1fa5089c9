// DER reader/writer (assembly/asn1/der.ts) and X.509 parsing, path validation
// and LwM2M trust decisions (assembly/x509/*), as built into build/test/x509.wasm.
// Every certificate is made by the OpenSSL CLI at test time (test/helpers/certs.ts);
// parsed fields are cross-checked against node:crypto's X509Certificate and
// `openssl x509 -text`; chain results against `openssl verify`. Signatures are
// verified through the se_verify_digest import, implemented here with @noble/curves.
// @needs x509
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, verify as nodeVerify, X509Certificate, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { p256 } from "@noble/curves/nist.js";
import { loadTest, hex, unhex, ROOT, testModulePath, type TestModule } from "./helpers/wasm";
import { Pki, LEAF_EXT, type Issued } from "./helpers/certs";

// X509Error (assembly/x509/cert.ts)
const E = {
  Malformed: -100, TooSmall: -101, UnsupportedVersion: -102, WeakHashSha1: -103, WeakHashMd5: -104,
  RsaKeyRefused: -105, CurveTooSmall: -106, UnsupportedCurve: -107, UnsupportedAlgorithm: -108,
  BadSignature: -109, Expired: -110, NotYetValid: -111, TimeUnknown: -112, NotACa: -113,
  KeyUsageMissing: -114, PathTooLong: -115, PathLenExceeded: -116, UntrustedIssuer: -117,
  HostnameMismatch: -118, WildcardTld: -119, UnknownCriticalExtension: -120, KeyEqualsOwn: -121,
  InvalidKey: -122, CertMismatch: -123, UnsupportedMatchingType: -124, UnsupportedCertUsage: -125,
  NoTrustStore: -126, CaConstraintMismatch: -127, RpkMismatch: -128, ExtKeyUsageMissing: -129,
} as const;
const NAME = new Map<number, string>(Object.entries(E).map(([k, v]) => [v, k]));
const name = (r: number) => (r >= 0 ? `ok(${r})` : NAME.get(r) ?? `unknown(${r})`);
const expectCode = (r: number, want: number, what: string) => assert.equal(name(r), name(want), what);

const F = { ALLOW_TIME_LOWER_BOUND: 1, IGNORE_TIME: 2, SERVER_AUTH: 4, CLIENT_AUTH: 8 };
const CF = { BC: 1, CA: 2, PATH_LEN: 4, KU: 8, SAN: 16, SAN_DNS: 32, SAN_IP: 64, EKU: 128 };

// ---- the wasm module, with se_verify_digest over @noble/curves ----------------
let verifyCalls = 0;
function loadX509(): TestModule {
  const bin = readFileSync(testModulePath("x509"));
  const lw: Record<string, (...a: any[]) => any> = {};
  for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(bin))) {
    if (imp.module === "lwm2m_v1" && imp.kind === "function") lw[imp.name] = () => { throw new Error(`unexpected import ${imp.name}`); };
  }
  let m!: TestModule;
  lw.se_verify_digest = (pub: number, pubLen: number, digest: number, sig: number) => {
    verifyCalls++;
    const mem = m.mem();
    if (pubLen !== 65) return -1;
    const pk = mem.slice(pub, pub + 65), d = mem.slice(digest, digest + 32), s = mem.slice(sig, sig + 64);
    try { p256.Point.fromBytes(pk); } catch { return -1; }
    try { return p256.verify(s, d, pk, { prehash: false, lowS: false, format: "compact" }) ? 0 : -4; } catch { return -4; }
  };
  lw.log_write = () => {};
  m = loadTest("x509", { lwm2m_v1: lw });
  return m;
}
const m = loadX509();
const x = m.exports as any;
const S = m.scratch;
const HI = S + (x.scratchSize() >> 1);
const CERT_SIZE: number = x.certSize();
const WORK_SIZE: number = x.workSize();
const BOUND = Number(x.buildTimeLowerBound());

/** A bump allocator over the scratch area, reset per call. */
class Arena {
  p: number;
  /** Helpers below allocate from the upper half so a test's own Arena (lower half) survives them. */
  constructor(base = S) { this.p = base; }
  alloc(n: number) { const r = this.p; this.p += (n + 7) & ~7; return r; }
  put(b: Uint8Array) { const r = this.alloc(b.length); m.write(b, r); return r; }
  str(s: string) { return this.put(new TextEncoder().encode(s)); }
  list(items: Uint8Array[]) {
    const ptrs = items.map((b) => this.put(b));
    const l = this.alloc(8 * Math.max(1, items.length));
    const dv = new DataView(m.mem().buffer);
    ptrs.forEach((p, i) => { dv.setUint32(l + 8 * i, p, true); dv.setInt32(l + 8 * i + 4, items[i].length, true); });
    return l;
  }
}

interface Parsed {
  r: number; tbs: Uint8Array; serial: Uint8Array; issuer: Uint8Array; subject: Uint8Array; spki: Uint8Array;
  pub: Uint8Array; sig: Uint8Array; cn: string | null; cnTag: number; flags: number; keyUsage: number;
  pathLen: number; notBefore: number; notAfter: number; san: { tag: number; value: Uint8Array }[];
}
function parse(der: Uint8Array): Parsed {
  const a = new Arena(HI);
  const d = a.put(der), c = a.alloc(CERT_SIZE), out = a.alloc(128), sl = a.alloc(12 * 64);
  const r = x.parse(d, der.length, c);
  if (r < 0) return { r } as Parsed;
  x.dump(c, out);
  const dv = new DataView(m.mem().buffer);
  const i = (k: number) => dv.getInt32(out + 4 * k, true);
  const span = (k: number) => der.slice(i(k), i(k) + i(k + 1));
  const n = x.sanList(c, sl, 64);
  const san = [];
  for (let k = 0; k < n; k++) {
    const off = dv.getInt32(sl + 12 * k + 4, true), len = dv.getInt32(sl + 12 * k + 8, true);
    san.push({ tag: dv.getInt32(sl + 12 * k, true), value: der.slice(off, off + len) });
  }
  return {
    r, tbs: span(0), serial: span(2), issuer: span(4), subject: span(6), spki: span(8),
    pub: der.slice(i(10), i(10) + 65), sig: der.slice(i(11), i(11) + i(12)),
    cn: i(15) >= 0 ? Buffer.from(der.slice(i(15), i(15) + i(16))).toString("latin1") : null, cnTag: i(17),
    flags: i(18), keyUsage: i(19), pathLen: i(20),
    notBefore: Number(dv.getBigInt64(out + 88, true)), notAfter: Number(dv.getBigInt64(out + 96, true)), san,
  };
}

const nowS = () => BigInt(Math.floor(Date.now() / 1000));

function chain(list: Uint8Array[], anchor: Uint8Array, now: bigint = nowS(), flags = 0): number {
  const a = new Arena(HI);
  const l = a.list(list), an = a.put(anchor), w = a.alloc(WORK_SIZE);
  return x.verifyChain(l, list.length, an, anchor.length, now, flags, w);
}

interface Cfg {
  usage?: number; matching?: number; key: Uint8Array; host?: string; store?: Uint8Array[];
  own?: Uint8Array; flags?: number;
}
/** lwm2mVerifyServer; returns the code and the leaf public key left in work slot 0. */
function server(cfg: Cfg, list: Uint8Array[], now: bigint = nowS()): { r: number; leafPub: Uint8Array } {
  const a = new Arena(HI);
  const l = a.list(list), key = a.put(cfg.key);
  const host = cfg.host === undefined ? 0 : a.str(cfg.host);
  const store = cfg.store ?? [];
  const st = a.list(store);
  const own = cfg.own ? a.put(cfg.own) : 0;
  const tc = a.alloc(x.trustConfigSize()), w = a.alloc(WORK_SIZE), out = a.alloc(128);
  x.trustConfig(tc, cfg.usage ?? 3, cfg.matching ?? 0, key, cfg.key.length, host, cfg.host === undefined ? 0 : Buffer.byteLength(cfg.host),
    st, store.length, own, cfg.flags ?? 0);
  const r = x.verifyServer(tc, l, list.length, now, w);
  let leafPub: Uint8Array = new Uint8Array(0);
  if (r >= 0) {
    x.dump(w, out);
    const dv = new DataView(m.mem().buffer);
    leafPub = m.read(dv.getUint32(w, true) /* Cert.der */ + dv.getInt32(out + 40, true) /* pub offset */, 65);
  }
  return { r, leafPub };
}

function matchHost(der: Uint8Array, host: string): number {
  const a = new Arena(HI);
  const d = a.put(der), c = a.alloc(CERT_SIZE);
  assert.equal(name(x.parse(d, der.length, c)), "ok(0)");
  return x.matchHost(c, a.str(host), Buffer.byteLength(host));
}

const sha256 = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());
const spkiOf = (c: Issued) => new Uint8Array(c.x509.publicKey.export({ type: "spki", format: "der" }));

// ---- the test PKI (OpenSSL) -------------------------------------------------
const pki = new Pki();
after(() => pki.cleanup());
const day = 86400_000;
const now = Date.now();
const root = pki.root("root");
const root2 = pki.root("root2"); // unrelated name and key
const rootTwin = pki.root("root", {}); // same subject Name as root, different key
const inter = pki.ca("inter", root, { ext: "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\nauthorityKeyIdentifier = keyid" });
const SAN = "DNS:lwm2m.example.com,DNS:server.example.com,IP:127.0.0.1,IP:::1";
const srv = pki.issue("srv", inter, { subject: "/CN=srv.example.com/O=lwm2m-wasm tests", san: SAN });
const srvDirect = pki.issue("srvdirect", root, { san: "DNS:lwm2m.example.com" });
const selfSigned = pki.selfSigned("self", { san: "DNS:lwm2m.example.com" });
const expiredOld = pki.issue("expired-old", inter, { san: "DNS:lwm2m.example.com", notBefore: new Date(Date.UTC(2020, 0, 1)), notAfter: new Date(Date.UTC(2021, 0, 1)) });
const expiredRecent = pki.issue("expired-recent", inter, { san: "DNS:lwm2m.example.com", notBefore: new Date(now - 60 * day), notAfter: new Date(now - day) });
const notYetValid = pki.issue("not-yet-valid", inter, { san: "DNS:lwm2m.example.com", notBefore: new Date(now + 30 * day), notAfter: new Date(now + 400 * day) });
const genTime = pki.issue("gentime", inter, { san: "DNS:lwm2m.example.com", notBefore: new Date(Date.UTC(2025, 5, 30, 12, 34, 56)), notAfter: new Date(Date.UTC(2051, 1, 28, 23, 59, 59)) });
const wrongHost = pki.issue("wronghost", inter, { san: "DNS:other.example.org" });
const wildcard = pki.issue("wildcard", inter, { san: "DNS:*.example.com" });
const wildcardTld = pki.issue("wildcard-tld", inter, { san: "DNS:*.com" });
const partialWildcard = pki.issue("partial-wildcard", inter, { san: "DNS:f*.example.com,DNS:a.*.example.com" });
const cnOnly = pki.issue("cn-only", inter, { subject: "/O=lwm2m-wasm tests/CN=cn.example.com" });
const cnAndSan = pki.issue("cn-and-san", inter, { subject: "/CN=cn.example.com", san: "DNS:san.example.com,IP:10.0.0.1" });
const ipOnly = pki.issue("ip-only", inter, { subject: "/CN=192.0.2.10", san: "IP:192.0.2.10,IP:2001:db8::1" });
const sha1 = pki.issue("sha1", inter, { md: "sha1", san: "DNS:lwm2m.example.com" });
const sha384 = pki.issue("sha384", inter, { md: "sha384", san: "DNS:lwm2m.example.com" });
const rsaKey = pki.issue("rsa-key", inter, { key: "rsa", san: "DNS:lwm2m.example.com" });
const p224 = pki.issue("p224", inter, { key: "secp224r1" });
const p192 = pki.issue("p192", inter, { key: "prime192v1" });
const p384 = pki.issue("p384", inter, { key: "p384" });
const rsaRoot = pki.root("rsaroot", { key: "rsa" });
const md5 = pki.issue("md5", rsaRoot, { md: "md5" });
const rsaSha1 = pki.issue("rsa-sha1", rsaRoot, { md: "sha1" });
const rsaSha256 = pki.issue("rsa-sha256", rsaRoot, {});
const v1 = pki.issue("v1", inter, { ext: null });
const critExt = pki.issue("crit-ext", inter, { ext: LEAF_EXT + "\n1.2.3.4 = critical, DER:0500", san: "DNS:lwm2m.example.com" });
const nonCritExt = pki.issue("noncrit-ext", inter, { ext: LEAF_EXT + "\n1.2.3.4 = DER:0500", san: "DNS:lwm2m.example.com" });
const nameConstrCa = pki.ca("nc", root, { ext: "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\nnameConstraints = critical, permitted;DNS:example.com" });
const caNoCertSign = pki.ca("no-certsign", root, { ext: "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, digitalSignature" });
const leafOfNoCertSign = pki.issue("leaf-no-certsign", caNoCertSign, { san: "DNS:lwm2m.example.com" });
const caNoKu = pki.ca("no-ku", root, { ext: "basicConstraints = critical, CA:TRUE" }); // keyUsage absent: allowed
const leafOfNoKu = pki.issue("leaf-no-ku", caNoKu, { san: "DNS:lwm2m.example.com" });
const notCa = pki.issue("not-ca", root, { san: "DNS:notca.example.com" }); // CA:FALSE
const leafOfNotCa = pki.issue("leaf-not-ca", notCa, { san: "DNS:lwm2m.example.com", ext: "keyUsage = critical, digitalSignature" });
const noBcIssuer = pki.issue("no-bc", root, { ext: "keyUsage = critical, keyCertSign, digitalSignature" });
const leafOfNoBc = pki.issue("leaf-no-bc", noBcIssuer, { san: "DNS:lwm2m.example.com", ext: "keyUsage = critical, digitalSignature" });
const c1 = pki.ca("c1", root), c2 = pki.ca("c2", c1), c3 = pki.ca("c3", c2);
const leaf4 = pki.issue("leaf4", c3, { san: "DNS:lwm2m.example.com" });
const inter2 = pki.ca("inter2", inter); // violates inter's pathlen:0
const leafPathLen = pki.issue("leaf-pathlen", inter2, { san: "DNS:lwm2m.example.com" });
const ekuClient = pki.issue("eku-client", inter, { san: "DNS:lwm2m.example.com", ext: "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth" });
const kuAgreement = pki.issue("ku-agreement", inter, { san: "DNS:lwm2m.example.com", ext: "keyUsage = critical, keyAgreement" });
const srvTwinRoot = pki.issue("srv-twin", rootTwin, { san: "DNS:lwm2m.example.com" }); // name chains to root, key does not
const sharedKey = pki.issue("shared-key", inter, { keyFile: srv.keyFile, san: "DNS:lwm2m.example.com" });
const oldRoot = pki.root("old", { notBefore: new Date(Date.UTC(2020, 0, 1)), notAfter: new Date(Date.UTC(2021, 0, 1)) });
const leafOfOldRoot = pki.issue("leaf-old-root", oldRoot, { san: "DNS:lwm2m.example.com" });
const expiredInter = pki.ca("expired-inter", root, { notBefore: new Date(now - 60 * day), notAfter: new Date(now - day) });
const leafOfExpiredInter = pki.issue("leaf-expired-inter", expiredInter, { san: "DNS:lwm2m.example.com" });

const goodParsed: Issued[] = [root, root2, inter, srv, srvDirect, selfSigned, expiredOld, expiredRecent, notYetValid, genTime,
  wrongHost, wildcard, wildcardTld, partialWildcard, cnOnly, cnAndSan, ipOnly, nonCritExt, caNoCertSign, leafOfNoCertSign,
  caNoKu, notCa, leafOfNotCa, noBcIssuer, c1, c2, c3, leaf4, inter2, ekuClient, kuAgreement];

// ---- parsing: cross-checked against node:crypto and openssl -------------------
test("every generated certificate parses and its fields agree with node:crypto X509Certificate and openssl -text", () => {
  for (const c of goodParsed) {
    const p = parse(c.der);
    assert.equal(name(p.r), "ok(0)", c.name);
    // serial: node prints the magnitude in upper-case hex
    const serial = hex(p.serial).replace(/^00/, "").toUpperCase();
    assert.equal(serial, c.x509.serialNumber.replace(/^0+(?=.)/, "").padStart(serial.length, "0"), `${c.name} serial`);
    assert.equal(p.notBefore, Date.parse(c.x509.validFrom) / 1000, `${c.name} notBefore`);
    assert.equal(p.notAfter, Date.parse(c.x509.validTo) / 1000, `${c.name} notAfter`);
    // subject CN (the last CN of the subject)
    const cns = c.x509.subject.split("\n").filter((l) => l.startsWith("CN=")).map((l) => l.slice(3));
    assert.equal(p.cn, cns.length ? cns[cns.length - 1] : null, `${c.name} CN`);
    // SAN, in order
    const san = p.san.map((e) => e.tag === 0x82 ? `DNS:${Buffer.from(e.value).toString("latin1")}`
      : e.tag === 0x87 ? `IP Address:${e.value.length === 4 ? [...e.value].join(".") : ipv6Text(e.value)}` : `?${e.tag}`);
    assert.equal(san.join(", "), c.x509.subjectAltName ?? "", `${c.name} SAN`);
    // public key = the last 65 bytes of node's SPKI export; SPKI span = node's export
    const spki = spkiOf(c);
    assert.equal(hex(p.pub), hex(spki.slice(-65)), `${c.name} public key`);
    assert.equal(hex(p.spki), hex(spki), `${c.name} SPKI`);
    // Names: node prints them, we keep DER; issuer of c == subject of its issuer
    const selfIssued = c.x509.issuer === c.x509.subject;
    assert.equal(hex(p.issuer) === hex(p.subject), selfIssued, `${c.name} self-issued`);
    // TBS span and signature: exactly what the issuer signed (node verifies it)
    const issuer = selfIssued ? c : [inter, caNoCertSign, caNoKu, notCa, noBcIssuer, c1, c2, c3, inter2, root]
      .find((i) => c.x509.issuer === i.x509.subject && c.x509.verify(i.x509.publicKey))!;
    assert.ok(issuer, `${c.name} issuer`);
    assert.ok(nodeVerify("sha256", p.tbs, { key: issuer.x509.publicKey, dsaEncoding: "der" }, p.sig), `${c.name} TBS/signature spans`);
    assert.equal(hex(p.issuer), hex(parse(issuer.der).subject), `${c.name} issuer Name bytes`);
    // basicConstraints / keyUsage / pathLen against openssl's text dump
    const text = pki.openssl(["x509", "-in", c.certFile, "-noout", "-text"]);
    assert.equal(!!(p.flags & CF.CA), /CA:TRUE/.test(text), `${c.name} cA`);
    if (c.x509.ca) assert.ok(p.flags & CF.CA, `${c.name}: node sees a CA`);
    assert.equal(!!(p.flags & CF.BC), /X509v3 Basic Constraints/.test(text), `${c.name} basicConstraints present`);
    const pl = /pathlen:(\d+)/.exec(text);
    assert.equal(p.pathLen, pl ? Number(pl[1]) : -1, `${c.name} pathLen`);
    const ku = /X509v3 Key Usage:.*\n\s*(.*)/.exec(text);
    assert.equal(!!(p.flags & CF.KU), !!ku, `${c.name} keyUsage present`);
    if (ku) {
      const bits: Record<string, number> = { "Digital Signature": 0x80, "Non Repudiation": 0x40, "Key Encipherment": 0x20,
        "Data Encipherment": 0x10, "Key Agreement": 0x08, "Certificate Sign": 0x04, "CRL Sign": 0x02, "Encipher Only": 0x01 };
      const want = ku[1].split(", ").reduce((acc, s) => acc | (bits[s.trim()] ?? 0), 0);
      assert.equal(p.keyUsage, want, `${c.name} keyUsage ${ku[1]}`);
    }
    assert.equal(!!(p.flags & CF.EKU), /X509v3 Extended Key Usage/.test(text), `${c.name} EKU present`);
  }
});

function ipv6Text(b: Uint8Array): string {
  const w = []; for (let i = 0; i < 16; i += 2) w.push(((b[i] << 8) | b[i + 1]).toString(16).toUpperCase());
  return w.join(":");
}

test("GeneralizedTime (2050 and later) and UTCTime validity both convert to Unix seconds", () => {
  const p = parse(genTime.der);
  assert.equal(p.notBefore, Date.UTC(2025, 5, 30, 12, 34, 56) / 1000);
  assert.equal(p.notAfter, Date.UTC(2051, 1, 28, 23, 59, 59) / 1000);
  assert.match(pki.openssl(["asn1parse", "-in", genTime.certFile]), /GENERALIZEDTIME\s*:20510228235959Z/);
});

test("policy refusals carry the precise reason (DTLS-7)", () => {
  const cases: [Issued, number][] = [
    [sha1, E.WeakHashSha1], [rsaSha1, E.WeakHashSha1], [md5, E.WeakHashMd5], [sha384, E.UnsupportedAlgorithm],
    [rsaKey, E.RsaKeyRefused], [rsaRoot, E.RsaKeyRefused], [rsaSha256, E.RsaKeyRefused],
    [p224, E.CurveTooSmall], [p192, E.CurveTooSmall], [p384, E.UnsupportedCurve],
    [v1, E.UnsupportedVersion], [critExt, E.UnknownCriticalExtension], [nameConstrCa, E.UnknownCriticalExtension],
  ];
  // the fixtures really are what they claim (openssl's own view)
  assert.match(pki.openssl(["x509", "-in", sha1.certFile, "-noout", "-text"]), /Signature Algorithm: ecdsa-with-SHA1/);
  assert.match(pki.openssl(["x509", "-in", md5.certFile, "-noout", "-text"]), /Signature Algorithm: md5WithRSAEncryption/);
  assert.match(pki.openssl(["x509", "-in", p224.certFile, "-noout", "-text"]), /secp224r1/);
  assert.match(pki.openssl(["x509", "-in", p192.certFile, "-noout", "-text"]), /prime192v1/);
  assert.match(pki.openssl(["x509", "-in", v1.certFile, "-noout", "-text"]), /Version: 1 \(0x0\)/);
  for (const [c, want] of cases) {
    expectCode(parse(c.der).r, want, `parse ${c.name}`);
    // the same reason surfaces from path validation, as leaf or as anchor
    expectCode(chain([c.der], root.der), want, `chain leaf ${c.name}`);
    expectCode(chain([srv.der, inter.der], c.der), want, `chain anchor ${c.name}`);
  }
  // a non-critical unknown extension is ignored
  expectCode(chain([nonCritExt.der, inter.der], root.der), 2, "non-critical unknown extension");
});

// ---- signatures and path validation -----------------------------------------------
test("signature: SHA-256 over the TBS verified by the issuer key through se_verify_digest", () => {
  const a = new Arena();
  const d = a.put(srv.der), c = a.alloc(CERT_SIZE);
  assert.equal(x.parse(d, srv.der.length, c), 0);
  const before = verifyCalls;
  expectCode(x.verifySignedBy(c, a.put(parse(inter.der).pub)), 0, "issuer key");
  expectCode(x.verifySignedBy(c, a.put(parse(root.der).pub)), E.BadSignature, "wrong key");
  const bad = parse(root.der).pub.slice(); bad[64] ^= 1; // not on the curve
  expectCode(x.verifySignedBy(c, a.put(bad)), E.InvalidKey, "invalid point");
  assert.equal(verifyCalls - before, 3);
});

test("path validation: good chains, the anchor sent along, maximum length", () => {
  expectCode(chain([srv.der, inter.der], root.der), 2, "leaf + intermediate to root");
  expectCode(chain([srv.der, inter.der, root.der], root.der), 2, "root sent along: the path stops at the anchor");
  expectCode(chain([srv.der], inter.der), 1, "intermediate as anchor");
  expectCode(chain([srvDirect.der], root.der), 1, "leaf issued by the anchor");
  expectCode(chain([selfSigned.der], selfSigned.der), 0, "the leaf is the anchor");
  expectCode(chain([leaf4.der, c3.der, c2.der], c1.der), 3, "3 presented certificates = MAX_CHAIN");
  expectCode(chain([leafOfNoKu.der, caNoKu.der], root.der), 2, "CA without keyUsage");
  expectCode(chain([genTime.der, inter.der], root.der), 2, "GeneralizedTime notAfter");
  for (const [list, ok] of [[[srv, inter], true], [[srvDirect], true]] as [Issued[], boolean][]) {
    assert.equal(pki.opensslVerify(root, list.slice(1), list[0]), ok, "openssl verify agrees");
  }
});

test("path validation refusals: each precise code, and openssl verify refuses them too", () => {
  const cases: [string, Issued[], Issued, number, boolean][] = [
    ["expired", [expiredRecent, inter], root, E.Expired, true],
    ["not yet valid", [notYetValid, inter], root, E.NotYetValid, true],
    ["CA without keyCertSign", [leafOfNoCertSign, caNoCertSign], root, E.KeyUsageMissing, true],
    ["issuer is not a CA", [leafOfNotCa, notCa], root, E.NotACa, true],
    ["issuer without basicConstraints", [leafOfNoBc, noBcIssuer], root, E.NotACa, true],
    ["pathLenConstraint 0 violated", [leafPathLen, inter2, inter], root, E.PathLenExceeded, true],
    ["chain of 4", [leaf4, c3, c2, c1], root, E.PathTooLong, false],
    ["not issued by the anchor", [srv, inter], root2, E.UntrustedIssuer, true],
    ["missing intermediate", [srv], root, E.UntrustedIssuer, true],
    ["same issuer Name, other key", [srvTwinRoot], root, E.BadSignature, true],
  ];
  for (const [what, list, anchor, code, opensslRefuses] of cases) {
    expectCode(chain(list.map((c) => c.der), anchor.der), code, what);
    if (opensslRefuses) assert.equal(pki.opensslVerify(anchor, list.slice(1), list[0]), false, `openssl refuses: ${what}`);
  }
  // an empty chain
  expectCode(chain([], root.der), E.Malformed, "empty chain");
});

test("validity of every certificate in the path, the anchor included", () => {
  expectCode(chain([leafOfExpiredInter.der, expiredInter.der], root.der), E.Expired, "expired intermediate");
  expectCode(chain([leafOfOldRoot.der], oldRoot.der), E.Expired, "expired anchor");
  expectCode(chain([leafOfOldRoot.der], oldRoot.der, -1n, F.ALLOW_TIME_LOWER_BOUND), E.Expired, "expired anchor, time unknown");
  // a clock reading mid-2020 (inside the old root's validity) is below the build-time bound: not trusted
  expectCode(chain([leafOfOldRoot.der], oldRoot.der, BigInt(Date.UTC(2020, 6, 1) / 1000)), E.TimeUnknown, "a 2020 clock counts as unknown");
});

// A minimal DER tree codec, to re-encode OpenSSL's certificates with one structural change.
type Node = { tag: number; kids?: Node[]; val?: Uint8Array };
function decode(b: Uint8Array, p = 0, end = b.length): Node[] {
  const out: Node[] = [];
  while (p < end) {
    const tag = b[p]; let len = b[p + 1], q = p + 2;
    if (len & 0x80) { const k = len & 0x7f; len = 0; for (let i = 0; i < k; i++) len = len * 256 + b[q + i]; q += k; }
    out.push(tag & 0x20 ? { tag, kids: decode(b, q, q + len) } : { tag, val: b.slice(q, q + len) });
    p = q + len;
  }
  return out;
}
function encode(n: Node): Uint8Array {
  const body = n.kids ? cat(...n.kids.map(encode)) : n.val!;
  const l = body.length;
  return cat([n.tag], l < 128 ? [l] : l < 256 ? [0x81, l] : [0x82, l >> 8, l & 0xff], body);
}
const reencode = (der: Uint8Array, change: (cert: Node, tbs: Node) => void) => {
  const cert = decode(der)[0];
  change(cert, cert.kids![0]);
  return encode(cert);
};

test("structural refusals on re-encoded OpenSSL certificates (RFC 5280 4.1)", () => {
  assert.equal(hex(reencode(srv.der, () => {})), hex(srv.der), "the codec round-trips");
  const exts = (tbs: Node) => tbs.kids!.find((k) => k.tag === 0xa3)!.kids![0].kids!;
  const sanExt = (tbs: Node) => exts(tbs).find((e) => hex(e.kids![0].val!) === "551d11")!;
  const cases: [string, Uint8Array, number][] = [
    ["duplicate subjectAltName", reencode(srv.der, (_, t) => exts(t).push(sanExt(t))), E.Malformed],
    ["TBS signature algorithm differs from the outer one", reencode(srv.der, (_, t) => { t.kids![2] = { tag: 0x30, kids: [{ tag: 6, val: unhex("2a8648ce3d040303") }] }; }), E.Malformed],
    ["ecdsa-with-SHA256 with NULL parameters", reencode(srv.der, (c, t) => {
      const alg = { tag: 0x30, kids: [{ tag: 6, val: unhex("2a8648ce3d040302") }, { tag: 5, val: new Uint8Array(0) }] };
      c.kids![1] = alg; t.kids![2] = alg; }), E.Malformed],
    ["empty Extensions", reencode(srv.der, (_, t) => { t.kids!.find((k) => k.tag === 0xa3)!.kids![0].kids = []; }), E.Malformed],
    ["GeneralName not context-tagged", reencode(srv.der, (_, t) => {
      sanExt(t).kids![sanExt(t).kids!.length - 1] = { tag: 4, val: encode({ tag: 0x30, kids: [{ tag: 0x16, val: new TextEncoder().encode("a.example.com") }] }) }; }), E.Malformed],
    ["version v2", reencode(srv.der, (_, t) => { t.kids![0] = { tag: 0xa0, kids: [{ tag: 2, val: unhex("01") }] }; }), E.UnsupportedVersion],
    ["basicConstraints with a negative pathLen", reencode(inter.der, (_, t) => {
      const bc = exts(t).find((e) => hex(e.kids![0].val!) === "551d13")!;
      bc.kids![bc.kids!.length - 1] = { tag: 4, val: encode({ tag: 0x30, kids: [{ tag: 1, val: unhex("ff") }, { tag: 2, val: unhex("ff") }] }) }; }), E.Malformed],
    ["explicit parameters instead of a named curve", reencode(srv.der, (_, t) => {
      const spki = t.kids![6]; spki.kids![0].kids![1] = { tag: 0x30, kids: [{ tag: 2, val: unhex("01") }] }; }), E.UnsupportedCurve],
    ["trailing byte after the certificate", cat(srv.der, [0]), E.Malformed],
    ["truncated", srv.der.slice(0, -1), E.Malformed],
  ];
  for (const [what, der, code] of cases) expectCode(parse(der).r, code, what);
});

test("a tampered certificate fails its signature (TBS byte and signature byte)", () => {
  const t = srv.der.slice();
  const at = Buffer.from(t).indexOf(Buffer.from("lwm2m.example.com"));
  t[at] ^= 0x20; // 'l' -> 'L': still valid DER, different TBS
  expectCode(parse(t).r, 0, "still parses");
  expectCode(chain([t, inter.der], root.der), E.BadSignature, "TBS tampered");
  const s = srv.der.slice();
  s[s.length - 3] ^= 1; // inside s
  expectCode(chain([s, inter.der], root.der), E.BadSignature, "signature tampered");
});

test("leaf purpose: keyUsage digitalSignature and extKeyUsage serverAuth when present", () => {
  expectCode(chain([ekuClient.der, inter.der], root.der, nowS(), F.SERVER_AUTH), E.ExtKeyUsageMissing, "EKU clientAuth only");
  expectCode(chain([ekuClient.der, inter.der], root.der, nowS(), F.CLIENT_AUTH), 2, "EKU clientAuth for a client");
  expectCode(chain([kuAgreement.der, inter.der], root.der, nowS(), F.SERVER_AUTH), E.KeyUsageMissing, "keyAgreement only");
  expectCode(chain([srv.der, inter.der], root.der, nowS(), F.SERVER_AUTH), 2, "serverAuth");
  expectCode(chain([cnOnly.der, inter.der], root.der, nowS(), F.SERVER_AUTH), 2, "default leaf");
});

test("time unknown (DTLS-6): lower bound, policy flag, and a clock known to be wrong", () => {
  const u = -1n;
  assert.equal(BOUND, Date.UTC(2026, 0, 1) / 1000);
  assert.ok(Date.now() / 1000 > BOUND, "tests run after the build-time lower bound");
  expectCode(chain([srv.der, inter.der], root.der, u), E.TimeUnknown, "indirect trust, no policy: refused");
  expectCode(chain([srv.der, inter.der], root.der, u, F.ALLOW_TIME_LOWER_BOUND), 2, "policy allows the lower bound");
  expectCode(chain([expiredOld.der, inter.der], root.der, u, F.ALLOW_TIME_LOWER_BOUND), E.Expired, "notAfter < bound: expired regardless");
  expectCode(chain([expiredOld.der, inter.der], root.der, u), E.Expired, "notAfter < bound without the flag: Expired, not TimeUnknown");
  expectCode(chain([expiredRecent.der, inter.der], root.der, u, F.ALLOW_TIME_LOWER_BOUND), 2, "notAfter >= bound cannot be settled: accepted by policy");
  expectCode(chain([notYetValid.der, inter.der], root.der, u, F.ALLOW_TIME_LOWER_BOUND), 2, "notBefore is not settled by a lower bound");
  expectCode(chain([srv.der, inter.der], root.der, 0n), E.TimeUnknown, "a clock reading 1970 counts as unknown");
  expectCode(chain([srv.der, inter.der], root.der, BigInt(BOUND - 1), F.ALLOW_TIME_LOWER_BOUND), 2, "just below the bound: unknown, allowed");
  expectCode(chain([expiredRecent.der, inter.der], root.der, u, F.IGNORE_TIME), 2, "IGNORE_TIME");
  // direct trust ignores validity entirely
  for (const c of [expiredOld, expiredRecent, notYetValid, srv]) {
    expectCode(server({ usage: 3, key: c.der, host: "lwm2m.example.com" }, [c.der], u).r, 0, `direct trust, time unknown: ${c.name}`);
    expectCode(server({ usage: 3, key: c.der, host: "lwm2m.example.com" }, [c.der]).r, 0, `direct trust, clock known: ${c.name}`);
  }
  expectCode(server({ usage: 2, key: root.der, host: "lwm2m.example.com" }, [srv.der, inter.der], u).r, E.TimeUnknown, "usage 2, time unknown");
  expectCode(server({ usage: 2, key: root.der, host: "lwm2m.example.com", flags: F.ALLOW_TIME_LOWER_BOUND }, [srv.der, inter.der], u).r, 0, "usage 2, lower bound allowed");
  // boundaries at a known time: notBefore <= now <= notAfter (inclusive)
  const p = parse(srv.der);
  const a = new Arena(); const d = a.put(srv.der), c = a.alloc(CERT_SIZE); x.parse(d, srv.der.length, c);
  expectCode(x.checkTime(c, BigInt(p.notBefore), 0), 0, "at notBefore");
  expectCode(x.checkTime(c, BigInt(p.notBefore - 1), 0), E.NotYetValid, "before notBefore");
  expectCode(x.checkTime(c, BigInt(p.notAfter), 0), 0, "at notAfter");
  expectCode(x.checkTime(c, BigInt(p.notAfter + 1), 0), E.Expired, "after notAfter");
});

// ---- host names ---------------------------------------------------------------
test("host name matching: SAN dNSName / iPAddress, CN fallback, wildcards (RFC 6125)", () => {
  const cases: [Issued, string, number][] = [
    [srv, "lwm2m.example.com", 0], [srv, "LWM2M.Example.COM", 0], [srv, "lwm2m.example.com.", 0],
    [srv, "server.example.com", 0], [srv, "127.0.0.1", 0], [srv, "::1", 0], [srv, "[::1]", 0],
    [srv, "0:0:0:0:0:0:0:1", 0], [srv, "127.0.0.2", E.HostnameMismatch], [srv, "other.example.com", E.HostnameMismatch],
    [srv, "srv.example.com", E.HostnameMismatch], // CN is not used when SAN has a dNSName
    [srv, "lwm2m.example.co", E.HostnameMismatch], [srv, "xlwm2m.example.com", E.HostnameMismatch], [srv, "", E.HostnameMismatch],
    [wildcard, "a.example.com", 0], [wildcard, "A.EXAMPLE.com", 0], [wildcard, "xn--bcher-kva.example.com", 0],
    [wildcard, "example.com", E.HostnameMismatch], [wildcard, "a.b.example.com", E.HostnameMismatch],
    [wildcard, ".example.com", E.HostnameMismatch], [wildcard, "*.example.com", E.HostnameMismatch],
    [wildcard, "a.example.org", E.HostnameMismatch],
    [wildcardTld, "example.com", E.WildcardTld], [wildcardTld, "a.example.com", E.HostnameMismatch], [wildcardTld, "com", E.HostnameMismatch],
    [partialWildcard, "foo.example.com", E.HostnameMismatch], [partialWildcard, "f.example.com", E.HostnameMismatch],
    [partialWildcard, "a.b.example.com", E.HostnameMismatch],
    [cnOnly, "cn.example.com", 0], [cnOnly, "CN.example.com", 0], [cnOnly, "x.example.com", E.HostnameMismatch],
    [cnAndSan, "cn.example.com", E.HostnameMismatch], [cnAndSan, "san.example.com", 0], [cnAndSan, "10.0.0.1", 0],
    [ipOnly, "192.0.2.10", 0], [ipOnly, "2001:db8::1", 0], [ipOnly, "2001:0DB8:0:0:0:0:0:1", 0], [ipOnly, "[2001:db8::1]", 0],
    [ipOnly, "192.0.2.010", E.HostnameMismatch], [ipOnly, "::ffff:192.0.2.10", E.HostnameMismatch],
    [ipOnly, "2001:db8::2", E.HostnameMismatch], [ipOnly, "2001:db8:::1", E.HostnameMismatch], [ipOnly, "192.0.2.10.1", E.HostnameMismatch],
  ];
  for (const [c, host, want] of cases) expectCode(matchHost(c.der, host), want, `${c.name} vs '${host}'`);
  // openssl's own host check agrees on the plain cases
  assert.equal(pki.opensslVerify(root, [inter], wildcard, "a.example.com"), true);
  assert.equal(pki.opensslVerify(root, [inter], wildcard, "a.b.example.com"), false);
  assert.equal(pki.opensslVerify(root, [inter], wildcardTld, "example.com"), false);
  assert.equal(pki.opensslVerify(root, [inter], srv, "srv.example.com"), false);
});

test("IPv6 literal forms: every compression of a random address matches, other addresses do not", () => {
  // 2001:db8::1 in all its spellings
  for (const h of ["2001:db8:0:0:0:0:0:1", "2001:db8::0:1", "2001:db8:0::1", "2001:DB8::1", "2001:db8:0:0:0::1"]) {
    expectCode(matchHost(ipOnly.der, h), 0, h);
  }
  // (the first two would match through a parser that accepted 7 groups without "::", or 8 groups with one)
  for (const h of ["2001:db8:0:0:0:0:0", "2001:db8:0:0:0:0:0:1::", "2001:db8::1::", ":2001:db8::1", "2001:db8::1:", "2001:db8:0:0:0:0:0:0:1", "12345::1", "2001:db8::g", "2001:db8::1%eth0", "2001:db8:0:0:0:0:1", "2001:db8::1:2:3:4:5:6:7"]) {
    expectCode(matchHost(ipOnly.der, h), E.HostnameMismatch, h);
  }
});

// ---- LwM2M trust decisions (Security object resources 4, 13, 15) ----------------------
test("usage 3 (domain-issued certificate = direct trust): exact DER or SHA-256, nothing else checked", () => {
  const H = "lwm2m.example.com";
  const ok = server({ usage: 3, key: srv.der, host: H }, [srv.der, inter.der]);
  expectCode(ok.r, 0, "exact");
  assert.equal(hex(ok.leafPub), hex(parse(srv.der).pub), "the leaf is left in work slot 0");
  expectCode(server({ usage: 3, key: srv.der, host: "wrong.example" }, [srv.der]).r, 0, "names not checked");
  expectCode(server({ usage: 3, key: srv.der }, [srv.der, new Uint8Array([1, 2, 3])]).r, 0, "other certificates ignored");
  expectCode(server({ usage: 3, key: wrongHost.der, host: H }, [srv.der]).r, E.CertMismatch, "other certificate");
  const truncated = srv.der.slice(0, -1);
  expectCode(server({ usage: 3, key: truncated, host: H }, [srv.der]).r, E.CertMismatch, "prefix of the certificate");
  expectCode(server({ usage: 3, matching: 1, key: sha256(srv.der), host: H }, [srv.der]).r, 0, "SHA-256");
  const h = sha256(srv.der); h[31] ^= 1;
  expectCode(server({ usage: 3, matching: 1, key: h, host: H }, [srv.der]).r, E.CertMismatch, "SHA-256, one bit off");
  expectCode(server({ usage: 3, matching: 1, key: sha256(srv.der).slice(0, 31), host: H }, [srv.der]).r, E.Malformed, "31-byte hash");
  expectCode(server({ usage: 3, key: sha1.der }, [sha1.der]).r, E.WeakHashSha1, "pinned, still DTLS-7");
  expectCode(server({ usage: 3, key: rsaKey.der }, [rsaKey.der]).r, E.RsaKeyRefused, "pinned RSA key");
  expectCode(server({ usage: 3, key: srv.der, own: parse(srv.der).pub }, [srv.der]).r, E.KeyEqualsOwn, "DTLS-8");
});

test("usage 2 (trust anchor assertion): resource 4 is the anchor; host checked", () => {
  const H = "lwm2m.example.com";
  expectCode(server({ usage: 2, key: root.der, host: H }, [srv.der, inter.der]).r, 0, "root as anchor");
  expectCode(server({ usage: 2, key: inter.der, host: H }, [srv.der]).r, 0, "intermediate as anchor");
  expectCode(server({ usage: 2, key: root.der, host: H }, [srv.der, inter.der, root.der]).r, 0, "anchor sent along");
  expectCode(server({ usage: 2, key: root.der, host: "other.example.com" }, [srv.der, inter.der]).r, E.HostnameMismatch, "host");
  expectCode(server({ usage: 2, key: root.der, host: "127.0.0.1" }, [srv.der, inter.der]).r, 0, "IP host");
  expectCode(server({ usage: 2, key: root.der }, [srv.der, inter.der]).r, E.HostnameMismatch, "no host configured");
  expectCode(server({ usage: 2, key: root.der, host: "a.com" }, [wildcardTld.der, inter.der]).r, E.WildcardTld, "*.com");
  expectCode(server({ usage: 2, key: root2.der, host: H }, [srv.der, inter.der]).r, E.UntrustedIssuer, "other root");
  expectCode(server({ usage: 2, key: rootTwin.der, host: H }, [srv.der, inter.der]).r, E.BadSignature, "same Name, other key");
  expectCode(server({ usage: 2, key: root.der, host: H }, [expiredRecent.der, inter.der]).r, E.Expired, "expired");
  expectCode(server({ usage: 2, key: root.der, host: H }, [leaf4.der, c3.der, c2.der, c1.der]).r, E.PathTooLong, "too long");
  expectCode(server({ usage: 2, key: root.der, host: H }, [ekuClient.der, inter.der]).r, E.ExtKeyUsageMissing, "server purpose");
  expectCode(server({ usage: 2, key: selfSigned.der, host: H }, [selfSigned.der]).r, 0, "self-signed server as its own anchor");
  // matching type 1: the anchor is found in the presented chain by its hash
  expectCode(server({ usage: 2, matching: 1, key: sha256(root.der), host: H }, [srv.der, inter.der, root.der]).r, 0, "hash of root, root sent");
  expectCode(server({ usage: 2, matching: 1, key: sha256(inter.der), host: H }, [srv.der, inter.der]).r, 0, "hash of intermediate");
  expectCode(server({ usage: 2, matching: 1, key: sha256(root.der), host: H }, [srv.der, inter.der]).r, E.UntrustedIssuer, "hash of root, root not sent");
  expectCode(server({ usage: 2, key: root.der, host: H, own: parse(srv.der).pub }, [sharedKey.der, inter.der]).r, E.KeyEqualsOwn, "DTLS-8");
});

test("usage 1 (service certificate constraint): PKIX against the trust store + the leaf matches resource 4", () => {
  const H = "lwm2m.example.com";
  expectCode(server({ usage: 1, key: srv.der, host: H, store: [root.der] }, [srv.der, inter.der]).r, 0, "ok");
  expectCode(server({ usage: 1, matching: 1, key: sha256(srv.der), host: H, store: [root.der] }, [srv.der, inter.der]).r, 0, "SHA-256");
  expectCode(server({ usage: 1, key: wrongHost.der, host: H, store: [root.der] }, [srv.der, inter.der]).r, E.CertMismatch, "other leaf");
  expectCode(server({ usage: 1, key: srv.der, host: H, store: [] }, [srv.der, inter.der]).r, E.NoTrustStore, "no trust store");
  expectCode(server({ usage: 1, key: srv.der, host: H, store: [root2.der] }, [srv.der, inter.der]).r, E.UntrustedIssuer, "not in the store");
  expectCode(server({ usage: 1, key: srv.der, host: H, store: [root2.der, root.der] }, [srv.der, inter.der]).r, 0, "second anchor");
  expectCode(server({ usage: 1, key: expiredRecent.der, host: H, store: [root2.der, root.der] }, [expiredRecent.der, inter.der]).r, E.Expired, "most precise failure");
  expectCode(server({ usage: 1, key: srv.der, host: "other.example.com", store: [root.der] }, [srv.der, inter.der]).r, E.HostnameMismatch, "host");
});

test("usage 0 (CA constraint): PKIX against the trust store + the CA of resource 4 in the path", () => {
  const H = "lwm2m.example.com";
  expectCode(server({ usage: 0, key: inter.der, host: H, store: [root.der] }, [srv.der, inter.der]).r, 0, "intermediate in the path");
  expectCode(server({ usage: 0, key: root.der, host: H, store: [root.der] }, [srv.der, inter.der]).r, 0, "the anchor itself");
  expectCode(server({ usage: 0, matching: 1, key: sha256(inter.der), host: H, store: [root.der] }, [srv.der, inter.der]).r, 0, "SHA-256 of the CA");
  expectCode(server({ usage: 0, key: root2.der, host: H, store: [root.der] }, [srv.der, inter.der]).r, E.CaConstraintMismatch, "CA not in the path");
  expectCode(server({ usage: 0, key: srv.der, host: H, store: [root.der] }, [srv.der, inter.der]).r, E.CaConstraintMismatch, "the leaf is not a CA of the path");
  expectCode(server({ usage: 0, key: inter.der, host: H, store: [] }, [srv.der, inter.der]).r, E.NoTrustStore, "no trust store");
  expectCode(server({ usage: 0, key: inter.der, host: H, store: [root2.der] }, [srv.der, inter.der]).r, E.UntrustedIssuer, "store does not validate");
  expectCode(server({ usage: 0, key: inter.der, host: "x.example.net", store: [root.der] }, [srv.der, inter.der]).r, E.HostnameMismatch, "host");
});

test("resource values out of range: Certificate Usage > 3, Matching Type 2/3", () => {
  expectCode(server({ usage: 4, key: srv.der }, [srv.der]).r, E.UnsupportedCertUsage, "usage 4");
  expectCode(server({ usage: -1, key: srv.der }, [srv.der]).r, E.UnsupportedCertUsage, "usage -1");
  expectCode(server({ usage: 3, matching: 2, key: new Uint8Array(48) }, [srv.der]).r, E.UnsupportedMatchingType, "SHA-384");
  expectCode(server({ usage: 3, matching: 3, key: new Uint8Array(64) }, [srv.der]).r, E.UnsupportedMatchingType, "SHA-512");
  expectCode(server({ usage: 3, key: srv.der }, []).r, E.Malformed, "no certificate");
});

// ---- raw public keys (RFC 7250) and DTLS-8 --------------------------------------
test("RPK: the peer SubjectPublicKeyInfo against resource 4 (SPKI, 65-byte point, 64-byte X||Y)", () => {
  const rpk = (peer: Uint8Array, conf: Uint8Array, own?: Uint8Array) => {
    const a = new Arena();
    return x.rpk(a.put(peer), peer.length, a.put(conf), conf.length, own ? a.put(own) : 0);
  };
  const peer = spkiOf(srv), point = peer.slice(-65);
  expectCode(rpk(peer, peer), 0, "SPKI");
  expectCode(rpk(peer, point), 0, "65-byte point");
  expectCode(rpk(peer, point.slice(1)), 0, "X||Y");
  expectCode(rpk(peer, spkiOf(inter)), E.RpkMismatch, "other key");
  const flipped = point.slice(); flipped[64] ^= 1;
  expectCode(rpk(peer, flipped), E.RpkMismatch, "one bit off");
  expectCode(rpk(spkiOf(rsaKey), peer), E.RsaKeyRefused, "RSA peer");
  expectCode(rpk(spkiOf(p224), peer), E.CurveTooSmall, "P-224 peer");
  expectCode(rpk(spkiOf(p384), peer), E.UnsupportedCurve, "P-384 peer");
  expectCode(rpk(peer, spkiOf(p192)), E.CurveTooSmall, "configured P-192");
  expectCode(rpk(peer, peer, point), E.KeyEqualsOwn, "DTLS-8: the server uses our key");
  expectCode(rpk(peer, peer, spkiOf(inter).slice(-65)), 0, "own key differs");
  const ed = new Uint8Array(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }));
  expectCode(rpk(ed, peer), E.UnsupportedAlgorithm, "Ed25519 peer");
  const compressed = unhex("3039301306072a8648ce3d020106082a8648ce3d030107032200" + hex(p256.Point.fromBytes(point).toBytes(true)));
  expectCode(rpk(compressed, peer), E.UnsupportedAlgorithm, "compressed point");
});

// ---- DER reader and writer ---------------------------------------------------------
function tlv(bytes: Uint8Array): number[] | number {
  const a = new Arena(HI);
  const p = a.put(bytes), out = a.alloc(16);
  const r = x.tlv(p, bytes.length, out);
  if (r < 0) return r;
  const dv = new DataView(m.mem().buffer);
  return [0, 4, 8, 12].map((k) => dv.getInt32(out + k, true));
}
const fill = (n: number) => new Uint8Array(n).fill(0xab);
const cat = (...parts: (Uint8Array | number[])[]) => new Uint8Array(parts.flatMap((p) => [...p]));

test("DER lengths: definite, minimal, within the buffer (X.690 10.1)", () => {
  assert.deepEqual(tlv(unhex("0400")), [4, 2, 0, 2]);
  assert.deepEqual(tlv(cat([0x04, 0x7f], fill(127))), [4, 2, 127, 129]);
  assert.deepEqual(tlv(cat([0x04, 0x81, 0x80], fill(128))), [4, 3, 128, 131]);
  assert.deepEqual(tlv(cat([0x04, 0x82, 0x01, 0x00], fill(256))), [4, 4, 256, 260]);
  assert.deepEqual(tlv(cat([0x04, 0x83, 0x01, 0x00, 0x00], fill(65536))), [4, 5, 65536, 65541]);
  assert.deepEqual(tlv(cat([0x30, 0x03, 0x02, 0x01, 0x05, 0xff])), [0x30, 2, 3, 5], "trailing bytes are the caller's");
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)], ["tag only", unhex("30")],
    ["indefinite", unhex("3080020100 0000")], ["long form for < 128", cat([0x04, 0x81, 0x7f], fill(127))],
    ["leading zero length octet", cat([0x04, 0x82, 0x00, 0x80], fill(128))], ["4 length octets", cat([0x04, 0x84, 0, 0, 0, 1], fill(1))],
    ["length beyond the buffer", unhex("0405aabbcc")], ["long length beyond the buffer", unhex("0481ff00")],
    ["length octets missing", unhex("0482 01")], ["high tag number", unhex("1f810100")],
  ];
  for (const [what, b] of bad) expectCode(tlv(b) as number, E.Malformed, what);
});

test("DER primitives: INTEGER minimal, BOOLEAN 00/FF, BIT STRING unused bits", () => {
  const a = new Arena();
  const call = (f: string, h: string) => { const b = unhex(h); return x[f](a.put(b), b.length); };
  expectCode(call("integer", "020100"), 0, "0");
  expectCode(call("integer", "02020080"), 0, "128");
  expectCode(call("integer", "0202ff7f"), 0, "-129");
  expectCode(call("integer", "0200"), E.Malformed, "empty");
  expectCode(call("integer", "0202007f"), E.Malformed, "redundant 00");
  expectCode(call("integer", "0202ff80"), E.Malformed, "redundant ff");
  assert.equal(call("smallUint", "020100"), 0);
  assert.equal(call("smallUint", "02047fffffff"), 0x7fffffff);
  expectCode(call("smallUint", "02050080000000"), E.Malformed, "2^31");
  expectCode(call("smallUint", "0201ff"), E.Malformed, "negative");
  assert.equal(call("boolean", "0101ff"), 1);
  assert.equal(call("boolean", "010100"), 0);
  expectCode(call("boolean", "010101"), E.Malformed, "BOOLEAN 01");
  expectCode(call("boolean", "01020000"), E.Malformed, "BOOLEAN length 2");
  assert.equal(call("bitString", "030100"), 0);
  assert.equal(call("bitString", "030206c0"), 6);
  expectCode(call("bitString", "030206c1"), E.Malformed, "unused bit set");
  expectCode(call("bitString", "030101"), E.Malformed, "unused bits without bits");
  expectCode(call("bitString", "030208ff"), E.Malformed, "8 unused bits");
  expectCode(call("bitString", "0300"), E.Malformed, "empty");
});

test("DER times: UTCTime/GeneralizedTime to Unix seconds; 1000 random dates against Date.UTC", () => {
  const time = (tag: number, s: string): number => {
    const a = new Arena();
    const b = cat([tag, s.length], new TextEncoder().encode(s));
    const out = a.alloc(8);
    const r = x.time(a.put(b), b.length, out);
    return r < 0 ? r : Number(new DataView(m.mem().buffer).getBigInt64(out, true));
  };
  assert.equal(time(0x17, "700101000000Z"), 0);
  assert.equal(time(0x17, "491231235959Z"), Date.UTC(2049, 11, 31, 23, 59, 59) / 1000);
  assert.equal(time(0x17, "500101000000Z"), Date.UTC(1950, 0, 1) / 1000, "YY >= 50 is 19YY");
  assert.equal(time(0x17, "240229120000Z"), Date.UTC(2024, 1, 29, 12) / 1000, "leap day");
  assert.equal(time(0x18, "20000229000000Z"), Date.UTC(2000, 1, 29) / 1000, "400-year leap");
  assert.equal(time(0x18, "99991231235959Z"), Date.UTC(9999, 11, 31, 23, 59, 59) / 1000);
  const y0 = new Date(0); y0.setUTCFullYear(0, 0, 1);
  assert.equal(time(0x18, "00000101000000Z"), y0.getTime() / 1000, "year 0");
  for (const [tag, s] of [[0x17, "210229000000Z"], [0x18, "21000229000000Z"], [0x17, "250230000000Z"], [0x17, "251301000000Z"],
    [0x17, "250001000000Z"], [0x17, "250100000000Z"], [0x17, "250101240000Z"], [0x17, "250101006000Z"], [0x17, "250101000060Z"],
    [0x17, "2501010000Z"], [0x17, "250101000000+0100"], [0x17, "25010100000Z0"], [0x18, "20250101000000.5Z"], [0x18, "20250101000000"],
    [0x17, "2501010000 0Z"], [0x17, "25-101000000Z"], [0x04, "250101000000Z"], [0x18, "250101000000Z"], [0x17, "20250101000000Z"],
    [0x17, "250431000000Z"]] as [number, string][]) {
    expectCode(time(tag, s), E.Malformed, s);
  }
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 1000; i++) {
    const t = Math.floor(rnd() * (Date.UTC(9999, 11, 31) / 1000));
    const d = new Date(t * 1000);
    const p = (n: number, w = 2) => String(n).padStart(w, "0");
    const body = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
    assert.equal(time(0x18, p(d.getUTCFullYear(), 4) + body), t, `GeneralizedTime ${d.toISOString()}`);
    const y = d.getUTCFullYear();
    if (y >= 1950 && y < 2050) assert.equal(time(0x17, p(y % 100) + body), t, `UTCTime ${d.toISOString()}`);
  }
});

test("DER writer: headers in minimal form, read back by the reader; unsigned INTEGERs", () => {
  for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536, 70000]) {
    const a = new Arena();
    const val = a.put(fill(n)), out = a.alloc(n + 8);
    const w = x.put(out, n + 8, 0x04, val, n);
    assert.equal(w, n + (n < 128 ? 2 : n < 256 ? 3 : n < 65536 ? 4 : 5), `len ${n}`);
    assert.deepEqual(tlv(m.read(out, w)), [4, w - n, n, w], `read back ${n}`);
    expectCode(x.put(out, w - 1, 0x04, val, n), E.TooSmall, `cap ${w - 1}`);
  }
  const a = new Arena();
  const unsigned = (h: string) => { const b = unhex(h); const out = a.alloc(64); const r = x.putUnsigned(out, 64, a.put(b), b.length); return r < 0 ? String(r) : hex(m.read(out, r)); };
  assert.equal(unsigned("00007f"), "02017f");
  assert.equal(unsigned("80"), "02020080");
  assert.equal(unsigned("0000"), "020100");
  assert.equal(unsigned("0001ff"), "020201ff");
  const out = a.alloc(8);
  expectCode(x.putUnsigned(out, 3, a.put(unhex("80")), 1), E.TooSmall, "cap");
});

test("ECDSA-Sig-Value <-> r||s: 500 random signatures against @noble/curves, and the refusals", () => {
  const a = new Arena();
  let seed = 99;
  const rnd = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24; return b; };
  const toRaw = (der: Uint8Array) => { const out = a.alloc(64); const r = x.sigToRaw(a.put(der), der.length, out); return r < 0 ? r : hex(m.read(out, 64)); };
  for (let i = 0; i < 500; i++) {
    const rs = rnd(64);
    if (i % 5 === 0) rs.fill(0, 0, 1 + (i % 7)); // short r
    if (i % 7 === 0) rs.fill(0, 32, 33 + (i % 5)); // short s
    rs[0] &= 0xef; rs[32] &= 0xef; // below the order n
    rs[31] |= 1; rs[63] |= 1; // non-zero
    const sig = p256.Signature.fromBytes(rs, "compact");
    const der = sig.toBytes("der");
    assert.equal(toRaw(der), hex(rs), "DER -> raw");
    const out = a.alloc(80);
    const w = x.rawToDer(a.put(rs), out, 80);
    assert.equal(hex(m.read(out, w)), hex(der), "raw -> DER");
    expectCode(x.rawToDer(a.put(rs), out, w - 1), E.TooSmall, "cap");
  }
  const I = (h: string) => `02${(h.length / 2).toString(16).padStart(2, "0")}${h}`;
  const seq = (h: string) => unhex(`30${(h.length / 2).toString(16).padStart(2, "0")}${h}`);
  expectCode(toRaw(seq(I("81") + I("01"))), E.BadSignature, "negative r");
  expectCode(toRaw(seq(I("00") + I("01"))), E.BadSignature, "r = 0");
  expectCode(toRaw(seq(I("01") + I("0000"))), E.Malformed, "non-minimal s");
  expectCode(toRaw(seq(I("01" + "00".repeat(32)) + I("01"))), E.BadSignature, "33-byte r");
  assert.equal(toRaw(seq(I("00" + "ff".repeat(32)) + I("01"))), "ff".repeat(32) + "00".repeat(31) + "01");
  expectCode(toRaw(seq(I("01") + I("01") + "0500")), E.Malformed, "trailing element");
  expectCode(toRaw(cat(seq(I("01") + I("01")), [0])), E.Malformed, "trailing byte");
  expectCode(toRaw(seq(I("01"))), E.Malformed, "one INTEGER");
});
