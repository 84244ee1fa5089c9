// EST rows (issue 8, Security Mode 4):
// - code EST adds to build/firmware.wasm, per layer: the names-preserving
//   release build of this tree against the same build of this tree with the
//   EST seam closed (firmware/est-state.ts EST_ENABLED = false), function
//   bodies grouped by assembly/<layer>/ (bench/wasm.ts codeByLayer), after the
//   same wasm-opt -Oz pass; and the release firmware.wasm size of both;
// - RAM during an enrolment: the probe build (bench/ram.ts) of a device with
//   a factory mode-4 account enrolling at Cisco libest (crts + sen over DTLS
//   with its IDevID) and then opening DTLS with the enrolled certificate to
//   an `openssl s_server` trusting libest's CA: static memory + heap
//   high-water, against one 64 KiB page with >= 4 KiB headroom;
// - bytes on the wire (UDP payload, both directions) and time of that one
//   enrolment (DTLS handshake + /crts + /sen) against libest, provision ->
//   certificate installed.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, writeFileSync, symlinkSync, cpSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { type Row, verdict, bytesText, kib } from "./report";
import { readWasm, codeByLayer } from "./wasm";
import { HeapMeter, type FirmwareLayout } from "./ram";
import { parseRecords, handshakeSpan, type DatagramLog } from "./relay";
import { Device, type ClientEvent } from "../host-shim/node/device";
import { UdpNet } from "../host-shim/node/net";
import type { NetService } from "../host-shim/node/host";
import { haveLibest, makeEstCa, startLibest } from "../test/helpers/libest";
import { startOpensslServer } from "../test/helpers/openssl-peer";
import { havePeer } from "../test/helpers/peers";
import { startDevServers, pskAccountsOf, DEV_CONFIG_FILE } from "../server/index";

const ROOT = join(__dirname, "..");
const SECTION = "EST (Security Mode 4)";
const WASM_FEATURES = ["--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int"];
const PAGE = 65536;
const HEADROOM = 4096;
export const EST_CODE_BUDGET = 8 * 1024;

/** Names-preserving release build (+ wasm-opt -Oz -g) and the release firmware.wasm of the tree at `dir`. */
function buildAt(dir: string, out: string): { layers: Map<string, number>; release: number } {
  const asc = join(ROOT, "node_modules/assemblyscript/bin/asc.js");
  execFileSync(process.execPath, [asc, "assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "--debug", "-o", `${out}.names.asc.wasm`], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  execFileSync(join(ROOT, "node_modules/.bin/wasm-opt"), [`${out}.names.asc.wasm`, "-Oz", "--converge", "--strip-producers", "-g", ...WASM_FEATURES, "-o", `${out}.names.wasm`]);
  execFileSync(process.execPath, [asc, "assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "-o", `${out}.asc.wasm`], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  execFileSync(join(ROOT, "node_modules/.bin/wasm-opt"), [`${out}.asc.wasm`, "-Oz", "--converge", "--strip-debug", "--strip-producers", ...WASM_FEATURES, "-o", `${out}.wasm`]);
  return { layers: codeByLayer(readWasm(readFileSync(`${out}.names.wasm`))), release: readFileSync(`${out}.wasm`).length };
}

export function sizeRows(log: (s: string) => void): Row[] {
  // the baseline: this tree with the EST seam closed (firmware/est-state.ts EST_ENABLED = false:
  // every EST path is dead code the compiler drops, a mode-4 account is refused)
  const seam = "assembly/firmware/est-state.ts";
  const flag = "export const EST_ENABLED: bool = !isDefined(PROFILE_NO_EST);";
  if (!readFileSync(join(ROOT, seam), "utf8").includes(flag)) throw new Error(`${seam} has no '${flag}': no EST-free baseline`);
  const tmp = mkdtempSync(join(tmpdir(), "lwm2m-bench-noest-"));
  try {
    log(`est: baseline without EST = this tree with EST_ENABLED = false (copied into ${tmp})`);
    cpSync(join(ROOT, "assembly"), join(tmp, "assembly"), { recursive: true });
    for (const f of ["asconfig.json", "package.json"]) cpSync(join(ROOT, f), join(tmp, f));
    writeFileSync(join(tmp, seam), readFileSync(join(ROOT, seam), "utf8").replace(flag, "export const EST_ENABLED: bool = false;"));
    symlinkSync(join(ROOT, "node_modules"), join(tmp, "node_modules"));
    const before = buildAt(tmp, join(tmp, "fw"));
    log("est: this tree");
    const after = buildAt(ROOT, join(tmp, "fw-est"));
    const layers = new Set([...before.layers.keys(), ...after.layers.keys()]);
    const delta = [...layers].map((l) => [l, (after.layers.get(l) ?? 0) - (before.layers.get(l) ?? 0)] as const).filter(([, d]) => d !== 0).sort((a, b) => b[1] - a[1]);
    const codeAdded = delta.reduce((a, [, d]) => a + d, 0);
    const budget = { max: EST_CODE_BUDGET, text: "≤ 8 KiB" };
    return [{
      id: "est.size.code-by-layer", section: SECTION, metric: "code EST adds to firmware.wasm (function bodies, per layer)", unit: "B",
      ours: { value: codeAdded, text: `${bytesText(codeAdded)}: ${delta.map(([l, d]) => `${l} ${d > 0 ? "+" : ""}${d}`).join(", ")}`, detail: { delta: Object.fromEntries(delta) } },
      peer: null, budget, status: verdict(codeAdded, budget),
      note: "against this tree built with EST_ENABLED = false (firmware/est-state.ts); est = assembly/est (CSR writer, payload readers, client, credential), firmware = transport's mode-4 path, est-state.ts and est_configure, " +
        "coap = the block-wise client, x509 = chain checks reachable from EST only, util = the URI splitter (a function of its own with EST, inlined into connOpen without)",
    }, {
      id: "est.size.firmware", section: SECTION, metric: "firmware.wasm (release) with EST vs without", unit: "B",
      ours: { value: after.release - before.release, text: `${bytesText(after.release)} vs ${bytesText(before.release)}: +${after.release - before.release} B` },
      peer: null, budget: null, status: "info", note: "whole file: code, data (OIDs, templates) and section overheads",
    }];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** UdpNet counting bytes/datagrams per remote port, with the DTLS record headers. */
class CountingNet implements NetService {
  readonly udp: UdpNet;
  private portOf = new Map<number, number>();
  logs = new Map<number, DatagramLog[]>();
  constructor(deliver: (peer: number, d: Uint8Array) => void) {
    this.udp = new UdpNet((peer, d) => { this.count(peer, "s2c", d); deliver(peer, d); });
  }
  private count(peer: number, dir: "c2s" | "s2c", d: Uint8Array) {
    const port = this.portOf.get(peer) ?? -1;
    let log = this.logs.get(port);
    if (!log) this.logs.set(port, (log = []));
    log.push({ t: process.hrtime.bigint(), dir, len: d.length, records: parseRecords(d) });
  }
  open(host: string, port: number) { const p = this.udp.open(host, port); if (p >= 0) this.portOf.set(p, port); return p; }
  send(peer: number, d: Uint8Array) { this.count(peer, "c2s", d); return this.udp.send(peer, d); }
  close(peer: number) { this.udp.close(peer); }
  closeAll() { this.udp.closeAll(); }
  total(port: number) {
    const l = this.logs.get(port) ?? [];
    const sum = (dir: string) => l.filter((x) => x.dir === dir).reduce((a, x) => a + x.len, 0);
    return { bytes: sum("c2s") + sum("s2c"), datagrams: l.length, sent: sum("c2s"), received: sum("s2c"), handshake: handshakeSpan(l) };
  }
}

export async function enrolRun(layout: FirmwareLayout) {
  const ca = makeEstCa();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const est = await startLibest(ca, port);
  const lwm2m = await startOpensslServer(["-cert", join(ca, "estCA/estserver.crt"), "-key", join(ca, "estCA/private/estservercertandkey.pem"),
    "-Verify", "1", "-CAfile", join(ca, "estCA/cacert.crt"), "-verify_return_error"]);
  let dev!: Device;
  const net = new CountingNet((p, d) => dev.deliver(p, d));
  dev = new Device({ firmware: layout.probe, net });
  const meter = new HeapMeter(dev.exports, dev.memory, layout.heapBase);
  try {
    dev.start();
    meter.sample();
    const der = (f: string) => new Uint8Array(new X509Certificate(readFileSync(f)).raw);
    const key = new Uint8Array(Buffer.from((createPrivateKey(readFileSync(join(ca, "client/bootstrap.key"))).export({ format: "jwk" }) as { d: string }).d, "base64url"));
    const enrolled = new Promise<ClientEvent>((res, rej) => {
      const t = setTimeout(() => rej(new Error("no enrolment within 30 s")), 30000);
      dev.on("event", (e: ClientEvent) => { if (e.name === "enrolled") { clearTimeout(t); res(e); } else if (e.name === "enrolFailed") { clearTimeout(t); rej(new Error(`enrolment failed: ${e.text}`)); } });
    });
    const t0 = performance.now();
    dev.provision({
      endpoint: "bench-mode4",
      servers: [{ uri: `coaps://127.0.0.1:${lwm2m.port}`, securityMode: "est", shortServerId: 1, lifetime: 300,
        serverPublicKey: der(join(ca, "estCA/estserver.crt")), publicKey: der(join(ca, "client/bootstrap.crt")), secretKey: key }],
      est: { uri: `coaps://127.0.0.1:${port}/.well-known/est`, trustAnchor: der(join(ca, "estCA/cacert.crt")) },
    });
    await enrolled;
    const ms = performance.now() - t0;
    meter.sample();
    await lwm2m.waitFor(/subject=.*bench-mode4/, 15000); // DTLS with the enrolled certificate done
    await new Promise((r) => setTimeout(r, 300));
    const heap = meter.heapBytes();
    return { ms, heap, memory: meter.memoryBytes, wire: net.total(port) };
  } finally {
    dev.stop();
    net.closeAll();
    await lwm2m.stop();
    await est.stop();
    rmSync(ca, { recursive: true, force: true });
  }
}

/** Real time, with the wall clock and the monotonic clock movable (renewal points, back-offs). */
class ShiftClock {
  offset = 0;
  monoOffset = 0;
  monotonicMs() { return Math.floor(performance.now()) + this.monoOffset; }
  wallSeconds() { return Math.floor(Date.now() / 1000) + this.offset; }
}

/**
 * Heap across renewals: the development servers (their EST RA), a device
 * bootstrapped to the mode-4 account lwm2m-wasm-est-idevid, enrolled and
 * registered; then `n` renewals (/sren, reconnect, Register). The wall clock is
 * put 300 days ahead (past 75 % of the RA's 365 days), and the monotonic clock
 * moved past the renewal back-off before each round (the RA dates certificates
 * by the real clock, so each new one is already due on the shifted clock).
 */
export async function renewalHeap(layout: FirmwareLayout, n: number, log: (s: string) => void) {
  const pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-bench-est-pki-"));
  const servers = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: DEV_CONFIG_FILE, secure: { pkiDir }, log: false });
  const clock = new ShiftClock();
  let dev!: Device;
  const net = new UdpNet((p, d) => dev.deliver(p, d));
  dev = new Device({ firmware: layout.probe, net, clock });
  const meter = new HeapMeter(dev.exports, dev.memory, layout.heapBase);
  const next = (name: string, pred: (e: ClientEvent) => boolean = () => true, ms = 20000) => new Promise<ClientEvent>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no '${name}' within ${ms} ms`)), ms);
    const f = (e: ClientEvent) => { if (e.name === name && pred(e)) { clearTimeout(t); dev.off("event", f); res(e); } };
    dev.on("event", f);
  });
  try {
    const ep = "lwm2m-wasm-est-idevid";
    const bs = pskAccountsOf(DEV_CONFIG_FILE, ep).bootstrap!;
    dev.start();
    const reg0 = next("registered");
    dev.provision({ endpoint: ep, bootstrap: { uri: servers.secureBootstrapUri!, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key } });
    await reg0;
    clock.offset = 300 * 86400;
    const heaps: number[] = [];
    for (let i = 0; i < n; i++) {
      clock.monoOffset += 25 * 3600_000; // past the longest back-off (24 h)
      const renewed = next("enrolled", (e) => e.arg === 1);
      const reg = next("registered");
      dev.poll();
      await renewed;
      await reg;
      meter.sample();
      heaps.push(meter.heapBytes());
      if (i % 20 === 19) log(`est: ${i + 1} renewals, heap ${heaps[heaps.length - 1]} B`);
    }
    return { heaps, first: heaps[0], last: heaps[heaps.length - 1], memory: meter.memoryBytes };
  } finally {
    dev.stop();
    net.closeAll();
    await servers.close();
    rmSync(pkiDir, { recursive: true, force: true });
  }
}

export async function estRows(layout: FirmwareLayout | null, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  try {
    rows.push(...sizeRows(log));
  } catch (e) {
    rows.push({ id: "est.size.code-by-layer", section: SECTION, metric: "code EST adds to firmware.wasm (per layer)", unit: "B", ours: null, peer: null,
      budget: { max: EST_CODE_BUDGET, text: "≤ 8 KiB" }, status: "error", note: (e as Error).message.split("\n")[0] });
  }
  const ramBudget = { max: PAGE - HEADROOM, text: "≤ 60 KiB (one 64 KiB page, ≥ 4 KiB headroom)" };
  if (!layout) {
    rows.push({ id: "est.ram.enrolment", section: SECTION, metric: "RAM during an enrolment", unit: "B", ours: null, peer: null, budget: ramBudget, status: "error", note: "no firmware layout (probe build failed)" });
    return rows;
  }
  if (!haveLibest() || !havePeer("openssl")) {
    for (const id of ["est.ram.enrolment", "est.wire.enrolment", "est.time.enrolment"]) {
      rows.push({ id, section: SECTION, metric: id, unit: "", ours: null, peer: null, budget: null, status: "peer missing", note: "needs libest (scripts/build-peers.sh) and openssl" });
    }
    return rows;
  }
  log("est: one enrolment at libest (probe build), then DTLS with the enrolled certificate");
  try {
    const r = await enrolRun(layout);
    const used = layout.heapBase + r.heap;
    rows.push({
      id: "est.ram.enrolment", section: SECTION, metric: "RAM during an enrolment (static + heap high-water)", unit: "B",
      ours: { value: used, text: `${bytesText(used)} = static ${layout.heapBase} + heap ${r.heap}; linear memory ${kib(r.memory)}`, detail: { heapBase: layout.heapBase, heap: r.heap, memoryBytes: r.memory } },
      peer: null, budget: ramBudget, status: verdict(used, ramBudget),
      note: "mode-4 account: DTLS (X.509, IDevID) to libest, /crts + /sen, install, then DTLS with the enrolled certificate to openssl s_server; " +
        "the EST area (EST client work incl. a 2,048-byte response buffer, a CoAP endpoint with 1,152-byte messages, the credential, the EST configuration) is allocated on the first mode-4 open, once; " +
        `the X.509 session without EST was 64,716 B before this branch (docs/bench.md)${used > PAGE ? ": EST does not fit the one-page budget" : ""}`,
    });
    const w = r.wire;
    rows.push({
      id: "est.wire.enrolment", section: SECTION, metric: "bytes on the wire: one enrolment (DTLS handshake + crts + sen) at libest", unit: "B",
      ours: { value: w.bytes, text: `${w.bytes} B / ${w.datagrams} dg (handshake ${w.handshake.complete ? `${w.handshake.bytes} B / ${w.handshake.datagrams} dg` : "incomplete"})`, detail: { sent: w.sent, received: w.received, handshake: w.handshake } },
      peer: null, budget: null, status: "info",
      note: "UDP payload both ways between the device and libest's estserver (1024-byte blocks, Accept 281), incl. the close_notify",
    });
    rows.push({
      id: "est.time.enrolment", section: SECTION, metric: "time: provision → certificate installed (simulator, loopback, libest)", unit: "ms",
      ours: { value: Math.round(r.ms), text: `${Math.round(r.ms)} ms` }, peer: null, budget: null, status: "info",
      note: "wall time in the Node simulator incl. libest's CA signing with the openssl CLI",
    });
  } catch (e) {
    rows.push({ id: "est.ram.enrolment", section: SECTION, metric: "RAM during an enrolment", unit: "B", ours: null, peer: null, budget: ramBudget, status: "error", note: (e as Error).message.split("\n")[0] });
  }
  const N = 100;
  log(`est: ${N} renewals against the development servers' RA`);
  try {
    const r = await renewalHeap(layout, N, log);
    const growth = r.last - r.first;
    const budget = { max: 0, text: "no growth" };
    rows.push({
      id: "est.heap.renewals", section: SECTION, metric: `heap growth over ${N} renewals (/sren + reconnect + Register)`, unit: "B",
      ours: { value: growth, text: `${growth} B (heap ${r.first} B after the first, ${r.last} B after the ${N}th)`, detail: { heaps: r.heaps, memoryBytes: r.memory } },
      peer: null, budget, status: verdict(growth, budget),
      note: "development servers' EST RA; the mode-4 account lwm2m-wasm-est-idevid (bootstrap over DTLS-PSK); each round: renewal point reached -> channel closed -> /crts + /sren over DTLS with the current certificate -> install -> DTLS with the new one -> Register",
    });
  } catch (e) {
    rows.push({ id: "est.heap.renewals", section: SECTION, metric: `heap growth over ${N} renewals`, unit: "B", ours: null, peer: null, budget: { max: 0, text: "no growth" }, status: "error", note: (e as Error).message.split("\n")[0] });
  }
  return rows;
}
