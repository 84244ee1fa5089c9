// The DTLS server role (build/test/dtls_server.wasm) over real UDP on
// 127.0.0.1 against independent clients:
//   openssl s_client -dtls1_2 -connect 127.0.0.1:PORT -psk HEX -psk_identity ID -cipher PSK-AES128-CCM8
//   openssl s_client ... -cipher ECDHE-PSK-AES128-CBC-SHA256
//   openssl s_client ... -cert C -key K -CAfile CA -cipher ECDHE-ECDSA-AES128-CCM8 (client certificate verified by us)
//   gnutls-cli --udp ... mutual RPK (--rawpkkeyfile / --rawpkfile)
// plus the refusals a real client sees: unknown identity, wrong PSK, an
// untrusted client certificate, and renegotiation (s_client's `R`).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { startPeer, type PeerProcess } from "./helpers/openssl-peer";
import { GnutlsPriority, p256Files } from "./helpers/gnutls-peer";
import {
  DtlsServer, Suite, SuiteCode, CertificateType, ConnState, DtlsError, DtlsEvent, privateScalar, type ServerOptions,
} from "./helpers/dtls-harness";
import { Pki } from "./helpers/certs";
import { needs } from "./helpers/profile";

const dir = mkdtempSync(join(tmpdir(), "dtls-server-interop-"));
const PSK = Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex");
const ID = "Client_identity";
let pki: Pki | undefined;
after(() => { pki?.cleanup(); rmSync(dir, { recursive: true, force: true }); });

const lookup = { lookup: (id: Uint8Array) => (Buffer.from(id).toString() === ID ? PSK : undefined) };

async function withServer(t: any, peer: string, opts: ServerOptions, body: (s: DtlsServer) => Promise<void>): Promise<void> {
  if (!requirePeer(t, peer)) return;
  const s = new DtlsServer().configure({ timers: { initialMs: 1000, maxMs: 4000, count: 4 }, ...opts });
  await s.udpListen();
  try {
    await body(s);
  } finally {
    await s.shutdown();
  }
}

function sClient(port: number, args: string[]): Promise<PeerProcess> {
  return startPeer("openssl", ["s_client", "-dtls1_2", "-connect", `127.0.0.1:${port}`, ...args], /CONNECTED/, port);
}

async function established(s: DtlsServer, peer: PeerProcess): Promise<void> {
  try {
    await s.waitUntil(() => { const p = s.peer(); return !!p && (s.state(p) === ConnState.Established || s.state(p) === ConnState.Closed); }, 8000, "handshake");
  } catch (e) {
    (e as Error).message += `\n--- ${peer.commandLine}\n${peer.output}`;
    throw e;
  }
  assert.equal(s.state(s.peer()!), ConnState.Established, `${s.describe(s.peer())}\n--- ${peer.commandLine}\n${peer.output}`);
}

/** Data both ways through an established s_client / gnutls-cli session. */
async function pingPong(s: DtlsServer, peer: PeerProcess, label: string): Promise<void> {
  const p = s.peer()!;
  peer.write(`ping ${label}\n`);
  await s.waitUntil(() => Buffer.concat(p.appData).toString().includes(`ping ${label}`), 5000, "data from the client");
  assert.equal(s.udpSend(p, `pong ${label}\n`), 0);
  await peer.waitFor(new RegExp(`pong ${label}`));
}

const measured: string[] = [];
after(() => { if (measured.length) console.log("\nserver role against independent clients (UDP payload, both directions):\n" + measured.join("\n")); });
function measure(s: DtlsServer, label: string) {
  const st = s.stats(s.peer()!);
  measured.push(`  ${label.padEnd(44)} ${String(st.bytesSent + st.bytesReceived).padStart(5)} B (server ${st.bytesSent} B / ${st.datagramsSent} dgrams, client ${st.bytesReceived} B / ${st.datagramsReceived}; HelloVerifyRequests ${s.helloVerifies})`);
}

for (const [name, cipher, bit] of [
  ["PSK-CCM8", "PSK-AES128-CCM8", Suite.PskCcm8],
  ["PSK-CBC", "PSK-AES128-CBC-SHA256", Suite.PskCbc],
  ["ECDHE-PSK", "ECDHE-PSK-AES128-CBC-SHA256", Suite.EcdhePskCbc],
] as const) {
  test(`openssl s_client ${cipher}: PSK identity looked up by the host, cookie exchange, data both ways`, async (t) => {
    await withServer(t, "openssl", { suites: Suite.All, psk: lookup, keyLog: true }, async (s) => {
      const keylog = join(dir, `${name}.keylog`);
      const c = await sClient(s.port, ["-psk", PSK.toString("hex"), "-psk_identity", ID, "-cipher", cipher, "-keylogfile", keylog]);
      try {
        await established(s, c);
        const p = s.peer()!;
        assert.equal(s.suite(p), SuiteCode[name === "PSK-CCM8" ? "PskCcm8" : name === "PSK-CBC" ? "PskCbc" : "EcdhePskCbc"]);
        assert.equal(Buffer.from(p.pskIdentity!).toString(), ID);
        assert.equal(s.helloVerifies, 1, "one HelloVerifyRequest");
        await pingPong(s, c, name);
        // the master secret agrees with openssl's own key log
        assert.ok(readFileSync(keylog, "utf8").split("\n").includes(p.keyLogLine!), "openssl logged our master secret");
        measure(s, `s_client ${cipher}`);
        void bit;
      } finally {
        await c.stop();
      }
    });
  });
}

test("openssl s_client asks to renegotiate (R): refused with no_renegotiation, the session goes on", async (t) => {
  await withServer(t, "openssl", { suites: Suite.All, psk: lookup }, async (s) => {
    const c = await sClient(s.port, ["-psk", PSK.toString("hex"), "-psk_identity", ID, "-cipher", "PSK-AES128-CCM8"]);
    try {
      await established(s, c);
      c.write("R\n");
      const p = s.peer()!;
      await s.waitUntil(() => p.events.some((e) => e.kind === DtlsEvent.AlertSent && e.reason === DtlsError.NoRenegotiation), 5000, "no_renegotiation");
      assert.equal(s.state(p), ConnState.Established);
    } finally {
      await c.stop();
    }
  });
});

test("openssl s_client with an unknown identity: unknown_psk_identity", async (t) => {
  await withServer(t, "openssl", { suites: Suite.All, psk: lookup }, async (s) => {
    const c = await sClient(s.port, ["-psk", PSK.toString("hex"), "-psk_identity", "stranger", "-cipher", "PSK-AES128-CCM8"]);
    try {
      await s.waitUntil(() => !!s.peer() && s.state(s.peer()!) === ConnState.Closed, 8000, "refusal");
      assert.equal(s.reason(s.peer()!), DtlsError.UnknownPskIdentity);
      await c.waitFor(/unknown psk identity/i);
    } finally {
      await c.stop();
    }
  });
});

test("openssl s_client with a wrong PSK: HandshakeDecrypt, bad_record_mac", async (t) => {
  await withServer(t, "openssl", { suites: Suite.All, psk: lookup }, async (s) => {
    const c = await sClient(s.port, ["-psk", "ffff" + PSK.toString("hex").slice(4), "-psk_identity", ID, "-cipher", "PSK-AES128-CCM8"]);
    try {
      await s.waitUntil(() => !!s.peer() && s.state(s.peer()!) === ConnState.Closed, 8000, "refusal");
      assert.equal(s.reason(s.peer()!), DtlsError.HandshakeDecrypt);
      await c.waitFor(/bad record mac/i);
    } finally {
      await c.stop();
    }
  });
});

function x509Setup() {
  pki ??= new Pki();
  const root = pki.root("interop-root");
  const srv = pki.issue("interop-server", root, { san: "DNS:server.example.com,IP:127.0.0.1" });
  const cli = pki.issue("interop-client", root, { subject: "/CN=urn:imei:490154203237518" });
  return { root, srv, cli };
}

test("openssl s_client ECDHE-ECDSA-AES128-CCM8 with X.509 both ways: we verify its certificate, it verifies ours", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const { root, srv, cli } = x509Setup();
  await withServer(t, "openssl", {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der], trustAnchors: [root.der],
  }, async (s) => {
    const c = await sClient(s.port, ["-cert", cli.certFile, "-key", cli.keyFile, "-CAfile", root.certFile, "-verify_return_error",
      "-cipher", "ECDHE-ECDSA-AES128-CCM8"]);
    try {
      await established(s, c);
      const p = s.peer()!;
      assert.equal(s.suite(p), SuiteCode.EcdsaCcm8);
      assert.deepEqual(Buffer.from(s.peerCertificate(p)), Buffer.from(cli.der), "the client's certificate for the host");
      await c.waitFor(/Verify return code: 0 \(ok\)/);
      await pingPong(s, c, "x509");
      measure(s, "s_client ECDHE-ECDSA-AES128-CCM8 mutual X.509");
    } finally {
      await c.stop();
    }
  });
});

test("openssl s_client with a certificate from another CA: BadCertificate, bad_certificate", needs("x509"), async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const { root, srv } = x509Setup();
  const rogue = pki!.root("interop-rogue");
  const cli = pki!.issue("interop-rogue-client", rogue, { subject: "/CN=rogue" });
  await withServer(t, "openssl", {
    suites: Suite.All, certificateType: CertificateType.X509,
    identity: { privateKey: privateScalar(readFileSync(srv.keyFile, "utf8")) }, ownCertificates: [srv.der], trustAnchors: [root.der],
  }, async (s) => {
    const c = await sClient(s.port, ["-cert", cli.certFile, "-key", cli.keyFile, "-CAfile", root.certFile, "-cipher", "ECDHE-ECDSA-AES128-CCM8"]);
    try {
      await s.waitUntil(() => !!s.peer() && s.state(s.peer()!) === ConnState.Closed, 8000, "refusal");
      assert.equal(s.reason(s.peer()!), DtlsError.BadCertificate, s.describe(s.peer()));
      await c.waitFor(/bad certificate/i);
    } finally {
      await c.stop();
    }
  });
});

for (const [name, prio, code] of [["RPK CCM8", GnutlsPriority.RpkCcm8, SuiteCode.EcdsaCcm8], ["RPK CBC", GnutlsPriority.RpkCbc, SuiteCode.EcdsaCbc]] as const) {
  test(`gnutls-cli --udp with mutual raw public keys (${name})`, needs("rpk"), async (t) => {
    const sk = p256Files(join(dir, `srv-${name.replace(" ", "")}`)), ck = p256Files(join(dir, `cli-${name.replace(" ", "")}`));
    await withServer(t, "gnutls-cli", {
      suites: Suite.All, certificateType: CertificateType.RawPublicKey,
      identity: { privateKey: privateScalar(sk.keyPem) }, clientKey: ck.spki,
    }, async (s) => {
      const c = await startPeer("gnutls-cli", ["--udp", "-p", String(s.port), "--priority", prio,
        "--rawpkkeyfile", ck.keyFile, "--rawpkfile", ck.pubFile, "--no-ca-verification", "127.0.0.1"], /Handshake was completed|Connecting to/, s.port);
      try {
        await established(s, c);
        const p = s.peer()!;
        assert.equal(s.suite(p), code);
        assert.deepEqual(Buffer.from(s.peerCertificate(p)), Buffer.from(ck.spki));
        await c.waitFor(/Handshake was completed/);
        await pingPong(s, c, name.replace(" ", "-"));
        measure(s, `gnutls-cli mutual RPK ${name}`);
      } finally {
        await c.stop();
      }
    });
  });
}
