// tshark as an independent oracle for our DTLS wire format and key log
// (issue 3, deliverables 7 and 9): capture our client's exchange with
// coap-server-gnutls on loopback, write our NSS key log
// (CLIENT_RANDOM <client_random> <master_secret>), and let Wireshark's
// dissectors decrypt the TLS_PSK_WITH_AES_128_CCM_8 records and dissect the
// CoAP GET inside. Controls: without the key log, or with one bit of the
// master secret flipped, tshark must not see any CoAP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { PeerProcess } from "./helpers/openssl-peer";
import { startCoapGnutlsServer, COAP_SERVER_GNUTLS, probeWasm } from "./helpers/coap-gnutls-peer";
import { probe, parseProbeArgs, EXIT } from "../host-shim/node/probe";

/** dumpcap on lo for one UDP port, into file; resolves once it is capturing. */
async function startCapture(port: number, file: string): Promise<PeerProcess> {
  const args = ["-q", "-i", "lo", "-f", `udp port ${port}`, "-w", file];
  const proc = spawn("dumpcap", args, { stdio: ["pipe", "pipe", "pipe"] });
  const p = new PeerProcess(proc, port, ["dumpcap", ...args].join(" "));
  await p.waitFor(/Capturing on/, 5000);
  await new Promise((r) => setTimeout(r, 150)); // the BPF filter is attached right after the message
  return p;
}

/** tshark's fields of the CoAP messages it dissected (one line per message). */
function coapFields(cap: string, port: number, keylog: string): string[] {
  const out = execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${keylog}`, "-d", `udp.port==${port},dtls`,
    "-d", `dtls.port==${port},coap`, "-Y", "coap", "-T", "fields", "-E", "separator=|",
    "-e", "coap.type", "-e", "coap.code", "-e", "coap.token", "-e", "coap.opt.uri_path"],
  { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return out.split("\n").filter((l) => l.trim());
}

function infoColumn(cap: string, port: number, keylog: string): string {
  return execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${keylog}`, "-d", `udp.port==${port},dtls`],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

test("tshark decrypts our TLS_PSK_WITH_AES_128_CCM_8 capture with our key log and dissects the CoAP GET", async (t) => {
  for (const peer of ["tshark", "dumpcap", COAP_SERVER_GNUTLS]) if (!requirePeer(t, peer)) return;
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-tshark-"));
  const server = await startCoapGnutlsServer({ psk: { key: "tshark-psk" } });
  let cap: PeerProcess | undefined;
  try {
    const file = join(dir, "cap.pcapng"), keylog = join(dir, "keylog.txt");
    cap = await startCapture(server.dtlsPort, file);
    const lines: string[] = [];
    const r = await probe(parseProbeArgs([`coaps://127.0.0.1:${server.dtlsPort}/lwm2m/probe`, "--psk-identity", "tshark",
      "--psk-key", Buffer.from("tshark-psk").toString("hex"), "--cipher", "PSK-AES128-CCM8", "--keylog", keylog,
      "--wasm", probeWasm(), "--timeout", "10"]), (l) => lines.push(l));
    // libcoap has no /lwm2m/probe: 4.04 is its answer (the request still went through)
    assert.equal(r.exitCode, EXIT.Response, `${r.reason}\n${lines.join("\n")}`);
    assert.equal(r.code, 0x84);
    assert.equal(r.suite, "TLS_PSK_WITH_AES_128_CCM_8");
    await new Promise((res) => setTimeout(res, 200));
    await cap.stop();
    assert.ok(existsSync(file), `no capture: ${cap.output}`);

    const kl = readFileSync(keylog, "latin1").trim();
    assert.match(kl, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
    assert.equal(kl, r.keyLogLine);

    const coap = coapFields(file, server.dtlsPort, keylog);
    assert.equal(coap.length, 2, `tshark saw: ${coap.join("; ")}\n${infoColumn(file, server.dtlsPort, keylog)}`);
    const [req, resp] = coap.map((l) => l.split("|"));
    assert.equal(req[0], "0"); // CON
    assert.equal(req[1], "1"); // GET
    assert.equal(req[3], "lwm2m,probe"); // two Uri-Path options
    assert.equal(resp[0], "2"); // ACK (piggybacked)
    assert.equal(resp[1], String(0x84)); // 4.04
    assert.equal(resp[2], req[2]); // same token
    // the encrypted handshake messages decrypt too: both Finished are seen as such
    assert.equal((infoColumn(file, server.dtlsPort, keylog).match(/Finished/g) ?? []).length, 2);

    // controls: no key log, or one flipped bit in the master secret -> nothing decrypts
    const none = join(dir, "none.txt");
    writeFileSync(none, "");
    assert.deepEqual(coapFields(file, server.dtlsPort, none), []);
    const flipped = join(dir, "flipped.txt");
    const last = parseInt(kl.slice(-1), 16) ^ 1;
    writeFileSync(flipped, kl.slice(0, -1) + last.toString(16) + "\n");
    assert.deepEqual(coapFields(file, server.dtlsPort, flipped), []);
  } finally {
    await cap?.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
