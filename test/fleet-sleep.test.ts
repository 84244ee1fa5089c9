// `lwm2m-wasm fleet --sleep S --sleep-share F` (issue 12: sleep with
// resumption in the fleet's behaviour mix): sleepers power down after each
// Register / Update (prepare_sleep), their firmware instance is dropped, and a
// new one boots on the same flash and SE; the wake resumes the sealed DTLS
// session (abbreviated handshake) and Updates the kept registration. The
// fleet's report is checked against two records nobody in the fleet wrote:
// the development server's own counters (handshakes established / resumed,
// Register and Update requests it answered) and Wireshark's DTLS dissector
// on a capture of the server port (ServerHello flights with and without
// ServerHelloDone / Certificate / ServerKeyExchange).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, DEV_CONFIG_FILE, type Registration } from "../server/index";
import type { FleetReport } from "../host-shim/node/fleet";
import { captureUdpPort, stopCapture } from "./helpers/dumpcap";
import { runCli } from "./helpers/cli";



/** The server's first flights as tshark dissects them: per ServerHello (by its random), the handshake message types and whether a ChangeCipherSpec follows in the same datagram. */
function serverFlights(cap: string, port: number): { types: number[]; ccs: boolean }[] {
  const out = execFileSync("tshark", ["-r", cap, "-d", `udp.port==${port},dtls`, "-Y", `udp.srcport==${port} && dtls.handshake.type == 2`,
    "-T", "fields", "-E", "separator=|", "-e", "dtls.handshake.random", "-e", "dtls.handshake.type", "-e", "dtls.record.content_type"],
  { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const byRandom = new Map<string, { types: number[]; ccs: boolean }>();
  for (const line of out.split("\n").filter((l) => l.trim())) {
    const [random, types, contentTypes] = line.split("|");
    byRandom.set(random, { types: types.split(",").map(Number), ccs: contentTypes.split(",").map(Number).includes(20) });
  }
  return [...byRandom.values()];
}

test("fleet --sleep 1 --sleep-share 0.5: sleepers wake as new instances with abbreviated handshakes and Updates; the report matches the server's record and tshark", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-sleep-"));
  const dev = await startDevServers({ config: DEV_CONFIG_FILE, bootstrapPort: 0, serverPort: 0, log: false, secure: { pkiDir: join(dir, "pki") } });
  const secure = dev.serverTransports.secure!;
  const port = secure.address()!.port;
  const registers = new Map<string, number>(), updates = new Map<string, number>();
  const inc = (m: Map<string, number>) => (r: Registration) => m.set(r.endpoint, (m.get(r.endpoint) ?? 0) + 1);
  dev.server.on("registered", inc(registers));
  dev.server.on("updated", inc(updates));
  const cap = join(dir, "fleet.pcapng");
  const dumpcap = await captureUdpPort(port, cap, "the fleet's handshake kinds are");
  try {
    const report = join(dir, "report.json");
    const { code, out } = await runCli(["fleet", "--count", "8", "--endpoint-prefix", "fleet-s", "--server", dev.secureServerUri!,
      "--psk-identity", "{ep}", "--psk-key", "dev-kdf", "--rate", "0", "--duration", "4", "--sleep", "1", "--sleep-share", "0.5",
      "--report", report, "--quiet", "--logs", join(dir, "logs")]);
    assert.equal(code, 0, out);
    const r = JSON.parse(readFileSync(report, "utf8")) as FleetReport;
    assert.equal(r.registered, 8);
    assert.equal(r.deregistered, 8, "sleeping devices woke to de-register at the end");
    assert.equal(r.failed, 0);
    assert.deepEqual(r.failuresByReason, {});

    // the sleepers: every 2nd device; each slept and woke at least twice (4 s run, 1 s sleeps, plus the wake to de-register)
    const s = r.sleep;
    t.diagnostic(`sleep: ${JSON.stringify(s)}; handshakes full ${r.handshakesFull}, abbreviated ${r.handshakesAbbreviated}; server ${JSON.stringify(secure.stats)}`);
    assert.equal(s.devices, 4);
    assert.ok(s.wakes >= 8, `wakes: ${s.wakes}`);
    assert.equal(s.powerDowns, s.wakes, "every power-down woke (the last ones to de-register)");
    assert.equal(s.wakesAbbreviated, s.wakes, `every wake resumed its session: ${JSON.stringify(s)}`);
    assert.equal(s.wakesFull, 0);
    assert.equal(s.wakeUpdatesAcknowledged, s.wakes, "every wake's first request was an Update of the kept registration, acknowledged");
    assert.equal(s.wakeRegisters, 0);
    assert.ok(s.wakeToAcknowledgedMs.min! > 0 && s.wakeToAcknowledgedMs.min! <= s.wakeToAcknowledgedMs.max!);
    // one full handshake per device (its first), every other one abbreviated
    assert.equal(r.handshakesFull, 8);
    assert.equal(r.handshakesAbbreviated, s.wakes);
    assert.match(out, /DTLS handshakes full \/ abbreviated \(resumed\)\s+8 \/ \d+/);
    assert.match(out, /wakes: Update acknowledged \/ Register again\s+\d+ \/ 0/);

    // the server's own record: as many sessions resumed as the fleet counted abbreviated handshakes, one Register
    // per device, and an Update per wake (the non-sleepers' lifetime is 300 s: no Updates of their own)
    assert.equal(secure.stats.resumed, r.handshakesAbbreviated, JSON.stringify(secure.stats));
    assert.equal(secure.stats.established, r.handshakesFull + r.handshakesAbbreviated);
    let sleeperUpdates = 0;
    for (let n = 1; n <= 8; n++) {
      assert.equal(registers.get(`fleet-s${n}`), 1, `fleet-s${n}: one Register`);
      if (n % 2 === 0) {
        assert.ok((updates.get(`fleet-s${n}`) ?? 0) >= 2, `sleeper fleet-s${n}: ${JSON.stringify([...updates])}`);
        sleeperUpdates += updates.get(`fleet-s${n}`)!;
      } else {
        assert.equal(updates.get(`fleet-s${n}`), undefined, `fleet-s${n} does not sleep`);
      }
    }
    assert.equal(sleeperUpdates, s.wakes);
    // the log ring spans the power cycles
    assert.match(readFileSync(join(dir, "logs", "fleet-s2.log"), "utf8"), /resumed/);

    if (dumpcap) {
      await stopCapture(dumpcap);
      const flights = serverFlights(cap, port);
      t.diagnostic(`tshark: ${flights.length} server flights with a ServerHello: ${JSON.stringify(flights.slice(0, 2))} ... ${JSON.stringify(flights.slice(-1))}`);
      const full = flights.filter((f) => f.types.includes(14));
      const abbreviated = flights.filter((f) => !f.types.includes(14));
      assert.equal(full.length, r.handshakesFull, `tshark: ${JSON.stringify(flights)}`);
      assert.equal(abbreviated.length, r.handshakesAbbreviated);
      for (const f of abbreviated) {
        assert.ok(!f.types.includes(11) && !f.types.includes(12), `no Certificate / ServerKeyExchange in an abbreviated handshake: ${JSON.stringify(f)}`);
        assert.ok(f.ccs, `ChangeCipherSpec right after the ServerHello: ${JSON.stringify(f)}`);
      }
    }
  } finally {
    if (dumpcap && dumpcap.proc.exitCode === null) dumpcap.proc.kill("SIGKILL");
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
