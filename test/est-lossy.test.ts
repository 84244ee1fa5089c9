// EST through loss (issue 8 budgets: "a test, not a timing"): one enrolment
// (DTLS handshake with the IDevID, /crts, /sen with 64-byte Block1 and Block2)
// at Cisco libest through a UDP relay that drops 10 % of the datagrams in each
// direction (seeded, reproducible: EST_LOSS_SEED). DTLS (RFC 6347 4.2.4) and
// CoAP (RFC 7252 4.2) retransmissions must carry it through; the certificate
// is then checked with openssl verify and against the SE slot's key.
// @needs est
import { test, after } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { requireLibest, makeEstCa, startLibest } from "./helpers/libest";
import { freePortPair } from "./helpers/coap-gnutls-peer";
import { EstDevice, EstOp, EnrolState, EstErrorName } from "./helpers/est-device";

const SEED = Number(process.env.EST_LOSS_SEED ?? 20260);
let state = SEED >>> 0;
const rnd = () => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state / 2 ** 32; };

/** client ⇄ relay ⇄ server on 127.0.0.1, dropping `loss` of the datagrams each way. */
async function lossyRelay(serverPort: number, loss: number) {
  const front = dgram.createSocket("udp4"), back = dgram.createSocket("udp4");
  await new Promise<void>((r) => front.bind(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => back.bind(0, "127.0.0.1", () => r()));
  let client: dgram.RemoteInfo | undefined;
  const stats = { c2s: 0, s2c: 0, droppedC2s: 0, droppedS2c: 0 };
  front.on("message", (m, r) => { client = r; stats.c2s++; if (rnd() < loss) { stats.droppedC2s++; return; } back.send(m, serverPort, "127.0.0.1"); });
  back.on("message", (m) => { if (!client) return; stats.s2c++; if (rnd() < loss) { stats.droppedS2c++; return; } front.send(m, client.port, client.address); });
  return { port: front.address().port, stats, close: () => { front.close(); back.close(); } };
}

const stops: Array<() => unknown> = [];
after(async () => { for (const s of stops.reverse()) await s(); });

test("enrolment with 64-byte blocks completes through a relay dropping 10 % of the datagrams both ways", async (t) => {
  if (!requireLibest(t)) return;
  const ca = makeEstCa();
  const est = await startLibest(ca, await freePortPair());
  stops.push(() => est.stop());
  const relay = await lossyRelay(est.port, 0.1);
  stops.push(() => relay.close());
  const d = new EstDevice();
  stops.push(() => d.close());
  const jwk = createPrivateKey(readFileSync(join(ca, "client/bootstrap.key"))).export({ format: "jwk" }) as { d: string };
  d.x.enrol_reset();
  const st = await d.connect({
    port: relay.port, name: "urn:dev:lossy", trust: new Uint8Array(readFileSync(join(ca, "estCA/cacert.der"))), szx1: 2, szx2: 2,
    idevid: { slot: 1, key: new Uint8Array(Buffer.from(jwk.d, "base64url")), cert: new Uint8Array(readFileSync(join(ca, "client/bootstrap.crt.der"))) },
    dtlsTimers: [500, 4000, 8], coapTimers: [500, 8],
  }, 60000);
  assert.equal(st, EnrolState.Ready, `DTLS through loss: reason ${d.x.enrol_dtls_reason()} (seed ${SEED})`);
  const r1 = await d.op(EstOp.Crts, 0, Math.floor(Date.now() / 1000), 60000);
  assert.equal(EstErrorName[r1] ?? "ok", "ok", `crts (seed ${SEED})`);
  const r2 = await d.op(EstOp.Sen, 2, Math.floor(Date.now() / 1000), 90000);
  assert.equal(EstErrorName[r2] ?? "ok", "ok", `sen (seed ${SEED}): code ${d.x.enrol_code()}`);
  const cert = d.cert();
  const pem = join(ca, "lossy.pem");
  writeFileSync(pem, new X509Certificate(Buffer.from(cert)).toString());
  const v = spawnSync("openssl", ["verify", "-CAfile", join(ca, "estCA/cacert.crt"), pem], { encoding: "utf8" });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const spki = new X509Certificate(Buffer.from(cert)).publicKey.export({ format: "der", type: "spki" });
  assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 65)), d.se.publicKey(2));
  const s = relay.stats;
  console.log(`lossy relay (seed ${SEED}): ${s.c2s} c2s (${s.droppedC2s} dropped), ${s.s2c} s2c (${s.droppedS2c} dropped)`);
  assert.ok(s.droppedC2s + s.droppedS2c > 0, "the relay dropped datagrams");
  assert.ok(s.c2s > 20, "64-byte blocks: many exchanges");
});
