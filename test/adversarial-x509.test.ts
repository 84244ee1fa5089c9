// Adversarial harness, X.509 side: the device has a certificate account
// (DTLS-X.509, its certificate and the CA from a development PKI made by the
// OpenSSL CLI, certificate usage 2) and the hostile server (the project's DTLS
// server role presenting the PKI's server certificate) tampers with the
// Certificate message of its flight: a 10-certificate chain made by OpenSSL,
// certificate lists with lies in their lengths, foreign and broken leaves.
// Each case asserts the refusal, then the device must complete a fresh
// handshake with the honest server, register and serve a Read.
// @needs x509
import { after } from "node:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { dtlsCase, usePeerFactory, isServerHelloFlight, type DtlsCase, type Hits } from "./helpers/adversarial-cases";
import { HostilePeer, HT, cat, editMessage, parseRecords, parseFragments, writeRecord, writeFragment, certificateList, type ServerDatagram } from "./helpers/hostile-peer";
import assert from "node:assert/strict";
import { DtlsError, AlertDescription, X509Error } from "./helpers/dtls-harness";
import { DevPki } from "../server/dev-pki";

const E = DtlsError, A = AlertDescription;
const dir = mkdtempSync(join(tmpdir(), "lwm2m-adversarial-x509-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let pki: DevPki | null = null;
const getPki = () => (pki ??= new DevPki(join(dir, "pki")));
usePeerFactory(() => HostilePeer.create({ x509: getPki() }));

/** A chain of `depth` certificates made by the OpenSSL CLI: leaf (SAN IP:127.0.0.1) first, then intermediates up to (not including) the PKI's CA. */
function opensslChain(depth: number): { chain: Uint8Array[]; leafKey: Uint8Array } {
  const p = getPki();
  const w = mkdtempSync(join(dir, "chain-"));
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: w, stdio: ["ignore", "pipe", "pipe"] });
  let issuerCrt = p.ca.certFile, issuerKey = p.ca.keyFile;
  const certs: Uint8Array[] = [];
  for (let i = 0; i < depth; i++) {
    const leaf = i === depth - 1;
    run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `c${i}.key`]);
    run(["req", "-new", "-key", `c${i}.key`, "-subj", `/CN=${leaf ? "hostile leaf" : `hostile intermediate ${i}`}`, "-out", `c${i}.csr`]);
    writeFileSync(join(w, `c${i}.ext`), leaf
      ? "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
      : "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n");
    run(["x509", "-req", "-in", `c${i}.csr`, "-CA", issuerCrt, "-CAkey", issuerKey, "-CAcreateserial", "-sha256", "-days", "30", "-extfile", `c${i}.ext`, "-out", `c${i}.crt`]);
    certs.unshift(new Uint8Array(new X509Certificate(readFileSync(join(w, `c${i}.crt`))).raw));
    issuerCrt = join(w, `c${i}.crt`);
    issuerKey = join(w, `c${i}.key`);
  }
  const jwk = createPrivateKey(readFileSync(issuerKey)).export({ format: "jwk" }) as { d: string };
  return { chain: certs, leafKey: new Uint8Array(Buffer.from(jwk.d, "base64url")) };
}

/** The server's flight with its Certificate message replaced by `body` (a certificate_list with its 3-byte length), cut into datagrams of one fragment each. */
function withCertificate(d: ServerDatagram, body: Uint8Array, frag = 1000): Uint8Array[] {
  const recs = parseRecords(d.data).records;
  const out: Uint8Array[] = [];
  let seq = recs[0].seq;
  let cert: { messageSeq: number } | null = null;
  const head: Uint8Array[] = [];
  for (const r of recs) {
    for (const f of parseFragments(r.body)) {
      if (f.msgType === HT.Certificate) { cert = f; continue; }
      if (!cert) head.push(writeRecord({ ...r, seq: seq++, body: writeFragment(f) }));
    }
  }
  if (!cert) throw new Error("no Certificate message in the flight");
  out.push(cat(...head));
  for (let off = 0; off < body.length; off += frag) {
    const piece = body.slice(off, off + frag);
    out.push(writeRecord({ ...recs[0], seq: seq++, body: writeFragment({ msgType: HT.Certificate, length: body.length, messageSeq: cert.messageSeq, fragOffset: off, fragLength: piece.length, body: piece }) }));
  }
  return out;
}
const certMsg = (list: Uint8Array) => cat(Uint8Array.of(list.length >> 16, (list.length >> 8) & 255, list.length & 255), list);
const once = (f: (d: ServerDatagram) => Uint8Array[]) => (h: Hits) => h.on(isServerHelloFlight, f, 1);
const editCert = (fn: (body: Uint8Array) => Uint8Array) => once((d) => [editMessage(d.data, HT.Certificate, fn)]);
const refused = (fail: number, alert?: number | null) => ({ fail, alert });

let ten: ReturnType<typeof opensslChain> | null = null;
const tenChain = () => (ten ??= opensslChain(9));

const cases: DtlsCase[] = [
  { name: "an honest X.509 handshake (the baseline of the cases below)", toDevice: once((d) => [d.data]), expect: { completes: true } },
  {
    name: "a 10-certificate chain made by OpenSSL (leaf, 8 intermediates, the CA) in 1000-byte fragments",
    toDevice: once((d) => withCertificate(d, certMsg(certificateList([...tenChain().chain, getPki().ca.certificate])))),
    expect: refused(E.MessageTooLarge, A.internal_error),
  },
  {
    name: "a 3-certificate chain made by OpenSSL (leaf, intermediate, the CA) is taken",
    before: (p) => { const c = opensslChain(2); p.serverCertificates([...c.chain, getPki().ca.certificate], c.leafKey); },
    after: (p) => { const k = getPki(); p.serverCertificates([k.server.certificate], k.server.privateKey); },
    noHits: true, expect: { completes: true },
  },
  {
    name: "a 4-certificate chain made by OpenSSL (leaf, 2 intermediates, the CA), one more than the device takes: PathTooLong",
    before: (p) => { const c = opensslChain(3); p.serverCertificates([...c.chain, getPki().ca.certificate], c.leafKey); },
    after: (p) => { const k = getPki(); p.serverCertificates([k.server.certificate], k.server.privateKey); },
    noHits: true, expect: refused(E.BadCertificate, A.bad_certificate),
    check: (p, from) => assert.match(p.handshakeFailures(from.logs)[0].text, new RegExp(`x509 ${X509Error.PathTooLong}\\b`)),
  },
  { name: "an empty certificate list", toDevice: editCert(() => Uint8Array.of(0, 0, 0)), expect: refused(E.BadCertificate, A.bad_certificate) },
  { name: "certificate_list length beyond the message", toDevice: editCert((b) => { const c = b.slice(); c[2] += 40; return c; }), expect: refused(E.Decode, A.decode_error) },
  { name: "a certificate length beyond the list", toDevice: editCert((b) => { const c = b.slice(); c[5] += 40; return c; }), expect: refused(E.Decode, A.decode_error) },
  { name: "a zero-length certificate", toDevice: editCert(() => Uint8Array.of(0, 0, 3, 0, 0, 0)), expect: refused(E.Decode, A.decode_error) },
  { name: "the leaf's signature bit-flipped", toDevice: editCert((b) => { const c = b.slice(); c[c.length - 3] ^= 1; return c; }), expect: refused(E.BadCertificate, A.bad_certificate) },
  { name: "the leaf replaced by the CA certificate", toDevice: editCert(() => certMsg(certificateList([getPki().ca.certificate]))), expect: refused(E.BadCertificate, A.bad_certificate) },
  { name: "the leaf replaced by the device's own certificate", toDevice: editCert(() => certMsg(certificateList([getPki().device("hostile-harness-x509").certificate]))), expect: refused(E.BadCertificate, A.bad_certificate) },
  { name: "a leaf of another CA (a 1-deep OpenSSL chain under a new CA)", toDevice: editCert(() => certMsg(certificateList([new DevPki(join(dir, "other-pki")).server.certificate]))), expect: refused(E.BadCertificate, A.bad_certificate) },
  { name: "1000 bytes of random DER-looking data as the leaf", toDevice: editCert(() => certMsg(certificateList([cat(Uint8Array.of(0x30, 0x82, 0x03, 0xe4), new Uint8Array(996).fill(0x5a))]))), expect: refused(E.BadCertificate, A.bad_certificate) },
];

for (const c of cases) dtlsCase({ ...c, name: `x509: ${c.name}`, needs: "openssl" });
