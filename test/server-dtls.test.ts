// The development LwM2M Server on CoAP over DTLS (server/transport.ts
// DtlsTransport = the firmware's DTLS server role, GC build from
// server/dtls-module.ts):
//  - libcoap: coap-client-gnutls -u ID -k KEY -m post coaps://127.0.0.1:PORT/rd?ep=...
//    registers over DTLS-PSK (key from pskCredentialsFromConfig) and the
//    registration carries the PSK identity; a wrong key registers nothing;
//  - our own DTLS client (build/test/dtls.wasm) registers with mutual RPK
//    (the client's SPKI is the identity), and a key the server does not accept is refused.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { writeGnutlsPriorityOverride } from "./helpers/coap-gnutls-peer";
import { p256Files } from "./helpers/gnutls-peer";
import { DtlsClient, Suite, CertificateType, ConnState, privateScalar } from "./helpers/dtls-harness";
import { LwM2MServer, pskCredentialsFromConfig } from "../server";
import { DtlsTransport, type PeerIdentity } from "../server/transport";
import { encodeMessage, pathOptions, queryOptions, decodeMessage, Code } from "../server/coap";
import type { Registration } from "../server/lwm2m-server";
import type { BootstrapConfig } from "../server/bootstrap-server";

const dir = mkdtempSync(join(tmpdir(), "server-dtls-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const FAST = { ACK_TIMEOUT: 500, ACK_RANDOM_FACTOR: 1, MAX_RETRANSMIT: 2 } as any;

const KEY = "secretPSK-0123456789";
const config = ({
  "libcoap-ep": {
    security: [{ uri: "coaps://127.0.0.1:5684", securityMode: "psk", pskIdentity: "libcoap-ep",
      pskKey: Buffer.from(KEY).toString("hex"), shortServerId: 101 }],
    servers: [{ shortServerId: 101, lifetime: 300 }],
  },
}) as unknown as BootstrapConfig;

async function startServer(t: DtlsTransport): Promise<{ s: LwM2MServer; port: number }> {
  const s = new LwM2MServer({ coap: FAST });
  const a = await t.bind(0, "127.0.0.1");
  s.addTransport(t);
  return { s, port: a.port };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, ms = 10000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), ms);
    p.on("exit", (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

test("coap-client-gnutls registers over DTLS-PSK; the registration carries the PSK identity", async (t) => {
  if (!requirePeer(t, "coap-client-gnutls")) return;
  const psk = pskCredentialsFromConfig(config).server;
  assert.ok(psk.has("libcoap-ep"));
  const transport = new DtlsTransport({ psk: { lookup: (id) => psk.get(id) } });
  const { s, port } = await startServer(transport);
  try {
    const registered = new Promise<Registration>((res) => s.once("registered", res));
    const prio = writeGnutlsPriorityOverride(join(dir, "prio.cfg"));
    const args = ["-m", "post", "-t", "40", "-e", "</1/0>,</3/0>", "-u", "libcoap-ep", "-k", KEY, "-B", "8",
      `coaps://127.0.0.1:${port}/rd?ep=libcoap-ep&lt=300&lwm2m=1.1&b=U`];
    const r = await run("coap-client-gnutls", args, { GNUTLS_SYSTEM_PRIORITY_FILE: prio });
    const reg = await Promise.race([registered, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no registration: ${r.out}`)), 3000))]);
    assert.equal(reg.endpoint, "libcoap-ep");
    assert.equal(reg.secure, true);
    assert.deepEqual(reg.identity, { kind: "psk", identity: "libcoap-ep" } satisfies PeerIdentity);
    assert.ok(transport.stats.handshakes >= 1);
    // the 2.01 went back through the DTLS session: coap-client got its answer and exits 0
    assert.equal(r.code, 0, `coap-client: ${r.out}`);
  } finally {
    await s.close();
    await transport.close();
  }
});

test("coap-client-gnutls with a wrong key: no registration, the handshake is refused", async (t) => {
  if (!requirePeer(t, "coap-client-gnutls")) return;
  const psk = pskCredentialsFromConfig(config).server;
  const transport = new DtlsTransport({ psk: { lookup: (id) => psk.get(id) } });
  const { s, port } = await startServer(transport);
  try {
    let registered = false;
    s.on("registered", () => { registered = true; });
    const prio = writeGnutlsPriorityOverride(join(dir, "prio2.cfg"));
    await run("coap-client-gnutls", ["-m", "post", "-t", "40", "-e", "</3/0>", "-u", "libcoap-ep", "-k", "not-the-key", "-B", "3",
      `coaps://127.0.0.1:${port}/rd?ep=libcoap-ep&lt=300&lwm2m=1.1&b=U`], { GNUTLS_SYSTEM_PRIORITY_FILE: prio });
    assert.equal(registered, false);
    assert.ok(transport.stats.refused >= 1, JSON.stringify(transport.stats));
  } finally {
    await s.close();
    await transport.close();
  }
});

function registerMessage(ep: string): Uint8Array {
  return encodeMessage({
    type: 0, code: Code.POST, mid: 0x1234, token: new Uint8Array([1, 2, 3, 4]),
    options: [...pathOptions("/rd"), { number: 12, value: new Uint8Array([40]) }, ...queryOptions({ ep, lt: 300, lwm2m: "1.1", b: "U" })],
    payload: Buffer.from("</1/0>,</3/0>"),
  });
}

test("our DTLS client registers with mutual RPK; the client's SPKI is the identity; an unknown key is refused", async () => {
  const sk = p256Files(join(dir, "srv")), ck = p256Files(join(dir, "cli")), stranger = p256Files(join(dir, "stranger"));
  const transport = new DtlsTransport({ rpk: { privateKey: privateScalar(sk.keyPem), publicKey: sk.spki,
    acceptClientKey: (spki) => Buffer.from(spki).equals(Buffer.from(ck.spki)) } });
  const { s, port } = await startServer(transport);
  try {
    const registered = new Promise<Registration>((res) => s.once("registered", res));
    const c = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki });
    await c.udpHandshake(port);
    assert.equal(c.state, ConnState.Established, c.describe());
    assert.equal(c.udpSend(registerMessage("rpk-ep")), 0);
    const reg = await registered;
    assert.equal(reg.endpoint, "rpk-ep");
    assert.equal(reg.identity?.kind, "rpk");
    assert.deepEqual(Buffer.from((reg.identity as { publicKey: Uint8Array }).publicKey), Buffer.from(ck.spki));
    const resp = decodeMessage((await c.waitAppData((x) => x.length > 0), c.appData[0]));
    assert.equal(resp.code, Code.CREATED);
    await c.udpClose();

    // a client key acceptClientKey refuses: the session is closed right after the handshake
    const other = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(stranger.keyPem) }, serverKey: sk.spki });
    await other.udpHandshake(port);
    await other.waitClosed(3000);
    assert.equal(other.state, ConnState.Closed);
    assert.ok(transport.stats.refused >= 1);
    await other.shutdown();
  } finally {
    await s.close();
    await transport.close();
  }
});
