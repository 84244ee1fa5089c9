// `lwm2m-wasm fleet`: many simulated devices in one Node process, against any
// LwM2M server (load and soak tests with real DTLS and bootstrap).
//
// What keeps a device small (bench/fleet.ts measures it):
// - one compiled WebAssembly.Module for all devices: an instance is its 64 KiB
//   linear memory and a few globals, not a copy of the code;
// - flash images lazily backed (SparseNorFlash): only sectors the store
//   programmed take memory;
// - logs and client events in a ring per device (`--log-lines`), written to
//   files on request (`--logs DIR` at the end, SIGUSR2 at any time);
// - UDP: a DTLS 1.2 server tells its clients apart by source address and
//   port only (the firmware has no RFC 9146 Connection ID), so every device
//   association needs its own (address, port), i.e. its own socket: Node's
//   dgram cannot pick a source per datagram (no IP_PKTINFO). One `FleetNet`
//   owns all of them, one socket per open association (none for an idle
//   device), spread over loopback source addresses 127.0.0.x when the server
//   is on loopback so the ephemeral port range (about 28,000 per address) is
//   no limit. The bench measures what a socket costs.
import { LogDictionary } from "./log-dictionary";
import { EventEmitter } from "node:events";
import dgram from "node:dgram";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Device, FIRMWARE_PATH, type AccountConfig, type ClientEvent, type FactoryConfig, type LogEvent } from "./device";
import { DeviceRng } from "./drbg";
import { SimulatedSecureElement } from "./se";
import { SparseNorFlash } from "./sparse-flash";
import { HostStatus, BootStatus } from "./status";
import type { NetService } from "./host";
import { DEV_KDF, devPsk } from "../../server/dev-psk";

// ---- the shared network ---------------------------------------------------------------

interface Association {
  socket: dgram.Socket; address: string; port: number; closed: boolean;
  /** Highest DTLS handshake message_seq sent in plaintext (DTLS), or the last CoAP message ID (NoSec). */
  lastSeq: number;
}

/** Counters over all devices of a fleet. */
export interface NetCounters {
  sentDatagrams: number; sentBytes: number; receivedDatagrams: number; receivedBytes: number;
  /** DTLS handshakes started: ClientHellos without a cookie (message_seq 0) sent for the first time. */
  handshakes: number;
  /** Flights sent again: a plaintext DTLS handshake record whose message_seq was already sent (RFC 6347 4.2.4), or a NoSec CoAP CON with a message ID already sent. */
  retransmissions: number;
  /** Sockets open now and at most. */
  sockets: number; peakSockets: number;
}

/** The UDP side of a whole fleet; each device gets a `NetService` view of it (`forDevice`). */
export class FleetNet {
  readonly counters: NetCounters = {
    sentDatagrams: 0, sentBytes: 0, receivedDatagrams: 0, receivedBytes: 0, handshakes: 0, retransmissions: 0, sockets: 0, peakSockets: 0,
  };

  /** `sourceAddresses`: how many loopback source addresses (127.0.0.1 ...) devices are spread over for a loopback server. */
  constructor(private readonly sourceAddresses = 1) {}

  forDevice(index: number, deliver: (peer: number, data: Uint8Array) => void): NetService {
    const assocs = new Map<number, Association>();
    let next = 0;
    const close = (h: number) => {
      const a = assocs.get(h);
      if (!a) return;
      assocs.delete(h);
      a.closed = true;
      this.counters.sockets--;
      a.socket.close();
    };
    return {
      open: (host: string, port: number): number => {
        const bare = host.replace(/^\[|\]$/g, "");
        // numeric addresses only: thousands of devices resolving names would be a DNS load test
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(bare) || port <= 0 || port > 65535) return HostStatus.Invalid;
        const h = next++;
        const socket = dgram.createSocket("udp4");
        const a: Association = { socket, address: bare, port, closed: false, lastSeq: -1 };
        assocs.set(h, a);
        this.counters.sockets++;
        this.counters.peakSockets = Math.max(this.counters.peakSockets, this.counters.sockets);
        socket.on("message", (msg, rinfo) => {
          if (a.closed || rinfo.port !== port || rinfo.address !== bare) return; // not our peer
          this.counters.receivedDatagrams++;
          this.counters.receivedBytes += msg.length;
          deliver(h, new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
        });
        socket.on("error", () => close(h));
        const loopback = bare.startsWith("127.");
        socket.bind(0, loopback ? `127.0.0.${1 + (index % this.sourceAddresses)}` : "0.0.0.0");
        return h;
      },
      send: (h: number, data: Uint8Array): number => {
        const a = assocs.get(h);
        if (!a) return HostStatus.Invalid;
        this.count(a, data);
        a.socket.send(data.slice(), a.port, a.address);
        return HostStatus.Ok;
      },
      close,
      closeAll: () => { for (const h of [...assocs.keys()]) close(h); },
    };
  }

  /** Handshakes and retransmissions from the plaintext headers (DTLS record: type 22, epoch 0; handshake header message_seq). */
  private count(a: Association, d: Uint8Array) {
    this.counters.sentDatagrams++;
    this.counters.sentBytes += d.length;
    if (d.length >= 25 && d[0] === 22 && d[3] === 0 && d[4] === 0) {
      const seq = (d[17] << 8) | d[18];
      if (d[13] === 1 && seq === 0 && a.lastSeq > 1) a.lastSeq = -1; // a new handshake on the same association
      if (seq <= a.lastSeq) this.counters.retransmissions++;
      else if (d[13] === 1 && seq === 0) this.counters.handshakes++;
      a.lastSeq = Math.max(a.lastSeq, seq);
    } else if (d.length >= 4 && d[0] >> 6 === 1 && ((d[0] >> 4) & 3) === 0) {
      // NoSec CoAP CON: its message ID sent before = a retransmission (RFC 7252 4.2)
      const mid = (d[2] << 8) | d[3];
      if (mid === a.lastSeq) this.counters.retransmissions++;
      a.lastSeq = mid;
    }
  }
}

// ---- the fleet --------------------------------------------------------------------------------

export type DeviceStatus = "waiting" | "starting" | "bootstrapping" | "registering" | "registered" | "retrying" | "failed" | "deregistered";

export interface FleetDevice {
  index: number;
  endpoint: string;
  status: DeviceStatus;
  device?: Device;
  /** performance.now() at start and at the first registration. */
  startedAt?: number;
  registeredAt?: number;
  registrations: number;
  updates: number;
  notifications: number;
  deregistered: boolean;
  failures: string[];
}

export interface FleetOptions {
  count: number;
  /** Endpoint of device n (0-based index) when `spec` does not give one. */
  endpointPrefix: string;
  /** First device number in names and templates (default 1). */
  firstNumber?: number;
  /** The factory configuration of device n (its endpoint included). */
  spec(n: number, endpoint: string): FactoryConfig;
  /** Devices started per second (default 50; 0 = all at once). */
  rate?: number;
  /** A folder per device under it (flash image and SE key store); in memory when absent. */
  stateDir?: string;
  /** Replace a stored configuration with the spec (default: a provisioned device keeps its own). */
  reprovision?: boolean;
  /** Log lines and client events kept per device (default 40). */
  logLines?: number;
  /** Every `notifyEvery` seconds, a share `notifyShare` (0..1) of the devices changes /3/0/9 (battery level): observers get notifications. */
  notifyEvery?: number;
  notifyShare?: number;
  /** A device not registered this long after its start counts as failed ("timeout"); it keeps trying. Default 120 s. */
  registerTimeoutMs?: number;
  /** The firmware file (default build/firmware.wasm). */
  firmware?: string;
  /** Loopback source addresses to spread devices over (default: one per 20,000 devices). */
  sourceAddresses?: number;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1))] : null);

/**
 * Events: 'registered' (FleetDevice, its first registration), 'allRegistered',
 * 'failed' (FleetDevice, reason).
 */
export class Fleet extends EventEmitter {
  readonly devices: FleetDevice[] = [];
  readonly net: FleetNet;
  readonly module: WebAssembly.Module;
  readonly logDictionary: LogDictionary | null;
  readonly failuresByReason = new Map<string, number>();
  /** process.memoryUsage() after the module was compiled, before the first device. */
  readonly baseline: NodeJS.MemoryUsage;
  startedAt = 0;
  allRegisteredAt: number | null = null;
  private starter: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private stopping = false;
  private notifier: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private nextToStart = 0;

  constructor(readonly options: FleetOptions) {
    super();
    const first = options.firstNumber ?? 1;
    for (let i = 0; i < options.count; i++) {
      this.devices.push({ index: i, endpoint: `${options.endpointPrefix}${first + i}`, status: "waiting", registrations: 0, updates: 0, notifications: 0, deregistered: false, failures: [] });
    }
    this.net = new FleetNet(options.sourceAddresses ?? Math.max(1, Math.ceil(options.count / 20000)));
    const path = options.firmware ?? FIRMWARE_PATH;
    const bytes = readFileSync(path);
    this.module = new WebAssembly.Module(bytes);
    this.logDictionary = LogDictionary.forModule(path, bytes);
    this.baseline = process.memoryUsage();
  }

  /** Starts the devices at the configured rate; resolves when the last one is started. */
  start(): Promise<void> {
    this.startedAt = performance.now();
    const rate = this.options.rate ?? 50;
    const timeout = this.options.registerTimeoutMs ?? 120_000;
    this.watchdog = setInterval(() => {
      const now = performance.now();
      for (const d of this.devices) {
        if (d.startedAt !== undefined && d.registeredAt === undefined && d.status !== "failed" && now - d.startedAt > timeout) this.fail(d, "timeout (not registered)", false);
      }
    }, 1000);
    this.watchdog.unref();
    if (this.options.notifyEvery && (this.options.notifyShare ?? 0) > 0) {
      const share = Math.min(1, this.options.notifyShare!);
      this.notifier = setInterval(() => {
        for (const d of this.devices) {
          if (d.status === "registered" && d.index % 1000 < share * 1000) d.device?.setResource(3, 0, 9, Math.floor(Math.random() * 101));
        }
      }, this.options.notifyEvery * 1000);
    }
    // One device per turn of the event loop (setImmediate runs after the I/O of that turn): a boot takes
    // 10-20 ms of CPU, and the devices already handshaking must get their datagrams in between, or they
    // retransmit (and the server with them).
    return new Promise((resolve) => {
      const t0 = performance.now();
      const step = () => {
        this.starter = null;
        if (this.stopping) { resolve(); return; }
        const due = rate <= 0 ? this.devices.length : Math.floor(((performance.now() - t0) / 1000) * rate) + 1;
        if (this.nextToStart < Math.min(due, this.devices.length)) this.startDevice(this.devices[this.nextToStart++]);
        if (this.nextToStart >= this.devices.length) { resolve(); return; }
        this.starter = this.nextToStart < due ? setImmediate(step) : setTimeout(step, t0 + (this.nextToStart / rate) * 1000 - performance.now());
      };
      step();
    });
  }

  private fail(d: FleetDevice, reason: string, final: boolean) {
    d.failures.push(reason);
    this.failuresByReason.set(reason, (this.failuresByReason.get(reason) ?? 0) + 1);
    if (final || reason.startsWith("timeout")) d.status = "failed";
    else if (d.status !== "failed") d.status = "retrying";
    this.emit("failed", d, reason);
  }

  private startDevice(d: FleetDevice) {
    d.status = "starting";
    d.startedAt = performance.now();
    const o = this.options;
    const dir = o.stateDir ? join(o.stateDir, d.endpoint) : undefined;
    if (dir) mkdirSync(dir, { recursive: true });
    let dev!: Device;
    try {
      dev = new Device({
        module: this.module,
        logDictionary: this.logDictionary,
        rng: new DeviceRng(),
        se: new SimulatedSecureElement(dir ? join(dir, "se-keystore.json") : undefined),
        flash: new SparseNorFlash(dir ? { path: join(dir, "flash.img") } : {}),
        net: this.net.forDevice(d.index, (peer, data) => dev.deliver(peer, data)),
        logLimit: o.logLines ?? 40,
      });
    } catch (e) {
      this.fail(d, `start: ${(e as Error).message}`, true);
      return;
    }
    d.device = dev;
    dev.on("event", (e: ClientEvent) => this.onEvent(d, e));
    dev.on("log", (l: LogEvent) => {
      if (l.level > 1) return;
      const m = /^DTLS: (.+?) ssid=\d+: (.+?) \(reason/.exec(l.text);
      if (m) this.fail(d, `DTLS ${m[1]}: ${m[2]}`, false);
    });
    dev.on("fatal", (e: Error) => this.fail(d, `firmware fatal: ${e.message}`, true));
    const status = dev.start();
    const all = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
    if ((status & all) !== all) { this.fail(d, `boot failed (status ${status})`, true); dev.stop(); return; }
    if (dev.provisioned && !o.reprovision) return; // the stored configuration registers on its own
    try {
      dev.provision(o.spec(d.index, d.endpoint));
    } catch (e) {
      this.fail(d, `provisioning: ${(e as Error).message}`, true);
      dev.stop();
    }
  }

  private onEvent(d: FleetDevice, e: ClientEvent) {
    switch (e.name) {
      case "bootstrapRequested": if (d.status !== "retrying") d.status = "bootstrapping"; break;
      case "bootstrapped": d.status = "registering"; break;
      case "bootstrapFailed": this.fail(d, `bootstrap failed (${e.arg})`, false); break;
      case "bootstrapRefused": this.fail(d, `bootstrap refused (config error ${e.arg})`, false); break;
      case "registrationFailed": this.fail(d, `registration failed (${coapCode(e.arg)})`, false); break;
      case "registered":
        d.registrations++;
        d.status = "registered";
        if (d.registeredAt === undefined) {
          d.registeredAt = performance.now();
          this.emit("registered", d);
          if (this.allRegisteredAt === null && this.devices.every((x) => x.registeredAt !== undefined)) {
            this.allRegisteredAt = performance.now();
            this.emit("allRegistered");
          }
        }
        break;
      case "updated": d.updates++; break;
      case "notification": d.notifications++; break;
      case "deregistered": d.deregistered = true; d.status = "deregistered"; break;
    }
    if (e.name === "bootstrapRequested" && d.status === "starting") d.status = "bootstrapping";
  }

  /** Counts by status. */
  census(): Record<DeviceStatus, number> {
    const c: Record<DeviceStatus, number> = { waiting: 0, starting: 0, bootstrapping: 0, registering: 0, registered: 0, retrying: 0, failed: 0, deregistered: 0 };
    for (const d of this.devices) c[d.status]++;
    return c;
  }

  /** Every device de-registers (and its sockets close); resolves when all are done or after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.starter) { clearTimeout(this.starter as NodeJS.Timeout); clearImmediate(this.starter as NodeJS.Immediate); }
    if (this.notifier) clearInterval(this.notifier);
    if (this.watchdog) clearInterval(this.watchdog);
    this.starter = this.notifier = this.watchdog = null;
    await Promise.all(this.devices.map((d) => d.device?.shutdown(timeoutMs)));
    for (const d of this.devices) d.device?.stop();
  }

  /** Each device's log ring to DIR/<endpoint>.log. */
  writeLogs(dir: string): number {
    mkdirSync(dir, { recursive: true });
    let n = 0;
    for (const d of this.devices) {
      if (!d.device) continue;
      const lines = d.device.logs.map((l) => `[${l.levelName}] ${l.text}`);
      const events = d.device.events.map((e) => `[event] ${e.name} ssid=${e.ssid} arg=${e.arg}${e.text ? ` ${e.text}` : ""}`);
      writeFileSync(join(dir, `${d.endpoint.replace(/[^A-Za-z0-9._-]/g, "_")}.log`),
        `# ${d.endpoint}: ${d.status}; last ${lines.length} log lines, then the last ${events.length} client events\n${[...lines, ...events].join("\n")}\n`);
      n++;
    }
    return n;
  }

  /** The JSON report (times in ms; memory in bytes). */
  report(memoryAtRegistered?: NodeJS.MemoryUsage) {
    const times = this.devices.filter((d) => d.registeredAt !== undefined).map((d) => d.registeredAt! - d.startedAt!).sort((a, b) => a - b);
    const r1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
    const started = this.devices.filter((d) => d.startedAt !== undefined).length;
    const mem = memoryAtRegistered ?? process.memoryUsage();
    const c = this.net.counters;
    return {
      count: this.devices.length,
      started,
      registered: times.length,
      deregistered: this.devices.filter((d) => d.deregistered).length,
      failed: this.devices.filter((d) => d.status === "failed").length,
      timeToRegisterMs: {
        min: r1(quantile(times, 0)), median: r1(quantile(times, 0.5)), p99: r1(quantile(times, 0.99)), max: r1(times.length ? times[times.length - 1] : null),
      },
      allRegisteredMs: this.allRegisteredAt === null ? null : r1(this.allRegisteredAt - this.startedAt),
      handshakes: c.handshakes,
      retransmissions: c.retransmissions,
      datagrams: { sent: c.sentDatagrams, received: c.receivedDatagrams, sentBytes: c.sentBytes, receivedBytes: c.receivedBytes },
      sockets: { open: c.sockets, peak: c.peakSockets },
      updates: this.devices.reduce((s, d) => s + d.updates, 0),
      notifications: this.devices.reduce((s, d) => s + d.notifications, 0),
      failuresByReason: Object.fromEntries([...this.failuresByReason].sort((a, b) => b[1] - a[1])),
      failedDevices: this.devices.filter((d) => d.status === "failed" || d.registeredAt === undefined).slice(0, 20).map((d) => ({ endpoint: d.endpoint, status: d.status, failures: d.failures.slice(-3) })),
      memory: {
        rssBaseline: this.baseline.rss, rss: mem.rss, heapUsed: mem.heapUsed, arrayBuffers: mem.arrayBuffers,
        rssPerDevice: started ? Math.round((mem.rss - this.baseline.rss) / started) : null,
        arrayBuffersPerDevice: started ? Math.round((mem.arrayBuffers - this.baseline.arrayBuffers) / started) : null,
        heapPerDevice: started ? Math.round((mem.heapUsed - this.baseline.heapUsed) / started) : null,
        flashResidentPerDevice: started ? Math.round(this.devices.reduce((s, d) => s + ((d.device?.flash as SparseNorFlash | undefined)?.residentBytes ?? 0), 0) / started) : null,
      },
    };
  }
}
export type FleetReport = ReturnType<Fleet["report"]>;

/** "4.03" from a CoAP code byte; other numbers (reasons) as they are. */
function coapCode(c: number): string {
  return c >= 64 && c < 256 ? `${c >> 5}.${String(c & 31).padStart(2, "0")}` : String(c);
}

// ---- credentials per device ----------------------------------------------------------------------

/** {n} (the device number) and {ep} (its endpoint) in a template. */
export function fillDevice(template: string, n: number, endpoint: string): string {
  return template.replace(/\{n\}/g, String(n)).replace(/\{ep\}/g, endpoint);
}

/** One row of a --credentials list (JSON array of objects or CSV with a header line of these names). */
export interface CredentialRow { endpoint?: string; pskIdentity?: string; pskKey?: string; rpkKey?: string; cert?: string; key?: string }

export function readCredentialList(file: string): CredentialRow[] {
  const text = readFileSync(file, "utf8");
  if (/\.json$/i.test(file) || text.trimStart().startsWith("[")) {
    const rows = JSON.parse(text);
    if (!Array.isArray(rows)) throw new Error(`${file}: a JSON array of objects is expected`);
    return rows as CredentialRow[];
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
  const header = lines.shift()?.split(",").map((h) => h.trim()) ?? [];
  const known = ["endpoint", "pskIdentity", "pskKey", "rpkKey", "cert", "key"];
  for (const h of header) if (!known.includes(h)) throw new Error(`${file}: unknown column '${h}' (${known.join(", ")})`);
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [header[i], v.trim()])) as CredentialRow);
}

/** The device-side flags with {n}/{ep} filled and 'dev-kdf' replaced by the identity's development key. */
export function deviceArgs(args: string[], n: number, endpoint: string, row?: CredentialRow): string[] {
  const out = args.map((a) => fillDevice(a, n, endpoint));
  const set = (flag: string, v: string | undefined) => {
    if (v === undefined || v === "") return;
    const i = out.indexOf(flag);
    if (i >= 0) out[i + 1] = v; else out.push(flag, v);
  };
  if (row) { set("--psk-identity", row.pskIdentity); set("--psk-key", row.pskKey); set("--rpk-key", row.rpkKey); set("--cert", row.cert); set("--key", row.key); }
  const k = out.indexOf("--psk-key"), id = out.indexOf("--psk-identity");
  if (k >= 0 && out[k + 1] === DEV_KDF && id >= 0) out[k + 1] = Buffer.from(devPsk(out[id + 1])).toString("hex");
  return out;
}

// ---- command line -------------------------------------------------------------------------------------

export const FLEET_USAGE = `usage: lwm2m-wasm fleet --count N --endpoint-prefix P (--bootstrap URI | --server URI) [security] [options]
  security (as for 'device'; {n} = the device number, {ep} = its endpoint, in identities, keys and file names):
    --psk-identity ID --psk-key HEX|dev-kdf     dev-kdf: the development servers' derived keys (server/README.md)
    --rpk-key FILE --server-rpk FILE | --cert FILE --key FILE --ca FILE [--cert-usage N]
    --credentials FILE     per-device credentials: a JSON array or a CSV (header: endpoint,pskIdentity,pskKey,rpkKey,cert,key)
  options:
    --first N              number of the first device (default 1): endpoints P1, P2, ...
    --rate R               devices started per second (default 50; 0 = all at once)
    --duration S           run S seconds after the last device is started, then every device de-registers and the command exits
                           (default: until Ctrl-C)
    --stop-when-registered stop (de-register, exit) as soon as every device has registered (or at --duration, whichever is first)
    --lifetime S           registration lifetime with --server (default 300; with --bootstrap the Bootstrap-Server's
                           configuration sets it): each device sends an Update at 90 % of it
    --notify-every S --notify-share F   every S seconds a share F (0..1) of the devices changes /3/0/9: notifications to observers
    --state DIR            each device's flash and SE in DIR/<endpoint>/ (kept; --reprovision replaces stored configurations)
    --log-lines N          log lines kept per device (default 40); --logs DIR writes them at the end (SIGUSR2: now)
    --report FILE          the JSON report (default fleet-report.json); --quiet: no progress line
    --register-timeout S   a device not registered after S seconds counts as failed (default 120)
    --source-addresses N   loopback source addresses to spread devices over (127.0.0.1..N)`;

type CredentialsOf = (args: string[], uri: string) => Partial<AccountConfig>;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
function num(args: string[], name: string, fallback: number, min = 0): number {
  const v = option(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} ${v}: a number ≥ ${min} is expected`);
  return n;
}

/** Parses the flags into FleetOptions; `credentials` is the device command's reader of the security flags. */
export function fleetOptions(args: string[], credentials: CredentialsOf): FleetOptions & {
  duration: number | null; stopWhenRegistered: boolean; report: string; logs?: string; quiet: boolean;
} {
  const count = num(args, "--count", NaN, 1);
  if (!Number.isInteger(count)) throw new Error("--count N is required");
  const prefix = option(args, "--endpoint-prefix");
  if (!prefix) throw new Error("--endpoint-prefix P is required");
  const bs = option(args, "--bootstrap"), server = option(args, "--server");
  if (!!bs === !!server) throw new Error("give exactly one of --bootstrap URI and --server URI");
  const uri = (bs ?? server)!;
  if (!/^coaps?:\/\/(\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:]+\]):\d+\/?$/.test(uri)) throw new Error(`${uri}: a coap:// or coaps:// URI with a numeric address and a port`);
  const listFile = option(args, "--credentials");
  const rows = listFile ? readCredentialList(listFile) : undefined;
  if (rows && rows.length < count) throw new Error(`${listFile}: ${rows.length} rows for ${count} devices`);
  const first = num(args, "--first", 1);
  const lifetime = num(args, "--lifetime", 300, 1);
  const spec = (i: number, endpoint: string): FactoryConfig => {
    const row = rows?.[i];
    const ep = row?.endpoint || endpoint;
    const creds = credentials(deviceArgs(args, first + i, ep, row), uri);
    return bs
      ? { endpoint: ep, bootstrap: { uri, ...creds, clientHoldOffTime: 0 } }
      : { endpoint: ep, servers: [{ uri, ...creds, shortServerId: 1, lifetime }] };
  };
  spec(0, `${prefix}${first}`); // the first device's flags fail now, not in the middle of the run
  const duration = option(args, "--duration");
  return {
    count, endpointPrefix: prefix, firstNumber: first, spec,
    rate: num(args, "--rate", 50), stateDir: option(args, "--state"), reprovision: args.includes("--reprovision"),
    logLines: num(args, "--log-lines", 40, 1), notifyEvery: num(args, "--notify-every", 0), notifyShare: num(args, "--notify-share", 1),
    registerTimeoutMs: num(args, "--register-timeout", 120, 1) * 1000,
    sourceAddresses: option(args, "--source-addresses") ? num(args, "--source-addresses", 1, 1) : undefined,
    duration: duration === undefined ? null : num(args, "--duration", 0), stopWhenRegistered: args.includes("--stop-when-registered"), report: option(args, "--report") ?? "fleet-report.json",
    logs: option(args, "--logs"), quiet: args.includes("--quiet"),
  };
}

const kib = (b: number | null) => (b === null ? "—" : `${(b / 1024).toFixed(1)} KiB`);
const ms = (x: number | null) => (x === null ? "—" : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

export function summaryTable(r: FleetReport): string {
  const rows: [string, string][] = [
    ["devices", `${r.count} (started ${r.started})`],
    ["registered", `${r.registered}`],
    ["de-registered at the end", `${r.deregistered}`],
    ["failed", `${r.failed}`],
    ["time to register min / median / p99 / max", `${ms(r.timeToRegisterMs.min)} / ${ms(r.timeToRegisterMs.median)} / ${ms(r.timeToRegisterMs.p99)} / ${ms(r.timeToRegisterMs.max)}`],
    ["all registered after", ms(r.allRegisteredMs)],
    ["DTLS handshakes / retransmissions", `${r.handshakes} / ${r.retransmissions}`],
    ["datagrams sent / received", `${r.datagrams.sent} / ${r.datagrams.received}`],
    ["updates / notifications", `${r.updates} / ${r.notifications}`],
    ["UDP sockets peak", `${r.sockets.peak}`],
    ["resident per device (RSS delta / started)", `${kib(r.memory.rssPerDevice)} (flash ${kib(r.memory.flashResidentPerDevice)}, JS heap ${kib(r.memory.heapPerDevice)}, buffers ${kib(r.memory.arrayBuffersPerDevice)})`],
  ];
  for (const [reason, n] of Object.entries(r.failuresByReason)) rows.push([`failure: ${reason}`, String(n)]);
  const w = Math.max(...rows.map((x) => x[0].length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join("\n");
}

/** `lwm2m-wasm fleet ...`; resolves with the exit code (0: every device registered and de-registered). */
export async function runFleet(args: string[], credentials: CredentialsOf): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) { console.log(FLEET_USAGE); return 0; }
  if (!existsSync(FIRMWARE_PATH)) { console.error(`no firmware at ${FIRMWARE_PATH}: run 'npm run build' first`); return 2; }
  let o: ReturnType<typeof fleetOptions>;
  try {
    o = fleetOptions(args, credentials);
  } catch (e) {
    console.error(`lwm2m-wasm fleet: ${(e as Error).message}\n${FLEET_USAGE}`);
    return 2;
  }
  const fleet = new Fleet(o);
  let memAtRegistered: NodeJS.MemoryUsage | undefined;
  fleet.on("allRegistered", () => {
    (globalThis as { gc?: () => void }).gc?.();
    memAtRegistered = process.memoryUsage();
  });
  const tty = process.stderr.isTTY;
  let last = { t: performance.now(), reg: 0, started: 0 };
  const progress = () => {
    const c = fleet.census();
    const now = performance.now();
    const reg = fleet.devices.filter((d) => d.registeredAt !== undefined).length, started = fleet.devices.length - c.waiting;
    const dt = (now - last.t) / 1000 || 1;
    const line = `fleet ${((now - fleet.startedAt) / 1000).toFixed(1)} s: ${c.registered}/${o.count} registered, ${c.bootstrapping} bootstrapping, ` +
      `${c.starting + c.registering} registering, ${c.retrying} retrying, ${c.failed} failed, ${c.deregistered} de-registered; ` +
      `${((started - last.started) / dt).toFixed(0)} started/s, ${((reg - last.reg) / dt).toFixed(0)} registered/s, ${fleet.net.counters.sockets} sockets`;
    last = { t: now, reg, started };
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
  const ticker = o.quiet ? null : setInterval(progress, tty ? 1000 : 5000);
  const dumpLogs = () => { if (o.logs) console.error(`\nlogs of ${fleet.writeLogs(o.logs)} devices written to ${o.logs}/`); };
  process.on("SIGUSR2", dumpLogs);
  let stopRequested: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stopRequested = resolve; });
  // on(), not once(): Ctrl-C reaches this process twice (the terminal's process group, and bin/lwm2m-wasm.js forwarding it)
  const onSignal = () => stopRequested();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  console.error(`fleet: ${o.count} devices ${o.endpointPrefix}${o.firstNumber}..${o.endpointPrefix}${(o.firstNumber ?? 1) + o.count - 1}, ${o.rate || "all"} per second; one compiled module (${(readFileSync(o.firmware ?? FIRMWARE_PATH).length / 1024).toFixed(0)} KiB of wasm)`);
  const allRegistered = new Promise<void>((resolve) => fleet.once("allRegistered", () => resolve()));
  await fleet.start();
  await Promise.race([
    stopped,
    ...(o.duration !== null ? [new Promise((r) => setTimeout(r, o.duration! * 1000))] : []),
    ...(o.stopWhenRegistered ? [allRegistered] : []),
  ]);
  if (ticker) { progress(); clearInterval(ticker); }
  console.error(`${tty ? "\n" : ""}fleet: stopping: every device de-registers`);
  const memBeforeStop = memAtRegistered ?? ((globalThis as { gc?: () => void }).gc?.(), process.memoryUsage());
  await fleet.stop();
  dumpLogs();
  process.off("SIGUSR2", dumpLogs);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  const report = { generatedAt: new Date().toISOString(), options: { ...o, spec: undefined }, ...fleet.report(memBeforeStop) };
  writeFileSync(o.report, JSON.stringify(report, null, 2) + "\n");
  console.log(summaryTable(report));
  console.log(`report: ${o.report}`);
  return report.registered === o.count && report.deregistered === o.count ? 0 : 1;
}
