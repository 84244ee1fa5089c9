// libcoap 4.3.1 as an independent peer (coap-server / coap-client, the
// -notls / -gnutls / -openssl builds), and a UDP pump that drives our
// sans-I/O endpoint over a real socket on 127.0.0.1.
import { spawn, ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { havePeer } from "./peers";
import { CoapModule, EventRec, Ev, encode, T } from "./coap-harness";

/** The first installed libcoap binary of that kind (Debian ships only suffixed names). */
export function coapBinary(kind: "client" | "server"): string {
  for (const suffix of ["", "-notls", "-gnutls", "-openssl"]) {
    const name = `coap-${kind}${suffix}`;
    if (havePeer(name)) return name;
  }
  return `coap-${kind}`;
}

export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((res) => s.bind(0, "127.0.0.1", () => res()));
  const port = s.address().port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

export interface Proc { proc: ChildProcess; port: number; stdout: () => string; stop(): Promise<void> }

function track(proc: ChildProcess, port: number): Proc {
  let out = "";
  proc.stdout?.on("data", (d) => { out += d; });
  proc.stderr?.on("data", (d) => { out += d; });
  const exited = new Promise<void>((res) => proc.on("exit", () => res()));
  return {
    proc, port, stdout: () => out,
    async stop() { if (proc.exitCode === null) proc.kill("SIGTERM"); await exited; },
  };
}

/** coap-server bound to 127.0.0.1 on a free port; resolves once it answers a CoAP ping. */
export async function startCoapServer(extra: string[] = []): Promise<Proc> {
  const port = await freeUdpPort();
  const p = track(spawn(coapBinary("server"), ["-A", "127.0.0.1", "-p", String(port), ...extra]), port);
  const probe = dgram.createSocket("udp4");
  try {
    const ping = encode({ type: T.CON, code: 0, mid: 0x1234 });
    for (let i = 0; i < 60; i++) {
      const got = new Promise<boolean>((res) => {
        const t = setTimeout(() => res(false), 50);
        probe.once("message", () => { clearTimeout(t); res(true); });
      });
      probe.send(ping, port, "127.0.0.1");
      if (await got) return p;
    }
    await p.stop();
    throw new Error(`coap-server did not come up: ${p.stdout()}`);
  } finally {
    probe.close();
  }
}

export interface ClientRun { code: number | null; stdout: string; stderr: string }

/** Runs coap-client to completion (killed after timeoutMs). */
export function runCoapClient(args: string[], timeoutMs = 20000): Promise<ClientRun> {
  return new Promise((res) => {
    const proc = spawn(coapBinary("client"), args);
    let stdout = "", stderr = "";
    proc.stdout.on("data", (d) => { stdout += d; });
    proc.stderr.on("data", (d) => { stderr += d; });
    const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.on("exit", (code) => { clearTimeout(t); res({ code, stdout, stderr }); });
  });
}

/**
 * Owns a UDP socket for one CoAP endpoint in the module: feeds received
 * datagrams with the time, sends what pollTransmit() gives, runs the timer
 * from nextDeadline() and hands events to `onEvent`.
 */
export class EndpointPump {
  sock = dgram.createSocket("udp4");
  remote: { port: number; address: string } | null = null;
  t0 = performance.now();
  timer: NodeJS.Timeout | null = null;
  onEvent: (e: EventRec) => void = () => {};
  sent: Uint8Array[] = [];
  received: Uint8Array[] = [];
  errors: number[] = [];
  /** Outgoing datagrams to lose on purpose (counted down). */
  dropOut = 0;
  log = false;

  constructor(readonly mod: CoapModule) {}
  now(): number { return Math.round(performance.now() - this.t0); }
  async listen(port = 0): Promise<number> {
    await new Promise<void>((res) => this.sock.bind(port, "127.0.0.1", () => res()));
    this.sock.on("message", (msg, rinfo) => {
      this.remote ??= { port: rinfo.port, address: rinfo.address };
      if (rinfo.port !== this.remote.port) return; // one endpoint = one peer
      this.received.push(new Uint8Array(msg));
      if (this.log) console.log(this.now(), "<-", Buffer.from(msg).toString("hex"));
      const r = this.mod.feed(new Uint8Array(msg), this.now());
      if (r < 0) this.errors.push(r);
      this.pump();
    });
    return this.sock.address().port;
  }
  connect(port: number) { this.remote = { port, address: "127.0.0.1" }; }
  /** Sends pending datagrams, delivers events, re-arms the timer. */
  pump() {
    this.flushOnly();
    for (const e of this.mod.drainEvents()) { this.onEvent(e); this.flushOnly(); }
    if (this.timer) clearTimeout(this.timer);
    const d = this.mod.deadline();
    if (d >= 0) {
      this.timer = setTimeout(() => { this.mod.timeout(this.now()); this.pump(); }, Math.max(0, d - this.now()));
    }
  }
  private flushOnly() {
    for (const d of this.mod.drainTx()) {
      this.sent.push(d);
      if (this.dropOut > 0) { this.dropOut--; continue; }
      if (this.remote) this.sock.send(d, this.remote.port, this.remote.address);
    }
  }
  async close() {
    if (this.timer) clearTimeout(this.timer);
    await new Promise<void>((res) => this.sock.close(() => res()));
  }
}

/** Runs one block-wise client transfer through the pump; resolves with the final status. */
export function transfer(pump: EndpointPump, start: () => number, timeoutMs = 15000): Promise<{ status: number; event?: EventRec }> {
  return new Promise((res) => {
    const t = setTimeout(() => res({ status: -999 }), timeoutMs);
    const done = (r: { status: number; event?: EventRec }) => {
      clearTimeout(t);
      pump.onEvent = () => {};
      pump.mod.ex.selectRx(); // msg* getters now read the final response
      res(r);
    };
    pump.onEvent = (e) => {
      if (e.slot !== pump.mod.ex.bcSlot()) return;
      if (e.kind === Ev.Response) {
        const r = pump.mod.ex.bcOnResponse(BigInt(pump.now()));
        if (r !== 1) done({ status: r, event: e });
      } else if (e.kind === Ev.Timeout || e.kind === Ev.Reset) {
        done({ status: -1000 - e.kind, event: e });
      }
    };
    const r = start();
    if (r < 0) return done({ status: r });
    pump.pump();
  });
}
