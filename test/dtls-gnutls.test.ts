// The DTLS client of build/test/dtls.wasm against `gnutls-serv --udp --echo`
// over real UDP on 127.0.0.1: PSK with CCM_8 (and the CBC/ECDHE-PSK suites),
// and mutual RFC 7250 raw public keys with ECDHE-ECDSA (CCM_8 and CBC), the
// server's key matched exactly (DTLS-4), ours signed in the simulated SE.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { startGnutlsServer, writePskFile, GnutlsPriority, p256Files } from "./helpers/gnutls-peer";
import type { PeerProcess } from "./helpers/openssl-peer";
import { DtlsClient, Suite, SuiteCode, CertificateType, ConnState, DtlsError, privateScalar, type ClientOptions } from "./helpers/dtls-harness";
import { needs } from "./helpers/profile";

const dir = mkdtempSync(join(tmpdir(), "dtls-gnutls-"));
const PSK = Buffer.from("a1b2c3d4e5f60718293a4b5c6d7e8f90", "hex");
const IDENTITY = "lwm2m-device-0001";
const measured: string[] = [];
after(() => {
  rmSync(dir, { recursive: true, force: true });
  if (measured.length) console.log("\nDTLS handshakes against gnutls-serv (UDP payload, both directions):\n" + measured.join("\n"));
});

async function withServer(t: any, args: string[], body: (srv: PeerProcess) => Promise<void>) {
  if (!requirePeer(t, "gnutls-serv")) return;
  const srv = await startGnutlsServer(args);
  try {
    await body(srv);
  } catch (e) {
    (e as Error).message += `\n--- ${srv.commandLine}\n${srv.output}`;
    throw e;
  } finally {
    await srv.stop();
  }
}

/** Handshake, an echoed message (gnutls-serv --echo), close_notify. */
async function echo(srv: PeerProcess, opts: ClientOptions, label: string): Promise<DtlsClient> {
  // a calm timer: gnutls-serv may take a moment with its first packet, and a
  // spurious retransmission would spoil the byte counts
  const c = new DtlsClient().configure({ timers: { initialMs: 1500, maxMs: 3000, count: 3 }, ...opts });
  await c.udpHandshake(srv.port);
  assert.equal(c.state, ConnState.Established, `${label}: ${c.describe()}`);
  const hs = c.wireStats();
  if (process.env.DTLS_DEBUG) console.log(label, c.sent.map((d) => `${d.length}:${d[0]}/${d[13]}`).join(" "), c.received.map((d) => `${d.length}:${d[0]}/${d[13]}`).join(" "));
  measured.push(`  ${label.padEnd(36)} ${String(hs.totalBytes).padStart(5)} B in ${hs.totalDatagrams} datagrams (client ${hs.sentBytes} B / ${hs.sentDatagrams}, server ${hs.receivedBytes} B / ${hs.receivedDatagrams})`);
  const msg = `echo ${label} ${Math.random().toString(36).slice(2)}`;
  assert.equal(c.udpSend(msg), 0);
  assert.equal(await c.waitAppData((s) => s.includes(msg)), msg);
  await c.udpClose();
  assert.equal(c.reason, DtlsError.LocalClose);
  return c;
}

for (const name of ["PskCcm8", "PskCbc", "EcdhePskCbc"] as const) {
  test(`gnutls-serv ${name} (PSK from --pskpasswd)`, async (t) => {
    const pskFile = writePskFile(join(dir, `${name}.psk`), IDENTITY, PSK);
    await withServer(t, ["--pskpasswd", pskFile, "--priority", GnutlsPriority[name]], async (srv) => {
      const c = await echo(srv, { suites: Suite[name], psk: { identity: IDENTITY, key: PSK } }, `${name}`);
      assert.equal(c.suite, SuiteCode[name]);
    });
  });
}

for (const [name, bit, prio] of [["EcdsaCcm8", Suite.EcdsaCcm8, GnutlsPriority.RpkCcm8], ["EcdsaCbc", Suite.EcdsaCbc, GnutlsPriority.RpkCbc]] as const) {
  test(`gnutls-serv mutual RPK (RFC 7250), ${name}`, needs("rpk"), async (t) => {
    const server = p256Files(join(dir, `srv-${name}`));
    const device = p256Files(join(dir, `dev-${name}`));
    await withServer(t, ["--rawpkkeyfile", server.keyFile, "--rawpkfile", server.pubFile, "--require-client-cert", "--priority", prio], async (srv) => {
      const c = await echo(srv, {
        suites: bit, certificateType: CertificateType.RawPublicKey,
        identity: { privateKey: privateScalar(device.keyPem) },
        serverKey: server.spki,
      }, `mutual RPK ${name}`);
      assert.equal(c.suite, SuiteCode[name]);
      // our Certificate message carried our key as a SubjectPublicKeyInfo (RFC 7250 3),
      // identical to node:crypto's SPKI encoding; gnutls-serv required it (--require-client-cert)
      assert.ok(c.sent.some((d) => Buffer.from(d).includes(Buffer.from(device.spki))), "client RPK sent");
      assert.ok(c.received.some((d) => Buffer.from(d).includes(Buffer.from(server.spki))), "server RPK received");
    });
  });
}

test("gnutls-serv resumption by session ID with every PSK suite allowed: the resumption hello offers only the session's suite and no ECC extension, and GnuTLS resumes", async (t) => {
  const pskFile = writePskFile(join(dir, "resume.psk"), IDENTITY, PSK);
  await withServer(t, ["--pskpasswd", pskFile, "--priority", GnutlsPriority.PskCcm8], async (srv) => {
    const opts: ClientOptions = { suites: Suite.PskCcm8 | Suite.PskCbc | Suite.EcdhePskCbc, psk: { identity: IDENTITY, key: PSK }, timers: { initialMs: 1500, maxMs: 3000, count: 3 } };
    const c = new DtlsClient().configure(opts, true);
    await c.udpHandshake(srv.port);
    assert.equal(c.state, ConnState.Established, c.describe());
    assert.equal(c.suite, SuiteCode.PskCcm8);
    await c.udpClose();
    assert.ok(c.x.sessionValid(), "session kept");
    const firstHello = Buffer.from(c.sent[0]);
    c.reset();
    const n0 = c.sent.length;
    await c.udpHandshake(srv.port);
    assert.equal(c.state, ConnState.Established, c.describe());
    assert.ok(c.resumed, "GnuTLS resumed the session");
    const hello = Buffer.from(c.sent[n0]);
    // RFC 5246 7.4.1.2: the session's suite (and the SCSV) only: 2 suites fewer; no supported_groups / ec_point_formats
    const suitesLen = (b: Buffer) => { let o = 13 + 12 + 2 + 32; o += 1 + b[o]; o += 1 + b[o]; return b.readUInt16BE(o); };
    assert.equal(suitesLen(hello), suitesLen(firstHello) - 4);
    assert.equal(hello.length, firstHello.length + 32 - 18, "session ID in, 2 suites and the ECC extensions out");
    await c.udpClose();
  });
});
