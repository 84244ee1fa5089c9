// A simulated device: one instance of build/firmware.wasm wired to the Node
// host services. The host owns the loop: it delivers datagrams and timer
// expiries and re-arms one timer at the deadline the firmware returns.
//
// LwM2M side: provision() writes the factory configuration (Security and
// Server Object instances as TLV, the endpoint name, the BS-4 entropy flag)
// through the firmware's provisioning exports; the firmware keeps it in its
// sealed store, so later boots come back without it. Each client step is an
// event (see DeviceEvents). A server's Execute of Reboot / Factory Reset
// restarts the module with the same flash and SE.
import { LogDictionary } from "./log-dictionary";
import { EventEmitter } from "node:events";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createHostImports, systemClock, FirmwareFatal, type Clock, type NetService, type FlashService } from "./host";
import { DeviceRng } from "./drbg";
import { SimulatedSecureElement } from "./se";
import { NorFlash } from "./flash";
import { UdpNet } from "./net";
import { ABI_VERSION, LOG_LEVEL_NAMES, storeStatusMessage } from "./status";
import { profileFirmwarePath } from "./profile";

/** The release module of the build profile LWM2M_PROFILE names (host-shim/node/profile.ts): build/firmware.wasm for `full`. */
export const FIRMWARE_PATH = profileFirmwarePath();

export interface FirmwareExports {
  memory: WebAssembly.Memory;
  _initialize?: () => void;
  abi_version(): number;
  rx_buffer(): number;
  rx_capacity(): number;
  init(nowMs: bigint): bigint;
  datagram_received(peer: number, len: number, nowMs: bigint): bigint;
  timer_fired(nowMs: bigint): bigint;
  boot_status(): number;
  generate_device_key(slot: number, pubOut: number): number;
  poll(nowMs: bigint): bigint;
  shutdown(nowMs: bigint): bigint;
  config_buffer(): number;
  config_capacity(): number;
  provision_begin(): number;
  provision_write(oid: number, iid: number, format: number, len: number): number;
  provision_finish(epLen: number, flags: number, nowMs: bigint): number;
  provision_abort(nowMs: bigint): number;
  est_configure(kind: number, len: number): number;
  provisioned(): number;
  config_error(): number;
  host_request(): number;
  event_next(): number;
  event_ssid(): number;
  event_arg(): number;
  event_text(): number;
  event_text_len(): number;
  client_state(ssid: number): number;
  device_set_int(oid: number, iid: number, rid: number, value: bigint): number;
  store_status(): number;
  config_status(): number;
  factory_reset(): number;
  prepare_sleep(nowMs: bigint): bigint;
  set_queue_window(ms: bigint): void;
  set_connection_id?(len: number): number;
  set_sleep_mode?(mode: number): number;
  queue_awake_until(): bigint;
  [name: string]: unknown;
}

export interface DeviceOptions {
  firmware?: string | Uint8Array;
  /** The compiled firmware (a fleet compiles it once for all its devices); `firmware` is not read when given. */
  module?: WebAssembly.Module;
  /** With `module`: its log dictionary (LogDictionary.forModule). */
  logDictionary?: LogDictionary | null;
  /** Keep only the last N log lines and client events (a ring; default: all of them). */
  logLimit?: number;
  /** Folder for the flash image and the SE key store; in memory when absent. */
  stateDir?: string;
  rng?: DeviceRng;
  se?: SimulatedSecureElement;
  flash?: FlashService;
  net?: NetService;
  clock?: Clock;
  /** Do not arm a real timer: the caller advances time (FakeClock + advance()). */
  manualTimers?: boolean;
  /** RFC 9146 connection ID (a device setting, applied at every boot): the length 0..32 of the CID
   *  we ask the server to use towards us (0: we send with the server's CID only); absent or -1: off.
   *  Offered with the CCM_8 suites only. */
  connectionId?: number;
  /** What prepareSleep() does with the DTLS connections (a device setting, applied at every boot):
   *  "resume" (default: close_notify, the sealed session resumes at wake), "keep" (the connection
   *  itself sealed: the wake sends with no handshake), "full" (a full handshake at wake). */
  sleepMode?: SleepModeName;
}

export type SleepModeName = "resume" | "keep" | "full";
export const SLEEP_MODES: Record<SleepModeName, number> = { resume: 0, keep: 1, full: 2 };

export interface LogEvent { level: number; levelName: string; text: string }

/** A clock the caller moves (tests): monotonic ms from 0, wall clock from a fixed epoch. */
export class FakeClock implements Clock {
  constructor(public now = 0, public wallEpoch = 1_700_000_000) {}
  monotonicMs() { return this.now; }
  wallSeconds() { return this.wallEpoch + Math.floor(this.now / 1000); }
}

// ---- LwM2M client events (assembly/lwm2m/client/events.ts ClientEvent) ----
export const CLIENT_EVENTS = [
  "", "bootstrapRequested", "bootstrapped", "bootstrapFailed", "registered", "registrationFailed", "updated",
  "deregistered", "notification", "observed", "observeCancelled", "disabled", "reboot", "factoryReset",
  "bootstrapRefused", "insecure", "enrolled", "enrolFailed",
] as const;
export type ClientEventName = Exclude<(typeof CLIENT_EVENTS)[number], "">;
export interface ClientEvent {
  name: ClientEventName;
  /** Short Server ID (0: the Bootstrap-Server account). */
  ssid: number;
  /** registered/updated: lifetime; notification: Observe sequence; *Failed: CoAP code or reason; bootstrapRefused: ConfigError. */
  arg: number;
  /** registered: Location-Path; notification/observed/observeCancelled: the path; insecure: the URI. */
  text: string;
}

/** Connection states (assembly/lwm2m/client/conn.ts St). */
export const ClientState = {
  None: -1, Idle: 0, Wait: 1, Connecting: 2, Registering: 3, Registered: 4, Updating: 5, Deregistering: 6,
  BsRequesting: 7, Bootstrapping: 8, Failed: 9, Disabled: 10, Lingering: 11,
} as const;

// ---- factory configuration ----
export type SecurityModeName = "psk" | "rpk" | "x509" | "nosec" | "est";
const SECURITY_MODES: Record<SecurityModeName, number> = { psk: 0, rpk: 1, x509: 2, nosec: 3, est: 4 };

/** One Security Object (/0) instance (LwM2M 1.1 Appendix E.1). */
export interface AccountConfig {
  /** 0: coap://host:port (NoSec) or coaps://host:port. */
  uri: string;
  /** 2: default nosec for coap://, psk for coaps://. */
  securityMode?: SecurityModeName | number;
  /** 3 for PSK: the identity (UTF-8 or bytes). */
  pskIdentity?: string | Uint8Array;
  /** 5 for PSK: the key (bytes or hex). */
  pskKey?: Uint8Array | string;
  /** 3 for RPK / X.509: our public key (SPKI DER) or certificate (DER). */
  publicKey?: Uint8Array;
  /** 4: the server's public key / certificate / trust anchor (DER). */
  serverPublicKey?: Uint8Array;
  /** 5 for RPK / X.509: our P-256 private key (raw 32 bytes, SEC1 or PKCS#8 DER). */
  secretKey?: Uint8Array;
  clientHoldOffTime?: number; // 11 (s)
  bootstrapServerAccountTimeout?: number; // 12 (s)
  matchingType?: number; // 13
  sni?: string; // 14
  certificateUsage?: number; // 15
  ciphersuites?: number[]; // 16
}
/** An LwM2M Server account: Security instance + Server Object (/1) instance (E.2). */
export interface ServerAccountConfig extends AccountConfig {
  shortServerId: number;
  lifetime?: number; // 1, default 300 s
  defaultMinPeriod?: number; // 2
  defaultMaxPeriod?: number; // 3
  disableTimeout?: number; // 5
  notificationStoring?: boolean; // 6, default true
  binding?: string; // 7, default "U"
  communicationRetryCount?: number; // 17
  communicationRetryTimer?: number; // 18
  communicationSequenceDelayTimer?: number; // 19
  communicationSequenceRetryCount?: number; // 20
}
export interface FactoryConfig {
  endpoint: string;
  /** The factory Bootstrap-Server account. */
  bootstrap?: AccountConfig & {
    /** BS-4: the account's secret is low entropy (default false = high). */
    lowEntropy?: boolean;
  };
  servers?: ServerAccountConfig[];
  /** "pct" of the Bootstrap-Request: 112 (default) or null to leave it out. */
  bootstrapPct?: number | null;
  /** Security Mode 4 (issue 8): the EST server (default: the account's own server at /.well-known/est),
   *  an explicit EST trust anchor (DER; default: resource 4), the renewal point (% of validity, default 75),
   *  server-side key generation (/skg, RFC 7030 §4.4) instead of a key made in the SE (default false),
   *  discovery of the EST resources (GET /.well-known/core?rt=ace.est*, RFC 9148 §4.1) before each
   *  enrolment and renewal (default false: the EST path at once). The IDevID certificate and key of a mode-4 account are its resources 3 and 5 (publicKey, secretKey). */
  est?: { uri?: string; trustAnchor?: Uint8Array; renewPercent?: number; serverKeygen?: boolean; discover?: boolean };
  /** Device Object values (/3/0): manufacturer, model, serial number, firmware version. */
  device?: { manufacturer?: string; modelNumber?: string; serialNumber?: string; firmwareVersion?: string };
}

export class ProvisionError extends Error {
  constructor(readonly step: string, readonly code: number, readonly configError = 0) {
    super(`provisioning refused at ${step}: CoAP ${code >> 5}.${String(code & 31).padStart(2, "0")}` +
      (configError ? ` (config error ${configError})` : ""));
  }
}

// LwM2M TLV (Core §7.4.3), enough for provisioning.
const enc = new TextEncoder();
function tlv(kind: number, id: number, v: Uint8Array): Uint8Array {
  const hdr: number[] = [kind | (id > 255 ? 0x20 : 0)];
  if (id > 255) hdr.push(id >> 8, id & 255); else hdr.push(id);
  const n = v.length;
  if (n < 8) hdr[0] |= n;
  else if (n < 256) { hdr[0] |= 0x08; hdr.push(n); }
  else if (n < 65536) { hdr[0] |= 0x10; hdr.push(n >> 8, n & 255); }
  else { hdr[0] |= 0x18; hdr.push(n >> 16, (n >> 8) & 255, n & 255); }
  return cat(Uint8Array.from(hdr), v);
}
function cat(...a: Uint8Array[]): Uint8Array {
  const o = new Uint8Array(a.reduce((s, x) => s + x.length, 0));
  let p = 0;
  for (const x of a) { o.set(x, p); p += x.length; }
  return o;
}
function intBytes(v: number): Uint8Array {
  const b = BigInt(v);
  for (const n of [1, 2, 4, 8]) {
    const lim = 1n << BigInt(n * 8 - 1);
    if (b >= -lim && b < lim) {
      const o = new Uint8Array(n);
      let x = BigInt.asUintN(n * 8, b);
      for (let i = n - 1; i >= 0; i--) { o[i] = Number(x & 255n); x >>= 8n; }
      return o;
    }
  }
  throw new RangeError(`integer out of range: ${v}`);
}
const bytesOf = (v: string | Uint8Array | undefined, hex = false): Uint8Array =>
  v === undefined ? new Uint8Array(0) : typeof v === "string" ? (hex ? new Uint8Array(Buffer.from(v, "hex")) : enc.encode(v)) : v;
const rInt = (id: number, v: number) => tlv(0xc0, id, intBytes(v));
const rBytes = (id: number, v: Uint8Array) => tlv(0xc0, id, v);
const rBool = (id: number, v: boolean) => tlv(0xc0, id, Uint8Array.of(v ? 1 : 0));

function modeOf(a: AccountConfig): number {
  if (typeof a.securityMode === "number") return a.securityMode;
  if (a.securityMode) return SECURITY_MODES[a.securityMode];
  return a.uri.startsWith("coaps:") ? 0 : 3;
}

function securityInstance(iid: number, a: AccountConfig, bootstrap: boolean, ssid?: number): Uint8Array {
  const mode = modeOf(a);
  const res: Uint8Array[] = [
    rBytes(0, enc.encode(a.uri)),
    rBool(1, bootstrap),
    rInt(2, mode),
    rBytes(3, mode === 0 ? bytesOf(a.pskIdentity) : bytesOf(a.publicKey)),
    rBytes(4, bytesOf(a.serverPublicKey)),
    rBytes(5, mode === 0 ? bytesOf(a.pskKey, true) : bytesOf(a.secretKey)),
  ];
  if (ssid !== undefined) res.push(rInt(10, ssid));
  if (a.clientHoldOffTime !== undefined) res.push(rInt(11, a.clientHoldOffTime));
  if (a.bootstrapServerAccountTimeout !== undefined) res.push(rInt(12, a.bootstrapServerAccountTimeout));
  if (a.matchingType !== undefined) res.push(rInt(13, a.matchingType));
  if (a.sni !== undefined) res.push(rBytes(14, enc.encode(a.sni)));
  if (a.certificateUsage !== undefined) res.push(rInt(15, a.certificateUsage));
  if (a.ciphersuites?.length) res.push(tlv(0x80, 16, cat(...a.ciphersuites.map((c, i) => tlv(0x40, i, intBytes(c))))));
  return tlv(0x00, iid, cat(...res));
}

function serverInstance(iid: number, s: ServerAccountConfig): Uint8Array {
  const res: Uint8Array[] = [rInt(0, s.shortServerId), rInt(1, s.lifetime ?? 300)];
  if (s.defaultMinPeriod !== undefined) res.push(rInt(2, s.defaultMinPeriod));
  if (s.defaultMaxPeriod !== undefined) res.push(rInt(3, s.defaultMaxPeriod));
  if (s.disableTimeout !== undefined) res.push(rInt(5, s.disableTimeout));
  res.push(rBool(6, s.notificationStoring ?? true), rBytes(7, enc.encode(s.binding ?? "U")));
  const opt: [number, number | undefined][] = [
    [17, s.communicationRetryCount], [18, s.communicationRetryTimer],
    [19, s.communicationSequenceDelayTimer], [20, s.communicationSequenceRetryCount],
  ];
  for (const [id, v] of opt) if (v !== undefined) res.push(rInt(id, v));
  return tlv(0x00, iid, cat(...res));
}

/** The TLV payloads of a factory configuration: [oid, payload] per Object. */
export function factoryPayloads(cfg: FactoryConfig): [number, Uint8Array][] {
  const sec: Uint8Array[] = [];
  const srv: Uint8Array[] = [];
  let iid = 0;
  if (cfg.bootstrap) sec.push(securityInstance(iid++, cfg.bootstrap, true));
  (cfg.servers ?? []).forEach((s, i) => {
    sec.push(securityInstance(iid++, s, false, s.shortServerId));
    srv.push(serverInstance(i, s));
  });
  const out: [number, Uint8Array][] = [[0, cat(...sec)]];
  if (srv.length) out.push([1, cat(...srv)]);
  const d = cfg.device;
  if (d) {
    const res: Uint8Array[] = [];
    if (d.manufacturer !== undefined) res.push(rBytes(0, enc.encode(d.manufacturer)));
    if (d.modelNumber !== undefined) res.push(rBytes(1, enc.encode(d.modelNumber)));
    if (d.serialNumber !== undefined) res.push(rBytes(2, enc.encode(d.serialNumber)));
    if (d.firmwareVersion !== undefined) res.push(rBytes(3, enc.encode(d.firmwareVersion)));
    if (res.length) out.push([3, tlv(0x00, 0, cat(...res))]);
  }
  return out;
}

/**
 * Events: 'log' (LogEvent), 'fatal' (FirmwareFatal), 'deadline' (ms or -1),
 * 'event' (ClientEvent) and each ClientEvent by name ('registered', ...),
 * 'restart' (after a Reboot / Factory Reset the module was started again).
 */
export class Device extends EventEmitter {
  readonly rng: DeviceRng;
  readonly se: SimulatedSecureElement;
  readonly flash: FlashService;
  readonly net: NetService;
  readonly clock: Clock;
  exports!: FirmwareExports;
  readonly logs: LogEvent[] = [];
  readonly events: ClientEvent[] = [];
  /** The deadline the firmware asked for (ms, -1 none). */
  deadline = -1;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly module: WebAssembly.Module;
  private readonly logDictionary: LogDictionary | null;
  private readonly manualTimers: boolean;
  private readonly logLimit: number;
  private readonly connectionId: number;
  private readonly sleepMode: SleepModeName;
  droppedOversize = 0;

  constructor(opts: DeviceOptions = {}) {
    super();
    if (opts.stateDir) mkdirSync(opts.stateDir, { recursive: true });
    this.rng = opts.rng ?? new DeviceRng();
    this.se = opts.se ?? new SimulatedSecureElement(opts.stateDir ? join(opts.stateDir, "se-keystore.json") : undefined);
    this.flash = opts.flash ?? new NorFlash(opts.stateDir ? { path: join(opts.stateDir, "flash.img") } : {});
    this.clock = opts.clock ?? systemClock;
    this.manualTimers = opts.manualTimers ?? false;
    this.net = opts.net ?? new UdpNet((peer, data) => this.deliver(peer, data));
    this.logLimit = opts.logLimit ?? Infinity;
    this.connectionId = opts.connectionId ?? -1;
    this.sleepMode = opts.sleepMode ?? "resume";
    if (!(this.sleepMode in SLEEP_MODES)) throw new RangeError(`sleepMode: resume, keep or full, not ${opts.sleepMode}`);
    if (!Number.isInteger(this.connectionId) || this.connectionId < -1 || this.connectionId > 32) {
      throw new RangeError(`connectionId: -1 (off) or a CID length 0..32, not ${opts.connectionId}`);
    }
    if (opts.module) {
      this.module = opts.module;
      this.logDictionary = opts.logDictionary ?? null;
    } else {
      const path = typeof opts.firmware === "object" ? null : opts.firmware ?? FIRMWARE_PATH;
      const bytes = (path === null ? opts.firmware : readFileSync(path)) as Uint8Array<ArrayBuffer>;
      this.module = new WebAssembly.Module(bytes);
      this.logDictionary = path !== null ? LogDictionary.forModule(path, bytes) : opts.logDictionary ?? LogDictionary.matching(bytes, [FIRMWARE_PATH]);
    }
    this.instantiate();
  }

  private instantiate() {
    let memory!: WebAssembly.Memory;
    const imports = createHostImports({
      rng: this.rng, se: this.se, flash: this.flash, net: this.net, clock: this.clock, logDictionary: this.logDictionary,
      log: (level, text) => {
        const ev = { level, levelName: LOG_LEVEL_NAMES[level] ?? String(level), text };
        this.logs.push(ev);
        if (this.logs.length > this.logLimit) this.logs.shift();
        this.emit("log", ev);
      },
      fatal: (code, line) => { throw new FirmwareFatal(code, line); },
    }, () => memory);
    const instance = new WebAssembly.Instance(this.module, imports);
    this.exports = instance.exports as unknown as FirmwareExports;
    memory = this.exports.memory;
    if (this.exports.abi_version() !== ABI_VERSION) throw new Error(`firmware speaks ABI ${this.exports.abi_version()}, host speaks ${ABI_VERSION}`);
    this.exports._initialize?.();
    // device settings, before init (the first connection's CID room is sized from it)
    if (this.connectionId >= 0 && this.exports.set_connection_id?.(this.connectionId) !== 0) {
      throw new Error(`the firmware refused connection ID length ${this.connectionId}`);
    }
    if (this.sleepMode !== "resume" && this.exports.set_sleep_mode?.(SLEEP_MODES[this.sleepMode]) !== 0) {
      throw new Error(`the firmware refused sleep mode ${this.sleepMode}`);
    }
  }

  get memory(): WebAssembly.Memory { return this.exports.memory; }
  private now(): bigint { return BigInt(this.clock.monotonicMs()); }

  /** Boot the firmware; returns its boot status bits. */
  start(): number {
    this.stopped = false;
    this.call(() => this.exports.init(this.now()));
    return this.exports.boot_status();
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.deadline = -1;
    this.net.closeAll?.();
  }

  /** Hand a received datagram to the firmware (also used by tests with a scripted peer). */
  deliver(peer: number, data: Uint8Array) {
    if (this.stopped) return;
    const cap = this.exports.rx_capacity();
    if (data.length > cap) { this.droppedOversize++; return; }
    new Uint8Array(this.memory.buffer, this.exports.rx_buffer(), data.length).set(data);
    this.call(() => this.exports.datagram_received(peer, data.length, this.now()));
  }

  /** Run what is due now (e.g. after a device-side change). */
  poll() { if (!this.stopped) this.call(() => this.exports.poll(this.now())); }

  /** Manual timers: move the clock (a FakeClock) to `t`, firing every deadline on the way. */
  advanceTo(t: number) {
    const clock = this.clock as FakeClock;
    if (!(clock instanceof FakeClock)) throw new Error("advanceTo needs a FakeClock");
    for (let guard = 0; !this.stopped && this.deadline >= 0 && this.deadline <= t; guard++) {
      if (guard > 100000) throw new Error(`timer loop: deadline stuck at ${this.deadline}`);
      clock.now = Math.max(clock.now, this.deadline);
      this.call(() => this.exports.timer_fired(this.now()));
    }
    clock.now = Math.max(clock.now, t);
  }
  advance(ms: number) { this.advanceTo((this.clock as FakeClock).now + ms); }

  /**
   * Factory provisioning (SEC-1, BS-4): writes the Security / Server / Device
   * instances and the endpoint name; the firmware validates them, moves keys
   * into the SE / sealed store, persists, and starts the client.
   */
  provision(cfg: FactoryConfig) {
    try {
      this.provisionSteps(cfg);
    } catch (e) {
      // the previous configuration (if any) runs again
      if (!(e instanceof ProvisionError && e.step === "finish")) this.exports.provision_abort(this.now());
      this.poll();
      throw e;
    }
  }

  private provisionSteps(cfg: FactoryConfig) {
    const ex = this.exports;
    const buf = () => new Uint8Array(this.memory.buffer, ex.config_buffer(), ex.config_capacity());
    let code = ex.provision_begin();
    if (code !== 0x42) throw new ProvisionError("begin", code);
    for (const [oid, payload] of factoryPayloads(cfg)) {
      if (payload.length > ex.config_capacity()) throw new ProvisionError(`/${oid}`, 0x8d);
      buf().set(payload);
      code = ex.provision_write(oid, 0xffff, 11542, payload.length);
      buf().fill(0, 0, payload.length); // keys do not linger in the shared buffer
      if (code !== 0x44) throw new ProvisionError(`/${oid}`, code);
    }
    if (cfg.est) {
      const put = (kind: number, b: Uint8Array) => {
        if (b.length > ex.config_capacity()) throw new ProvisionError("est", 0x8d);
        buf().set(b);
        if (ex.est_configure(kind, b.length) !== 0) throw new ProvisionError("est", 0xa0);
      };
      if (cfg.est.uri) put(1, enc.encode(cfg.est.uri));
      if (cfg.est.trustAnchor) put(2, cfg.est.trustAnchor);
      if (cfg.est.renewPercent !== undefined && ex.est_configure(3, cfg.est.renewPercent) !== 0) throw new ProvisionError("est", 0x80);
      if (cfg.est.serverKeygen && ex.est_configure(4, 1) !== 0) throw new ProvisionError("est", 0x80);
      if (cfg.est.discover && ex.est_configure(5, 1) !== 0) throw new ProvisionError("est", 0x80);
    }
    const ep = enc.encode(cfg.endpoint);
    if (ep.length > ex.config_capacity()) throw new ProvisionError("endpoint", 0x80);
    buf().set(ep);
    const flags = (cfg.bootstrap && !cfg.bootstrap.lowEntropy ? 1 : 0) | (cfg.bootstrapPct === null ? 2 : 0);
    code = ex.provision_finish(ep.length, flags, this.now());
    if (code !== 0x44) throw new ProvisionError("finish", code, ex.config_error());
    this.poll();
  }

  /** A stored configuration is active (no provisioning needed). */
  get provisioned(): boolean { return this.exports.provisioned() === 1; }
  /** The store's mount result at the last boot (StoreStatus in status.ts: >= 0 mounted, < 0 refused). */
  get storeStatus(): number { return this.exports.store_status(); }
  /** The stored configuration at the last boot: 1 loaded, 0 none, < 0 refused (storage corrupt). */
  get configStatus(): number { return this.exports.config_status(); }

  /** Factory reset on explicit request (docs/storage.md): provisioned SE keys destroyed, the
   *  store formatted under this SE, then the module restarted. Returns the boot status bits. */
  factoryReset(): number {
    const st = this.exports.factory_reset();
    if (st < 0) throw new Error(`factory reset failed: ${storeStatusMessage(st)}`);
    return this.reboot();
  }

  /** State of the account (ClientState), ssid 0 = the Bootstrap-Server account. */
  state(ssid: number): number { return this.exports.client_state(ssid); }

  /** Device-side value change (e.g. /3/0/9 battery level): observers get notified per their attributes. */
  setResource(oid: number, iid: number, rid: number, value: number | bigint): boolean {
    const ok = this.exports.device_set_int(oid, iid, rid, BigInt(value)) === 0;
    this.poll();
    return ok;
  }

  /** De-register from every server; resolves when done or after `timeoutMs` (real timers). */
  shutdown(timeoutMs = 5000): Promise<void> {
    this.call(() => this.exports.shutdown(this.now()));
    return new Promise((resolve) => {
      const t0 = Date.now();
      const check = () => {
        if (this.stopped || this.deadline < 0 || Date.now() - t0 > timeoutMs || this.manualTimers) { this.stop(); resolve(); return; }
        setTimeout(check, 20);
      };
      check();
    });
  }

  /** Queue Mode (LwM2M 1.1 §6.5): the listen window after each message (default 93 s). */
  setQueueWindow(ms: number): void { this.exports.set_queue_window(BigInt(ms)); }
  /** Queue Mode: monotonic ms until which the device must keep receiving; -1 = not in Queue Mode. */
  get queueAwakeUntil(): number { return Number(this.exports.queue_awake_until()); }

  /** Deep sleep / power-off: the firmware ends its DTLS connections with close_notify (sessions stay
   *  sealed in the store), then the device stops; reboot() is the wake (a new module instance). */
  async prepareSleep(): Promise<void> {
    if (this.stopped) return;
    this.call(() => this.exports.prepare_sleep(this.now()));
    await new Promise((res) => setTimeout(res, 50)); // the close_notify datagrams leave before the sockets close
    this.stop();
  }

  /** Restart the module with the same flash, SE and network (Reboot / Factory Reset). */
  reboot(): number {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.net.closeAll?.();
    this.instantiate();
    const status = this.start();
    this.emit("restart", status);
    return status;
  }

  private call(fn: () => bigint) {
    let deadline: bigint;
    try {
      deadline = fn();
    } catch (e) {
      this.stop();
      this.emit("fatal", e);
      if (this.listenerCount("fatal") === 0) throw e;
      return;
    }
    this.arm(Number(deadline));
    this.drainEvents();
  }

  private drainEvents() {
    const ex = this.exports;
    for (let k; (k = ex.event_next()) !== 0;) {
      const name = CLIENT_EVENTS[k];
      if (!name) continue;
      const text = LogDictionary.decode(new Uint8Array(this.memory.buffer, ex.event_text(), ex.event_text_len()), this.logDictionary);
      const ev: ClientEvent = { name, ssid: ex.event_ssid(), arg: ex.event_arg(), text };
      this.events.push(ev);
      if (this.events.length > this.logLimit) this.events.shift();
      this.emit("event", ev);
      this.emit(name, ev);
    }
    const req = ex.host_request();
    if (req !== 0 && !this.stopped) {
      // Reboot (1) / Factory Reset (2): the response went out in this call; restart the module now
      this.reboot();
    }
  }

  private arm(deadline: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.deadline = deadline;
    this.emit("deadline", deadline);
    if (deadline < 0 || this.stopped || this.manualTimers) return;
    const delay = Math.max(0, deadline - this.clock.monotonicMs());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.call(() => this.exports.timer_fired(this.now()));
    }, delay);
  }
}
