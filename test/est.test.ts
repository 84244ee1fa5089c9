// EST layer (assembly/est) without a network: the PKCS#10 writer checked by
// OpenSSL, the readers of 281/287/285/62/284 on inputs made by OpenSSL and
// node:crypto, and the EST client state machine against a scripted (hostile)
// EST-coaps server in this file, fed through a plain CoAP endpoint
// (sans-I/O: the test delivers every datagram and every timer). The client
// against a real EST server is test/est-libest.test.ts.
// @needs est
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate, createPublicKey } from "node:crypto";
import { EstDevice, EstOp, EstErrorName } from "./helpers/est-device";
import { Pki, asn1Date, type Issued } from "./helpers/certs";
import { decodeMessage, encodeMessage, Type, Opt, getUintOption, getOption, uriPathOf, encodeUint, decodeBlock, type CoapMessage, type CoapOption } from "../server/coap";
import { formatLinkFormat } from "../server/formats";
import { EST_LINKS } from "../server/est";

const E = Object.fromEntries(Object.entries(EstErrorName).map(([v, k]) => [k, Number(v)])) as Record<string, number>;
const name = (r: number) => (r === 0 ? "ok" : r === 1 ? "pending" : EstErrorName[r] ?? String(r));

const d = new EstDevice();
const x = d.x;
const S: number = x.scratch();
const put = (b: Uint8Array, at = S) => { new Uint8Array(d.memory.buffer).set(b, at); return at; };
const pki = new Pki();
after(() => { pki.cleanup(); void d.close(); });
const root = pki.root("est");
const otherRoot = pki.root("other");

// ---- DER / CBOR builders -------------------------------------------------------------
function tlv(tag: number, body: Uint8Array | Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 255] : [0x83, n >> 16, (n >> 8) & 255, n & 255];
  return Buffer.concat([Buffer.from([tag, ...len]), Buffer.from(body)]);
}
const seq = (...a: Buffer[]) => tlv(0x30, Buffer.concat(a));
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, "hex"));
const OID = { signedData: "2a864886f70d010702", data: "2a864886f70d010701", ecPub: "2a8648ce3d0201", p256: "2a8648ce3d030107",
  p384: "2b81040022", ecdsaSha256: "2a8648ce3d040302", ecdsaSha384: "2a8648ce3d040303", rsa: "2a864886f70d010101", serial: "550405", cn: "550403",
  challenge: "2a864886f70d010907" };
/** PKCS#7 certs-only (RFC 5652 SignedData with no signers) around certs. */
function pkcs7(certs: Uint8Array[]): Buffer {
  const sd = seq(tlv(0x02, Buffer.from([1])), tlv(0x31, Buffer.alloc(0)), seq(oid(OID.data)),
    ...(certs.length || true ? [tlv(0xa0, Buffer.concat(certs.map((c) => Buffer.from(c))))] : []), tlv(0x31, Buffer.alloc(0)));
  return seq(oid(OID.signedData), tlv(0xa0, sd));
}
function cborHead(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  return Buffer.from([(major << 5) | 26, n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]);
}
/** multipart-core: array of (uint cf, bstr) pairs (RFC 8710). */
function multipart(parts: Array<[number, Uint8Array]>, count = parts.length * 2): Buffer {
  return Buffer.concat([cborHead(4, count), ...parts.flatMap(([cf, b]) => [cborHead(0, cf), cborHead(2, b.length), Buffer.from(b)])]);
}

// ---- the PKCS#10 writer ----------------------------------------------------------------
function makeCsr(cn: string, flags = 0, slot = 3): { r: number; csr: Uint8Array; pub: Uint8Array } {
  const pubAt = S + 4096;
  assert.equal(x.generate(slot, pubAt), 0);
  const cnb = new TextEncoder().encode(cn);
  put(cnb, S + 8192);
  const r = x.writeCsr(S, 1024, S + 8192, cnb.length, pubAt, slot, flags);
  return { r, csr: d.read(S, Math.max(r, 0)), pub: d.read(pubAt, 65) };
}
function opensslReq(csr: Uint8Array): { ok: boolean; out: string } {
  const p = join(pki.dir, `csr-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(p, csr);
  const r = spawnSync("openssl", ["req", "-inform", "DER", "-in", p, "-verify", "-noout", "-subject", "-pubkey", "-nameopt", "RFC2253,-esc_msb"], { encoding: "utf8" });
  return { ok: r.status === 0 && /verify OK/i.test(r.stdout + r.stderr), out: r.stdout };
}
const pointOfPem = (pem: string) => { const s = createPublicKey(pem).export({ format: "der", type: "spki" }); return new Uint8Array(s.subarray(s.length - 65)); };

test("PKCS#10: openssl req -verify accepts the CSR; subject CN is the endpoint name, the key is the SE slot's", () => {
  for (const cn of ["urn:dev:os:lwm2m-1", "a", "x".repeat(64), "Gerät-ü"]) {
    const { r, csr, pub } = makeCsr(cn);
    assert.ok(r > 0, `writeCsr ${r}`);
    const v = opensslReq(csr);
    assert.ok(v.ok, `openssl req -verify for CN ${cn}`);
    assert.match(v.out, new RegExp(`subject=CN ?= ?${cn.replace(/[.:]/g, "\\$&")}`));
    const pem = v.out.slice(v.out.indexOf("-----BEGIN PUBLIC KEY-----"));
    assert.deepEqual(pointOfPem(pem), pub);
    assert.deepEqual(pub, d.se.publicKey(3));
  }
});

test("PKCS#10: serialNumber (asked by /att) is added as a PrintableString; a flipped signature byte fails openssl req -verify", () => {
  const { r, csr } = makeCsr("dev-42", 1);
  assert.ok(r > 0);
  const v = opensslReq(csr);
  assert.ok(v.ok);
  assert.match(v.out, /serialNumber=dev-42/);
  const bad = csr.slice();
  bad[bad.length - 5] ^= 1;
  assert.equal(opensslReq(bad).ok, false, "OpenSSL is a real oracle");
});

test("PKCS#10: refusals: empty or 65-character name, serialNumber with non-printable characters, no SE key, buffer too small", () => {
  assert.equal(name(makeCsr("").r), "Csr");
  assert.equal(name(makeCsr("x".repeat(65)).r), "Csr");
  assert.equal(name(makeCsr("dev_1", 1).r), "Csr"); // '_' is not PrintableString
  const cn = new TextEncoder().encode("dev");
  put(cn, S + 8192);
  x.generate(3, S + 4096);
  assert.equal(x.writeCsr(S, 100, S + 8192, 3, S + 4096, 3, 0), -101); // DerError.TooSmall
  d.se.destroy(3);
  assert.equal(name(x.writeCsr(S, 1024, S + 8192, 3, S + 4096, 3, 0)), "Csr"); // the SE slot is empty
});

// ---- readers ----------------------------------------------------------------------------
test("PKCS#7 certs-only (281): openssl crl2pkcs7 output with 1 and 3 certificates is read; 0 and 50 are refused; damage is Malformed", () => {
  const leaf = pki.issue("p7", root);
  for (const certs of [[root], [leaf, root, otherRoot]]) {
    const f = join(pki.dir, "in.pem");
    writeFileSync(f, certs.map((c) => c.pem).join(""));
    const der = new Uint8Array(spawnSync("openssl", ["crl2pkcs7", "-nocrl", "-certfile", f, "-outform", "DER"]).stdout);
    assert.equal(x.pkcs7(put(der), der.length), certs.length);
    for (let i = 0; i < certs.length; i++) {
      x.pkcs7Cert(S, i, S + 65536);
      const [off, len] = new Int32Array(d.memory.buffer, S + 65536, 2);
      assert.deepEqual(d.read(S + off, len), certs[i].der);
    }
    for (let cut = 1; cut < der.length; cut += 7) assert.equal(name(x.pkcs7(put(der.subarray(0, cut)), cut)), "Malformed");
  }
  const zero = pkcs7([]);
  assert.equal(name(x.pkcs7(put(zero), zero.length)), "NoCertificate");
  const fifty = pkcs7(Array(50).fill(root.der));
  assert.ok(fifty.length > 10000);
  assert.equal(name(x.pkcs7(put(fifty), fifty.length)), "TooManyCertificates");
  const notSigned = seq(oid(OID.data), tlv(0xa0, seq()));
  assert.equal(name(x.pkcs7(put(notSigned), notSigned.length)), "Malformed");
});

test("single certificate (287): a certificate parses; trailing bytes, a CSR, or garbage are refused", () => {
  assert.equal(x.cert(put(root.der), root.der.length, S + 65536), 0);
  const trail = Buffer.concat([root.der, Buffer.from([0])]);
  assert.ok(x.cert(put(trail), trail.length, S + 65536) < 0);
  const { csr } = makeCsr("dev");
  assert.ok(x.cert(put(csr), csr.length, S + 65536) < 0);
  assert.ok(x.cert(put(Buffer.from("not a certificate")), 17, S + 65536) < 0);
});

test("CSR attributes (285): SHA-256 / P-256 / serialNumber honoured, challengePassword ignored; RSA, P-384, SHA-384 refused", () => {
  const ok = seq(oid(OID.serial), oid(OID.ecdsaSha256), oid(OID.challenge), seq(oid(OID.ecPub), tlv(0x31, oid(OID.p256))));
  assert.equal(x.csrAttrs(put(ok), ok.length), 0);
  assert.equal(x.attFlags(), 1);
  const cnOnly = seq(oid(OID.cn));
  assert.equal(x.csrAttrs(put(cnOnly), cnOnly.length), 0);
  assert.equal(x.attFlags(), 0);
  for (const bad of [seq(oid(OID.rsa)), seq(oid(OID.ecdsaSha384)), seq(seq(oid(OID.ecPub), tlv(0x31, oid(OID.p384)))), seq(seq(oid(OID.rsa), tlv(0x31, tlv(0x02, Buffer.from([8, 0])))))]) {
    assert.equal(name(x.csrAttrs(put(bad), bad.length)), "AttUnsupported", bad.toString("hex"));
  }
  for (const junk of [Buffer.from([0x30]), Buffer.from([0x31, 0]), seq(tlv(0x02, Buffer.from([1])))]) assert.equal(name(x.csrAttrs(put(junk), junk.length)), "Malformed");
});

const p8 = (kind: "P-256" | "P-384" | "ed25519", type: "pkcs8" | "sec1" = "pkcs8") => {
  const k = kind === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: kind });
  return { der: new Uint8Array(k.privateKey.export({ format: "der", type: type as "pkcs8" })), d: Buffer.from((k.privateKey.export({ format: "jwk" }) as { d: string }).d, "base64url") };
};

test("PKCS#8 (284): node:crypto P-256 keys (PKCS#8 and the bare RFC 5915 form libest sends) give the scalar; P-384, Ed25519, 0 and >= n are refused", () => {
  for (const type of ["pkcs8", "sec1"] as const) {
    const k = p8("P-256", type);
    const off = x.pkcs8(put(k.der), k.der.length);
    assert.ok(off > 0, `${type}: ${name(off)}`);
    assert.deepEqual(Buffer.from(d.read(S + off, 32)), k.d);
  }
  assert.equal(name(x.pkcs8(put(p8("P-384").der), p8("P-384").der.length)), "KeyNotP256");
  const sec384 = p8("P-384", "sec1").der;
  assert.equal(name(x.pkcs8(put(sec384), sec384.length)), "KeyNotP256");
  const ed = p8("ed25519").der;
  assert.equal(name(x.pkcs8(put(ed), ed.length)), "KeyNotP256");
  const n = Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex");
  for (const [scalar, want] of [[n, "KeyScalarRange"], [Buffer.alloc(32), "KeyScalarRange"], [Buffer.from(n.map((b, i) => (i === 31 ? b + 1 : b))), "KeyScalarRange"], [Buffer.from(n.map((b, i) => (i === 31 ? b - 1 : b))), "ok"]] as const) {
    const k = p8("P-256");
    const der = Buffer.from(k.der);
    der.set(scalar, der.indexOf(k.d));
    const r = x.pkcs8(put(der), der.length);
    assert.equal(r > 0 ? "ok" : name(r), want);
  }
  const k = p8("P-256");
  for (let cut = 1; cut < k.der.length; cut += 5) assert.ok(x.pkcs8(put(k.der.subarray(0, cut)), cut) < 0);
});

test("multipart-core (62): [284, key, 281, certs] is read; a missing, extra or reordered part, or other formats, are refused", () => {
  const key = p8("P-256").der, certs = pkcs7([root.der]);
  const good = multipart([[284, key], [281, certs]]);
  assert.equal(x.multipart(put(good), good.length, S + 65536), 0);
  const [ko, kl, co, cl, cf] = new Int32Array(d.memory.buffer, S + 65536, 5);
  assert.deepEqual(d.read(S + ko, kl), key);
  assert.deepEqual(Buffer.from(d.read(S + co, cl)), certs);
  assert.equal(cf, 281);
  assert.equal(x.multipart(put(multipart([[284, key], [287, root.der]])), multipart([[284, key], [287, root.der]]).length, S + 65536), 0);
  const cases: Array<[string, Buffer]> = [
    ["missing", multipart([[284, key]])],
    ["extra", multipart([[284, key], [281, certs], [281, certs]])],
    ["reordered", multipart([[281, certs], [284, key]])],
    ["wrong format", multipart([[60, key], [281, certs]])],
    ["count says 4, one pair", multipart([[284, key]], 4)],
  ];
  for (const [what, b] of cases) {
    const r = x.multipart(put(b), b.length, S + 65536);
    assert.ok(r === E.MultipartParts || r === E.Malformed, `${what}: ${name(r)}`);
  }
  assert.equal(name(x.multipart(put(multipart([[284, key]])), multipart([[284, key]]).length, S + 65536)), "MultipartParts");
  assert.equal(name(x.multipart(put(multipart([[284, key], [281, certs], [281, certs]])), multipart([[284, key], [281, certs], [281, certs]]).length, S + 65536)), "MultipartParts");
  const trailing = Buffer.concat([good, Buffer.from([0])]);
  assert.equal(name(x.multipart(put(trailing), trailing.length, S + 65536)), "Malformed");
});

// ---- the client state machine against a scripted server ------------------------------------
type Reply = { code: number; cf?: number; payload?: Uint8Array; options?: CoapOption[] } | null;
interface Served { requests: CoapMessage[]; result: number; now: number }

/** Runs one operation: every request the client sends goes to `handler`; its reply is
 *  piggybacked. Time only moves to the client's deadline when it has nothing to send. */
function run(op: number, handler: (req: CoapMessage, i: number) => Reply, o: { slot?: number; wall?: number; szx1?: number; szx2?: number; accept?: number } = {}): Served {
  const nm = new TextEncoder().encode("urn:dev:est-t"), path = new TextEncoder().encode(".well-known/est");
  put(new Uint8Array([...nm, ...path]), S);
  assert.equal(x.plainInit(S, nm.length, path.length, o.szx1 ?? 6, o.szx2 ?? -1, o.accept ?? 281), 0);
  return more(op, handler, o);
}
function more(op: number, handler: (req: CoapMessage, i: number) => Reply, o: { slot?: number; wall?: number } = {}): Served {
  let now = 1000;
  const requests: CoapMessage[] = [];
  let st = x.plainStart(op, o.slot ?? 5, BigInt(o.wall ?? Math.floor(Date.now() / 1000)), BigInt(now));
  for (let guard = 0; st === 1 && guard < 500; guard++) {
    const n = x.plainTx();
    if (n > 0) {
      const req = decodeMessage(d.read(x.plainTxPtr(), n));
      requests.push(req);
      const rep = handler(req, requests.length - 1);
      if (!rep) continue;
      const opts = [...(rep.options ?? [])];
      if (rep.cf !== undefined) opts.push({ number: Opt.CONTENT_FORMAT, value: encodeUint(rep.cf) });
      opts.sort((a, b) => a.number - b.number);
      const bytes = encodeMessage({ type: Type.ACK, code: rep.code, mid: req.mid, token: req.token, options: opts, payload: rep.payload ?? new Uint8Array(0) });
      put(bytes, S + 131072);
      st = x.plainRx(S + 131072, bytes.length, BigInt(now));
      continue;
    }
    const dl = Number(x.plainDeadline());
    if (dl < 0) break;
    now = Math.max(now, dl);
    st = x.plainTimer(BigInt(now));
  }
  return { requests, result: st, now };
}

/** Serves `body` with Block2 at the size the client asks for (or szx); etag(n) per block. */
function block2(req: CoapMessage, body: Uint8Array, cf: number, code = 0x45, szx = 6, etag?: (num: number) => Uint8Array, size2?: number): Reply {
  const b = getOption(req, Opt.BLOCK2);
  const want = b ? decodeBlock(b)! : { num: 0, szx };
  const s = Math.min(want.szx, szx), size = 16 << s;
  const num = b ? (want.num * (16 << want.szx)) / size : 0;
  const chunk = body.subarray(num * size, (num + 1) * size);
  const more = (num + 1) * size < body.length;
  const options: CoapOption[] = [];
  if (body.length > size || b) options.push({ number: Opt.BLOCK2, value: encodeUint(num * 16 + (more ? 8 : 0) + s) });
  if (etag) options.push({ number: Opt.ETAG, value: etag(num) });
  if (size2 !== undefined && num === 0) options.push({ number: Opt.SIZE2, value: encodeUint(size2) });
  return { code, cf, payload: chunk, options };
}
/** Block1 uploads: 2.31 Continue until the last block, then `final`. */
const upload = (final: (req: CoapMessage) => Reply) => {
  let body: Buffer[] = [];
  return (req: CoapMessage): Reply => {
    const b1 = getOption(req, Opt.BLOCK1);
    if (b1) {
      const b = decodeBlock(b1)!;
      if (b.num === 0) body = [];
      body.push(Buffer.from(req.payload));
      if (b.more) return { code: 0x5f, options: [{ number: Opt.BLOCK1, value: b1 }] };
      const whole = Buffer.concat(body);
      body = [];
      last = whole;
      return final({ ...req, payload: whole });
    }
    if (req.payload.length) { last = Buffer.from(req.payload); return final(req); }
    return final({ ...req, payload: last }); // a Block2 follow-up: the same request again (RFC 7959 §2.4)
  };
};
let last = Buffer.alloc(0);
const crtsBody = pkcs7([root.der]);
const crtsHandler = (req: CoapMessage) => block2(req, crtsBody, 281);
/** Certificates for the key in the CSR of `req`, issued by `by`. */
const issuedCache = new Map<string, Uint8Array>();
function issueFor(req: CoapMessage, by: Issued, o: { notAfter?: Date; notBefore?: Date } = {}): Uint8Array {
  const key = `${Buffer.from(req.payload).toString("hex")}/${by.name}/${o.notAfter?.getTime()}/${o.notBefore?.getTime()}`;
  const hit = issuedCache.get(key);
  if (hit) return hit;
  const made = issueNow(req, by, o);
  issuedCache.set(key, made);
  return made;
}
function issueNow(req: CoapMessage, by: Issued, o: { notAfter?: Date; notBefore?: Date }): Uint8Array {
  const csrDer = join(pki.dir, `up-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(csrDer, req.payload);
  const csrPem = csrDer.replace(/der$/, "pem");
  pki.openssl(["req", "-inform", "DER", "-in", csrDer, "-out", csrPem]);
  const out = csrPem.replace(/pem$/, "crt");
  const ext = join(pki.dir, "leaf.ext");
  writeFileSync(ext, "[x]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n");
  const nb = o.notBefore ?? new Date(Date.now() - 86400_000), na = o.notAfter ?? new Date(Date.now() + 365 * 86400_000);
  pki.openssl(["ca", "-batch", "-notext", "-config", join(pki.dir, "ca.cnf"), "-in", csrPem, "-out", out, "-cert", by.certFile, "-keyfile", by.keyFile,
    "-startdate", asn1Date(nb), "-enddate", asn1Date(na), "-extfile", ext, "-extensions", "x"]);
  return new Uint8Array(new X509Certificate(readFileSync(out)).raw);
}
/** crts first (the anchors), then `op` with `handler`. */
function enrol(op: number, handler: (req: CoapMessage, i: number) => Reply, o: Parameters<typeof run>[2] = {}): Served {
  const c = run(EstOp.Crts, crtsHandler, o);
  assert.equal(name(c.result), "ok", "crts");
  return more(op, handler, o);
}

test("client: crts + sen with Block1 (16..1024) and Block2 (16..1024): the certificate is checked and offered", () => {
  for (const szx of [0, 2, 4, 6]) {
    const s = enrol(EstOp.Sen, upload((req) => block2(req, pkcs7([issueFor(req, root)]), 281, 0x44, 6)), { szx1: szx, szx2: szx });
    assert.equal(name(s.result), "ok", `szx ${szx}: detail ${x.plainDetail()}`);
    const csrLen = x.plainCsrLen();
    assert.equal(s.requests.filter((r) => getOption(r, Opt.BLOCK1)).length >= (csrLen > (16 << szx) ? Math.ceil(csrLen / (16 << szx)) : 0), true);
    assert.ok(s.requests.every((r) => uriPathOf(r) === "/.well-known/est/sen"));
    assert.equal(getUintOption(s.requests[0], Opt.CONTENT_FORMAT), 286);
    const cert = d.read(x.plainCertPtr(), x.plainCertLen());
    const spki = new X509Certificate(Buffer.from(cert)).publicKey.export({ format: "der", type: "spki" });
    assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 65)), d.se.publicKey(5));
  }
});

test("client: a certificate for another key is refused (CertKeyMismatch) and the new slot destroyed", () => {
  const stranger = pki.issue("stranger", root);
  const s = enrol(EstOp.Sen, upload(() => ({ code: 0x44, cf: 287, payload: stranger.der })), { slot: 6 });
  assert.equal(name(s.result), "CertKeyMismatch");
  assert.equal(typeof d.se.publicKey(6), "number", "slot 6 destroyed");
});

test("client: what is not a certificate, PKCS#7 with 0 or 50 certificates, wrong Content-Format are refused", () => {
  assert.equal(name(enrol(EstOp.Sen, upload(() => ({ code: 0x44, cf: 287, payload: Buffer.from("certificate? no") }))).result), "Malformed");
  assert.equal(name(enrol(EstOp.Sen, upload((req) => block2(req, pkcs7([]), 281, 0x44))).result), "NoCertificate");
  // 50 (or 5) tiny SEQUENCEs as "certificates": the count is refused before anything is parsed
  for (const k of [5, 50]) assert.equal(name(enrol(EstOp.Sen, upload((req) => block2(req, pkcs7(Array(k).fill(seq())), 281, 0x44))).result), "TooManyCertificates");
  // 50 real certificates do not fit the stated response limit at all
  assert.equal(name(enrol(EstOp.Sen, upload((req) => block2(req, pkcs7(Array(50).fill(root.der)), 281, 0x44))).result), "TooLarge");
  assert.equal(name(run(EstOp.Crts, (req) => block2(req, root.der, 287)).result), "ContentFormat");
  assert.equal(name(enrol(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 60, payload: issueFor(req, root) }))).result), "ContentFormat");
  assert.equal(name(run(EstOp.Att, () => ({ code: 0x45, cf: 281, payload: seq(oid(OID.cn)) })).result), "ContentFormat");
});

test("client: an issued certificate that does not chain to /crts, or expired when time is known, is refused; unknown time takes the build-time bound", () => {
  assert.equal(name(enrol(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 287, payload: issueFor(req, otherRoot) }))).result), "ChainUntrusted");
  const past = { notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) };
  assert.equal(name(enrol(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 287, payload: issueFor(req, root, past) }))).result), "CertExpired");
  // the same certificate with time unknown: the build-time lower bound cannot settle it; accepted like DTLS-6
  assert.equal(name(enrol(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 287, payload: issueFor(req, root) })), { wall: -1 }).result), "ok");
  const future = { notBefore: new Date(Date.now() + 86400_000), notAfter: new Date(Date.now() + 10 * 86400_000) };
  assert.equal(name(enrol(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 287, payload: issueFor(req, root, future) }))).result), "CertExpired");
  // sen without crts first: nothing to check the issuer against
  assert.equal(name(run(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 287, payload: issueFor(req, root) }))).result), "ChainUntrusted");
});

test(`client: a 100 KB response is refused at the stated limit (EST_RESPONSE_CAP bytes), with Size2 at once, without it at the block that passes the limit`, () => {
  const cap: number = x.responseCap();
  const big = new Uint8Array(100 * 1024).fill(0x30);
  const withSize2 = run(EstOp.Crts, (req) => block2(req, big, 281, 0x45, 6, undefined, big.length));
  assert.equal(name(withSize2.result), "TooLarge");
  assert.equal(withSize2.requests.length, 1);
  const without = run(EstOp.Crts, (req) => block2(req, big, 281, 0x45, 6));
  assert.equal(name(without.result), "TooLarge");
  assert.equal(without.requests.length, Math.ceil(cap / 1024) + 1, "stops at the first block past the limit");
});

test("client: 5.03 with Max-Age is waited out and retried; 5.03 forever gives up after EST_MAX_RETRIES; a long Max-Age is capped", () => {
  let n = 0;
  const once = run(EstOp.Crts, (req) => (n++ === 0 ? { code: 0xa3, options: [{ number: Opt.MAX_AGE, value: encodeUint(30) }] } : crtsHandler(req)));
  assert.equal(name(once.result), "ok");
  assert.equal(once.requests.length, 2);
  assert.ok(once.now >= 1000 + 30_000, `retried after Max-Age (${once.now})`);
  const forever = run(EstOp.Crts, () => ({ code: 0xa3, options: [{ number: Opt.MAX_AGE, value: encodeUint(86400) }] }));
  assert.equal(name(forever.result), "GaveUp");
  assert.equal(forever.requests.length, x.maxRetries() + 1);
  assert.ok(forever.now <= 1000 + x.maxRetries() * 600_000, `waits capped at 600 s each (${forever.now})`);
});

test("client: Block2 with a changing ETag is refused (RFC 7959 §2.4)", () => {
  const body = pkcs7([root.der, root.der]);
  const s = run(EstOp.Crts, (req) => block2(req, body, 281, 0x45, 2, (num) => Buffer.from([num])), { szx2: 2 });
  assert.equal(name(s.result), "BlockETag");
  const same = run(EstOp.Crts, (req) => block2(req, body, 281, 0x45, 2, () => Buffer.from([7])), { szx2: 2 });
  assert.equal(name(same.result), "ok");
});

test("client: 4.xx / 5.xx end the attempt with the code; the new key slot is destroyed", () => {
  for (const code of [0x80, 0x83, 0x86, 0xa0]) {
    const s = enrol(EstOp.Sen, upload(() => ({ code })), { slot: 7 });
    assert.equal(name(s.result), "ServerError");
    assert.equal(x.plainCode(), code);
    assert.equal(typeof d.se.publicKey(7), "number");
  }
});

test("client: /skg imports the key into the SE, wipes it, checks the certificate; bad multipart / PKCS#8 refused with nothing left", () => {
  const k = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyDer = new Uint8Array(k.privateKey.export({ format: "der", type: "pkcs8" }));
  const scalar = Buffer.from((k.privateKey.export({ format: "jwk" }) as { d: string }).d, "base64url");
  const pubPem = k.publicKey.export({ format: "pem", type: "spki" }) as string;
  // a certificate for the server-generated key, issued by the root
  const keyFile = join(pki.dir, "skg.key");
  writeFileSync(keyFile, k.privateKey.export({ format: "pem", type: "pkcs8" }) as string);
  const issued = pki.issue("skg", root, { keyFile });
  const mem = () => Buffer.from(d.memory.buffer);
  const s = enrol(EstOp.Skg, upload((req) => block2(req, multipart([[284, keyDer], [281, pkcs7([issued.der])]]), 62, 0x44)), { slot: 4 });
  assert.equal(name(s.result), "ok", `detail ${x.plainDetail()}`);
  assert.equal(getUintOption(s.requests[0], Opt.ACCEPT), 62);
  assert.deepEqual(d.se.publicKey(4), pointOfPem(pubPem));
  // nothing of the scalar left in linear memory apart from what this test wrote into its own scratch copy
  const arena = Buffer.from(d.read(x.plainArenaPtr(), x.plainArenaLen()));
  assert.equal(arena.indexOf(scalar), -1, "key wiped from the client's buffers");
  assert.ok(mem().indexOf(scalar) === -1 || mem().indexOf(scalar) >= S, "only the test's scratch may hold it");
  for (const [what, body, want] of [
    ["missing part", multipart([[284, keyDer]]), "MultipartParts"],
    ["extra part", multipart([[284, keyDer], [281, pkcs7([issued.der])], [281, pkcs7([issued.der])]]), "MultipartParts"],
    ["P-384 key", multipart([[284, p8("P-384").der], [281, pkcs7([issued.der])]]), "KeyNotP256"],
    ["cert for another key", multipart([[284, p8("P-256").der], [281, pkcs7([issued.der])]]), "CertKeyMismatch"],
  ] as const) {
    const r = enrol(EstOp.Skg, upload((req) => block2(req, body, 62, 0x44)), { slot: 4 });
    assert.equal(name(r.result), want, what);
    assert.equal(Buffer.from(d.read(x.plainArenaPtr(), x.plainArenaLen())).indexOf(Buffer.from(body.subarray(body.length - 40))), -1, `${what}: response wiped`);
  }
  const n = Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex");
  const bigKey = Buffer.from(keyDer);
  bigKey.set(n, bigKey.indexOf(scalar));
  assert.equal(name(enrol(EstOp.Skg, upload((req) => block2(req, multipart([[284, bigKey], [281, pkcs7([issued.der])]]), 62, 0x44))).result), "KeyScalarRange");
});

test("client: /att honours serialNumber for the next CSR and refuses RSA before any CSR is sent", () => {
  const s = run(EstOp.Att, () => ({ code: 0x45, cf: 285, payload: seq(oid(OID.serial), oid(OID.ecdsaSha256)) }));
  assert.equal(name(s.result), "ok");
  assert.equal(getUintOption(s.requests[0], Opt.ACCEPT), 285);
  const c = more(EstOp.Crts, crtsHandler);
  assert.equal(name(c.result), "ok");
  const sen = more(EstOp.Sen, upload((req) => ({ code: 0x44, cf: 287, payload: issueFor(req, root) })));
  assert.equal(name(sen.result), "ok");
  assert.match(new X509Certificate(Buffer.from(d.read(x.plainCertPtr(), x.plainCertLen()))).subject, /serialNumber=urn:dev:est-t/);
  const rsa = run(EstOp.Att, () => ({ code: 0x45, cf: 285, payload: seq(oid(OID.rsa)) }));
  assert.equal(name(rsa.result), "AttUnsupported");
});

// ---- discovery (RFC 9148 §4.1, RFC 6690 link format) ------------------------------------
const OPS = ["crts", "sen", "sren", "skg", "att"];
/** The paths estReadLinks found, by operation name ("" = none). */
function readLinks(text: string | Uint8Array): { r: number; paths: Record<string, string> } {
  const b = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const out = S + 65536;
  const r = x.links(put(b), b.length, out);
  const t = d.read(out, x.linkTableSize());
  const paths: Record<string, string> = {};
  OPS.forEach((o, k) => { const n = t[k * 24]; paths[o] = n ? "/" + Buffer.from(t.subarray(k * 24 + 1, k * 24 + 1 + n)).toString() : ""; });
  return { r, paths };
}

test("discovery: the link-format reader takes the development RA's /.well-known/core answer and the RFC 9148 §4.1 style (blanks, line breaks, a root link)", () => {
  const ra = formatLinkFormat(EST_LINKS);
  assert.deepEqual(readLinks(ra), { r: 5, paths: { crts: "/est/crts", sen: "/est/sen", sren: "/est/sren", skg: "/est/skg", att: "/est/att" } });
  const printed = '</est>; rt="ace.est.root",\n</est/crts>; rt="ace.est.crts";ct="281 287",\r\n </est/sen>; rt="ace.est.sen";ct="281 287",\n</est/att>; rt="ace.est.att";ct=285';
  assert.deepEqual(readLinks(printed), { r: 3, paths: { crts: "/est/crts", sen: "/est/sen", sren: "", skg: "", att: "/est/att" } });
  // one link with several resource types; unquoted rt; other links and parameters skipped; escapes in quoted strings
  assert.deepEqual(readLinks('</sensors/temp>;rt="temperature-c";if="sensor",</e/x>;title="a \\" b";rt="ace.est.sen ace.est.sren",</c>;rt=ace.est.crts'),
    { r: 3, paths: { crts: "/c", sen: "/e/x", sren: "/e/x", skg: "", att: "" } });
  // libest's own listing (rt="certificate", /.well-known/est paths): no EST resource type, nothing found
  assert.deepEqual(readLinks('</.well-known/est/sen>;ct=0;title="SimpleEnroll";rt="certificate";if="clock",</.well-known/est/crts>;rt="certificate"'),
    { r: 0, paths: { crts: "", sen: "", sren: "", skg: "", att: "" } });
  assert.equal(readLinks("").r, 0, "an empty answer lists nothing");
});

test("discovery: links the device cannot use are skipped (another host, relative, query, fragment, percent-escapes, too long, a prefix or suffix of an EST type); bad syntax is Malformed with nothing kept", () => {
  const none = { crts: "", sen: "", sren: "", skg: "", att: "" };
  for (const uri of ["coaps://evil.example/est/sen", "//evil.example/est/sen", "est/sen", "/est/sen?x=1", "/est/sen#f", "/est/s%65n", "/", `/${"a".repeat(24)}`, "/est/s n"]) {
    assert.deepEqual(readLinks(`<${uri}>;rt="ace.est.sen"`), { r: 0, paths: none }, uri);
  }
  assert.deepEqual(readLinks(`</${"a".repeat(23)}>;rt="ace.est.sen"`).paths.sen, `/${"a".repeat(23)}`, "23 bytes fit");
  for (const rt of ["ace.est.se", "ace.est.senx", "ace.est.", "xace.est.sen", "ACE.EST.SEN", "ace.est.root"]) assert.equal(readLinks(`</e>;rt="${rt}"`).r, 0, rt);
  // syntax errors: after a good link, so a half-filled table would show
  for (const bad of ["</est/crts>;rt=ace.est.crts,</est/sen", '</est/crts>;rt=ace.est.crts,</est/sen>;rt="ace.est.sen', "</est/crts>;rt=ace.est.crts,est/sen", '</est/crts>;rt="ace.est.crts"x', '</est/crts>;rt=ace.est.crts,</e>;rt="\\']) {
    assert.deepEqual(readLinks(bad), { r: E.Malformed, paths: none }, bad);
  }
});

test("client: discovery asks GET /.well-known/core?rt=ace.est* (Accept 40); the paths listed are used by the next operations, the EST path for the ones not listed; 4.04 and a wrong Content-Format are errors that leave the EST path", () => {
  const listing = new TextEncoder().encode('</est/crts>;rt="ace.est.crts";ct="281 287",</est/sen>;rt="ace.est.sen";ct="281 287"');
  const disc = run(EstOp.Discover, (req) => ({ code: 0x45, cf: 40, payload: listing }));
  assert.equal(name(disc.result), "ok");
  assert.equal(x.enrol_discovered(), 2);
  const q = disc.requests[0];
  assert.equal(q.code, 1, "GET");
  assert.equal(uriPathOf(q), "/.well-known/core");
  assert.deepEqual(q.options.filter((o) => o.number === Opt.URI_QUERY).map((o) => Buffer.from(o.value).toString()), ["rt=ace.est*"]);
  assert.equal(getUintOption(q, Opt.ACCEPT), 40);
  const c = more(EstOp.Crts, crtsHandler);
  assert.equal(name(c.result), "ok");
  assert.deepEqual(c.requests.map(uriPathOf), ["/est/crts"]);
  const a = more(EstOp.Att, () => ({ code: 0x84 }));
  assert.deepEqual(a.requests.map(uriPathOf), ["/.well-known/est/att"], "not listed: the EST path");
  const s = more(EstOp.Sen, upload((req) => block2(req, pkcs7([issueFor(req, root)]), 281, 0x44, 6)));
  assert.equal(name(s.result), "ok", `detail ${x.plainDetail()}`);
  assert.ok(s.requests.length > 0 && s.requests.every((r) => uriPathOf(r) === "/est/sen"));
  for (const [what, rep] of [["4.04", { code: 0x84 }], ["Content-Format 0", { code: 0x45, cf: 0, payload: listing }], ["no Content-Format", { code: 0x45, payload: listing }]] as const) {
    const r = run(EstOp.Discover, () => rep);
    assert.ok(r.result < 0, `${what}: ${name(r.result)}`);
    const c2 = more(EstOp.Crts, crtsHandler);
    assert.deepEqual(c2.requests.map(uriPathOf), ["/.well-known/est/crts"], what);
  }
});
