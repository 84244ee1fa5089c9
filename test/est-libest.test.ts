// EST-coaps (RFC 9148) enrolment against Cisco libest's estserver (an
// implementation nobody here wrote): the device's DTLS 1.2 with its IDevID
// certificate, /crts, /sen (Block1/Block2 at 64 and 1024 bytes), /sren with
// the enrolled certificate, /skg, /att, and libest's refusals. Every result is
// checked by OpenSSL (`openssl verify`, `openssl req -verify`) or by comparing
// public keys with the simulated SE's slots.
// @needs est
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate, createPublicKey } from "node:crypto";
import { join } from "node:path";
import { haveLibest, requireLibest, makeEstCa, startLibest, type EstServer } from "./helpers/libest";
import { freePortPair } from "./helpers/coap-gnutls-peer";
import { EstDevice, EstOp, EnrolState, EstErrorName } from "./helpers/est-device";

const E = Object.fromEntries(Object.entries(EstErrorName).map(([v, k]) => [k, Number(v)])) as Record<string, number>;
const name = (r: number) => (r === 0 ? "ok" : EstErrorName[r] ?? String(r));

let ca = "";
let est: EstServer | undefined;
const devices: EstDevice[] = [];
after(async () => {
  for (const d of devices) await d.close();
  await est?.stop();
});
before(async () => {
  if (!haveLibest()) return;
  ca = makeEstCa();
  est = await startLibest(ca, await freePortPair());
});

function idevid() {
  const jwk = createPrivateKey(readFileSync(join(ca, "client/bootstrap.key"))).export({ format: "jwk" }) as { d: string };
  return { slot: 1, key: new Uint8Array(Buffer.from(jwk.d, "base64url")), cert: new Uint8Array(readFileSync(join(ca, "client/bootstrap.crt.der"))) };
}
const trust = () => new Uint8Array(readFileSync(join(ca, "estCA/cacert.der")));

async function device(o: Partial<Parameters<EstDevice["connect"]>[0]> = {}, server = est!): Promise<EstDevice> {
  const d = new EstDevice();
  devices.push(d);
  const st = await d.connect({ port: server.port, name: "urn:dev:est-1", trust: trust(), idevid: idevid(), ...o });
  assert.equal(st, EnrolState.Ready, `DTLS to libest: reason ${d.x.enrol_dtls_reason()} detail ${d.x.enrol_dtls_detail()} alert ${d.x.enrol_alert()}`);
  return d;
}

const tmp = (n: string, b: Uint8Array) => { const p = join(ca, n); writeFileSync(p, b); return p; };
function opensslVerify(cert: Uint8Array, tag: string): string {
  const pem = new X509Certificate(Buffer.from(cert)).toString();
  const p = join(ca, `${tag}.pem`);
  writeFileSync(p, pem);
  const r = spawnSync("openssl", ["verify", "-CAfile", join(ca, "estCA/cacert.crt"), p], { encoding: "utf8" });
  assert.equal(r.status, 0, `openssl verify: ${r.stdout}${r.stderr}`);
  return r.stdout;
}
function opensslReqVerify(csr: Uint8Array, tag: string): string {
  const p = tmp(`${tag}.csr.der`, csr);
  const r = spawnSync("openssl", ["req", "-inform", "DER", "-in", p, "-verify", "-noout", "-subject", "-nameopt", "RFC2253"], { encoding: "utf8" });
  assert.equal(r.status, 0, `openssl req -verify: ${r.stderr}`);
  assert.match(r.stdout + r.stderr, /verify OK/i);
  return r.stdout;
}
/** The 65-byte point of a DER certificate's key (node:crypto). */
const certPoint = (der: Uint8Array) => {
  const spki = new X509Certificate(Buffer.from(der)).publicKey.export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(spki.length - 65));
};
const sePoint = (d: EstDevice, slot: number) => { const r = d.se.publicKey(slot); assert.ok(typeof r !== "number", `SE slot ${slot} empty`); return r as Uint8Array; };

test("libest /crts: the PKCS#7 certs-only answer yields libest's root (estCA/cacert.der)", async (t) => {
  if (!requireLibest(t)) return;
  const d = await device();
  const r = await d.op(EstOp.Crts);
  assert.equal(name(r), "ok");
  assert.equal(d.x.enrol_code(), 0x45); // 2.05
  assert.equal(d.x.enrol_ca_count(), 1);
  assert.deepEqual(d.read(d.x.enrol_ca_ptr(0), d.x.enrol_ca_len(0)), trust());
});

for (const [szx, size] of [[2, 64], [6, 1024]] as const) {
  test(`libest /sen with Block1 and Block2 at ${size} bytes: openssl verifies the certificate, its key is the SE slot's`, async (t) => {
    if (!requireLibest(t)) return;
    const d = await device({ szx1: szx, szx2: szx });
    assert.equal(name(await d.op(EstOp.Crts)), "ok");
    const [, , sent0, recv0] = d.stats();
    const r = await d.op(EstOp.Sen, 2);
    assert.equal(name(r), "ok", `sen: code ${d.x.enrol_code()} detail ${d.x.enrol_detail()}`);
    assert.equal(d.x.enrol_code(), 0x44); // 2.04
    const cert = d.cert();
    opensslVerify(cert, `sen-${size}`);
    assert.deepEqual(certPoint(cert), sePoint(d, 2));
    assert.deepEqual(d.publicKey(), sePoint(d, 2));
    const subj = opensslReqVerify(d.csr(), `sen-${size}`);
    assert.match(subj, /CN\s*=\s*urn:dev:est-1/);
    assert.match(new X509Certificate(Buffer.from(cert)).subject, /CN=urn:dev:est-1/);
    const [, , sent1, recv1] = d.stats();
    const csrLen = d.csr().length;
    if (size === 64) {
      // Block1: the CSR in 64-byte blocks; Block2: the PKCS#7 in 64-byte blocks
      assert.ok(sent1 - sent0 >= Math.ceil(csrLen / 64) + Math.ceil(cert.length / 64) - 1, `datagrams sent ${sent1 - sent0} for a ${csrLen}-byte CSR`);
      assert.ok(recv1 - recv0 >= Math.ceil(cert.length / 64), `datagrams received ${recv1 - recv0}`);
    } else {
      assert.ok(sent1 - sent0 <= 2, `one request (a ${csrLen}-byte CSR), sent ${sent1 - sent0}`);
    }
  });
}

test("libest /sen with Accept 287: one DER certificate", async (t) => {
  if (!requireLibest(t)) return;
  const d = await device({ accept: 287 });
  assert.equal(name(await d.op(EstOp.Crts)), "ok");
  assert.equal(name(await d.op(EstOp.Sen, 3)), "ok");
  opensslVerify(d.cert(), "sen-287");
  assert.deepEqual(certPoint(d.cert()), sePoint(d, 3));
});

test("libest /sren over DTLS with the enrolled certificate: a new key in a second slot, the old slot kept", async (t) => {
  if (!requireLibest(t)) return;
  const d = await device();
  assert.equal(name(await d.op(EstOp.Crts)), "ok");
  assert.equal(name(await d.op(EstOp.Sen, 2)), "ok");
  const first = d.cert();
  const firstKey = sePoint(d, 2);
  // second session: client authentication with the enrolled certificate (key in slot 2)
  const st = await d.connect({ port: est!.port, name: "urn:dev:est-1", trust: trust(), idevid: { slot: 2, useSlot: true, cert: first } });
  assert.equal(st, EnrolState.Ready);
  assert.equal(name(await d.op(EstOp.Crts)), "ok");
  assert.equal(name(await d.op(EstOp.Sren, 3)), "ok", `sren: code ${d.x.enrol_code()}`);
  const renewed = d.cert();
  opensslVerify(renewed, "sren");
  assert.deepEqual(certPoint(renewed), sePoint(d, 3));
  assert.notDeepEqual(certPoint(renewed), firstKey);
  assert.deepEqual(sePoint(d, 2), firstKey, "the old slot is destroyed only after the new credential is committed");
  assert.notEqual(new X509Certificate(Buffer.from(renewed)).serialNumber, new X509Certificate(Buffer.from(first)).serialNumber);
});

test("libest /skg: the PKCS#8 key goes into the SE slot and is wiped from linear memory; the certificate carries it", async (t) => {
  if (!requireLibest(t)) return;
  const d = await device();
  let imported: Uint8Array | undefined;
  const orig = d.se.importPrivate.bind(d.se);
  d.se.importPrivate = (slot: number, priv: Uint8Array) => { if (slot === 4) imported = priv.slice(); return orig(slot, priv); };
  assert.equal(name(await d.op(EstOp.Crts)), "ok");
  const r = await d.op(EstOp.Skg, 4);
  assert.equal(name(r), "ok", `skg: code ${d.x.enrol_code()} detail ${d.x.enrol_detail()}`);
  assert.ok(imported && imported.length === 32, "se_import_p256 got the 32-byte scalar");
  opensslVerify(d.cert(), "skg");
  assert.deepEqual(certPoint(d.cert()), sePoint(d, 4));
  const mem = Buffer.from(d.memory.buffer);
  assert.equal(mem.indexOf(Buffer.from(imported!)), -1, "the private scalar is nowhere in linear memory");
});

test("libest /att: serialNumber asked for is honoured; without /att libest refuses the CSR with 4.00 and the code reaches the log", async (t) => {
  if (!requireLibest(t)) return;
  // CsrAttrs: SEQUENCE { serialNumber OID, ecdsa-with-SHA256 OID, Attribute { ecPublicKey, SET { prime256v1 } } },
  // enforced by libest (--enforce-csr: every OID listed must occur in the CSR)
  const own = makeEstCa();
  const srv = await startLibest(own, await freePortPair(), { EST_CSR_ATTR: csrAttrs().toString("base64"), EST_EXTRA_ARGS: "--enforce-csr" });
  const saved = ca;
  ca = own;
  try {
    const d = await device({}, srv);
    assert.equal(name(await d.op(EstOp.Crts)), "ok");
    const refused = await d.op(EstOp.Sen, 2);
    assert.equal(name(refused), "ServerError");
    assert.equal(d.x.enrol_code(), 0x80); // 4.00: EST_ERR_CSR_ATTR_MISSING
    assert.ok(d.logs.includes("EST failed: CoAP 4.00"), d.logs.join("\n"));
    assert.equal(typeof d.se.publicKey(2), "number", "the new key's slot is destroyed after a refusal");
    assert.equal(d.x.enrol_state(), EnrolState.Failed);
    const d2 = await device({}, srv);
    assert.equal(name(await d2.op(EstOp.Crts)), "ok");
    assert.equal(name(await d2.op(EstOp.Att)), "ok");
    assert.equal(d2.x.enrol_csr_flags(), 1, "serialNumber honoured");
    assert.equal(name(await d2.op(EstOp.Sen, 2)), "ok", `sen after att: code ${d2.x.enrol_code()}`);
    assert.match(opensslReqVerify(d2.csr(), "att"), /serialNumber=urn:dev:est-1/);
    opensslVerify(d2.cert(), "att");
  } finally {
    ca = saved;
    await srv.stop();
  }
});

/** The CsrAttrs above (serialNumber, ecdsa-with-SHA256, ecPublicKey{P-256}). */
function csrAttrs(): Buffer {
  const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag, body.length]), body]);
  const oid = (hex: string) => tlv(0x06, Buffer.from(hex, "hex"));
  return tlv(0x30, Buffer.concat([oid("550405"), oid("2a8648ce3d040302"),
    tlv(0x30, Buffer.concat([oid("2a8648ce3d0201"), tlv(0x31, oid("2a8648ce3d030107"))]))]));
}

test("libest /att asking for RSA: the device refuses to enrol (AttUnsupported), no CSR sent", async (t) => {
  if (!requireLibest(t)) return;
  const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag, body.length]), body]);
  const rsa = tlv(0x30, Buffer.concat([tlv(0x06, Buffer.from("2a864886f70d010101", "hex")), tlv(0x06, Buffer.from("2a864886f70d01010b", "hex"))]));
  const own = makeEstCa();
  const srv = await startLibest(own, await freePortPair(), { EST_CSR_ATTR: rsa.toString("base64") });
  const saved = ca;
  ca = own;
  try {
    const d = await device({}, srv);
    assert.equal(name(await d.op(EstOp.Att)), "AttUnsupported");
    assert.ok(d.logs.some((l) => l === `EST error ${E.AttUnsupported}`), d.logs.join("\n"));
  } finally {
    ca = saved;
    await srv.stop();
  }
});

test("libest 4.06 (an Accept it cannot serve) reaches the log with the code", async (t) => {
  if (!requireLibest(t)) return;
  const d = await device({ accept: 50 });
  assert.equal(name(await d.op(EstOp.Crts)), "ok");
  assert.equal(name(await d.op(EstOp.Sen, 5)), "ServerError");
  assert.equal(d.x.enrol_code(), 0x86);
  assert.ok(d.logs.includes("EST failed: CoAP 4.06"), d.logs.join("\n"));
});

test("libest 4.00 (a CSR upload with the wrong Content-Format) reaches the log with the code", async (t) => {
  if (!requireLibest(t)) return;
  const d = await device();
  assert.equal(name(await d.op(EstOp.Crts)), "ok");
  d.x.enrol_set_request_format(60);
  assert.equal(name(await d.op(EstOp.Sen, 5)), "ServerError");
  assert.equal(d.x.enrol_code(), 0x80);
  assert.ok(d.logs.includes("EST failed: CoAP 4.00"), d.logs.join("\n"));
});

test("libest 5.00 (its CA cannot sign) reaches the log with the code", async (t) => {
  if (!requireLibest(t)) return;
  const own = makeEstCa();
  const srv = await startLibest(own, await freePortPair());
  const saved = ca;
  ca = own;
  try {
    const d = await device({}, srv);
    assert.equal(name(await d.op(EstOp.Crts)), "ok");
    renameSync(join(own, "estCA/private/cakey.pem"), join(own, "estCA/private/cakey.pem.away"));
    assert.equal(name(await d.op(EstOp.Sen, 5)), "ServerError");
    assert.equal(d.x.enrol_code(), 0xa0);
    assert.ok(d.logs.includes("EST failed: CoAP 5.00"), d.logs.join("\n"));
  } finally {
    ca = saved;
    await srv.stop();
  }
});

test("an EST server whose certificate does not chain to the EST trust anchor is refused in the handshake, before any request", async (t) => {
  if (!requireLibest(t)) return;
  const other = makeEstCa(); // another root: libest's server certificate does not chain to it
  const d = new EstDevice();
  devices.push(d);
  const st = await d.connect({ port: est!.port, name: "urn:dev:est-1", trust: new Uint8Array(readFileSync(join(other, "estCA/cacert.der"))), idevid: idevid() });
  assert.equal(st, EnrolState.Failed);
  assert.equal(d.x.enrol_code(), -1, "no CoAP response: no request was ever sent");
  assert.ok(d.logs.some((l) => l.startsWith("EST DTLS closed")), d.logs.join("\n"));
  assert.ok(d.logs.some((l) => /EST DTLS x509 -1(09|17|23)/.test(l)), d.logs.join("\n")); // BadSignature (same issuer name, other key) / UntrustedIssuer / CertMismatch
  assert.equal(d.x.enrol_op(EstOp.Crts, 0, 0n, 0n) >= -1, true);
  assert.equal(d.x.enrol_result(), E.Busy, "no EST operation on a failed session");
});

test("no EST trust anchor configured: the device does not connect at all (never unauthenticated)", async (t) => {
  if (!requireLibest(t)) return;
  const d = new EstDevice();
  devices.push(d);
  const st = await d.connect({ port: est!.port, name: "urn:dev:est-1", trust: new Uint8Array(0), idevid: idevid() }, 2000);
  assert.equal(st, EnrolState.Failed);
  assert.equal(d.x.enrol_result(), E.ChainUntrusted);
  assert.deepEqual(d.stats(), [0, 0, 0, 0]);
});
