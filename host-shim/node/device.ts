// A simulated device: one instance of build/firmware.wasm wired to the Node
// host services. The host owns the loop: it delivers datagrams and timer
// expiries and re-arms one timer at the deadline the firmware returns.
import { EventEmitter } from "node:events";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createHostImports, systemClock, FirmwareFatal, type Clock, type NetService } from "./host";
import { DeviceRng } from "./drbg";
import { SimulatedSecureElement } from "./se";
import { NorFlash } from "./flash";
import { UdpNet } from "./net";
import { ABI_VERSION, LOG_LEVEL_NAMES } from "./status";

export const FIRMWARE_PATH = join(__dirname, "..", "..", "build", "firmware.wasm");

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
  [name: string]: unknown;
}

export interface DeviceOptions {
  firmware?: string | Uint8Array;
  /** Folder for the flash image and the SE key store; in memory when absent. */
  stateDir?: string;
  rng?: DeviceRng;
  se?: SimulatedSecureElement;
  flash?: NorFlash;
  net?: NetService;
  clock?: Clock;
}

export interface LogEvent { level: number; levelName: string; text: string }

/** Events: 'log' (LogEvent), 'fatal' (FirmwareFatal), 'deadline' (ms or -1). */
export class Device extends EventEmitter {
  readonly rng: DeviceRng;
  readonly se: SimulatedSecureElement;
  readonly flash: NorFlash;
  readonly net: NetService;
  readonly clock: Clock;
  readonly exports: FirmwareExports;
  readonly logs: LogEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  droppedOversize = 0;

  constructor(opts: DeviceOptions = {}) {
    super();
    if (opts.stateDir) mkdirSync(opts.stateDir, { recursive: true });
    this.rng = opts.rng ?? new DeviceRng();
    this.se = opts.se ?? new SimulatedSecureElement(opts.stateDir ? join(opts.stateDir, "se-keystore.json") : undefined);
    this.flash = opts.flash ?? new NorFlash(opts.stateDir ? { path: join(opts.stateDir, "flash.img") } : {});
    this.clock = opts.clock ?? systemClock;
    this.net = opts.net ?? new UdpNet((peer, data) => this.deliver(peer, data));
    const bin = typeof opts.firmware === "object" ? opts.firmware : readFileSync(opts.firmware ?? FIRMWARE_PATH);
    let memory!: WebAssembly.Memory;
    const imports = createHostImports({
      rng: this.rng, se: this.se, flash: this.flash, net: this.net, clock: this.clock,
      log: (level, text) => {
        const ev = { level, levelName: LOG_LEVEL_NAMES[level] ?? String(level), text };
        this.logs.push(ev);
        this.emit("log", ev);
      },
      fatal: (code, line) => { throw new FirmwareFatal(code, line); },
    }, () => memory);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bin as Uint8Array<ArrayBuffer>), imports);
    this.exports = instance.exports as unknown as FirmwareExports;
    memory = this.exports.memory;
    if (this.exports.abi_version() !== ABI_VERSION) throw new Error(`firmware speaks ABI ${this.exports.abi_version()}, host speaks ${ABI_VERSION}`);
    this.exports._initialize?.();
  }

  get memory(): WebAssembly.Memory { return this.exports.memory; }

  /** Boot the firmware; returns its boot status bits. */
  start(): number {
    this.stopped = false;
    this.call(() => this.exports.init(BigInt(this.clock.monotonicMs())));
    return this.exports.boot_status();
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.net instanceof UdpNet) this.net.closeAll();
  }

  /** Hand a received datagram to the firmware (also used by tests with a scripted peer). */
  deliver(peer: number, data: Uint8Array) {
    if (this.stopped) return;
    const cap = this.exports.rx_capacity();
    if (data.length > cap) { this.droppedOversize++; return; }
    new Uint8Array(this.memory.buffer, this.exports.rx_buffer(), data.length).set(data);
    this.call(() => this.exports.datagram_received(peer, data.length, BigInt(this.clock.monotonicMs())));
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
  }

  private arm(deadline: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.emit("deadline", deadline);
    if (deadline < 0 || this.stopped) return;
    const delay = Math.max(0, deadline - this.clock.monotonicMs());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.call(() => this.exports.timer_fired(BigInt(this.clock.monotonicMs())));
    }, delay);
  }
}
