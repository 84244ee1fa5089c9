// The development LwM2M Server on CoAP over DTLS (server/transport.ts
// DtlsTransport = the firmware's DTLS server role, GC build from
// server/dtls-module.ts):
//  - libcoap: coap-client-gnutls -u ID -k KEY -m post coaps://127.0.0.1:PORT/rd?ep=...
//    registers over DTLS-PSK (key from pskCredentialsFromConfig) and the
//    registration carries the PSK identity; a wrong key registers nothing;
//  - our own DTLS client (build/test/dtls.wasm) registers with mutual RPK
//    (the client's SPKI is the identity), and a key the server does not accept is refused;
//  - clientHelloWantsRawPublicKey on real ClientHellos (ours, with and without
//    cookie) and hand-built ones, truncated at every length without throwing;
//  - ONE DtlsTransport (one port) with psk + rpk + x509 serves at once
//    openssl s_client -psk (identity "psk"), our client and gnutls-cli --udp
//    with mutual raw public keys ("rpk"), openssl s_client -cert/-key chaining
//    to the trust anchor ("x509"); an RPK key acceptClientKey refuses and a
//    certificate from another CA are refused.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { writeGnutlsPriorityOverride } from "./helpers/coap-gnutls-peer";
import { p256Files } from "./helpers/gnutls-peer";
import { DtlsClient, DtlsServer, Suite, CertificateType, ConnState, privateScalar, pairHandshake } from "./helpers/dtls-harness";
import { startPeer, type PeerProcess } from "./helpers/openssl-peer";
import { GnutlsPriority } from "./helpers/gnutls-peer";
import { Pki } from "./helpers/certs";
import { LwM2MServer, pskCredentialsFromConfig } from "../server";
import { DtlsTransport, clientHelloWantsRawPublicKey, type PeerIdentity, type PeerInfo } from "../server/transport";
import { encodeMessage, pathOptions, queryOptions, decodeMessage, Code } from "../server/coap";
import type { Registration } from "../server/lwm2m-server";
import type { BootstrapConfig } from "../server/bootstrap-server";
import { needs } from "./helpers/profile";

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

test("our DTLS client registers with mutual RPK; the client's SPKI is the identity; an unknown key is refused", needs("rpk"), async () => {
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

// ---- PSK + RPK + X.509 on one port ------------------------------------------------------

/** A hand-built DTLS 1.2 ClientHello record (one record, one unfragmented handshake message). */
function clientHello(o: { sessionId?: number; cookie?: number; extensions?: [number, number[]][]; noExtensions?: boolean } = {}): Uint8Array {
  const u16 = (n: number) => [n >> 8, n & 255];
  const ext = (o.extensions ?? []).flatMap(([type, body]) => [...u16(type), ...u16(body.length), ...body]);
  const body = [
    0xfe, 0xfd, ...new Array(32).fill(7),
    o.sessionId ?? 0, ...new Array(o.sessionId ?? 0).fill(1),
    o.cookie ?? 0, ...new Array(o.cookie ?? 0).fill(2),
    ...u16(4), 0xc0, 0xae, 0xc0, 0xa8,
    1, 0,
    ...(o.noExtensions ? [] : [...u16(ext.length), ...ext]),
  ];
  const len = [body.length >> 16, (body.length >> 8) & 255, body.length & 255];
  const hs = [1, ...len, 0, 0, 0, 0, 0, ...len, ...body];
  return new Uint8Array([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, ...u16(hs.length), ...hs]);
}

function assertNeverThrowsWhenTruncated(hello: Uint8Array, label: string): void {
  for (let n = 0; n < hello.length; n++) {
    let r: boolean | undefined;
    assert.doesNotThrow(() => { r = clientHelloWantsRawPublicKey(hello.subarray(0, n)); }, `${label} truncated to ${n}`);
    assert.equal(r, false, `${label} truncated to ${n} bytes → X.509 instance`);
  }
  // and one byte more than the record says: the record is whole, the trailing byte is ignored
  assert.doesNotThrow(() => clientHelloWantsRawPublicKey(new Uint8Array([...hello, 0])));
}

test("clientHelloWantsRawPublicKey: real ClientHellos (with and without cookie), hand-built ones, every truncation", needs("rpk"), () => {
  // our client and server role in-process: the first two client datagrams are the ClientHellos (without, then with cookie)
  const sk = p256Files(join(dir, "hello-srv")), ck = p256Files(join(dir, "hello-cli"));
  const rpkClient = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
    identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki });
  const server = new DtlsServer().configure({ suites: Suite.All, certificateType: CertificateType.RawPublicKey,
    identity: { privateKey: privateScalar(sk.keyPem) } });
  const c2s = pairHandshake(rpkClient, server).filter((e) => e.dir === "c2s").map((e) => e.d);
  assert.equal(rpkClient.state, ConnState.Established, rpkClient.describe());
  const [hello1, hello2, ...rest] = c2s;
  assert.ok(hello2.length > hello1.length, "the second ClientHello carries the cookie");
  assert.equal(clientHelloWantsRawPublicKey(hello1), true, "RPK ClientHello without cookie");
  assert.equal(clientHelloWantsRawPublicKey(hello2), true, "RPK ClientHello with cookie");
  for (const d of rest) assert.equal(clientHelloWantsRawPublicKey(d), false, "later flights are not ClientHellos");
  assertNeverThrowsWhenTruncated(hello2, "RPK ClientHello");

  // (the trust config only has to exist for the client to offer ECDSA with X.509; nothing is verified here)
  const x509Client = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(ck.keyPem) }, trust: { key: sk.spki, usage: 3, host: "server.example.com" } });
  assert.equal(x509Client.connect(), 0);
  assert.equal(clientHelloWantsRawPublicKey(x509Client.drain()[0]), false, "X.509 ClientHello");
  const pskClient = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: "id", key: new Uint8Array(16).fill(1) } });
  assert.equal(pskClient.connect(), 0);
  assert.equal(clientHelloWantsRawPublicKey(pskClient.drain()[0]), false, "PSK ClientHello");

  // hand-built: which lists choose RPK, and everything around the extension
  const sct = (types: number[]): [number, number[]] => [20, [types.length, ...types]];
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [sct([2])] })), true);
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [sct([0, 2])] })), false, "X.509 preferred (RFC 7250 4.1 order; libcoap's X.509 client)");
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [sct([2, 0])] })), true);
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [sct([0])] })), false);
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [sct([])] })), false);
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [[19, [1, 2]]] })), false, "client_certificate_type alone");
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [[23, []], [13, [0, 2, 4, 3]], sct([2])] })), true, "after other extensions");
  const big = clientHello({ sessionId: 32, cookie: 255, extensions: [[23, []], sct([2, 0])] });
  assert.equal(clientHelloWantsRawPublicKey(big), true, "session ID and a 255-byte cookie");
  assertNeverThrowsWhenTruncated(big, "hand-built ClientHello");
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ noExtensions: true })), false, "no extensions at all");
  assert.equal(clientHelloWantsRawPublicKey(clientHello()), false, "empty extensions");
  // malformed: the list says more types than the extension holds; the extension runs past the block
  assert.equal(clientHelloWantsRawPublicKey(clientHello({ extensions: [[20, [3, 2]]] })), false);
  const overrun = clientHello({ extensions: [sct([2])] });
  overrun[overrun.length - 3] = 9; // extension length 2 → 9
  assert.equal(clientHelloWantsRawPublicKey(overrun), false);
  // a fragment of a ClientHello, another handshake type, another content type, garbage
  const frag = clientHello({ extensions: [sct([2])] });
  frag[13 + 11] -= 1; // fragment_length < length
  assert.equal(clientHelloWantsRawPublicKey(frag), false);
  const notHello = clientHello({ extensions: [sct([2])] });
  notHello[13] = 2;
  assert.equal(clientHelloWantsRawPublicKey(notHello), false);
  const appData = clientHello({ extensions: [sct([2])] });
  appData[0] = 23;
  assert.equal(clientHelloWantsRawPublicKey(appData), false);
  for (let i = 0; i < 2000; i++) {
    const g = new Uint8Array(Math.floor(Math.random() * 200));
    for (let j = 0; j < g.length; j++) g[j] = Math.floor(Math.random() * 256);
    if (g.length > 13) { g[0] = 22; g[13] = 1; }
    assert.doesNotThrow(() => clientHelloWantsRawPublicKey(g));
  }
  // every single-byte corruption of a real ClientHello: no throw
  for (let i = 0; i < hello2.length; i++) {
    const g = hello2.slice();
    g[i] ^= 0xff;
    assert.doesNotThrow(() => clientHelloWantsRawPublicKey(g));
  }
});

/** Waits for a datagram from the transport whose text includes `text`; resolves with its peer key and PeerInfo. */
function nextDatagram(t: DtlsTransport, text: string, ms = 8000): Promise<{ key: string; info: PeerInfo }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { t.off("datagram", on); reject(new Error(`no datagram '${text}' within ${ms} ms: ${JSON.stringify(t.stats)}`)); }, ms);
    const on = (key: string, bytes: Uint8Array, info: PeerInfo) => {
      if (!Buffer.from(bytes).toString("latin1").includes(text)) return;
      clearTimeout(timer);
      t.off("datagram", on);
      resolve({ key, info });
    };
    t.on("datagram", on);
  });
}

test("one DtlsTransport serves PSK, RPK and X.509 clients on the same port, each with its identity kind", needs("rpk", "x509"), async (t) => {
  if (!requirePeer(t, "openssl") || !requirePeer(t, "gnutls-cli")) return;
  const PSK = Buffer.from("00112233445566778899aabbccddeeff", "hex");
  const pki = new Pki();
  const peers: PeerProcess[] = [];
  const clients: DtlsClient[] = [];
  let transport: DtlsTransport | undefined;
  try {
    const root = pki.root("multi-root");
    const srv = pki.issue("multi-server", root, { san: "IP:127.0.0.1" });
    const cli = pki.issue("multi-client", root, { subject: "/CN=urn:imei:490154203237518" });
    const rogueRoot = pki.root("multi-rogue");
    const rogue = pki.issue("multi-rogue-client", rogueRoot, { subject: "/CN=rogue" });
    // the RPK and X.509 identities are different key pairs: each instance must present its own
    const sk = p256Files(join(dir, "multi-srv")), ck = p256Files(join(dir, "multi-cli")), gk = p256Files(join(dir, "multi-gnutls"));
    const stranger = p256Files(join(dir, "multi-stranger"));
    const accepted = [ck.spki, gk.spki].map((k) => Buffer.from(k));
    transport = new DtlsTransport({
      psk: { lookup: (id) => (id === "multi-psk" ? PSK : undefined) },
      rpk: { privateKey: privateScalar(sk.keyPem), publicKey: sk.spki, acceptClientKey: (spki) => accepted.some((k) => k.equals(Buffer.from(spki))) },
      x509: { certificateChain: [srv.der], privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")), trustAnchors: [root.der] },
    });
    const { port } = await transport.bind(0, "127.0.0.1");
    const tr = transport;
    const sClient = (args: string[]) => startPeer("openssl", ["s_client", "-dtls1_2", "-connect", `127.0.0.1:${port}`, ...args], /CONNECTED/, port)
      .then((p) => (peers.push(p), p));

    // (a) PSK: openssl s_client, no server_certificate_type → the X.509 instance, which does PSK too
    const pskPeer = await sClient(["-psk", PSK.toString("hex"), "-psk_identity", "multi-psk", "-cipher", "PSK-AES128-CCM8"]);
    const gotPsk = nextDatagram(tr, "ping psk");
    pskPeer.write("ping psk\n");
    const a = await gotPsk.catch((e) => { throw new Error(`${e.message}\n--- ${pskPeer.commandLine}\n${pskPeer.output}`); });
    assert.deepEqual(a.info.identity, { kind: "psk", identity: "multi-psk" } satisfies PeerIdentity);
    assert.equal(a.info.secure, true);

    // (b) RPK: our DTLS client with mutual raw public keys (it checks the server's key is sk)
    const c = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki });
    clients.push(c);
    await c.udpHandshake(port);
    assert.equal(c.state, ConnState.Established, c.describe());
    const gotRpk = nextDatagram(tr, "ping rpk");
    assert.equal(c.udpSend("ping rpk"), 0);
    const b = await gotRpk;
    assert.equal(b.info.identity?.kind, "rpk");
    assert.deepEqual(Buffer.from((b.info.identity as { publicKey: Uint8Array }).publicKey), Buffer.from(ck.spki));

    // (b') RPK from an independent implementation: gnutls-cli --udp with mutual raw public keys
    const g = await startPeer("gnutls-cli", ["--udp", "-p", String(port), "--priority", GnutlsPriority.RpkCcm8,
      "--rawpkkeyfile", gk.keyFile, "--rawpkfile", gk.pubFile, "--no-ca-verification", "127.0.0.1"], /Handshake was completed|Connecting to/, port);
    peers.push(g);
    await g.waitFor(/Handshake was completed/, 8000);
    const gotGnutls = nextDatagram(tr, "ping gnutls");
    g.write("ping gnutls\n");
    const bg = await gotGnutls;
    assert.equal(bg.info.identity?.kind, "rpk");
    assert.deepEqual(Buffer.from((bg.info.identity as { publicKey: Uint8Array }).publicKey), Buffer.from(gk.spki));

    // (c) X.509: openssl s_client with a client certificate chaining to the trust anchor; it verifies ours too
    const x = await sClient(["-cert", cli.certFile, "-key", cli.keyFile, "-CAfile", root.certFile, "-verify_return_error",
      "-cipher", "ECDHE-ECDSA-AES128-CCM8"]);
    const gotX509 = nextDatagram(tr, "ping x509");
    x.write("ping x509\n");
    const cx = await gotX509.catch((e) => { throw new Error(`${e.message}\n--- ${x.commandLine}\n${x.output}`); });
    await x.waitFor(/Verify return code: 0 \(ok\)/);
    assert.equal(cx.info.identity?.kind, "x509");
    const xid = cx.info.identity as { subject: string; certificate: Uint8Array };
    assert.match(xid.subject, /CN=urn:imei:490154203237518/);
    assert.deepEqual(Buffer.from(xid.certificate), Buffer.from(cli.der));

    // all four sessions are up at once on the one port: an answer to each goes back through its own session
    const keys = new Set([a.key, b.key, bg.key, cx.key]);
    assert.equal(keys.size, 4, "four peers");
    for (const [k, kind] of [[a.key, "psk"], [b.key, "rpk"], [bg.key, "rpk"], [cx.key, "x509"]] as const) {
      assert.equal(tr.peerInfo(k)?.identity?.kind, kind, k);
    }
    tr.send(a.key, Buffer.from("pong psk\n"));
    tr.send(b.key, Buffer.from("pong rpk"));
    tr.send(bg.key, Buffer.from("pong gnutls\n"));
    tr.send(cx.key, Buffer.from("pong x509\n"));
    await pskPeer.waitFor(/pong psk/);
    assert.match(await c.waitAppData((s) => s.includes("pong rpk")), /pong rpk/);
    await g.waitFor(/pong gnutls/);
    await x.waitFor(/pong x509/);
    assert.equal(tr.stats.handshakes, 4, JSON.stringify(tr.stats));
    assert.equal(tr.stats.refused, 0, JSON.stringify(tr.stats));

    // refused: an RPK client key acceptClientKey does not accept (closed right after the handshake, nothing delivered)
    let strangerData = false;
    const onAny = (_k: string, bytes: Uint8Array) => { if (Buffer.from(bytes).toString("latin1").includes("stranger")) strangerData = true; };
    tr.on("datagram", onAny);
    const other = new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(stranger.keyPem) }, serverKey: sk.spki });
    clients.push(other);
    await other.udpHandshake(port);
    if (other.state === ConnState.Established) other.udpSend("ping stranger");
    await other.waitClosed(3000);
    assert.equal(other.state, ConnState.Closed);
    assert.equal(tr.stats.refused, 1, JSON.stringify(tr.stats));

    // refused: a client certificate from another CA (the X.509 instance's trust anchors)
    const r = await sClient(["-cert", rogue.certFile, "-key", rogue.keyFile, "-CAfile", root.certFile, "-cipher", "ECDHE-ECDSA-AES128-CCM8"]);
    await r.waitFor(/bad certificate/i, 8000);
    assert.equal(tr.stats.refused, 2, JSON.stringify(tr.stats));
    await new Promise((res) => setTimeout(res, 200));
    tr.off("datagram", onAny);
    assert.equal(strangerData, false, "nothing from a refused client reaches the CoAP layer");

    // the accepted sessions are still up after the refusals
    const again = nextDatagram(tr, "again rpk");
    assert.equal(c.udpSend("again rpk"), 0);
    assert.equal((await again).info.identity?.kind, "rpk");
  } finally {
    for (const p of peers) await p.stop();
    for (const c of clients) await c.shutdown();
    await transport?.close();
    pki.cleanup();
  }
});
