// Security Mode 4 end to end in the firmware (build/firmware.wasm in the Node
// host): a factory-provisioned mode-4 account enrols at Cisco libest (EST-coaps,
// DTLS with the IDevID certificate whose key the provisioning put in the SE),
// installs the certificate, and then opens DTLS to the LwM2M Server with the
// enrolled certificate (EST-6). The LwM2M Server here is `openssl s_server
// -dtls1_2 -Verify 1` trusting libest's CA only: its handshake succeeds only
// with the enrolled certificate, and it prints the Register that follows.
// After a reboot the device uses the stored credential without enrolling again.
// @needs est
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { spawnSync } from "node:child_process";
import { haveLibest, requireLibest, makeEstCa, startLibest, type EstServer } from "./helpers/libest";
import { freePortPair } from "./helpers/coap-gnutls-peer";
import { startOpensslServer, type PeerProcess } from "./helpers/openssl-peer";
import { Device, type ClientEvent, type FactoryConfig } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import type { FlashService } from "../host-shim/node/host";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { waitEvent } from "./helpers/device-events";

const stops: Array<() => Promise<void> | void> = [];
after(async () => { for (const s of stops.reverse()) await s(); });

/** Real monotonic time; the wall clock can be moved forward (renewal tests). */
class ShiftClock {
  offset = 0;
  monoOffset = 0;
  monotonicMs() { return Math.floor(performance.now()) + this.monoOffset; }
  wallSeconds() { return Math.floor(Date.now() / 1000) + this.offset; }
}
function newDevice(o: { flash?: FlashService; se?: SimulatedSecureElement; clock?: ShiftClock } = {}): Device {
  let d!: Device;
  const net = new UdpNet((peer, data) => d.deliver(peer, data));
  d = new Device({ net, ...o });
  stops.push(() => d.stop());
  return d;
}
const der = (f: string) => new Uint8Array(new X509Certificate(readFileSync(f)).raw);
const scalar = (f: string) => new Uint8Array(Buffer.from((createPrivateKey(readFileSync(f)).export({ format: "jwk" }) as { d: string }).d, "base64url"));

async function setup(t: { skip(m: string): void }, env: Record<string, string> = {}) {
  const ca = makeEstCa();
  const est = await startLibest(ca, await freePortPair(), env);
  stops.push(() => est.stop());
  // the LwM2M Server stand-in: DTLS 1.2, a client certificate from libest's CA required
  const lwm2m = await startOpensslServer(["-cert", join(ca, "estCA/estserver.crt"), "-key", join(ca, "estCA/private/estservercertandkey.pem"),
    "-Verify", "1", "-CAfile", join(ca, "estCA/cacert.crt"), "-verify_return_error"]);
  stops.push(() => lwm2m.stop());
  void t;
  return { ca, est, lwm2m };
}
function factory(ca: string, est: EstServer, lwm2m: PeerProcess, endpoint: string): FactoryConfig {
  return {
    endpoint,
    servers: [{
      uri: `coaps://127.0.0.1:${lwm2m.port}`, securityMode: "est", shortServerId: 1, lifetime: 300,
      serverPublicKey: der(join(ca, "estCA/estserver.crt")), // resource 4: the LwM2M Server's certificate (usage 3)
      publicKey: der(join(ca, "client/bootstrap.crt")), secretKey: scalar(join(ca, "client/bootstrap.key")), // IDevID
    }],
    est: { uri: `coaps://127.0.0.1:${est.port}/.well-known/est`, trustAnchor: der(join(ca, "estCA/cacert.crt")) },
  };
}

test("mode 4 with libest: enrol with the IDevID, install, DTLS with the enrolled certificate to the LwM2M Server (EST-6), Register sent; a reboot reuses the credential", async (t) => {
  if (!requireLibest(t)) return;
  const { ca, est, lwm2m } = await setup(t);
  const d = newDevice();
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  d.provision(factory(ca, est, lwm2m, "urn:dev:mode4-1"));
  const e = await enrolled;
  assert.equal(e.arg, 0, "sen");
  // the LwM2M Server accepted the enrolled certificate and received the Register
  await lwm2m.waitFor(/subject=.*CN ?= ?urn:dev:mode4-1/, 15000);
  await lwm2m.waitFor(/rd.*ep=urn:dev:mode4-1|ep=urn:dev:mode4-1/s, 15000);
  assert.match(lwm2m.output, /issuer=.*EST Peer Test Root CA/);
  const logs = d.logs.map((l) => l.text).join("\n");
  assert.match(logs, /EST: enrolment for ssid=1 at coaps:\/\/127\.0\.0\.1/);
  assert.match(logs, /EST: enrolled ssid=1, key in SE slot 2/);
  assert.match(logs, /\(X\.509, EST-enrolled\)/);
  // the key the certificate carries is in SE slot 2; the IDevID key stays in its own slot
  const enrolledKey = d.se.publicKey(2);
  assert.ok(typeof enrolledKey !== "number");
  // reboot: the stored credential is used, no second enrolment
  const flash = d.flash, se = d.se;
  d.stop();
  const d2 = newDevice({ flash, se });
  d2.start();
  await new Promise((r) => setTimeout(r, 3000));
  const logs2 = d2.logs.map((l) => l.text).join("\n");
  assert.doesNotMatch(logs2, /EST: enrolment/, "no new enrolment after reboot");
  assert.match(logs2, /EST-enrolled/);
  void spawnSync;
});

test("mode 4 with libest: an EST server that fails the trust anchor is refused in the handshake; the failure is an event and nothing is installed", async (t) => {
  if (!requireLibest(t)) return;
  const { ca, est, lwm2m } = await setup(t);
  const other = makeEstCa();
  const d = newDevice();
  d.start();
  const cfg = factory(ca, est, lwm2m, "urn:dev:mode4-2");
  cfg.est!.trustAnchor = der(join(other, "estCA/cacert.crt"));
  const failed = waitEvent(d, "enrolFailed");
  d.provision(cfg);
  const e = await failed;
  assert.ok(e.arg < 0, "no CoAP code: refused before any request");
  assert.match(d.logs.map((l) => l.text).join("\n"), /DTLS: EST server ssid=1/);
  assert.equal(typeof d.se.publicKey(2), "number", "no enrolled key");
  assert.doesNotMatch(lwm2m.output, /subject=/, "nothing reached the LwM2M Server");
});

test("mode 4 with libest: libest's 4.00 (its CSR attributes enforced) reaches the event log with the code", async (t) => {
  if (!requireLibest(t)) return;
  const csrattrs = Buffer.from("3005060355040a", "hex"); // SEQUENCE { organizationName OID }: our CSR never carries it
  const { ca, est, lwm2m } = await setup(t, { EST_CSR_ATTR: csrattrs.toString("base64"), EST_EXTRA_ARGS: "--enforce-csr" });
  const d = newDevice();
  d.start();
  const failed = waitEvent(d, "enrolFailed");
  d.provision(factory(ca, est, lwm2m, "urn:dev:mode4-3"));
  const e = await failed;
  assert.equal(e.arg, 0x80);
  assert.match(d.logs.map((l) => l.text).join("\n"), /EST: enrolment failed ssid=1, the EST server answered 4\.00/);
});
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag, body.length]), body]);

test("mode 4 with libest: /att is consulted before the CSR: libest asking for serialNumber (--enforce-csr) gets it in the mode-4 device's CSR, and the device enrols", async (t) => {
  if (!requireLibest(t)) return;
  // CsrAttrs: serialNumber, ecdsa-with-SHA256 (RFC 7030 §4.5.2); libest refuses a CSR without them
  const attrs = tlv(0x30, Buffer.concat([tlv(0x06, Buffer.from("550405", "hex")), tlv(0x06, Buffer.from("2a8648ce3d040302", "hex"))]));
  const { ca, est, lwm2m } = await setup(t, { EST_CSR_ATTR: attrs.toString("base64"), EST_EXTRA_ARGS: "--enforce-csr" });
  const d = newDevice();
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  d.provision(factory(ca, est, lwm2m, "urn:dev:mode4-att"));
  assert.equal((await enrolled).arg, 0);
  await lwm2m.waitFor(/subject=.*CN ?= ?urn:dev:mode4-att/, 15000);
  const subject = /subject=.*/.exec(lwm2m.output)![0];
  assert.match(subject, /serialNumber ?= ?urn:dev:mode4-att/, `the enrolled certificate carries the serialNumber /att asked for: ${subject}`);
});

test("mode 4 with libest: /att asking for RSA ends the enrolment before any CSR (AttUnsupported in the event), no key is kept", async (t) => {
  if (!requireLibest(t)) return;
  const rsa = tlv(0x30, Buffer.concat([tlv(0x06, Buffer.from("2a864886f70d010101", "hex")), tlv(0x06, Buffer.from("2a864886f70d01010b", "hex"))]));
  const { ca, est, lwm2m } = await setup(t, { EST_CSR_ATTR: rsa.toString("base64") });
  const d = newDevice();
  d.start();
  const failed = waitEvent(d, "enrolFailed");
  d.provision(factory(ca, est, lwm2m, "urn:dev:mode4-att-rsa"));
  const e = await failed;
  assert.equal(e.arg, -212, "EstError.AttUnsupported");
  assert.equal(typeof d.se.publicKey(2), "number", "no key generated for a CSR never sent");
  assert.doesNotMatch(readFileSync(est.log, "utf8"), /simpleenroll|\/sen/i, "no enrolment request reached libest");
});

test("mode 4 with libest, server-side key generation (--est-skg): /skg instead of /sen, the key imported into SE slot 2 and wiped from linear memory, the certificate carries it, Register with it", async (t) => {
  if (!requireLibest(t)) return;
  const { ca, est, lwm2m } = await setup(t);
  const d = newDevice();
  let imported: Uint8Array | undefined;
  const orig = d.se.importPrivate.bind(d.se);
  d.se.importPrivate = (slot: number, priv: Uint8Array) => { if (slot === 2) imported = priv.slice(); return orig(slot, priv); };
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  const cfg = factory(ca, est, lwm2m, "urn:dev:mode4-skg");
  cfg.est!.serverKeygen = true;
  d.provision(cfg);
  assert.equal((await enrolled).arg, 0);
  await lwm2m.waitFor(/subject=.*CN ?= ?urn:dev:mode4-skg/, 15000);
  assert.match(readFileSync(est.log, "utf8"), /serverkeygen|skg/i, "libest served /skg");
  assert.ok(imported && imported.length === 32, "se_import_p256 got the server's 32-byte scalar for slot 2");
  const key = d.se.publicKey(2);
  assert.ok(typeof key !== "number", "the key is in SE slot 2");
  assert.equal(Buffer.from(d.memory.buffer).indexOf(Buffer.from(imported!)), -1, "the private scalar is nowhere in linear memory");
  assert.doesNotMatch(d.logs.map((l) => l.text).join("\n"), /\/sen\b/);
});

test("mode 4 with libest: at the renewal point (75 %) the device re-enrols with /sren over DTLS with the enrolled certificate, new key in the second slot, old slot destroyed after the commit; no renewal loop when the new certificate is already due", async (t) => {
  if (!requireLibest(t)) return;
  const { ca, est, lwm2m } = await setup(t);
  const clock = new ShiftClock();
  const d = newDevice({ clock });
  d.start();
  const first = waitEvent(d, "enrolled");
  d.provision(factory(ca, est, lwm2m, "urn:dev:mode4-renew"));
  assert.equal((await first).arg, 0);
  await lwm2m.waitFor(/subject=.*CN ?= ?urn:dev:mode4-renew/, 15000);
  const key1 = d.se.publicKey(2) as Uint8Array;
  // 300 days later (libest issues for 365 days: past 75 %)
  clock.offset = 300 * 86400;
  const renewed = waitEvent(d, "enrolled");
  d.poll();
  const e = await renewed;
  assert.equal(e.arg, 1, "sren");
  const key2 = d.se.publicKey(3);
  assert.ok(typeof key2 !== "number", "the new key is in slot 3");
  assert.notDeepEqual(key2, key1);
  assert.equal(typeof d.se.publicKey(2), "number", "slot 2 destroyed after the commit");
  const logs = d.logs.map((l) => l.text).join("\n");
  assert.match(logs, /EST: renewal point of the certificate reached ssid=1, re-enrolling/);
  assert.match(logs, /EST: re-enrolment \(\/sren\) for ssid=1/);
  assert.match(logs, /EST: renewed ssid=1, key in SE slot 3/);
  // libest's log shows the sren request
  assert.match(readFileSync(est.log, "utf8"), /sren/i);
  // then the channel to the LwM2M Server is opened again with the renewed certificate (openssl s_server
  // serves one DTLS association only: the registration with a renewed certificate is checked against the
  // development LwM2M Server in test/est-devserver.test.ts)
  assert.equal(logs.match(/DTLS: handshake with 127\.0\.0\.1:\d+ ssid=1 \(X\.509, EST-enrolled\)/g)?.length, 2, logs);

  // libest dates certificates by the real clock: the renewed one is past its renewal point on our
  // shifted clock too; the device must not loop but wait for the back-off
  assert.match(logs, /already past its renewal point; next attempt after the back-off/);
  assert.equal(logs.match(/EST: re-enrolment/g)?.length, 1, "no renewal loop");
});

test("mode 4 with libest: a renewal that fails (libest answers 5.00) keeps the current certificate and key; the new slot is destroyed", async (t) => {
  if (!requireLibest(t)) return;
  const { ca, est, lwm2m } = await setup(t);
  const clock = new ShiftClock();
  const d = newDevice({ clock });
  d.start();
  const first = waitEvent(d, "enrolled");
  d.provision(factory(ca, est, lwm2m, "urn:dev:mode4-renew-fail"));
  await first;
  await lwm2m.waitFor(/subject=.*CN ?= ?urn:dev:mode4-renew-fail/, 15000);
  const key1 = d.se.publicKey(2) as Uint8Array;
  const { renameSync } = await import("node:fs");
  renameSync(join(ca, "estCA/private/cakey.pem"), join(ca, "estCA/private/cakey.pem.away"));
  clock.offset = 300 * 86400;
  const failed = waitEvent(d, "enrolFailed");
  d.poll();
  const f = await failed;
  assert.equal(f.arg, 0xa0, "5.00 from libest");
  const logs = d.logs.map((l) => l.text).join("\n");
  assert.match(logs, /EST: re-enrolment failed ssid=1, the EST server answered 5\.00/);
  assert.match(logs, /EST: keeping the current certificate until it expires/);
  assert.deepEqual(d.se.publicKey(2), key1, "the current key stays");
  assert.equal(typeof d.se.publicKey(3), "number", "the failed renewal's key is gone");
  assert.equal(logs.match(/DTLS: handshake with 127\.0\.0\.1:\d+ ssid=1 \(X\.509, EST-enrolled\)/g)?.length, 2, "back to the LwM2M Server with the old certificate");
});
void haveLibest;

// libest's /.well-known/core (libcoap 4.2.0-rc3) lists its resources with rt="certificate", not RFC
// 9148's ace.est.* types; a filter that matches nothing is answered 4.00 (net.c coap_wellknown_response:
// "undefined resource"). The device takes that as "not answered" and uses the EST path.
test("mode 4 with libest, discovery on (--est-discover): libest answers GET /.well-known/core?rt=ace.est* with 4.00 (no resource of that type), the device falls back to /.well-known/est and enrols", async (t) => {
  if (!requireLibest(t)) return;
  const { ca, est, lwm2m } = await setup(t);
  const d = newDevice();
  d.start();
  const enrolled = waitEvent(d, "enrolled");
  const f = factory(ca, est, lwm2m, "urn:dev:mode4-disc");
  d.provision({ ...f, est: { ...f.est, discover: true } });
  assert.equal((await enrolled).arg, 0, "sen");
  const logs = d.logs.map((l) => l.text).join("\n");
  assert.match(logs, /EST: discovery not answered \(4\.00\); the EST path for the others/, "libest's 4.00 to the filtered discovery");
  assert.ok(logs.indexOf("EST: discovery") < logs.indexOf("EST: enrolled"), "discovery before the enrolment");
  await lwm2m.waitFor(/subject=.*CN ?= ?urn:dev:mode4-disc/, 15000);
});
