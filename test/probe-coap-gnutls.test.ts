// `lwm2m-wasm probe` against libcoap's coap-server-gnutls (an independent
// CoAP-over-DTLS implementation on GnuTLS) in the three DTLS modes: each a
// GET that returns the server's resource, and one failure per mode with its
// exact reason and exit status. The probe runs the firmware's probe exports
// (build/probe.wasm, the module `lwm2m-wasm probe` runs, built like the
// firmware release) with the real Node host services and real UDP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createPrivateKey } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { requirePeer } from "./helpers/peers";
import { Pki } from "./helpers/certs";
import { p256Files } from "./helpers/gnutls-peer";
import { startCoapGnutlsServer, COAP_SERVER_GNUTLS, probeWasm, type CoapGnutlsServer } from "./helpers/coap-gnutls-peer";
import { probe, parseProbeArgs, EXIT, type ProbeResult } from "../host-shim/node/probe";

const DEFAULT_TEXT = /This is a test server made with libcoap/;
const lines: string[] = [];
async function run(argv: string[]): Promise<ProbeResult> {
  lines.length = 0;
  return probe(parseProbeArgs([...argv, "--wasm", probeWasm(), "--timeout", "20"]), (l) => lines.push(l));
}
const out = () => lines.join("\n");

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), "lwm2m-probe-")); });
after(() => rmSync(dir, { recursive: true, force: true }));

async function withServer(s: CoapGnutlsServer, f: () => Promise<void>) {
  try { await f(); } finally { await s.stop(); }
}

test("PSK: GET / returns the default resource over TLS_PSK_WITH_AES_128_CCM_8; a wrong key is refused", async (t) => {
  if (!requirePeer(t, COAP_SERVER_GNUTLS)) return;
  const key = "sesame-open-16by";
  const s = await startCoapGnutlsServer({ psk: { key } });
  await withServer(s, async () => {
    const r = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, "--psk-identity", "device1", "--psk-key", Buffer.from(key).toString("hex"),
      "--cipher", "PSK-AES128-CCM8"]);
    assert.equal(r.exitCode, EXIT.Ok, `${r.reason}\n${out()}\n${s.peer.output}`);
    assert.equal(r.suite, "TLS_PSK_WITH_AES_128_CCM_8");
    assert.equal(r.code, 0x45);
    assert.match(Buffer.from(r.payload!).toString(), DEFAULT_TEXT);
    assert.match(out(), /DTLS 1\.2 TLS_PSK_WITH_AES_128_CCM_8, extended master secret/);
    assert.match(out(), /response: 2\.05 Content/);
    assert.ok(r.stats!.bytesSent > 100 && r.stats!.datagramsSent >= 3, JSON.stringify(r.stats));
    assert.match(out(), /sent \d+ bytes in \d+ datagrams, received \d+ bytes in \d+ datagrams/);

    // ECDHE-PSK with a low-entropy secret (DTLS-3) against the same server, /time
    const e = await run([`coaps://127.0.0.1:${s.dtlsPort}/time`, "--psk-identity", "device1", "--psk-key", Buffer.from(key).toString("hex"),
      "--low-entropy"]);
    assert.equal(e.exitCode, EXIT.Ok, `${e.reason}\n${out()}`);
    assert.equal(e.suite, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256");
    assert.equal(e.code, 0x45);
    assert.match(Buffer.from(e.payload!).toString(), /\d\d:\d\d:\d\d/);

    // wrong key: libcoap cannot decrypt our Finished and closes the session
    const w = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, "--psk-identity", "device1", "--psk-key", "00112233445566778899aabbccddeeff"]);
    assert.equal(w.exitCode, EXIT.Dtls, w.reason);
    assert.equal(w.reason, "DTLS: PeerClosed (alert received: close_notify) after our Finished: the server could not verify it (PSK identity or key mismatch)");
    assert.equal(w.code, undefined);
  });
});

test("RPK (RFC 7250): GET / with ECDHE-ECDSA CCM_8 and CBC; a wrong server RPK is refused (DTLS-4)", async (t) => {
  if (!requirePeer(t, COAP_SERVER_GNUTLS)) return;
  const srv = p256Files(join(dir, "srv-rpk")), cli = p256Files(join(dir, "cli-rpk")), other = p256Files(join(dir, "other"));
  // libcoap's -M wants "EC PRIVATE KEY" (SEC1) PEM
  const srvSec1 = join(dir, "srv-rpk.sec1.pem");
  writeFileSync(srvSec1, createPrivateKey(srv.keyPem).export({ type: "sec1", format: "pem" }) as string);
  const s = await startCoapGnutlsServer({ rpk: { keyFile: srvSec1 } });
  await withServer(s, async () => {
    for (const cipher of ["ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-AES128-SHA256"]) {
      const r = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, "--rpk-key", cli.keyFile, "--server-rpk", srv.pubFile, "--cipher", cipher]);
      assert.equal(r.exitCode, EXIT.Ok, `${cipher}: ${r.reason}\n${out()}\n${s.peer.output}`);
      assert.equal(r.suite, cipher.endsWith("CCM8") ? "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" : "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256");
      assert.equal(r.code, 0x45);
      assert.match(Buffer.from(r.payload!).toString(), DEFAULT_TEXT);
    }
    const w = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, "--rpk-key", cli.keyFile, "--server-rpk", other.pubFile]);
    assert.equal(w.exitCode, EXIT.Dtls);
    assert.match(w.reason, /^DTLS: RpkMismatch\b/);
  });
});

test("PKI (X.509, mutual): GET /time with usage 2 and usage 0, SNI checked; an untrusted CA is refused", async (t) => {
  if (!requirePeer(t, COAP_SERVER_GNUTLS) || !requirePeer(t, "openssl")) return;
  const pki = new Pki();
  try {
    const root = pki.root("root"), other = pki.root("other");
    const srv = pki.issue("srv", root, { subject: "/CN=coap.example.com", san: "DNS:coap.example.com,IP:127.0.0.1" });
    const cli = pki.issue("cli", root, { subject: "/CN=device1" });
    const s = await startCoapGnutlsServer({ pki: { certFile: srv.certFile, keyFile: srv.keyFile, caFile: root.certFile } });
    await withServer(s, async () => {
      const base = ["--cert", cli.certFile, "--key", cli.keyFile];
      const r = await run([`coaps://127.0.0.1:${s.dtlsPort}/time`, ...base, "--ca", root.certFile]);
      assert.equal(r.exitCode, EXIT.Ok, `${r.reason}\n${out()}\n${s.peer.output}`);
      assert.equal(r.suite, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8");
      assert.equal(r.code, 0x45);
      assert.match(Buffer.from(r.payload!).toString(), /\d\d:\d\d:\d\d/);

      const c0 = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, ...base, "--ca", root.certFile, "--cert-usage", "0",
        "--sni", "coap.example.com", "--cipher", "ECDHE-ECDSA-AES128-SHA256"]);
      assert.equal(c0.exitCode, EXIT.Ok, `${c0.reason}\n${out()}`);
      assert.equal(c0.suite, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256");
      assert.match(Buffer.from(c0.payload!).toString(), DEFAULT_TEXT);

      // usage 3 (direct trust, DTLS-5): resource 4 is the server's own certificate
      const d = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, ...base, "--cert-usage", "3", "--server-cert", srv.certFile]);
      assert.equal(d.exitCode, EXIT.Ok, `${d.reason}\n${out()}`);
      assert.equal(d.code, 0x45);
      const d2 = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, ...base, "--cert-usage", "3", "--server-cert", cli.certFile]);
      assert.equal(d2.exitCode, EXIT.Dtls);
      assert.equal(d2.reason, "DTLS: BadCertificate (x509: CertMismatch)");

      const w = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, ...base, "--ca", other.certFile]);
      assert.equal(w.exitCode, EXIT.Dtls);
      assert.equal(w.reason, "DTLS: BadCertificate (x509: UntrustedIssuer)");

      const n = await run([`coaps://127.0.0.1:${s.dtlsPort}/`, ...base, "--ca", root.certFile, "--sni", "other.example.com"]);
      assert.equal(n.exitCode, EXIT.Dtls);
      assert.equal(n.reason, "DTLS: BadCertificate (x509: HostnameMismatch)");
    });
  } finally {
    pki.cleanup();
  }
});

test("the CLI itself: exit status and the reason on stderr (spawned, PSK)", async (t) => {
  if (!requirePeer(t, COAP_SERVER_GNUTLS)) return;
  const s = await startCoapGnutlsServer({ psk: { key: "k3y" } });
  await withServer(s, async () => {
    const cli = (extra: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(__dirname, "..", "host-shim", "node", "probe.ts"),
      `coaps://127.0.0.1:${s.dtlsPort}/`, "--psk-identity", "id", "--psk-key", Buffer.from("k3y").toString("hex"), "--wasm", probeWasm(), ...extra],
    { encoding: "utf8", timeout: 20000 });
    // spawnSync blocks the loop, but the server is another process
    const ok = cli([]);
    assert.equal(ok.status, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /TLS_PSK_WITH_AES_128_CCM_8/);
    assert.match(ok.stdout, /2\.05 Content/);
    const bad = cli(["--cipher", "ECDHE-ECDSA-AES128-CCM8"]);
    assert.equal(bad.status, EXIT.Dtls, bad.stderr);
    assert.match(bad.stderr, /probe failed: DTLS: NoSuites/);
  });
});
