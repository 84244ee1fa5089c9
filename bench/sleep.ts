// Sessions across sleep (issue 10, DTLS-10 / LPWA-1): the real firmware in the
// Node host (build/firmware.wasm in Device), power-cycled the way
// `lwm2m-wasm device --sleep` does it (prepare_sleep: close_notify, the session
// sealed in the store; a new module instance on the same flash and SE).
//   - the abbreviated handshake after a reboot against `openssl s_server
//     -dtls1_2 -no_ticket` (its cookie exchange included) and against our
//     development LwM2M Server (DTLS server role with its session cache);
//   - wake -> registration acknowledged: firmware time (time inside the
//     module's exports), boot self-tests and the rest of init reported apart;
//   - bytes per day for a device that wakes every 15 minutes.
// Bytes are UDP payload, both directions, counted at the device's socket.
import { join } from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { Device, type DeviceOptions } from "../host-shim/node/device";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { UdpNet } from "../host-shim/node/net";
import { startOpensslServer } from "../test/helpers/openssl-peer";
import { startDevServers } from "../server/index";
import { exampleDevices } from "../server/cli";
import { type Row, verdict, median } from "./report";
import { parseRecords } from "./relay";
import { natPcap } from "../test/helpers/nat";

const ROOT = join(__dirname, "..");
const SECTION = "Sessions across sleep (issue 10)";
const WAKES_PER_DAY = 96; // every 15 minutes
const TINYDTLS_FULL = 472; // tinydtls-style full PSK-CCM_8 handshake with cookie (DESIGN.md budgets)

/** Counts the device's datagrams by phase: the handshake (until "DTLS: established"), then the exchange. */
class PhaseNet {
  udp: UdpNet;
  phase: "handshake" | "exchange" | "close" | "off" = "off";
  c = { handshake: { bytes: 0, dgs: 0 }, exchange: { bytes: 0, dgs: 0 }, close: { bytes: 0, dgs: 0 } };
  dev!: Device;
  /** The handshake phase's datagrams (dir, bytes), for the per-message breakdown. */
  hsLog: { up: boolean; d: Uint8Array }[] = [];
  constructor() { this.udp = new UdpNet((peer, d) => { this.count(d, false); this.dev.deliver(peer, d); }); }
  private count(d: Uint8Array, up: boolean) {
    if (this.phase === "off") return;
    this.c[this.phase].bytes += d.length;
    this.c[this.phase].dgs++;
    if (this.phase === "handshake") this.hsLog.push({ up, d: Uint8Array.from(d) });
  }
  reset() { this.c = { handshake: { bytes: 0, dgs: 0 }, exchange: { bytes: 0, dgs: 0 }, close: { bytes: 0, dgs: 0 } }; this.hsLog = []; this.phase = "handshake"; }
  open(host: string, port: number) { return this.udp.open(host, port); }
  send(peer: number, data: Uint8Array) { this.count(data, true); return this.udp.send(peer, data); }
  close(peer: number) { this.udp.close(peer); }
  closeAll() { this.udp.closeAll(); }
}

/** One line per DTLS record of a handshake (RFC 6347 4.1: 13-byte record header; plaintext handshake
 *  messages by type, all of a record's: RFC 6347 4.2.3), e.g. "s2c 120 B: ServerHello+ServerHelloDone 120 B". */
const HS_NAMES: Record<number, string> = { 1: "ClientHello", 2: "ServerHello", 3: "HelloVerifyRequest", 4: "NewSessionTicket", 11: "Certificate", 12: "ServerKeyExchange", 14: "ServerHelloDone", 16: "ClientKeyExchange" };
export function recordBreakdown(log: { up: boolean; d: Uint8Array }[]): string[] {
  const out: string[] = [];
  for (const { up, d } of log) {
    const parts: string[] = [];
    for (const r of parseRecords(d)) {
      const name = r.type === 20 ? "ChangeCipherSpec" : r.type === 21 ? "Alert" : r.type === 23 ? "ApplicationData"
        : r.type === 22 && r.epoch === 0 ? (r.fragments ?? []).map((f) => { const t = Number(f.split("/")[0]); return HS_NAMES[t] ?? `handshake ${t}`; }).join("+")
        : r.type === 22 ? "Finished (encrypted)" : `type ${r.type}`;
      parts.push(`${name} ${13 + r.length} B`);
    }
    out.push(`${up ? "c2s" : "s2c"} ${d.length} B: ${parts.join(" + ")}`);
  }
  return out;
}

const sumDir = (log: { up: boolean; d: Uint8Array }[] | undefined, up: boolean) => (log ?? []).filter((x) => x.up === up).reduce((n, x) => n + x.d.length, 0);

/** tshark's dissection of a handshake (the independent check of the breakdown): per DTLS record,
 *  direction, content type, handshake type, record length, and for the hellos the session ID,
 *  cookie, cipher suites and extensions; null when tshark is not installed. */
export function tsharkBreakdown(log: { up: boolean; d: Uint8Array }[]): string[] | null {
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-bench-hs-"));
  try {
    const cap = join(dir, "hs.pcap");
    writeFileSync(cap, natPcap(log.map(({ up, d }) => ({ up, outerPort: 40000, d: Buffer.from(d) }))));
    const f = ["udp.srcport", "dtls.record.content_type", "dtls.handshake.type", "dtls.record.length", "dtls.handshake.session_id_length",
      "dtls.handshake.cookie_length", "dtls.handshake.cipher_suites_length", "dtls.handshake.ciphersuite", "dtls.handshake.extensions_length", "dtls.handshake.extension.type"];
    const out = execFileSync("tshark", ["-r", cap, "-d", "udp.port==5684,dtls", "-T", "fields", "-E", "separator=|", "-E", "aggregator=,", ...f.flatMap((x) => ["-e", x])],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return out.trim().split("\n").map((l) => {
      const [port, ct, hs, len, sid, cookie, csl, cs, extl, ext] = l.split("|");
      const dirName = port === "5684" ? "s2c" : "c2s";
      const hello = sid ? ` session_id ${sid} B, cookie ${cookie || "-"} B, cipher_suites ${csl || "-"} B (${cs}), extensions ${extl || 0} B (types ${ext || "none"})` : "";
      return `${dirName} content_type ${ct} handshake ${hs || "-"} record_length ${len}${hello}`;
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Wake { hsLog?: { up: boolean; d: Uint8Array }[]; handshake: { bytes: number; dgs: number }; exchange: { bytes: number; dgs: number }; close?: { bytes: number; dgs: number }; resumed: boolean; callMs: number; initMs: number; selfTestMs: number }

/** One boot (first: provision) until the registration is acknowledged. */
async function boot(dev: Device, net: PhaseNet, provision: (() => void) | null, untilEstablished: boolean): Promise<Wake> {
  net.reset();
  let established = "";
  let onEstablished = () => {};
  // the handshake ends at "established"; a connection kept across sleep has none (firmware/keep.ts)
  const onLog = (l: { text: string }) => { if (/^DTLS: established|connection kept across sleep, no handshake/.test(l.text)) { established = l.text; net.phase = "exchange"; onEstablished(); } };
  dev.on("log", onLog);
  // firmware time: every export call of this boot, timed; init's self-tests (SE keygen/sign/verify/ECDH
  // in the host) are timed apart through the SE
  const holder = dev as unknown as { exports: Record<string, (...a: unknown[]) => unknown> };
  const x = { ...holder.exports }; // the instance's exports object is frozen: the Device calls a timed copy
  holder.exports = x;
  let callMs = 0, initMs = 0, selfTestMs = 0;
  const se = dev.se as unknown as Record<string, (...a: unknown[]) => unknown>;
  const seOrig: Record<string, (...a: unknown[]) => unknown> = {};
  let inInit = false;
  for (const k of ["generate", "signDigest", "verifyDigest", "ecdh", "destroy"]) {
    if (typeof se[k] !== "function") continue;
    seOrig[k] = se[k];
    se[k] = (...a: unknown[]) => { const t = performance.now(); try { return seOrig[k].apply(dev.se, a); } finally { if (inInit) selfTestMs += performance.now() - t; } };
  }
  for (const k of ["init", "datagram_received", "timer_fired", "poll", "provision_finish"]) {
    const f = x[k];
    x[k] = (...a: unknown[]) => { const t = performance.now(); inInit = k === "init"; try { return f(...a); } finally { const d = performance.now() - t; callMs += d; if (k === "init") initMs += d; inInit = false; } };
  }
  const done = new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no registration in 10 s: ${dev.logs.slice(-5).map((l) => l.text).join(" | ")}`)), 10_000);
    if (untilEstablished) onEstablished = () => { clearTimeout(t); setImmediate(res); }; // s_server never answers CoAP
    else {
      const ok = (e: { name: string }) => { if (e.name === "registered" || e.name === "updated") { clearTimeout(t); dev.off("event", ok); res(); } };
      dev.on("event", ok);
    }
  });
  if (provision) { dev.start(); provision(); } else dev.start();
  await done;
  dev.off("log", onLog);
  for (const k of Object.keys(seOrig)) se[k] = seOrig[k];
  return { hsLog: net.hsLog, handshake: { ...net.c.handshake }, exchange: { ...net.c.exchange }, resumed: /resumed|connection kept/.test(established), callMs, initMs, selfTestMs };
}

/** Power cycle like `device --sleep`: prepare_sleep, then a new module instance on the same flash and SE. */
function wakeDevice(flash: NorFlash, se: SimulatedSecureElement, net: PhaseNet, opts: DeviceOptions = {}): Device {
  const dev = new Device({ flash, se, net, ...opts });
  net.dev = dev;
  return dev;
}

async function cycle(uri: string, identity: string, keyHex: string, endpoint: string, wakes: number, untilEstablished = false, opts: DeviceOptions = {}) {
  const flash = new NorFlash();
  const se = new SimulatedSecureElement();
  const net = new PhaseNet();
  let dev = wakeDevice(flash, se, net, opts);
  const first = await boot(dev, net, () => dev.provision({ endpoint, servers: [{ uri, shortServerId: 1, lifetime: 300, securityMode: "psk", pskIdentity: identity, pskKey: keyHex }] }), untilEstablished);
  const after: Wake[] = [];
  /** prepare_sleep; its close_notify counted with the wake before it */
  const sleep = async (w: Wake) => { net.phase = "close"; await dev.prepareSleep(); w.close = { ...net.c.close }; };
  await sleep(first);
  for (let i = 0; i < wakes; i++) {
    dev = wakeDevice(flash, se, net, opts);
    const w = await boot(dev, net, null, untilEstablished);
    after.push(w);
    await sleep(w);
  }
  net.closeAll();
  return { first, after };
}

export async function sleepRows(o: { rounds: number; log: (s: string) => void }): Promise<Row[]> {
  const rows: Row[] = [];
  const wakes = Math.max(3, Math.min(o.rounds, 15));
  // 1. against openssl s_server (session ID; its cookie exchange on every handshake)
  const PSK = "0102030405060708090a0b0c0d0e0f10";
  let ossl: Awaited<ReturnType<typeof cycle>> | null = null;
  try {
    o.log("sleep: reboot + resumption against openssl s_server -no_ticket");
    const srv = await startOpensslServer(["-psk", PSK, "-psk_identity", "bench-id", "-nocert", "-cipher", "PSK-AES128-CCM8", "-no_ticket"]);
    try { ossl = await cycle(`coaps://127.0.0.1:${srv.port}`, "bench-id", PSK, "bench-sleep", wakes, true); } finally { await srv.stop(); }
  } catch (e) {
    rows.push({ id: "sleep.abbr.openssl", section: SECTION, metric: "abbreviated handshake after a reboot, vs openssl s_server", unit: "B", ours: null, peer: null, budget: null, status: (e as Error).message.includes("ENOENT") ? "peer missing" : "error", note: (e as Error).message.split("\n")[0] });
  }
  if (ossl) {
    const a = ossl.after[0];
    const allResumed = ossl.after.every((w) => w.resumed);
    rows.push({
      id: "sleep.abbr.openssl", section: SECTION, metric: "abbreviated handshake after a reboot, vs openssl s_server -no_ticket (cookie exchange included)", unit: "B",
      ours: { value: a.handshake.bytes, text: `${a.handshake.bytes} B / ${a.handshake.dgs} dg`, detail: { wakes: ossl.after.map((w) => w.handshake), full: ossl.first.handshake, messages: recordBreakdown(a.hsLog ?? []), tshark: tsharkBreakdown(a.hsLog ?? []) } },
      peer: null, budget: { max: 450, text: "≤ 450 B" },
      status: allResumed ? verdict(a.handshake.bytes, { max: 450, text: "" }) : "error",
      note: allResumed ? `ours ${sumDir(a.hsLog, true)} B, s_server's ${sumDir(a.hsLog, false)} B (its cookie exchange: the ClientHello twice; per message in detail.messages / detail.tshark, the floor in docs/bench.md); full handshake at first boot ${ossl.first.handshake.bytes} B / ${ossl.first.handshake.dgs} dg; OpenSSL's own client resuming: the dtls rows (s_client -sess_in)` : "a wake did NOT resume",
    });
  }
  // 2. against our development LwM2M Server (DTLS server role, session cache)
  let ours: Awaited<ReturnType<typeof cycle>> | null = null;
  let cid: Awaited<ReturnType<typeof cycle>> | null = null;
  let kept: Awaited<ReturnType<typeof cycle>> | null = null;
  try {
    o.log("sleep: reboot + resumption against the development LwM2M Server");
    const pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-bench-sleep-"));
    const servers = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: join(ROOT, "server/dev-config.json"), log: false, secure: { pkiDir } });
    try {
      const e = exampleDevices(servers, null, pkiDir).find((x) => x.mode === "psk")!;
      const opt = (n: string) => e.args[e.args.indexOf(n) + 1];
      ours = await cycle(opt("--server"), opt("--psk-identity"), opt("--psk-key"), e.endpoint, wakes);
      // the same with a Connection ID (4 bytes ours, the server's 8), resumed at each wake; then kept across sleep
      o.log("sleep: with a Connection ID (resumption), and the connection kept across sleep");
      cid = await cycle(opt("--server"), opt("--psk-identity"), opt("--psk-key"), e.endpoint, wakes, false, { connectionId: 4 });
      kept = await cycle(opt("--server"), opt("--psk-identity"), opt("--psk-key"), e.endpoint, wakes, false, { connectionId: 4, sleepMode: "keep" });
    } finally { await servers.close(); rmSync(pkiDir, { recursive: true, force: true }); }
  } catch (e) {
    rows.push({ id: "sleep.abbr.ours", section: SECTION, metric: "abbreviated handshake after a reboot, our client ↔ our server", unit: "B", ours: null, peer: null, budget: null, status: "error", note: (e as Error).message.split("\n")[0] });
  }
  if (ours) {
    const a = ours.after[0];
    const allResumed = ours.after.every((w) => w.resumed);
    rows.push({
      id: "sleep.abbr.ours", section: SECTION, metric: "abbreviated handshake after a reboot, our client ↔ our development server", unit: "B",
      ours: { value: a.handshake.bytes, text: `${a.handshake.bytes} B / ${a.handshake.dgs} dg` }, peer: null, budget: { max: 350, text: "≤ 350 B" },
      status: allResumed ? verdict(a.handshake.bytes, { max: 350, text: "" }) : "error",
      note: allResumed ? `full handshake at first boot ${ours.first.handshake.bytes} B / ${ours.first.handshake.dgs} dg; no cookie exchange on resumption (RFC 6347 4.2.1)` : "a wake did NOT resume",
    });
    const fw = median(ours.after.map((w) => w.callMs - w.selfTestMs));
    rows.push({
      id: "sleep.wake.firmware-ms", section: SECTION, metric: "wake → Update acknowledged, resumed, loopback: firmware time (boot self-tests excluded)", unit: "ms",
      ours: { value: Math.round(fw * 100) / 100, text: `${fw.toFixed(2)} ms`, detail: { samples: ours.after.map((w) => ({ callMs: w.callMs, initMs: w.initMs, selfTestMs: w.selfTestMs })) } },
      peer: null, budget: { max: 5, text: "≤ 5 ms" }, status: verdict(fw, { max: 5, text: "" }),
      note: `median of ${ours.after.length} wakes; time inside the module's exports (init without the SE self-test, the handshake, the Update and its 2.04); self-tests ${median(ours.after.map((w) => w.selfTestMs)).toFixed(1)} ms apart. the wake's request is an Update of the registration sealed at prepare_sleep`,
    });
    // 3. bytes per day, a wake every 15 minutes
    const exOf = (c: NonNullable<typeof ours>) => median(c.after.map((w) => w.exchange.bytes + (w.close?.bytes ?? 0)));
    const ex0 = exOf(ours);
    const add = (id: string, metric: string, hs: number | null, note: string, ex = ex0, what = "Update, 2.04 and close_notify") => rows.push({
      id: `sleep.day.${id}`, section: SECTION, metric, unit: "B/day",
      ours: hs === null ? null : { value: WAKES_PER_DAY * (hs + ex), text: `${WAKES_PER_DAY * (hs + ex)} B/day (${hs} B handshake + ${ex} B ${what} per wake)` },
      peer: null, budget: null, status: hs === null ? "not yet measured" : "info", note,
    });
    add("tinydtls-full", "bytes per day, 96 wakes: tinydtls-style full handshake every wake (reference)", TINYDTLS_FULL, "472 B reference handshake (DESIGN.md) + our measured exchange");
    add("full", "bytes per day, 96 wakes: our full handshake every wake", ours.first.handshake.bytes, "our client ↔ our development server");
    add("resumed", "bytes per day, 96 wakes: resumption from the sealed session", a.handshake.bytes, "our client ↔ our development server");
    const resumedAll = (c: typeof cid) => !!c && c.after.every((w) => w.resumed);
    add("cid", "bytes per day, 96 wakes: resumption with a Connection ID (RFC 9146, device --cid 4)", resumedAll(cid) ? cid!.after[0].handshake.bytes : null,
      resumedAll(cid) ? `our client ↔ our development server; CID 4 B ours, 8 B the server's; full handshake at first boot ${cid!.first.handshake.bytes} B` : "a wake did NOT resume", cid ? exOf(cid) : ex0);
    const keptAll = !!kept && kept.after.every((w) => w.resumed && w.handshake.bytes === 0);
    add("kept", "bytes per day, 96 wakes: connection kept across sleep (no handshake, device --sleep-mode keep --cid 4)", keptAll ? 0 : null,
      keptAll ? "our client ↔ our development server; the server finds the connection by its CID from the wake's new port; no close_notify at prepare_sleep" : "a wake did NOT keep the connection",
      kept ? exOf(kept) : ex0, "Update and 2.04");
  }
  return rows;
}
