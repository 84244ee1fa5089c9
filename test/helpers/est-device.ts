// Drives the EST enrolment runner (assembly/firmware/enrol.ts, built into
// build/test/est.wasm) with the Node host services of the simulator: real UDP
// sockets, the simulated SE, the DRBG. One instance = one device (its SE keeps
// its slots across enrol_reset()).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHostImports, systemClock, FirmwareFatal } from "../../host-shim/node/host";
import { UdpNet } from "../../host-shim/node/net";
import { SimulatedSecureElement } from "../../host-shim/node/se";
import { DeviceRng } from "../../host-shim/node/drbg";
import { NorFlash } from "../../host-shim/node/flash";
import { ROOT, testModulePath } from "./wasm";

export const EstOp = { Crts: 1, Sen: 2, Sren: 3, Skg: 4, Att: 5, Discover: 6 } as const;
export const EnrolState = { Idle: 0, Handshake: 1, Ready: 2, Busy: 3, Failed: 4 } as const;
/** EstError (assembly/est/codec.ts) by value. */
export const EstErrorName: Record<number, string> = Object.fromEntries(
  [...readFileSync(join(ROOT, "assembly/est/codec.ts"), "utf8").matchAll(/export const (\w+): i32 = (-2\d\d);/g)].map((m) => [Number(m[2]), m[1]]));

export interface EstDeviceOptions { host?: string; port: number; path?: string; name: string; trust: Uint8Array;
  idevid?: { slot: number; key: Uint8Array; cert: Uint8Array } | { slot: number; useSlot: true; cert: Uint8Array };
  szx1?: number; szx2?: number; accept?: number; log?: (s: string) => void;
  /** DTLS retransmission: initial ms, max ms, count (default 1000, 8000, 4); CoAP: ACK_TIMEOUT ms, MAX_RETRANSMIT (default 2000, 4). */
  dtlsTimers?: [number, number, number]; coapTimers?: [number, number]; }

export class EstDevice {
  x: any;
  memory!: WebAssembly.Memory;
  se: SimulatedSecureElement;
  flash: NorFlash;
  net: UdpNet;
  private timer?: NodeJS.Timeout;
  private waiters: Array<() => void> = [];
  logs: string[] = [];
  fatal?: Error;

  /** One boot of a device: pass the same flash and SE again to model a reboot. */
  constructor(o: { flash?: NorFlash; se?: SimulatedSecureElement; wasm?: string } = {}) {
    const wasm = o.wasm ?? testModulePath("est");
    this.se = o.se ?? new SimulatedSecureElement();
    this.flash = o.flash ?? new NorFlash();
    this.net = new UdpNet((_p, data) => {
      if (this.fatal || data.length > this.x.enrol_rx_capacity()) return;
      new Uint8Array(this.memory.buffer).set(data, this.x.enrol_rx_buffer());
      this.step(() => this.x.enrol_datagram(data.length, BigInt(systemClock.monotonicMs())));
    });
    const imports = createHostImports({
      rng: new DeviceRng(), se: this.se, flash: this.flash, net: this.net, clock: systemClock,
      log: (_l, t) => this.logs.push(t), fatal: (c, l) => { throw new FirmwareFatal(c, l); },
    }, () => this.memory);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm)), {
      ...imports, env: { abort: () => { throw new FirmwareFatal(1, 0); } },
    });
    this.x = inst.exports;
    this.memory = this.x.memory;
    this.x._initialize?.();
    this.x.enrol_reset();
  }

  private put(b: Uint8Array): number {
    const p = this.x.enrol_input();
    if (b.length > this.x.enrol_input_capacity()) throw new Error("input too large");
    new Uint8Array(this.memory.buffer).set(b, p);
    return p;
  }
  read(p: number, n: number) { return new Uint8Array(this.memory.buffer).slice(p, p + n); }

  private step(f: () => bigint) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let d: number;
    try { d = Number(f()); } catch (e) { this.fatal = e as Error; d = -1; }
    const st = this.x.enrol_state();
    if (st === EnrolState.Ready || st === EnrolState.Failed || this.fatal) { const w = this.waiters; this.waiters = []; w.forEach((r) => r()); }
    if (d >= 0 && !this.fatal) this.timer = setTimeout(() => this.step(() => this.x.enrol_timer(BigInt(systemClock.monotonicMs()))), Math.max(0, d - systemClock.monotonicMs()));
  }

  private settle(timeoutMs: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(() => res(), timeoutMs);
      this.waiters.push(() => { clearTimeout(t); res(); });
    });
  }

  /** Configures and connects (DTLS handshake); resolves when Ready or Failed. */
  async connect(o: EstDeviceOptions, timeoutMs = 20000): Promise<number> {
    const x = this.x;
    x.enrol_reset();
    const enc = new TextEncoder();
    const host = enc.encode(o.host ?? "127.0.0.1"), path = enc.encode(o.path ?? ".well-known/est");
    const p = this.put(new Uint8Array([...host, ...path]));
    if (x.enrol_set_target(p, host.length, o.port, p + host.length, path.length) !== 0) throw new Error("target");
    const n = enc.encode(o.name);
    if (x.enrol_set_name(this.put(n), n.length) !== 0) throw new Error("name");
    if (o.idevid) {
      if ("useSlot" in o.idevid) { if (x.enrol_use_identity(o.idevid.slot) !== 0) throw new Error("identity slot"); }
      else if (x.enrol_import_identity(o.idevid.slot, this.put(o.idevid.key), o.idevid.key.length) !== 0) throw new Error("identity import");
      if (x.enrol_add_own_certificate(this.put(o.idevid.cert), o.idevid.cert.length) !== 0) throw new Error("own cert");
    }
    if (o.trust.length && x.enrol_set_trust(this.put(o.trust), o.trust.length) !== 0) throw new Error("trust");
    x.enrol_set_blocks(o.szx1 ?? 6, o.szx2 ?? -1);
    if (o.accept) x.enrol_set_accept(o.accept);
    const [ti, tm, tc] = o.dtlsTimers ?? [1000, 8000, 4];
    x.enrol_set_dtls_timers(BigInt(ti), BigInt(tm), tc);
    if (o.coapTimers) x.enrol_set_coap_timers(o.coapTimers[0], o.coapTimers[1]);
    const done = this.settle(timeoutMs);
    this.step(() => x.enrol_connect(BigInt(systemClock.monotonicMs())));
    await done;
    if (this.fatal) throw this.fatal;
    return x.enrol_state();
  }

  /** One EST operation; resolves with enrol_result() (0 or an EstError). */
  async op(op: number, slot = 0, wall = Math.floor(Date.now() / 1000), timeoutMs = 30000): Promise<number> {
    const done = this.settle(timeoutMs);
    this.step(() => this.x.enrol_op(op, slot, BigInt(wall), BigInt(systemClock.monotonicMs())));
    if (this.x.enrol_state() === EnrolState.Busy) await done;
    if (this.fatal) throw this.fatal;
    if (this.x.enrol_state() === EnrolState.Busy) throw new Error("EST operation timed out");
    return this.x.enrol_result();
  }

  cert(): Uint8Array { return this.read(this.x.enrol_cert_ptr(), this.x.enrol_cert_len()); }
  csr(): Uint8Array { return this.read(this.x.enrol_csr_ptr(), this.x.enrol_csr_len()); }
  publicKey(): Uint8Array { return this.read(this.x.enrol_public_key(), 65); }
  stats() { return [0, 1, 2, 3].map((i) => Number(this.x.enrol_stat(i))); }

  async close() {
    if (this.timer) clearTimeout(this.timer);
    try { this.x.enrol_finish(BigInt(systemClock.monotonicMs())); } catch {}
    await new Promise((r) => setImmediate(r));
    this.net.closeAll();
  }
}
