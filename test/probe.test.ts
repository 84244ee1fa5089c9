// `lwm2m-wasm probe`: argument parsing and usage errors, the firmware check,
// and the probe's CoAP GET state machine over NoSec (coap://) against a
// scripted UDP server (piggybacked and separate responses, Reset,
// retransmission) and libcoap's plain port. The DTLS modes are in
// probe-coap-gnutls.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { startCoapGnutlsServer, COAP_SERVER_GNUTLS, probeWasm } from "./helpers/coap-gnutls-peer";
import { probe, parseProbeArgs, runProbe, EXIT, PROBE_USAGE, type ProbeResult } from "../host-shim/node/probe";
import { ROOT } from "./helpers/wasm";

const usageError = (argv: string[], re: RegExp) =>
  assert.throws(() => parseProbeArgs(argv), (e: Error) => re.test(e.message), `${argv.join(" ")} should fail with ${re}`);

test("arguments: URI forms, credentials, options and their errors", () => {
  const a = parseProbeArgs(["coaps://example.com/a/b%20c", "--psk-identity", "id", "--psk-key", "0aFF", "--mfl", "1024", "--sni", "s.example",
    "--cipher", "psk-aes128-ccm8,ECDHE-PSK-AES128-CBC-SHA256", "--timeout", "3"]);
  assert.equal(a.scheme, "coaps");
  assert.equal(a.host, "example.com");
  assert.equal(a.port, 5684);
  assert.equal(a.path, "a/b c");
  assert.deepEqual([...a.psk!.key], [0x0a, 0xff]);
  assert.equal(a.suites, 1 | 4);
  assert.equal(a.mfl, 2);
  assert.equal(a.sni, "s.example");
  assert.equal(a.timeoutS, 3);
  const n = parseProbeArgs(["coap://[::1]:7000"]);
  assert.deepEqual([n.scheme, n.host, n.port, n.path], ["coap", "[::1]", 7000, ""]);
  // DTLS-3: --low-entropy alone narrows the offer to ECDHE-PSK
  assert.equal(parseProbeArgs(["coaps://h/", "--psk-identity", "i", "--psk-key", "00", "--low-entropy"]).suites, 4);

  usageError([], /no URI/);
  usageError(["http://h/"], /not a coap/);
  usageError(["coaps://h:0/"], /bad port/);
  usageError(["coaps://h/"], /needs credentials/);
  usageError(["coap://h/", "--psk-identity", "i", "--psk-key", "00"], /NoSec/);
  usageError(["coaps://h/", "--psk-identity", "i"], /both --psk-identity and --psk-key/);
  usageError(["coaps://h/", "--psk-identity", "i", "--psk-key", "0g"], /hex/);
  usageError(["coaps://h/", "--psk-identity", "i", "--psk-key", "00".repeat(65)], /at most 64/);
  usageError(["coaps://h/", "--psk-identity", "i", "--psk-key", "00", "--rpk-key", "k"], /one credential mode/);
  usageError(["coaps://h/", "--rpk-key", "k"], /both --rpk-key and --server-rpk/);
  usageError(["coaps://h/", "--rpk-key", "/nonexistent.pem", "--server-rpk", "/nonexistent.pub"], /--rpk-key \/nonexistent.pem/);
  usageError(["coaps://h/", "--cert", "c", "--key", "k"], /--cert, --key and --ca/);
  usageError(["coaps://h/", "--cert", "c", "--key", "k", "--server-cert", "s"], /--cert-usage 2 needs --ca/);
  usageError(["coaps://h/", "--psk-identity", "i", "--psk-key", "00", "--cipher", "AES256-SHA"], /unknown suite/);
  usageError(["coaps://h/", "--psk-identity", "i", "--psk-key", "00", "--mfl", "256"], /--mfl/);
  usageError(["coaps://h/", "--psk-identity", "i", "--psk-key", "00", "--timeout", "x"], /--timeout/);
  usageError(["coaps://h/", "--bogus"], /unknown option --bogus/);
  usageError(["coaps://h/", "--psk-key"], /needs a value/);
  assert.match(PROBE_USAGE, /--psk-identity ID --psk-key HEX \[--low-entropy\]/);
});

test("runProbe: usage errors exit 2; a module without the probe exports fails with a clear message", async () => {
  const err = console.error;
  const seen: string[] = [];
  console.error = (...x: unknown[]) => { seen.push(x.join(" ")); };
  try {
    assert.equal(await runProbe(["coaps://h/"]), EXIT.Usage);
    assert.match(seen.join("\n"), /probe: coaps:\/\/ needs credentials[\s\S]*usage: lwm2m-wasm probe/);
    seen.length = 0;
    assert.equal(await runProbe(["--help"]), EXIT.Ok);
  } finally {
    console.error = err;
  }
  const r = await probe(parseProbeArgs(["coap://127.0.0.1:9/", "--wasm", join(ROOT, "build", "test", "cbor.wasm")]));
  assert.equal(r.exitCode, EXIT.Other);
  assert.match(r.reason, /has no probe \(missing exports: probe_reset, .*rebuild/);
  const m = await probe(parseProbeArgs(["coap://127.0.0.1:9/", "--wasm", "/nonexistent.wasm"]));
  assert.equal(m.exitCode, EXIT.Other);
  assert.match(m.reason, /no firmware at \/nonexistent\.wasm/);
});

/** A scripted CoAP server on 127.0.0.1: `answer` gets each datagram and returns the replies. */
async function scripted(answer: (d: Buffer, n: number) => Buffer[]): Promise<{ port: number; got: Buffer[]; close(): Promise<void> }> {
  const sock = dgram.createSocket("udp4");
  const got: Buffer[] = [];
  sock.on("message", (m, r) => {
    got.push(m);
    for (const reply of answer(m, got.length - 1)) sock.send(reply, r.port, r.address);
  });
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", () => res()));
  return { port: sock.address().port, got, close: () => new Promise<void>((res) => sock.close(() => res())) };
}
const tokenOf = (d: Buffer) => d.subarray(4, 4 + (d[0] & 15));
const midOf = (d: Buffer) => d.readUInt16BE(2);
const mid2 = (m: number) => [m >> 8, m & 255];

async function nosec(port: number, path: string): Promise<{ r: ProbeResult; out: string }> {
  const lines: string[] = [];
  const r = await probe(parseProbeArgs([`coap://127.0.0.1:${port}/${path}`, "--wasm", probeWasm(), "--timeout", "15", "--ack-timeout", "200"]),
    (l) => lines.push(l));
  return { r, out: lines.join("\n") };
}

test("NoSec GET: CON with a 4-byte token and one Uri-Path per segment; piggybacked 2.05 with text", async () => {
  const s = await scripted((d) => [Buffer.concat([Buffer.from([0x60 | 4, 0x45, ...mid2(midOf(d))]), tokenOf(d), Buffer.from([0xc0, 0xff]), Buffer.from("hello\n")])]);
  try {
    const { r, out } = await nosec(s.port, "a/bb/ccc");
    assert.equal(r.exitCode, EXIT.Ok, r.reason);
    assert.equal(r.code, 0x45);
    assert.equal(Buffer.from(r.payload!).toString(), "hello\n");
    assert.match(out, /NoSec .*no encryption/);
    assert.match(out, /response: 2\.05 Content \(text\/plain\)/);
    const req = s.got[0];
    assert.equal(req[0], 0x44); // ver 1, CON, TKL 4
    assert.equal(req[1], 0x01); // GET
    // Uri-Path (11) "a", then delta 0 "bb", "ccc"; nothing else
    assert.deepEqual([...req.subarray(8)], [0xb1, 0x61, 0x02, 0x62, 0x62, 0x03, 0x63, 0x63, 0x63]);
    assert.deepEqual(r.stats, { bytesSent: req.length, bytesReceived: 4 + 4 + 2 + 6, datagramsSent: 1, datagramsReceived: 1 });
  } finally { await s.close(); }
});

test("NoSec GET: empty ACK then a separate CON response, which the probe acknowledges (RFC 7252 5.2.2)", async () => {
  const s = await scripted((d, n) => {
    if (n > 0) return [];
    const tok = tokenOf(d);
    return [Buffer.from([0x60, 0x00, ...mid2(midOf(d))]),
      Buffer.concat([Buffer.from([0x40 | 4, 0x84, 0x77, 0x77]), tok])];
  });
  try {
    const { r } = await nosec(s.port, "");
    assert.equal(r.exitCode, EXIT.Response);
    assert.equal(r.reason, "response 4.04 Not Found");
    assert.equal(r.code, 0x84);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(s.got.length, 2);
    assert.deepEqual([...s.got[1]], [0x60, 0x00, 0x77, 0x77]); // empty ACK of MID 0x7777
  } finally { await s.close(); }
});

test("NoSec GET: a lost first request is retransmitted with the same MID and token; a Reset is a failure (exit 4)", async () => {
  const s = await scripted((d, n) => (n === 0 ? [] : [Buffer.from([0x70, 0x00, ...mid2(midOf(d))])]));
  try {
    const { r } = await nosec(s.port, "x");
    assert.equal(r.exitCode, EXIT.Coap);
    assert.equal(r.reason, "CoAP: the server reset the GET (CoapReset)");
    assert.equal(s.got.length, 2);
    assert.deepEqual(s.got[0], s.got[1]);
  } finally { await s.close(); }
});

test("NoSec GET against libcoap's plain port: 2.05 with the default resource", async (t) => {
  if (!requirePeer(t, COAP_SERVER_GNUTLS)) return;
  const server = await startCoapGnutlsServer({ psk: { key: "unused" } });
  try {
    const { r } = await nosec(server.port, "");
    assert.equal(r.exitCode, EXIT.Ok, r.reason);
    assert.match(Buffer.from(r.payload!).toString(), /This is a test server made with libcoap/);
  } finally { await server.stop(); }
});

test("DTLS-3: --low-entropy with an explicit plain PSK suite is refused by the firmware before anything is sent", async () => {
  const r = await probe(parseProbeArgs(["coaps://127.0.0.1:9/", "--psk-identity", "i", "--psk-key", "31323334", "--low-entropy",
    "--cipher", "PSK-AES128-CCM8", "--wasm", probeWasm()]));
  assert.equal(r.exitCode, EXIT.Dtls);
  assert.equal(r.reason, "DTLS: LowEntropyPsk");
  assert.equal(r.stats!.bytesSent, 0);
});
