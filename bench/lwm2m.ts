// LwM2M client rows (issue 4 "Bench additions"): boot → registered time,
// bytes on the wire for bootstrap and for registration, heap during a
// session and over 10,000 update/notify cycles.
//
// - DTLS-PSK, real UDP on 127.0.0.1: the development Bootstrap-Server and
//   LwM2M Server on DtlsTransport (the firmware's own DTLS server role). A
//   factory-provisioned device bootstraps and registers; then a power cycle
//   (same flash and SE) boots and registers again: boot → registered. Bytes
//   per association, split at the end of the DTLS handshake. When the DTLS
//   transport is not available these rows say "not yet measured".
// - The same flows over NoSec (status "info"): the CoAP part alone.
// - RAM in an X.509 session: the development servers with DTLS and their
//   development PKI (in a temp folder): a device bootstraps and registers
//   with the certificate the PKI issues for the endpoint lwm2m-wasm-x509 of
//   server/dev-config.json, then a Read of /3/0 (EST is not built yet).
// - 10,000 cycles of (battery level change → notification, Registration
//   Update Trigger → Update → 2.04) against a scripted in-process LwM2M
//   Server with a fake clock: the heap high-water mark must not grow.
// All run the probe build of bench/ram.ts (the release + two exports) so
// the heap is read exactly.
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Row, verdict, bytesText, kib } from "./report";
import { HeapMeter, type FirmwareLayout, PSK_SESSION_BUDGET, CERT_SESSION_BUDGET } from "./ram";
import { havePeer } from "../test/helpers/peers";
import { Device, FakeClock, type DeviceOptions } from "../host-shim/node/device";
import { startDevServers } from "../server/index";
import type { NetService } from "../host-shim/node/host";
import { UdpNet } from "../host-shim/node/net";
import { parseRecords, handshakeSpan, type DatagramLog, type HandshakeSpan } from "./relay";
import { DtlsTransport, DtlsNotAvailableError, LwM2MServer, BootstrapServer, type BootstrapConfig } from "../server/index";
import { encode, decode, opt, text, ascii, uintBytes, uriPath, T, C, O, type Msg } from "../test/helpers/coap-harness";

const ROOT = join(__dirname, "..");
const SECTION = "LwM2M client (simulator)";

interface PortCount { bytes: number; datagrams: number }
interface Wire { sent: PortCount; received: PortCount }

/** UdpNet with bytes/datagrams counted per remote port (and logged with their DTLS record headers). */
class CountingNet implements NetService {
  readonly udp: UdpNet;
  private portOf = new Map<number, number>();
  counts = new Map<number, Wire>();
  logs = new Map<number, DatagramLog[]>();
  constructor(deliver: (peer: number, d: Uint8Array) => void) {
    this.udp = new UdpNet((peer, d) => { this.count(peer, "received", d); deliver(peer, d); });
  }
  private count(peer: number, dir: "sent" | "received", d: Uint8Array) {
    const port = this.portOf.get(peer) ?? -1;
    let w = this.counts.get(port);
    if (!w) this.counts.set(port, (w = { sent: { bytes: 0, datagrams: 0 }, received: { bytes: 0, datagrams: 0 } }));
    w[dir].bytes += d.length;
    w[dir].datagrams++;
    let log = this.logs.get(port);
    if (!log) this.logs.set(port, (log = []));
    log.push({ t: process.hrtime.bigint(), dir: dir === "sent" ? "c2s" : "s2c", len: d.length, records: parseRecords(d) });
  }
  /** The DTLS handshake at the start of the exchange with `port`. */
  handshake(port: number): HandshakeSpan { return handshakeSpan(this.logs.get(port) ?? []); }
  open(host: string, port: number) { const h = this.udp.open(host, port); if (h >= 0) this.portOf.set(h, port); return h; }
  send(peer: number, d: Uint8Array) { this.count(peer, "sent", d); return this.udp.send(peer, d); }
  close(peer: number) { this.udp.close(peer); }
  of(port: number): Wire & { total: PortCount } {
    const w = this.counts.get(port) ?? { sent: { bytes: 0, datagrams: 0 }, received: { bytes: 0, datagrams: 0 } };
    return { ...w, total: { bytes: w.sent.bytes + w.received.bytes, datagrams: w.sent.datagrams + w.received.datagrams } };
  }
  reset() { this.counts.clear(); }
}

const waitEvent = (dev: Device, name: string, ms: number) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no '${name}' within ${ms} ms; last logs: ${dev.logs.slice(-12).map((l) => l.text).join(" | ")}`)), ms);
  dev.once(name, () => { clearTimeout(t); resolve(); });
});

/** A probe-build device on a CountingNet, kept in `devices` (stopped by the caller's finally), with its heap meter.
 *  `same` powers up the flash, SE and DRBG of an earlier device (a power cycle). */
function countedDevice(layout: FirmwareLayout, devices: Device[], same: Pick<DeviceOptions, "flash" | "se" | "rng"> = {}) {
  let dev!: Device;
  const net = new CountingNet((peer, d) => dev.deliver(peer, d));
  dev = new Device({ firmware: layout.probe, net, ...same });
  devices.push(dev);
  return { dev, net, meter: new HeapMeter(dev.exports, dev.memory, layout.heapBase) };
}

const wireText = (w: Wire & { total: PortCount }) => `${w.total.bytes} B / ${w.total.datagrams} dg`;
const wireDetail = (w: Wire & { total: PortCount }) => ({ deviceSent: w.sent, deviceReceived: w.received, total: w.total });

/** Bootstrap, registration and boot → registered over NoSec against the development servers. */
async function noSecFlows(layout: FirmwareLayout) {
  // NoSec only: no DTLS listeners, so no development PKI is made (it would land in ./state/dev-pki)
  const servers = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: join(ROOT, "server/dev-config.json"), log: false, secure: false });
  const devices: Device[] = [];
  try {
    const { dev, net, meter } = countedDevice(layout, devices);
    dev.start();
    const endpoint = "bench-device-1";
    const registered = waitEvent(dev, "registered", 10_000);
    const t0 = performance.now();
    dev.provision({ endpoint, bootstrap: { uri: servers.bootstrapUri, securityMode: "nosec" } });
    await registered;
    const provisionToRegistered = performance.now() - t0;
    const bootstrap = net.of(servers.bootstrapAddress.port);
    const firstRegistration = net.of(servers.serverAddress.port);
    // a session: the server reads the Device object
    const read = await servers.server.read(endpoint, "/3/0");
    meter.sample();
    const sessionHeap = meter.heapBytes();
    const sessionMemory = meter.memoryBytes;
    dev.stop();
    net.udp.closeAll();

    // power cycle: same flash and SE, the stored configuration boots and registers
    const { dev: dev2, net: net2 } = countedDevice(layout, devices, { flash: dev.flash, se: dev.se, rng: dev.rng });
    const reg2 = waitEvent(dev2, "registered", 10_000);
    const t1 = performance.now();
    dev2.start();
    const initMs = performance.now() - t1; // init() and what it sends at once
    await reg2;
    const bootToRegistered = performance.now() - t1;
    const registration = net2.of(servers.serverAddress.port);
    dev2.stop();
    net2.udp.closeAll();
    return { provisionToRegistered, bootToRegistered, initMs, bootstrap, firstRegistration, registration, sessionHeap, sessionMemory, readCode: read.code };
  } finally {
    for (const d of devices) d.stop();
    await servers.close();
  }
}

const BS_PSK = { identity: "bench-bootstrap", key: "3f9c2a1be8d47065c1a2b3c4d5e6f708" };
const SRV_PSK = { identity: "bench-device-psk", key: "8e7d6c5b4a39281706f5e4d3c2b1a090" };

/** Bootstrap, registration and boot → registered over DTLS-PSK against the development servers on DtlsTransport. */
export async function pskFlows(layout: FirmwareLayout, cycleCount: number, cycleBudgetMs: number) {
  const srvT = new DtlsTransport({ psk: { lookup: (id) => (id === SRV_PSK.identity ? new Uint8Array(Buffer.from(SRV_PSK.key, "hex")) : undefined) } });
  const bsT = new DtlsTransport({ psk: { lookup: (id) => (id === BS_PSK.identity ? new Uint8Array(Buffer.from(BS_PSK.key, "hex")) : undefined) } });
  const server = new LwM2MServer({});
  const srvAddr = await srvT.bind(0, "127.0.0.1");
  server.addTransport(srvT);
  const config: BootstrapConfig = {
    "*": {
      delete: ["/0", "/1"],
      security: [{ uri: `coaps://127.0.0.1:${srvAddr.port}`, securityMode: "psk", pskIdentity: SRV_PSK.identity, pskKey: SRV_PSK.key, shortServerId: 101 }],
      servers: [{ shortServerId: 101, lifetime: 300, binding: "U" }],
      bootstrapCredentials: { pskIdentity: BS_PSK.identity, pskKey: BS_PSK.key },
    },
  };
  const bs = new BootstrapServer({ config });
  const bsAddr = await bsT.bind(0, "127.0.0.1");
  bs.addTransport(bsT);
  const devices: Device[] = [];
  try {
    const { dev, net, meter } = countedDevice(layout, devices);
    dev.start();
    const endpoint = "bench-device-psk";
    const registered = waitEvent(dev, "registered", 15_000);
    const t0 = performance.now();
    dev.provision({ endpoint, bootstrap: { uri: `coaps://127.0.0.1:${bsAddr.port}`, securityMode: "psk", pskIdentity: BS_PSK.identity, pskKey: BS_PSK.key } });
    await registered;
    const provisionToRegistered = performance.now() - t0;
    const bootstrap = { wire: net.of(bsAddr.port), handshake: net.handshake(bsAddr.port) };
    const read = await server.read(endpoint, "/3/0");
    const sessionHeap = meter.heapBytes();
    const sessionMemory = meter.memoryBytes;
    const cyc = await dtlsCycles(dev, server, endpoint, meter, cycleCount, cycleBudgetMs);
    dev.stop();
    net.udp.closeAll();

    const { dev: dev2, net: net2 } = countedDevice(layout, devices, { flash: dev.flash, se: dev.se, rng: dev.rng });
    const reg2 = waitEvent(dev2, "registered", 15_000);
    const t1 = performance.now();
    dev2.start();
    const initMs = performance.now() - t1; // init() and what it sends at once
    await reg2;
    const bootToRegistered = performance.now() - t1;
    const registration = { wire: net2.of(srvAddr.port), handshake: net2.handshake(srvAddr.port) };
    dev2.stop();
    net2.udp.closeAll();
    return { provisionToRegistered, bootToRegistered, initMs, bootstrap, registration, sessionHeap, sessionMemory, cyc, readCode: read.code, suite: /suite (0x[0-9a-f]+)/.exec(dev2.logs.map((l) => l.text).join("\n"))?.[1] ?? "?" };
  } finally {
    for (const d of devices) d.stop();
    await bs.close();
    await server.close();
    await bsT.close(); // added transports are the caller's to close
    await srvT.close();
  }
}

/** The endpoint of server/dev-config.json that bootstraps and registers over DTLS with X.509. */
const X509_ENDPOINT = "lwm2m-wasm-x509";

class NoDevPki extends Error {}

const X509_BLOCK_NOTE = "the Bootstrap-Write of the Security instance with the certificates (> 1 KiB) goes block-wise with the dev servers' default 1024-byte " +
  "blocks, the device taking the first block whole and asking for 512 from then on (RFC 7959 §2.5)";

/**
 * RAM in an X.509 session: bootstrap and registration over DTLS with X.509
 * certificates against the development servers (their DTLS listeners and
 * development PKI, in a temp folder removed afterwards), then a Read of /3/0.
 */
async function x509Session(layout: FirmwareLayout) {
  const pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-bench-devpki-"));
  const devices: Device[] = [];
  let servers: Awaited<ReturnType<typeof startDevServers>> | undefined;
  try {
    const warnings: string[] = [];
    servers = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: join(ROOT, "server/dev-config.json"), secure: { pkiDir },
      log: (l) => { if (/WARNING/.test(l)) warnings.push(l); } });
    if (!servers.pki || !servers.secureBootstrapUri) throw new NoDevPki(warnings[0] ?? "the development servers started without a development PKI");
    const pki = servers.pki;
    const own = pki.device(X509_ENDPOINT);
    const { dev, net, meter } = countedDevice(layout, devices);
    dev.start();
    const registered = waitEvent(dev, "registered", 20_000);
    const t0 = performance.now();
    dev.provision({ endpoint: X509_ENDPOINT, bootstrap: {
      uri: servers.secureBootstrapUri, securityMode: "x509", publicKey: own.certificate, secretKey: own.privateKey,
      serverPublicKey: pki.ca.certificate, certificateUsage: 2,
    } });
    await registered;
    const provisionToRegistered = performance.now() - t0;
    const reg = servers.server.getRegistration(X509_ENDPOINT);
    if (reg?.identity?.kind !== "x509") throw new Error(`registered without an X.509 identity (${reg?.identity?.kind ?? "none"}, secure=${reg?.secure})`);
    const read = await servers.server.read(X509_ENDPOINT, "/3/0");
    const sessionHeap = meter.heapBytes();
    const sessionMemory = meter.memoryBytes;
    const port = (uri: string | null) => Number(/:(\d+)$/.exec(uri ?? "")?.[1] ?? -1);
    const bsPort = port(servers.secureBootstrapUri), srvPort = port(servers.secureServerUri);
    const bootstrap = { wire: net.of(bsPort), handshake: net.handshake(bsPort) };
    const registration = { wire: net.of(srvPort), handshake: net.handshake(srvPort) };
    dev.stop();
    net.udp.closeAll();
    return {
      sessionHeap, sessionMemory, readCode: read.code, provisionToRegistered, bootstrap, registration,
      certificates: { device: own.certificate.length, server: pki.server.certificate.length, ca: pki.ca.certificate.length },
      suite: /suite (0x[0-9a-f]+)/.exec(dev.logs.map((l) => l.text).join("\n"))?.[1] ?? "?",
    };
  } finally {
    for (const d of devices) d.stop();
    await servers?.close();
    rmSync(pkiDir, { recursive: true, force: true });
  }
}

/**
 * Update/notify cycles over the DTLS-PSK session with the development LwM2M
 * Server, real UDP and real timers: battery level change → notification
 * (pmin 0), Execute /1/0/8 → Update → 2.04. Stops at `n` cycles or after
 * `budgetMs` (the row says how many ran).
 */
async function dtlsCycles(dev: Device, server: LwM2MServer, endpoint: string, meter: HeapMeter, n: number, budgetMs: number) {
  dev.setResource(3, 0, 9, 100);
  const wa = await server.writeAttributes(endpoint, "/3/0/9", { pmin: 0, pmax: 86400 });
  if (!wa.ok) throw new Error(`Write-Attributes /3/0/9 answered ${wa.code}`);
  let notifications = 0, updates = 0;
  let wake: (() => void) | null = null;
  const until = async (cond: () => boolean, what: string) => {
    const t = Date.now();
    while (!cond()) {
      if (Date.now() - t > 5000) throw new Error(`cycles: no ${what} within 5 s`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    }
  };
  const onUpdated = () => { updates++; wake?.(); };
  server.on("updated", onUpdated);
  const obs = await server.observe(endpoint, "/3/0/9", () => { notifications++; wake?.(); });
  if (!obs.established) throw new Error(`Observe /3/0/9 answered ${obs.response.code}`);
  const samples: { cycle: number; heap: number }[] = [{ cycle: 0, heap: meter.heapBytes() }];
  const every = Math.max(1, Math.floor(n / 10));
  const t0 = performance.now();
  let i = 0;
  try {
    for (i = 1; i <= n && performance.now() - t0 < budgetMs; i++) {
      const nb = notifications, ub = updates;
      dev.setResource(3, 0, 9, i % 101);
      await until(() => notifications > nb, "notification");
      const ex = await server.execute(endpoint, "/1/0/8");
      if (!ex.ok) throw new Error(`Execute /1/0/8 answered ${ex.code}`);
      await until(() => updates > ub, "Update");
      meter.sample();
      if (i % every === 0) samples.push({ cycle: i, heap: meter.heapBytes() });
    }
  } finally {
    server.off("updated", onUpdated);
  }
  const done = i - 1;
  if (samples[samples.length - 1].cycle !== done) samples.push({ cycle: done, heap: meter.heapBytes() });
  return { cycles: done, samples, notifications, updates, ms: performance.now() - t0 };
}

/** "1234 B / 10 dg (handshake 600 B / 6 dg + CoAP 634 B / 4 dg)". */
function splitText(x: { wire: Wire & { total: PortCount }; handshake: HandshakeSpan }): string {
  const h = x.handshake;
  if (!h.complete) return `${wireText(x.wire)} (no complete DTLS handshake seen)`;
  return `${wireText(x.wire)} (handshake ${h.bytes} B / ${h.datagrams} dg + rest ${x.wire.total.bytes - h.bytes} B / ${x.wire.total.datagrams - h.datagrams} dg)`;
}

/** A scripted LwM2M Server in-process: the device's messages are answered synchronously. */
class ScriptedServer implements NetService {
  queue: { peer: number; msg: Msg; len: number }[] = [];
  dev!: Device;
  mid = 0x2000;
  updates = 0;
  notifications = 0;
  registers = 0;
  bytes = 0;
  open() { return 7; }
  close() {}
  send(peer: number, d: Uint8Array) { this.bytes += d.length; this.queue.push({ peer, msg: decode(d), len: d.length }); return 0; }
  private deliver(m: Parameters<typeof encode>[0]) { const b = encode(m); this.bytes += b.length; this.dev.deliver(7, b); }
  /** Answers everything the device sent until it is quiet. */
  pump(): void {
    for (let guard = 0; this.queue.length; guard++) {
      if (guard > 1000) throw new Error("scripted server: the device does not stop sending");
      const { msg } = this.queue.shift()!;
      const path = "/" + opt(msg, O.URI_PATH).map(text).join("/");
      if (msg.code === C.POST && path === "/rd") {
        this.registers++;
        this.deliver({ type: T.ACK, code: C.CREATED, mid: msg.mid, token: msg.token, options: [[O.LOCATION_PATH, ascii("rd")], [O.LOCATION_PATH, ascii("b1")]] });
      } else if (msg.code === C.POST && path.startsWith("/rd/")) {
        this.updates++;
        this.deliver({ type: T.ACK, code: C.CHANGED, mid: msg.mid, token: msg.token });
      } else if (msg.code >= 0x40 && (msg.type === T.CON || msg.type === T.NON) && opt(msg, O.OBSERVE).length) {
        this.notifications++;
        if (msg.type === T.CON) this.deliver({ type: T.ACK, code: C.EMPTY, mid: msg.mid });
      } else if (msg.type === T.CON) {
        this.deliver({ type: T.ACK, code: C.EMPTY, mid: msg.mid });
      }
    }
  }
  /** A request to the device; returns its piggybacked response. */
  request(code: number, path: string, options: [number, Uint8Array][] = []): Msg {
    const mid = this.mid++ & 0xffff;
    const token = uintBytes(0x100 + (mid & 0xff));
    this.deliver({ type: T.CON, code, mid, token, options: [...uriPath(path), ...options] });
    const i = this.queue.findIndex((q) => q.msg.type === T.ACK && q.msg.mid === mid);
    if (i < 0) throw new Error(`no response to ${path}`);
    return this.queue.splice(i, 1)[0].msg;
  }
}

/** Heap over `cycles` update/notify cycles; samples every `every` cycles. */
function cycles(layout: FirmwareLayout, n: number, every: number) {
  const clock = new FakeClock(0);
  const srv = new ScriptedServer();
  const dev = new Device({ firmware: layout.probe, net: srv, clock, manualTimers: true });
  srv.dev = dev;
  const meter = new HeapMeter(dev.exports, dev.memory, layout.heapBase);
  dev.start();
  dev.provision({ endpoint: "bench-cycles", servers: [{ uri: "coap://127.0.0.1:5683", securityMode: "nosec", shortServerId: 101, lifetime: 86400 }] });
  srv.pump();
  if (srv.registers !== 1) throw new Error("no Register");
  dev.setResource(3, 0, 9, 100); // battery level: exists once the device has set it
  srv.pump();
  const w = srv.request(C.PUT, "/3/0/9", [[O.URI_QUERY, ascii("pmin=0")], [O.URI_QUERY, ascii("pmax=86400")]]);
  if (w.code !== C.CHANGED) throw new Error(`Write-Attributes answered ${w.code}`);
  const o = srv.request(C.GET, "/3/0/9", [[O.OBSERVE, new Uint8Array(0)]]);
  if (o.code !== C.CONTENT) throw new Error(`Observe answered ${o.code}`);
  srv.pump();
  meter.sample();
  const samples: { cycle: number; heap: number }[] = [{ cycle: 0, heap: meter.heapBytes() }];
  const start = { updates: srv.updates, notifications: srv.notifications };
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    clock.now += 1000;
    dev.advanceTo(clock.now);
    dev.setResource(3, 0, 9, i % 101);
    meter.sample();
    srv.pump();
    const r = srv.request(C.POST, "/1/0/8"); // Registration Update Trigger
    if (r.code !== C.CHANGED) throw new Error(`Execute /1/0/8 answered ${r.code} at cycle ${i}`);
    meter.sample();
    srv.pump();
    meter.sample();
    if (i % every === 0) samples.push({ cycle: i, heap: meter.heapBytes() });
  }
  const ms = performance.now() - t0;
  dev.stop();
  return { samples, updates: srv.updates - start.updates, notifications: srv.notifications - start.notifications, ms, memoryBytes: meter.memoryBytes };
}

/** The "no heap growth over N update/notify cycles" row (issue 11) of a layout, NoSec with a scripted server. */
function noSecCyclesRow(layout: FirmwareLayout, n: number, id: string, label: string): Row {
  const budget = { max: 0, text: "no growth" };
  try {
    const c = cycles(layout, n, Math.max(1, Math.floor(n / 10)));
    const growth = c.samples[c.samples.length - 1].heap - c.samples[0].heap;
    const peak = Math.max(...c.samples.map((s) => s.heap));
    const complete = c.updates >= n && c.notifications >= n;
    return {
      id, section: SECTION, metric: `${label}heap growth over ${n} update/notify cycles (NoSec)`, unit: "B",
      ours: { value: growth, text: `+${growth} B (heap ${c.samples[0].heap} → ${c.samples[c.samples.length - 1].heap} B)`, detail: c },
      peer: null, budget, status: complete ? verdict(growth, budget) : "error",
      note: `${c.updates} Updates and ${c.notifications} notifications in ${(c.ms / 1000).toFixed(1)} s; peak heap ${peak} B` +
        (complete ? "; NoSec, so the DTLS record layer's per-message path is not in this figure" : "; FEWER Updates/notifications than cycles: the script did not drive the client as intended"),
    };
  } catch (e) {
    return { id, section: SECTION, metric: `${label}heap growth over ${n} update/notify cycles`, unit: "B", ours: null, peer: null,
      budget, status: "error", note: (e as Error).message.split("\n")[0] };
  }
}

/** The heap-growth row of the DTLS-PSK update/notify cycles (pskFlows' `cyc`). */
function pskCyclesRow(c: Awaited<ReturnType<typeof pskFlows>>["cyc"], n: number, id: string, label: string): Row {
  const growth = c.samples[c.samples.length - 1].heap - c.samples[0].heap;
  const noGrowth = { max: 0, text: "no growth" };
  return {
    id, section: SECTION, metric: `${label}heap growth over update/notify cycles (DTLS-PSK, real UDP)`, unit: "B",
    ours: { value: growth, text: `+${growth} B over ${c.cycles} cycles (heap ${c.samples[0].heap} → ${c.samples[c.samples.length - 1].heap} B)`, detail: c },
    peer: null, budget: noGrowth, status: c.cycles > 0 ? verdict(growth, noGrowth) : "error",
    note: `${c.updates} Updates and ${c.notifications} notifications through the dev server in ${(c.ms / 1000).toFixed(1)} s` +
      (c.cycles < n ? `; stopped at ${c.cycles} of ${n} cycles by the time cap (--psk-cycle-seconds); the full count runs NoSec` : ""),
  };
}

/** A build profile's RAM in a DTLS-PSK session (the same flow as ram.session.psk), against its budget (profiles.json). */
export async function profilePskSessionRows(layout: FirmwareLayout, o: { cycles: number; pskCycleSeconds: number; log: (s: string) => void }): Promise<Row[]> {
  const cfg = JSON.parse(readFileSync(join(ROOT, "profiles.json"), "utf8"));
  const max: number | undefined = cfg.profiles[layout.profile]?.budgets?.ramPskBytes;
  const budget = max === undefined ? null : { max, text: `≤ ${kib(max)}` };
  const P = layout.profile, label = `profile ${P}: `;
  const id = `ram.session.psk.${P}`, metric = `${label}used in a DTLS-PSK session (static + heap)`;
  const rows: Row[] = [];
  o.log(`lwm2m: DTLS-PSK session and update/notify cycles of profile ${P}`);
  try {
    const f = await pskFlows(layout, o.cycles, o.pskCycleSeconds * 1000);
    const used = layout.heapBase + f.sessionHeap;
    rows.push({
      id, section: "RAM", metric, unit: "B",
      ours: { value: used, text: `${bytesText(used)} = static ${layout.heapBase} + heap ${f.sessionHeap}`, detail: { heapBase: layout.heapBase, heap: f.sessionHeap, memoryBytes: f.sessionMemory, suite: f.suite } },
      peer: null, budget, status: budget ? verdict(used, budget) : "info",
      note: `build profile ${P} (profiles.json): after bootstrap and registration over DTLS-PSK and a Read of /3/0 (${f.readCode}), as ram.session.psk; linear memory ${kib(f.sessionMemory)}`,
    });
    rows.push(pskCyclesRow(f.cyc, o.cycles, `lwm2m.heap.cycles.psk.${P}`, label));
  } catch (e) {
    const note = (e as Error).message.split("\n")[0];
    rows.push({ id, section: "RAM", metric, unit: "B", ours: null, peer: null, budget, status: "error", note });
    rows.push({ id: `lwm2m.heap.cycles.psk.${P}`, section: SECTION, metric: `${label}heap growth over update/notify cycles (DTLS-PSK, real UDP)`, unit: "B",
      ours: null, peer: null, budget: { max: 0, text: "no growth" }, status: "error", note });
  }
  o.log(`lwm2m: heap over ${o.cycles} update/notify cycles of profile ${P} (scripted server, fake clock)`);
  rows.push(noSecCyclesRow(layout, o.cycles, `lwm2m.heap.cycles.${P}`, label));
  return rows;
}

export async function lwm2mRows(layout: FirmwareLayout | null, o: { cycles: number; pskCycleSeconds: number; log: (s: string) => void }): Promise<Row[]> {
  const rows: Row[] = [];
  if (!layout) {
    rows.push({ id: "lwm2m", section: SECTION, metric: "LwM2M client rows", unit: "", ours: null, peer: null, budget: null, status: "error", note: "no firmware layout (probe build failed)" });
    return rows;
  }
  o.log("lwm2m: DTLS-PSK bootstrap, registration, power cycle against the development servers (DtlsTransport)");
  const bootBudget = { max: 10, text: "≤ 10 ms" };
  try {
    const f = await pskFlows(layout, o.cycles, o.pskCycleSeconds * 1000);
    rows.push({
      id: "lwm2m.boot-registered.psk", section: SECTION, metric: "boot → registered over DTLS-PSK (loopback, dev server)", unit: "ms",
      ours: { value: f.bootToRegistered, text: `${f.bootToRegistered.toFixed(2)} ms (init() ${f.initMs.toFixed(2)} ms)`, detail: { initMs: f.initMs, provisionToRegisteredViaBootstrapMs: f.provisionToRegistered, suite: f.suite } },
      peer: null, budget: bootBudget, status: verdict(f.bootToRegistered, bootBudget),
      note: `power cycle of a bootstrapped device: init() (DRBG and SE self-tests, flash and store mount) → DTLS handshake (suite ${f.suite}) → Register → 2.01, ` +
        `module compilation excluded; the dev server's DTLS is the firmware's own server role in Node. First boot with bootstrap over DTLS-PSK: provision → registered ${f.provisionToRegistered.toFixed(1)} ms`,
    });
    rows.push({
      id: "lwm2m.bytes.bootstrap.psk", section: SECTION, metric: "bytes on the wire: bootstrap over DTLS-PSK", unit: "B",
      ours: { value: f.bootstrap.wire.total.bytes, text: splitText(f.bootstrap), detail: { ...wireDetail(f.bootstrap.wire), handshake: f.bootstrap.handshake } },
      peer: null, budget: null, status: "info",
      note: "DTLS handshake with the cookie exchange, Bootstrap-Request … Bootstrap-Finish, and anything else on that association until registered",
    });
    rows.push({
      id: "lwm2m.bytes.registration.psk", section: SECTION, metric: "bytes on the wire: registration over DTLS-PSK", unit: "B",
      ours: { value: f.registration.wire.total.bytes, text: splitText(f.registration), detail: { ...wireDetail(f.registration.wire), handshake: f.registration.handshake } },
      peer: null, budget: null, status: "info", note: "after a power cycle: DTLS handshake with the cookie exchange, Register, 2.01",
    });
    rows.push(pskCyclesRow(f.cyc, o.cycles, "lwm2m.heap.cycles.psk", ""));
    const used = layout.heapBase + f.sessionHeap;
    const budget = { max: PSK_SESSION_BUDGET, text: "≤ 40 KiB" };
    rows.push({
      id: "ram.session.psk", section: "RAM", metric: "used in a DTLS-PSK session (static + heap)", unit: "B",
      ours: { value: used, text: `${bytesText(used)} = static ${layout.heapBase} + heap ${f.sessionHeap}`, detail: { heapBase: layout.heapBase, heap: f.sessionHeap, memoryBytes: f.sessionMemory } },
      peer: null, budget, status: verdict(used, budget),
      note: `after bootstrap and registration over DTLS-PSK and a Read of /3/0 (${f.readCode}); linear memory ${kib(f.sessionMemory)}`,
    });
  } catch (e) {
    const missing = e instanceof DtlsNotAvailableError;
    const why = (e as Error).message.split("\n")[0];
    const status = missing ? "not yet measured" : "error";
    const note = missing ? `not yet measured: needs the development servers' DTLS transport (${why})` : `DTLS-PSK flow failed: ${why}`;
    rows.push({ id: "lwm2m.boot-registered.psk", section: SECTION, metric: "boot → registered over DTLS-PSK (loopback, dev server)", unit: "ms",
      ours: null, peer: null, budget: bootBudget, status, note });
    rows.push({ id: "lwm2m.bytes.bootstrap.psk", section: SECTION, metric: "bytes on the wire: bootstrap over DTLS-PSK", unit: "B",
      ours: null, peer: null, budget: null, status, note });
    rows.push({ id: "lwm2m.bytes.registration.psk", section: SECTION, metric: "bytes on the wire: registration over DTLS-PSK", unit: "B",
      ours: null, peer: null, budget: null, status, note });
    rows.push({ id: "lwm2m.heap.cycles.psk", section: SECTION, metric: "heap growth over update/notify cycles (DTLS-PSK, real UDP)", unit: "B",
      ours: null, peer: null, budget: { max: 0, text: "no growth" }, status, note });
    rows.push({ id: "ram.session.psk", section: "RAM", metric: "used in a DTLS-PSK session", unit: "B", ours: null, peer: null,
      budget: { max: PSK_SESSION_BUDGET, text: "≤ 40 KiB" }, status,
      note: `${note}; lower bound = static memory ${kib(layout.heapBase)}${layout.heapBase > PSK_SESSION_BUDGET ? " — already over" : ""}` });
  }
  o.log("lwm2m: X.509 bootstrap and registration against the development servers (RAM in an X.509 session)");
  {
    const id = "ram.session.certificates", metric = "used in an X.509 session, EST not built yet (static + heap)";
    const budget = { max: CERT_SESSION_BUDGET, text: "≤ 48 KiB" };
    const bound = `lower bound = static memory ${kib(layout.heapBase)}${layout.heapBase > CERT_SESSION_BUDGET ? " — already over" : ""}`;
    const est = "X.509 only: EST is not built yet, so an EST enrolment is not in this figure";
    try {
      if (!havePeer("openssl")) throw new NoDevPki("the development PKI needs the openssl CLI, which is not installed (apt-get install openssl)");
      const f = await x509Session(layout);
      const used = layout.heapBase + f.sessionHeap;
      const hs = (x: { handshake: HandshakeSpan }) => (x.handshake.complete ? `${x.handshake.bytes} B / ${x.handshake.datagrams} dg` : "incomplete");
      rows.push({
        id, section: "RAM", metric, unit: "B",
        ours: { value: used, text: `${bytesText(used)} = static ${layout.heapBase} + heap ${f.sessionHeap}`,
          detail: { heapBase: layout.heapBase, heap: f.sessionHeap, memoryBytes: f.sessionMemory, suite: f.suite, certificateBytes: f.certificates,
            provisionToRegisteredMs: f.provisionToRegistered, bootstrap: { ...wireDetail(f.bootstrap.wire), handshake: f.bootstrap.handshake },
            registration: { ...wireDetail(f.registration.wire), handshake: f.registration.handshake } } },
        peer: null, budget, status: verdict(used, budget),
        note: `after bootstrap and registration over DTLS with X.509 (endpoint ${X509_ENDPOINT} of server/dev-config.json, suite ${f.suite}, certificate usage 2) ` +
          `against the development servers and a Read of /3/0 (${f.readCode}); linear memory ${kib(f.sessionMemory)}; ${est}. ` +
          `Development PKI certificates (server/dev-pki.ts, in a temp folder): device ${f.certificates.device} B, server ${f.certificates.server} B; ` +
          `handshakes: bootstrap ${hs(f.bootstrap)}, registration ${hs(f.registration)}; ${X509_BLOCK_NOTE}` +
          (layout.layoutVerified ? "" : "; the probe build's layout differs from build/firmware.wasm (see the static row)"),
      });
    } catch (e) {
      const why = (e as Error).message.split("\n")[0];
      const status = e instanceof NoDevPki ? "peer missing" : e instanceof DtlsNotAvailableError ? "not yet measured" : "error";
      rows.push({ id, section: "RAM", metric, unit: "B", ours: null, peer: null, budget, status,
        note: `${status === "error" ? "X.509 flow failed" : status === "peer missing" ? "no development PKI" : "not yet measured: needs the development servers' DTLS transport"}: ${why}; ${est}; ${bound}` });
    }
  }
  o.log("lwm2m: NoSec bootstrap, registration, power cycle against the development servers");
  try {
    const f = await noSecFlows(layout);
    rows.push({
      id: "lwm2m.boot-registered.nosec", section: SECTION, metric: "boot → registered over NoSec (loopback, dev server)", unit: "ms",
      ours: { value: f.bootToRegistered, text: `${f.bootToRegistered.toFixed(2)} ms (init() ${f.initMs.toFixed(2)} ms)`, detail: { initMs: f.initMs, provisionToRegisteredViaBootstrapMs: f.provisionToRegistered } },
      peer: null, budget: null, status: "info",
      note: `power cycle of a bootstrapped device: init() (DRBG and SE self-tests, flash and store mount, stored configuration) → Register → 2.01, module compilation excluded; first boot with bootstrap: provision → registered ${f.provisionToRegistered.toFixed(1)} ms. The 10 ms budget is for DTLS-PSK (row above)`,
    });
    rows.push({
      id: "lwm2m.bytes.bootstrap.nosec", section: SECTION, metric: "bytes on the wire: bootstrap over NoSec (CoAP)", unit: "B",
      ours: { value: f.bootstrap.total.bytes, text: wireText(f.bootstrap), detail: wireDetail(f.bootstrap) }, peer: null, budget: null, status: "info",
      note: `Bootstrap-Request to Bootstrap-Finish with the dev server's configuration (server/dev-config.json); device sent ${f.bootstrap.sent.bytes} B, received ${f.bootstrap.received.bytes} B`,
    });
    rows.push({
      id: "lwm2m.bytes.registration.nosec", section: SECTION, metric: "bytes on the wire: registration over NoSec (CoAP)", unit: "B",
      ours: { value: f.registration.total.bytes, text: wireText(f.registration), detail: wireDetail(f.registration) }, peer: null, budget: null, status: "info",
      note: `Register + 2.01 after a power cycle; device sent ${f.registration.sent.bytes} B, received ${f.registration.received.bytes} B`,
    });
    const used = layout.heapBase + f.sessionHeap;
    rows.push({
      id: "ram.session.nosec", section: SECTION, metric: "RAM used in a NoSec session (static + heap)", unit: "B",
      ours: { value: used, text: `${bytesText(used)} = static ${layout.heapBase} + heap ${f.sessionHeap}`, detail: { heapBase: layout.heapBase, heap: f.sessionHeap, memoryBytes: f.sessionMemory } },
      peer: null, budget: null, status: "info",
      note: `after bootstrap, registration and a Read of /3/0 (${f.readCode}); linear memory ${kib(f.sessionMemory)}`,
    });
  } catch (e) {
    rows.push({ id: "lwm2m.nosec", section: SECTION, metric: "NoSec bootstrap / registration flows", unit: "", ours: null, peer: null, budget: null,
      status: "error", note: (e as Error).message.split("\n")[0] });
  }
  o.log(`lwm2m: heap over ${o.cycles} update/notify cycles (scripted server, fake clock)`);
  rows.push(noSecCyclesRow(layout, o.cycles, "lwm2m.heap.cycles", ""));
  return rows;
}
