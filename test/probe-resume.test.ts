// `lwm2m-wasm probe --resume` (DTLS-10): two connections, the second resumes
// the first one's session with an abbreviated handshake, whether or not the
// first GET got a CoAP answer. Against `openssl s_server -dtls1_2` (which
// never answers CoAP and logs "Reused session-id"), by session ID (-no_ticket)
// and by RFC 5077 ticket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { requirePeer } from "./helpers/peers";
import { startOpensslServer } from "./helpers/openssl-peer";
import { probeWasm } from "./helpers/coap-gnutls-peer";
import { probe, parseProbeArgs, EXIT } from "../host-shim/node/probe";

const PSK = "0102030405060708090a0b0c0d0e0f10";

async function resumeAgainstOpenssl(t: any, extra: string[]) {
  if (!requirePeer(t, "openssl")) return;
  const srv = await startOpensslServer(["-psk", PSK, "-psk_identity", "probe-id", "-nocert", "-cipher", "PSK-AES128-CCM8", ...extra]);
  try {
    const a = parseProbeArgs([`coaps://127.0.0.1:${srv.port}/x`, "--psk-identity", "probe-id", "--psk-key", PSK,
      "--resume", "--ack-timeout", "100", "--timeout", "20"]);
    a.wasm = probeWasm();
    const lines: string[] = [];
    const r = await probe(a, (l) => lines.push(l));
    const out = lines.join("\n");
    // s_server never answers the GET: the second connection ends in a CoAP timeout, resumed
    assert.match(out, /first connection: full handshake, no CoAP answer; session kept for resumption/);
    assert.match(out, /second connection: session resumed \(abbreviated handshake\)/);
    assert.equal(r.resumed, true);
    assert.equal(r.exitCode, EXIT.Coap, r.reason);
    await srv.waitFor(/Reused session-id/);
    assert.equal((srv.output.match(/Reused session-id/g) ?? []).length, 1);
    return r;
  } catch (e) {
    (e as Error).message += `\n--- ${srv.commandLine}\n${srv.output}`;
    throw e;
  } finally {
    await srv.stop();
  }
}

test("probe --resume by session ID (s_server -no_ticket): Reused session-id, no CoAP answer needed", async (t) => {
  await resumeAgainstOpenssl(t, ["-no_ticket"]);
});

test("probe --resume by RFC 5077 ticket: Reused session-id", async (t) => {
  await resumeAgainstOpenssl(t, []);
});

test("probe --resume against a server without a session cache: exit 7, said so", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  // -no_ticket and no session cache: nothing to resume
  const srv = await startOpensslServer(["-psk", PSK, "-psk_identity", "probe-id", "-nocert", "-cipher", "PSK-AES128-CCM8", "-no_ticket", "-no_cache"]);
  try {
    const a = parseProbeArgs([`coaps://127.0.0.1:${srv.port}/x`, "--psk-identity", "probe-id", "--psk-key", PSK,
      "--resume", "--ack-timeout", "100", "--timeout", "20"]);
    a.wasm = probeWasm();
    const lines: string[] = [];
    const r = await probe(a, (l) => lines.push(l));
    assert.equal(r.resumed, false, lines.join("\n"));
    assert.match(lines.join("\n"), /NOT resumable|NOT resumed/);
    assert.doesNotMatch(srv.output, /Reused session-id/);
  } finally {
    await srv.stop();
  }
});

test("--resume with coap:// is a usage error", () => {
  assert.throws(() => parseProbeArgs(["coap://127.0.0.1/x", "--resume"]), /--resume needs coaps:\/\//);
});
