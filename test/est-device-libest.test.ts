// Security Mode 4 end to end in the firmware (build/firmware.wasm in the Node
// host): a factory-provisioned mode-4 account enrols at Cisco libest (EST-coaps,
// DTLS with the IDevID certificate whose key the provisioning put in the SE),
// installs the certificate, and then opens DTLS to the LwM2M Server with the
// enrolled certificate (EST-6). The LwM2M Server here is `openssl s_server
// -dtls1_2 -Verify 1` trusting libest's CA only: its handshake succeeds only
// with the enrolled certificate, and it prints the Register that follows.
// After a reboot the device uses the stored credential without enrolling again.
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
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";

const stops: Array<() => Promise<void> | void> = [];
after(async () => { for (const s of stops.reverse()) await s(); });

function newDevice(o: { flash?: NorFlash; se?: SimulatedSecureElement } = {}): Device {
  let d!: Device;
  const net = new UdpNet((peer, data) => d.deliver(peer, data));
  d = new Device({ net, ...o });
  stops.push(() => d.stop());
  return d;
}
function waitEvent(d: Device, name: string, ms = 20000): Promise<ClientEvent> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no '${name}' within ${ms} ms; log:\n${d.logs.map((l) => l.text).join("\n")}`)), ms);
    const f = (e: ClientEvent) => { if (e.name === name) { clearTimeout(t); d.off("event", f); res(e); } };
    d.on("event", f);
  });
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
void haveLibest;
