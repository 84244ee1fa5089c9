// Fleet rows (issue 12): N simulated devices in one process registered over
// DTLS-PSK with the development LwM2M Server, resident memory per device and
// time to register them all.
//
// Two processes: the development servers run here (the bench process); the
// fleet is `lwm2m-wasm fleet` in a child process, so its resident set holds
// devices only. Each device registers straight with the LwM2M Server (the
// fleet-* entry of server/dev-config.json: identity = endpoint, key from the
// development KDF), started at --fleet-rate per second, and the fleet stops
// (every device de-registers) once all have registered.
//
// Resident per device = (RSS of the fleet process once every device has
// registered − its RSS after compiling the module, before the first device)
// / devices. Both after a full garbage collection (the CLI runs with
// --expose-gc and --max-semi-space-size=1). It is what the kernel says the
// process holds: 64 KiB linear memory per instance, the instance's own V8
// objects, the device's JS state (DRBG, SE, host imports, log ring), the
// programmed flash pages, one UDP socket per association, and the heap the
// collector keeps committed. Kernel socket buffers are not in it.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Row, verdict, kib } from "./report";
import { startDevServers, DEV_CONFIG_FILE } from "../server/index";
import type { FleetReport } from "../host-shim/node/fleet";

const ROOT = join(__dirname, "..");
const SECTION = "Fleet (lwm2m-wasm fleet)";
export const RESIDENT_PER_DEVICE_BUDGET = 128 * 1024;

/** The behaviour mix of the mix rows: `lwm2m-wasm fleet` flags (docs/bench.md). */
export const FLEET_MIX = { lifetimeS: 30, notifyEveryS: 5, notifyShare: 0.3, sleepS: 10, sleepShare: 0.1, sharedSockets: 4 };

interface ServerRecord {
  serverPeers: number; serverRssDelta: number; serverResumed: number; serverEstablished: number; notificationsReceived: number;
  serverCidRebinds: number; serverCidDropped: number;
}

/**
 * One fleet run in a child process. Without `mix`: every device registers, then the fleet stops. With `mix`:
 * the fleet runs `durationS` after its last start with the behaviour mix (Updates at 90 % of a short lifetime,
 * notifications to an observer of /3/0 the bench sets on every device, sleepers power-cycling), then stops.
 */
async function runFleet(count: number, rate: number, timeoutS: number, log: (s: string) => void,
  mix?: { durationS: number }): Promise<FleetReport & ServerRecord> {
  const dir = mkdtempSync(join(tmpdir(), "bench-fleet-"));
  const dev = await startDevServers({ config: DEV_CONFIG_FILE, bootstrapPort: 0, serverPort: 0, log: false, secure: { pkiDir: join(dir, "pki") } });
  let peak = 0, rssPeak = 0;
  const rss0 = process.memoryUsage().rss;
  let notificationsReceived = 0;
  if (mix) {
    // an observer on every device's Device Object instance: the notifiers' battery level changes (/3/0/9, created by the first
    // change: an Observe of the Resource itself before it would be 4.04) reach the server as notifications
    dev.server.on("registered", (r: { endpoint: string }) => {
      dev.server.observe(r.endpoint, "/3/0", () => { notificationsReceived++; }).catch(() => {});
    });
  }
  const sampler = setInterval(() => {
    peak = Math.max(peak, dev.serverTransports.secure?.peerCount ?? 0);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 500);
  try {
    const report = join(dir, "report.json");
    const behaviour = mix
      ? ["--duration", String(mix.durationS), "--lifetime", String(FLEET_MIX.lifetimeS), "--notify-every", String(FLEET_MIX.notifyEveryS),
        "--notify-share", String(FLEET_MIX.notifyShare), "--sleep", String(FLEET_MIX.sleepS), "--sleep-share", String(FLEET_MIX.sleepShare),
        "--shared-sockets", String(FLEET_MIX.sharedSockets)]
      : ["--stop-when-registered", "--duration", String(timeoutS)];
    const child = spawn(process.execPath, [join(ROOT, "bin", "lwm2m-wasm.js"), "fleet", "--count", String(count), "--endpoint-prefix", "fleet-bench-",
      "--server", dev.secureServerUri!, "--psk-identity", "{ep}", "--psk-key", "dev-kdf", "--rate", String(rate),
      ...behaviour, "--register-timeout", String(timeoutS), "--report", report], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => {
      out += d;
      const line = String(d).trim().split("\n").pop();
      if (line?.startsWith("fleet ")) log(line);
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    let r: FleetReport;
    try { r = JSON.parse(readFileSync(report, "utf8")); } catch { throw new Error(`the fleet wrote no report (exit ${code}): ${out.slice(-600)}`); }
    const st = dev.serverTransports.secure!.stats;
    return { ...r, serverPeers: peak, serverRssDelta: rssPeak - rss0, serverResumed: st.resumed, serverEstablished: st.established, notificationsReceived,
      serverCidRebinds: st.cidRebinds, serverCidDropped: st.cidDropped };
  } finally {
    clearInterval(sampler);
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What one node:dgram socket bound on loopback costs in resident memory (a child process, 2,000 sockets). */
function socketCost(): Promise<number> {
  const code = `const d=require("node:dgram");global.gc();const m0=process.memoryUsage().rss;const s=[];let n=0;
for(let i=0;i<2000;i++){const x=d.createSocket("udp4");x.on("message",()=>{});x.bind(0,"127.0.0.1",()=>{if(++n===2000){global.gc();
console.log((process.memoryUsage().rss-m0)/2000);process.exit(0)}});s.push(x)}`;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ["--expose-gc", "--max-semi-space-size=1", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d) => { out += d; });
    c.on("exit", () => (Number.isFinite(Number(out)) && out.trim() ? resolve(Number(out)) : reject(new Error("socket measurement failed"))));
  });
}

export async function fleetRows(o: { counts: number[]; rate: number; timeoutS: number; log: (s: string) => void; mix?: { count: number; durationS: number } }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [i, count] of o.counts.entries()) {
    const stretch = i > 0;
    const id = `fleet.psk.${count}`;
    o.log(`fleet: ${count} devices registering over DTLS-PSK (fleet child process, servers in the bench process)`);
    try {
      const r = await runFleet(count, o.rate, o.timeoutS, o.log);
      const perDevice = r.memory.rssPerDevice;
      const budget = { max: RESIDENT_PER_DEVICE_BUDGET, text: "≤ 128 KiB" };
      const all = r.registered === count;
      const t = r.timeToRegisterMs;
      rows.push({
        id: `${id}.resident`, section: SECTION, metric: `resident per device, ${count.toLocaleString("en")} devices over DTLS-PSK${stretch ? " (stretch)" : ""}`, unit: "B",
        ours: perDevice === null ? null : { value: perDevice, text: `${kib(perDevice)} (${r.registered}/${count} registered)`, detail: r.memory },
        peer: null, budget, status: !all ? "error" : verdict(perDevice, budget),
        note: `RSS delta of the fleet process / devices, after a full GC, measured when the last device registered (servers in another process); ` +
          `flash held ${kib(r.memory.flashResidentPerDevice ?? 0)}, JS heap ${kib(r.memory.heapPerDevice ?? 0)} a device; ${r.sockets.peak} UDP sockets (one per device, no shared sockets)` +
          (all ? "" : `; NOT all registered: ${JSON.stringify(r.failuresByReason)}`),
      });
      rows.push({
        id: `${id}.register-all`, section: SECTION, metric: `time to register all ${count.toLocaleString("en")} devices${stretch ? " (stretch)" : ""}`, unit: "ms",
        ours: r.allRegisteredMs === null ? null : {
          value: r.allRegisteredMs, text: `${(r.allRegisteredMs / 1000).toFixed(1)} s`,
          detail: {
            timeToRegisterMs: t, handshakes: r.handshakes, retransmissions: r.retransmissions, datagrams: r.datagrams, rate: o.rate,
            serverDtlsPeersPeak: r.serverPeers, serverRssDeltaBytes: r.serverRssDelta,
          },
        },
        peer: null, budget: null, status: all ? "info" : "error",
        note: `started at up to ${o.rate}/s; per device boot → registered min ${t.min} / median ${t.median} / p99 ${t.p99} / max ${t.max} ms; ` +
          `${r.handshakes} handshakes, ${r.retransmissions} retransmitted flights; the servers held ${r.serverPeers} DTLS sessions at most and grew by ` +
          `${kib(r.serverRssDelta / count)} RSS a client; 2 cores shared by the fleet, the servers and whatever else runs`,
      });
    } catch (e) {
      rows.push({ id: `${id}.resident`, section: SECTION, metric: `resident per device, ${count} devices over DTLS-PSK`, unit: "B", ours: null, peer: null,
        budget: { max: RESIDENT_PER_DEVICE_BUDGET, text: "≤ 128 KiB" }, status: "error", note: (e as Error).message.split("\n")[0] });
    }
  }
  if (o.mix) rows.push(...(await mixRows(o.mix.count, o.mix.durationS, o)));
  try {
    const perSocket = await socketCost();
    rows.push({
      id: "fleet.socket.resident", section: SECTION, metric: "resident per UDP socket (node:dgram, bound on loopback)", unit: "B",
      ours: { value: Math.round(perSocket), text: kib(perSocket) }, peer: null, budget: null, status: "info",
      note: "2,000 sockets in a child process, RSS delta after a full GC: what a socket of its own per device association costs (without an RFC 9146 Connection ID a DTLS 1.2 server tells clients apart by address and port only; the mix rows share 4)",
    });
  } catch (e) {
    rows.push({ id: "fleet.socket.resident", section: SECTION, metric: "resident per UDP socket", unit: "B", ours: null, peer: null, budget: null, status: "error", note: (e as Error).message });
  }
  return rows;
}

/** The rows of one run with the behaviour mix (FLEET_MIX): resident per device, time to register all, the wakes, sockets per device. */
async function mixRows(count: number, durationS: number, o: { rate: number; timeoutS: number; log: (s: string) => void }): Promise<Row[]> {
  const id = `fleet.mix.${count}`, n = count.toLocaleString("en");
  const m = FLEET_MIX;
  const mixText = `Update every ${Math.round(m.lifetimeS * 0.9)} s (lifetime ${m.lifetimeS} s), ${m.notifyShare * 100} % notifying every ${m.notifyEveryS} s, ` +
    `${m.sleepShare * 100} % sleeping ${m.sleepS} s after each Register / Update, ${m.sharedSockets} shared UDP sockets (RFC 9146 CIDs)`;
  const budget = { max: RESIDENT_PER_DEVICE_BUDGET, text: "≤ 128 KiB" };
  o.log(`fleet: ${count} devices with the behaviour mix for ${durationS} s after the last start (${mixText})`);
  let r: Awaited<ReturnType<typeof runFleet>>;
  try {
    r = await runFleet(count, o.rate, o.timeoutS, o.log, { durationS });
  } catch (e) {
    return [{ id: `${id}.resident`, section: SECTION, metric: `resident per device, ${n} devices with the behaviour mix`, unit: "B", ours: null, peer: null,
      budget, status: "error", note: (e as Error).message.split("\n")[0] }];
  }
  const all = r.registered === count;
  const perDevice = Math.max(r.memory.rssPerDevice ?? 0, r.memoryAtEnd.rssPerDevice ?? 0);
  const s = r.sleep, t = r.timeToRegisterMs, w = s.wakeToAcknowledgedMs;
  const matches = r.serverResumed === r.handshakesAbbreviated;
  return [
    {
      id: `${id}.resident`, section: SECTION, metric: `resident per device, ${n} devices with the behaviour mix`, unit: "B",
      ours: { value: perDevice, text: `${kib(perDevice)} (${r.registered}/${count} registered)`, detail: { atRegistered: r.memory, atEnd: r.memoryAtEnd } },
      peer: null, budget, status: !all ? "error" : verdict(perDevice, budget),
      note: `${mixText}; the larger of the RSS delta / devices when the last device registered (${kib(r.memory.rssPerDevice ?? 0)}) and at the end ` +
        `(${kib(r.memoryAtEnd.rssPerDevice ?? 0)}, ${r.memoryAtEnd.asleep} devices asleep: a sleeping device holds no firmware instance)` +
        (all ? "" : `; NOT all registered: ${JSON.stringify(r.failuresByReason)}`),
    },
    {
      id: `${id}.register-all`, section: SECTION, metric: `time to register all ${n} devices with the behaviour mix`, unit: "ms",
      ours: r.allRegisteredMs === null ? null : { value: r.allRegisteredMs, text: `${(r.allRegisteredMs / 1000).toFixed(1)} s`, detail: { timeToRegisterMs: t } },
      peer: null, budget: null, status: all ? "info" : "error",
      note: `started at up to ${o.rate}/s while the registered ones already Update, notify and sleep; boot → registered min ${t.min} / median ${t.median} / p99 ${t.p99} / max ${t.max} ms; ` +
        `${r.updates} Updates, ${r.notifications} notifications sent (${r.notificationsReceived} received by the server's observer)`,
    },
    {
      id: `${id}.wakes`, section: SECTION, metric: `wakes from deep sleep resumed (abbreviated handshake), ${n} devices with the behaviour mix`, unit: "wakes",
      ours: { value: s.wakesAbbreviated, text: `${s.wakesAbbreviated} / ${s.wakes}`, detail: { sleep: s, handshakesFull: r.handshakesFull, handshakesAbbreviated: r.handshakesAbbreviated, serverResumed: r.serverResumed, serverEstablished: r.serverEstablished } },
      peer: null, budget: null, status: s.wakes > 0 && s.wakesAbbreviated === s.wakes && matches ? "info" : "error",
      note: `${s.devices} sleepers, ${s.wakes} wakes (a new firmware instance on the kept flash and SE): ${s.wakesAbbreviated} abbreviated handshakes, ${s.wakesFull} full; ` +
        `${s.wakeUpdatesAcknowledged} Updates acknowledged, ${s.wakeRegisters} Registers again; wake → acknowledged median ${w.median} / p99 ${w.p99} / max ${w.max} ms; ` +
        `all handshakes ${r.handshakesFull} full / ${r.handshakesAbbreviated} abbreviated, the server counted ${r.serverResumed} resumed of ${r.serverEstablished}` +
        (matches ? "" : " (MISMATCH)"),
    },
    {
      id: `${id}.sockets`, section: SECTION, metric: `UDP sockets per device, ${n} devices with the behaviour mix`, unit: "sockets",
      ours: r.sockets.atAllRegistered === null ? null : {
        value: r.sockets.atAllRegistered / count, text: `${(r.sockets.atAllRegistered / count).toFixed(3)} (${r.sockets.atAllRegistered} when all had registered, peak ${r.sockets.peak})`,
        detail: { ...r.sockets, serverCidRebinds: r.serverCidRebinds, serverCidDropped: r.serverCidDropped },
      },
      peer: null, budget: null, status: r.sockets.moves > 0 && r.serverCidRebinds === r.sockets.moves ? "info" : "error",
      note: `${m.sharedSockets} sockets shared by all devices: a DTLS association handshakes on a socket of its own and moves to a shared one once ` +
        `the server uses its CID (${r.sockets.moves} moves, the server rebound ${r.serverCidRebinds} connections by CID and dropped ${r.serverCidDropped} CID records; ` +
        `${r.sockets.unroutable} datagrams for no device, the server's answers to close_notify); the peak is the handshakes in flight at once`,
    },
  ];
}
