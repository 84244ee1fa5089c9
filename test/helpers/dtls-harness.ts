// Drives the DTLS client of build/test/dtls.wasm with real host services
// (DRBG, simulated SE) and, for interop, real UDP on 127.0.0.1 to a peer
// process. Reused by the interop/negative/fuzz tests and the bench.
//
//   const c = new DtlsClient();
//   c.configure({ psk: { identity: "id", key }, suites: Suite.PskCcm8 });
//   await c.udpHandshake(port);          // resolves on HandshakeComplete
//   await c.udpSend("hello"); await c.waitAppData(/olleh/);
//   await c.udpClose();
import dgram from "node:dgram";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { createHostImports, FirmwareFatal } from "../../host-shim/node/host";
import { DeviceRng } from "../../host-shim/node/drbg";
import { SimulatedSecureElement } from "../../host-shim/node/se";
import { NorFlash } from "../../host-shim/node/flash";
import { loadTest, type TestModule } from "./wasm";
import { readNamespace } from "../../server/as-constants";

/** SuiteBit of assembly/dtls/suites.ts. */
export const Suite = readNamespace("assembly/dtls/suites.ts", "SuiteBit");
/** IANA codes. */
export const SuiteCode: Record<keyof typeof Suite, number> = {
  PskCcm8: 0xc0a8, PskCbc: 0x00ae, EcdhePskCbc: 0xc037, EcdsaCcm8: 0xc0ae, EcdsaCbc: 0xc023, All: 0,
};
export const OpensslCipher: Record<string, string> = {
  PskCcm8: "PSK-AES128-CCM8", PskCbc: "PSK-AES128-CBC-SHA256", EcdhePskCbc: "ECDHE-PSK-AES128-CBC-SHA256",
  EcdsaCcm8: "ECDHE-ECDSA-AES128-CCM8", EcdsaCbc: "ECDHE-ECDSA-AES128-SHA256",
};
export const DtlsEvent = readNamespace("assembly/dtls/alert.ts", "DtlsEvent");
export const EventName = Object.keys(DtlsEvent).sort((a, b) => DtlsEvent[a] - DtlsEvent[b]);
export const MaxFragmentLength = { L512: 1, L1024: 2, L2048: 3, L4096: 4 } as const;
export const CertificateType = { X509: 0, RawPublicKey: 2 } as const;

/** DtlsError codes, read from assembly/dtls/alert.ts (one source of truth). */
export const DtlsError = readNamespace("assembly/dtls/alert.ts", "DtlsError");
export const AlertDescription = readNamespace("assembly/dtls/alert.ts", "AlertDescription");
export const X509Error = readNamespace("assembly/x509/cert.ts", "X509Error");
/** The connection states of the handshake table (assembly/dtls/order.ts). */
export const ConnState = readNamespace("assembly/dtls/order.ts", "ConnState");
const byValue = (o: Record<string, number>) => new Map(Object.entries(o).map(([k, v]) => [v, k]));
const errorNames = byValue(DtlsError), alertNames = byValue(AlertDescription), x509Names = byValue(X509Error);
export const errorName = (code: number) => errorNames.get(code) ?? `DtlsError(${code})`;
export const alertName = (code: number) => alertNames.get(code) ?? `alert(${code})`;
export const x509Name = (code: number) => x509Names.get(code) ?? `X509Error(${code})`;

export interface RandomFill { fill(buf: Uint8Array): number; }

/** Deterministic bytes (xorshift128+ over a seed) for replayable handshakes. */
export class SeededRng implements RandomFill {
  private s0: bigint; private s1: bigint;
  constructor(seed: number) {
    this.s0 = 0n; this.s1 = 0n;
    this.reseed(seed);
  }
  reseed(seed: number): void {
    this.s0 = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n & 0xffffffffffffffffn;
    this.s1 = (BigInt(seed) ^ 0xdeadbeefcafef00dn) & 0xffffffffffffffffn;
  }
  private next(): bigint {
    let x = this.s0; const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & 0xffffffffffffffffn;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.s1 + y) & 0xffffffffffffffffn;
  }
  fill(buf: Uint8Array): number {
    for (let i = 0; i < buf.length; i += 8) {
      let v = this.next();
      for (let j = 0; j < 8 && i + j < buf.length; j++) { buf[i + j] = Number(v & 0xffn); v >>= 8n; }
    }
    return 0;
  }
}

export interface ClientOptions {
  suites?: number;
  psk?: { identity: string | Uint8Array; key: Uint8Array; lowEntropy?: boolean };
  mfl?: number;
  sni?: string;
  tickets?: boolean;
  keyLog?: boolean;
  mtu?: number;
  buffers?: { handshake: number; flight: number; ticket: number };
  /** RFC 6347 timer: short values in tests by default; null keeps the config's RFC 7925 defaults. */
  timers?: { initialMs: number; maxMs: number; count: number } | null;
  limits?: { maxSeq?: bigint; maxAgeMs?: number; maxAuthFailures?: number };
  /** Our ECDSA identity: imported into SE slot 0. */
  identity?: { privateKey: Uint8Array };
  certificateType?: number;
  /** RPK mode: the server's public key (SPKI DER, 65-byte point, or X||Y). */
  serverKey?: Uint8Array;
  /** X.509: our chain (leaf first, DER each). */
  ownCertificates?: Uint8Array[];
  /** X.509 trust (x509 TrustConfig). */
  trust?: { key: Uint8Array; usage?: number; matching?: number; host: string; store?: Uint8Array; flags?: number };
  /** RFC 9146: offer a connection ID of this length (0..32). */
  cid?: number;
}

/** The 32-byte private scalar of a PEM EC private key (to import into the simulated SE). */
export function privateScalar(pem: string): Uint8Array {
  const jwk = createPrivateKey(pem).export({ format: "jwk" }) as { d: string };
  return new Uint8Array(Buffer.from(jwk.d, "base64url"));
}

/** The 65-byte uncompressed public point of a PEM key or certificate's key. */
export function publicPoint(pem: string): Uint8Array {
  const jwk = createPublicKey(pem).export({ format: "jwk" }) as { x: string; y: string };
  return new Uint8Array(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]));
}

export interface EventRecord { kind: number; name: string; reason: number; data?: Uint8Array; }

const enc = new TextEncoder();
const bytes = (x: string | Uint8Array) => (typeof x === "string" ? enc.encode(x) : x);
export const nowMs = () => Math.floor(performance.now());

export interface DtlsExports {
  memory: WebAssembly.Memory;
  [name: string]: any;
}

/** One client connection in one instance of build/test/dtls.wasm. */
export class DtlsClient {
  readonly m: TestModule<DtlsExports>;
  readonly se: SimulatedSecureElement;
  readonly x: DtlsExports;
  events: EventRecord[] = [];
  appData: Uint8Array[] = [];
  /** Every datagram sent / received, in order (for fixtures and byte counts). */
  sent: Uint8Array[] = [];
  received: Uint8Array[] = [];
  logs: string[] = [];
  publicKey?: Uint8Array;
  private sock?: dgram.Socket;
  private timer?: NodeJS.Timeout;
  private waiters: (() => void)[] = [];
  private memory!: WebAssembly.Memory;

  constructor(opts: { rng?: RandomFill; se?: SimulatedSecureElement; wallSeconds?: () => number } = {}) {
    const rng = (opts.rng ?? new DeviceRng()) as DeviceRng;
    this.se = opts.se ?? new SimulatedSecureElement();
    const imports = createHostImports({
      rng, se: this.se, flash: new NorFlash(),
      net: { open: () => -1, send: () => -1, close: () => {} },
      clock: { monotonicMs: nowMs, wallSeconds: opts.wallSeconds ?? (() => Math.floor(Date.now() / 1000)) },
      log: (level, text) => { this.logs.push(`${level} ${text}`); },
      fatal: (code, line) => { throw new FirmwareFatal(code, line); },
    }, () => this.memory);
    this.m = loadTest<DtlsExports>("dtls", imports);
    this.x = this.m.exports;
    this.memory = this.x.memory;
  }

  private put(b: Uint8Array, off: number): number {
    this.m.write(b, this.m.scratch + off);
    return this.m.scratch + off;
  }

  /** Configure (from defaults) and create the connection. */
  configure(o: ClientOptions, withSession = false): this {
    const x = this.x;
    x.cfgReset();
    if (o.suites !== undefined) x.cfgSuites(o.suites);
    if (o.psk) {
      const id = bytes(o.psk.identity);
      x.cfgPsk(this.put(id, 0), id.length, this.put(o.psk.key, 4096), o.psk.key.length, o.psk.lowEntropy ? 1 : 0);
    }
    if (o.mfl) x.cfgMfl(o.mfl);
    if (o.sni) { const s = bytes(o.sni); x.cfgSni(this.put(s, 0), s.length); }
    if (o.tickets) x.cfgTickets(1);
    if (o.keyLog) x.cfgKeyLog(1);
    if (o.cid !== undefined) x.cfgConnectionId(o.cid);
    if (o.mtu) x.cfgMtu(o.mtu);
    if (o.buffers) x.cfgBuffers(o.buffers.handshake, o.buffers.flight, o.buffers.ticket);
    if (o.timers !== null) {
      const t = o.timers ?? { initialMs: 400, maxMs: 1600, count: 4 };
      x.cfgTimers(BigInt(t.initialMs), BigInt(t.maxMs), t.count);
    }
    if (o.limits) {
      x.cfgLimits(o.limits.maxSeq ?? 0xffff00000000n, BigInt(o.limits.maxAgeMs ?? 86400000), o.limits.maxAuthFailures ?? 128);
    }
    if (o.identity) {
      const pub = this.se.importPrivate(0, o.identity.privateKey.slice());
      if (typeof pub === "number") throw new Error(`SE import failed: ${pub}`);
      this.publicKey = pub;
      x.cfgIdentity(0, this.put(pub, 0), 8);
    }
    if (o.certificateType !== undefined) x.cfgCertificateType(o.certificateType);
    if (o.serverKey) x.cfgServerKey(this.put(o.serverKey, 0), o.serverKey.length);
    if (o.ownCertificates) {
      const list = Buffer.concat(o.ownCertificates.map((c) => Buffer.concat([Buffer.from([c.length >> 16, (c.length >> 8) & 255, c.length & 255]), c])));
      x.cfgOwnCertificates(this.put(list, 0), list.length);
    }
    if (o.trust) {
      const host = bytes(o.trust.host), store = o.trust.store ?? new Uint8Array(0);
      x.cfgTrust(this.put(o.trust.key, 0), o.trust.key.length, o.trust.usage ?? 3, o.trust.matching ?? 0,
        this.put(host, 8192), host.length, this.put(store, 16384), store.length, o.trust.flags ?? 0);
    }
    x.connNew(withSession ? 1 : 0);
    return this;
  }

  /** Back to Idle with the same config (and session). */
  reset(): void {
    this.x.connReset();
    this.nSent = 0;
    this.nReceived = 0;
    this.dropped = { sent: 0, received: 0 };
    this.events = [];
    this.appData = [];
    this.sent = [];
    this.received = [];
  }

  // ---- sans-I/O steps ----
  connect(now = nowMs()): number {
    const r = this.x.connConnect(BigInt(now));
    this.collect();
    return r;
  }

  /** Feed one datagram; returns what the connection wants to send back. */
  deliver(d: Uint8Array, now = nowMs()): Uint8Array[] {
    this.received.push(d.slice());
    const p = this.put(d, 0);
    this.x.connHandleDatagram(p, d.length, BigInt(now));
    this.collect();
    const out = this.drain();
    this.notify();
    return out;
  }

  timeout(now = nowMs()): Uint8Array[] {
    this.x.connHandleTimeout(BigInt(now));
    this.collect();
    const out = this.drain();
    this.notify();
    return out;
  }

  /** Datagrams waiting in pollTransmit. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const n = this.x.connPollTransmit();
      if (n <= 0) break;
      const d = this.m.read(this.x.connTransmitPtr(), n);
      out.push(d);
      this.sent.push(d);
    }
    return out;
  }

  collect(): void {
    for (;;) {
      const kind = this.x.connPollEvent();
      if (kind === DtlsEvent.None) break;
      const ev: EventRecord = { kind, name: EventName[kind], reason: this.x.connEventReason() };
      if (kind === DtlsEvent.ApplicationData) {
        ev.data = this.m.read(this.x.connAppDataPtr(), this.x.connAppDataLen());
        this.appData.push(ev.data);
      }
      this.events.push(ev);
    }
    this.notify();
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Protect application data; returns the DtlsError (0 = queued). */
  sendData(data: string | Uint8Array, now = nowMs()): number {
    const b = bytes(data);
    const r = this.x.connSend(this.put(b, 0), b.length, BigInt(now));
    this.collect();
    return r;
  }

  closeConn(now = nowMs()): void {
    this.x.connClose(BigInt(now));
    this.collect();
  }

  get state(): number { return this.x.connState(); }
  get reason(): number { return this.x.connReason(); }
  get reasonName(): string { return errorName(this.x.connReason()); }
  get detail(): number { return this.x.connDetail(); }
  get suite(): number { return this.x.connSuite(); }
  get resumed(): boolean { return !!this.x.connResumed(); }
  get established(): boolean { return this.state === ConnState.Established; }
  stats() {
    const s = (i: number) => Number(this.x.connStat(i));
    return { bytesSent: s(0), bytesReceived: s(1), datagramsSent: s(2), datagramsReceived: s(3),
      recordsDropped: s(4), replaysDropped: s(5), authFailures: s(6), cidDropped: s(7) };
  }
  /** RFC 9146: the negotiated CIDs (ours: in records to us; the peer's: in ours), null when none was negotiated. */
  cids(): { own: Uint8Array; peer: Uint8Array } | null {
    const n = this.x.connOwnCidLen();
    if (n < 0) return null;
    return { own: this.m.read(this.x.connOwnCidPtr(), n), peer: this.m.read(this.x.connPeerCidPtr(), this.x.connPeerCidLen()) };
  }
  keyLogLine(): string | null {
    const n = this.x.connKeyLogLen();
    return n > 0 ? Buffer.from(this.m.read(this.x.connKeyLogPtr(), n)).toString("latin1") : null;
  }
  has(kind: number): boolean { return this.events.some((e) => e.kind === kind); }
  describe(): string {
    return `state=${this.state} reason=${this.reasonName} detail=${this.detail ? x509Name(this.detail) : 0} events=` +
      this.events.map((e) => `${e.name}(${e.kind === DtlsEvent.AlertReceived ? alertName(e.reason) : e.kind === DtlsEvent.ApplicationData ? e.data?.length : errorName(e.reason)})`).join(",");
  }

  // ---- real UDP ----
  /** Loss injection for UDP runs: return true to drop the n-th datagram (0-based, per direction). */
  dropSent?: (n: number, d: Uint8Array) => boolean;
  dropReceived?: (n: number, d: Uint8Array) => boolean;
  private nSent = 0;
  private nReceived = 0;
  dropped = { sent: 0, received: 0 };

  private transmit(ds: Uint8Array[]): void {
    for (const d of ds) {
      if (this.dropSent?.(this.nSent++, d)) { this.dropped.sent++; continue; }
      this.sock!.send(d);
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const d = Number(this.x.connNextDeadline());
    if (d < 0 || !this.sock) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.pump(() => this.timeout()); }, Math.max(0, d - nowMs()));
  }

  private pump(step: () => Uint8Array[]): void {
    if (!this.sock) return;
    this.transmit(step());
    this.schedule();
  }

  /** Open a UDP socket to 127.0.0.1:port and start the handshake. */
  async udpOpen(port: number, host = "127.0.0.1"): Promise<void> {
    this.udpPeer = { port, host };
    const sock = dgram.createSocket("udp4");
    this.sock = sock;
    await new Promise<void>((res, rej) => { sock.once("error", rej); sock.bind(0, "127.0.0.1", () => res()); });
    await new Promise<void>((res) => sock.connect(port, host, () => res()));
    sock.on("message", (msg) => {
      const d = new Uint8Array(msg);
      if (this.dropReceived?.(this.nReceived++, d)) { this.dropped.received++; return; }
      this.pump(() => this.deliver(d));
    });
    sock.on("error", () => {});
  }

  private udpPeer?: { port: number; host: string };

  /** A NAT rebinding: the same connection goes on from a new socket (a new source port). */
  async udpRebind(): Promise<number> {
    const old = this.sock!;
    this.sock = undefined;
    await new Promise<void>((res) => old.close(() => res()));
    await this.udpOpen(this.udpPeer!.port, this.udpPeer!.host);
    return this.sock!.address().port;
  }

  /** Wait until pred() holds (checked after every event batch) or reject after ms. */
  waitUntil(pred: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const t0 = setTimeout(() => reject(new Error(`timeout waiting for ${what}: ${this.describe()}`)), ms);
      const check = () => {
        if (pred()) { clearTimeout(t0); resolve(); } else this.waiters.push(check);
      };
      check();
    });
  }

  /** connect over UDP; resolves when the handshake completes or the connection closes. A refused
   *  connect or a timeout closes the socket first (an open socket would keep the test file running). */
  async udpHandshake(port: number, ms = 8000): Promise<void> {
    if (!this.sock) await this.udpOpen(port);
    const r = this.connect();
    if (r !== 0) {
      await this.shutdown();
      throw new Error(`connect refused: ${errorName(r)}`);
    }
    this.pump(() => this.drain());
    try {
      await this.waitUntil(() => this.established || this.state === ConnState.Closed, ms, "handshake");
    } catch (e) {
      await this.shutdown();
      throw e;
    }
  }

  udpSend(data: string | Uint8Array): number {
    const r = this.sendData(data);
    this.pump(() => this.drain());
    return r;
  }

  async waitAppData(match: (all: string) => boolean, ms = 5000): Promise<string> {
    const text = () => Buffer.concat(this.appData).toString("latin1");
    await this.waitUntil(() => match(text()) || this.state === ConnState.Closed, ms, "application data");
    return text();
  }

  async waitClosed(ms = 5000): Promise<void> {
    await this.waitUntil(() => this.state === ConnState.Closed, ms, "close");
  }

  /** close_notify, then close the socket. */
  async udpClose(): Promise<void> {
    if (this.sock && this.state !== ConnState.Closed && this.state !== ConnState.Idle) this.pump(() => { this.closeConn(); return this.drain(); });
    await this.shutdown();
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }

  /** Bytes/datagrams of the exchange so far, both directions (UDP payload). */
  wireStats() {
    const sum = (a: Uint8Array[]) => a.reduce((n, d) => n + d.length, 0);
    return { sentBytes: sum(this.sent), sentDatagrams: this.sent.length, receivedBytes: sum(this.received),
      receivedDatagrams: this.received.length, totalBytes: sum(this.sent) + sum(this.received),
      totalDatagrams: this.sent.length + this.received.length };
  }
}

/** A free UDP port on 127.0.0.1 (bound and released; a small race is accepted). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((res) => s.bind(0, "127.0.0.1", () => res()));
  const port = s.address().port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

// =====================================================================================
// Server role (build/test/dtls_server.wasm): a DTLS server for many peers in
// one module instance, driven sans-I/O (datagram(peer, bytes) -> datagrams
// out) or over real UDP (udpListen) for openssl s_client / gnutls-cli.
// =====================================================================================

export interface ServerOptions {
  suites?: number;
  /** A fixed identity + key, or a lookup the server asks per handshake (DtlsEvent.PskIdentity). */
  psk?: { identity: string | Uint8Array; key: Uint8Array } | { lookup(identity: Uint8Array): Uint8Array | undefined };
  mfl?: number;
  mtu?: number;
  timers?: { initialMs: number; maxMs: number; count: number } | null;
  keyLog?: boolean;
  verifyPeer?: boolean;
  helloVerify?: boolean;
  /** Our ECDSA identity (SE slot 0). */
  identity?: { privateKey: Uint8Array };
  certificateType?: number;
  /** RPK: the one accepted client key (omit: any key; the test decides from peerCertificate). */
  clientKey?: Uint8Array;
  ownCertificates?: Uint8Array[];
  /** X.509 client authentication: anchors (DER) and VerifyFlag bits. */
  trustAnchors?: Uint8Array[];
  trustFlags?: number;
  sessionCache?: number;
  peerCertificateCapacity?: number;
  /** RFC 9146: accept a client's connection ID, ours of this length (0..32). */
  cid?: number;
}

export interface ServerPeer {
  key: string;
  h: number;
  events: EventRecord[];
  appData: Uint8Array[];
  pskIdentity?: Uint8Array;
  keyLogLine?: string;
}

export function certificateList(certs: Uint8Array[]): Buffer {
  return Buffer.concat(certs.map((c) => Buffer.concat([Buffer.from([c.length >> 16, (c.length >> 8) & 255, c.length & 255]), c])));
}

/** First record of a datagram is an epoch-0 ClientHello (a new handshake from that peer). */
export function isClientHello(d: Uint8Array): boolean {
  return d.length >= 26 && d[0] === 22 && d[3] === 0 && d[4] === 0 && d[13] === 1;
}

export class DtlsServer {
  readonly m: TestModule<DtlsExports>;
  readonly se: SimulatedSecureElement;
  readonly x: DtlsExports;
  readonly peers = new Map<string, ServerPeer>();
  /** Every peer that reached a handshake (kept after it closed), in order. */
  readonly history: ServerPeer[] = [];
  publicKey?: Uint8Array;
  logs: string[] = [];
  helloVerifies = 0;
  private listener = -1;
  private pskLookup?: (identity: Uint8Array) => Uint8Array | undefined;
  private memory!: WebAssembly.Memory;
  private sock?: dgram.Socket;
  private ticker?: NodeJS.Timeout;
  private waiters: (() => void)[] = [];
  port = 0;

  constructor(opts: { rng?: RandomFill; se?: SimulatedSecureElement; wallSeconds?: () => number } = {}) {
    const rng = (opts.rng ?? new DeviceRng()) as DeviceRng;
    this.se = opts.se ?? new SimulatedSecureElement();
    const imports = createHostImports({
      rng, se: this.se, flash: new NorFlash(),
      net: { open: () => -1, send: () => -1, close: () => {} },
      clock: { monotonicMs: nowMs, wallSeconds: opts.wallSeconds ?? (() => Math.floor(Date.now() / 1000)) },
      log: (level, text) => { this.logs.push(`${level} ${text}`); },
      fatal: (code, line) => { throw new FirmwareFatal(code, line); },
    }, () => this.memory);
    this.m = loadTest<DtlsExports>("dtls_server", imports);
    this.x = this.m.exports;
    this.memory = this.x.memory;
  }

  private put(b: Uint8Array, off: number): number {
    this.m.write(b, this.m.scratch + off);
    return this.m.scratch + off;
  }

  configure(o: ServerOptions): this {
    const x = this.x;
    x.scfgReset();
    if (o.suites !== undefined) x.scfgSuites(o.suites);
    this.pskLookup = undefined;
    if (o.psk && "lookup" in o.psk) this.pskLookup = o.psk.lookup.bind(o.psk);
    else if (o.psk) {
      const id = bytes(o.psk.identity);
      x.scfgPsk(this.put(id, 0), id.length, this.put(o.psk.key, 4096), o.psk.key.length, 0);
    }
    if (o.mfl) x.scfgMfl(o.mfl);
    if (o.mtu) x.scfgMtu(o.mtu);
    if (o.timers !== null) {
      const t = o.timers ?? { initialMs: 400, maxMs: 1600, count: 4 };
      x.scfgTimers(BigInt(t.initialMs), BigInt(t.maxMs), t.count);
    }
    if (o.keyLog) x.scfgKeyLog(1);
    if (o.cid !== undefined) x.scfgConnectionId(o.cid);
    if (o.verifyPeer === false) x.scfgVerifyPeer(0);
    if (o.helloVerify === false) x.scfgHelloVerify(0);
    x.scfgPeerCertificateCapacity(o.peerCertificateCapacity ?? 2048);
    if (o.identity) {
      const pub = this.se.importPrivate(0, o.identity.privateKey.slice());
      if (typeof pub === "number") throw new Error(`SE import failed: ${pub}`);
      this.publicKey = pub;
      x.scfgIdentity(0, this.put(pub, 0), 8);
    }
    if (o.certificateType !== undefined) x.scfgCertificateType(o.certificateType);
    if (o.clientKey) x.scfgClientKey(this.put(o.clientKey, 0), o.clientKey.length);
    if (o.ownCertificates) {
      const list = certificateList(o.ownCertificates);
      x.scfgOwnCertificates(this.put(list, 0), list.length);
    }
    if (o.trustAnchors) {
      const list = certificateList(o.trustAnchors);
      x.scfgTrustAnchors(this.put(list, 0), list.length, o.trustFlags ?? 0);
    }
    x.scfgSessionCache(o.sessionCache ?? 0);
    this.listener = x.srvNew();
    return this;
  }

  /** Peer as seen by the server: by key, else the last one in the history. */
  peer(key?: string): ServerPeer | undefined {
    return key ? this.peers.get(key) ?? [...this.history].reverse().find((p) => p.key === key) : this.history[this.history.length - 1];
  }
  state(p: ServerPeer): number { return this.x.srvState(p.h); }
  reason(p: ServerPeer): number { return this.x.srvReason(p.h); }
  reasonName(p: ServerPeer): string { return errorName(this.x.srvReason(p.h)); }
  detail(p: ServerPeer): number { return this.x.srvDetail(p.h); }
  suite(p: ServerPeer): number { return this.x.srvSuite(p.h); }
  resumed(p: ServerPeer): boolean { return !!this.x.srvResumed(p.h); }
  peerCertificate(p: ServerPeer): Uint8Array { return this.m.read(this.x.srvPeerCertificatePtr(p.h), this.x.srvPeerCertificateLen(p.h)); }
  peerPublicKey(p: ServerPeer): Uint8Array { return this.m.read(this.x.srvPeerKeyPtr(p.h), 65); }
  sessionId(p: ServerPeer): Uint8Array { return this.m.read(this.x.srvSessionIdPtr(p.h), this.x.srvSessionIdLen(p.h)); }
  stats(p: ServerPeer) {
    const s = (i: number) => Number(this.x.srvStat(p.h, i));
    return { bytesSent: s(0), bytesReceived: s(1), datagramsSent: s(2), datagramsReceived: s(3), recordsDropped: s(4), replaysDropped: s(5), authFailures: s(6), cidDropped: s(7) };
  }
  /** RFC 9146: the CID this peer puts in its records to us, null when none was negotiated. */
  ownCid(p: ServerPeer): Uint8Array | null {
    const n = this.x.srvOwnCidLen(p.h);
    return n < 0 ? null : this.m.read(this.x.srvOwnCidPtr(p.h), n);
  }
  describe(p?: ServerPeer): string {
    if (!p) return "no peer";
    return `server state=${this.state(p)} reason=${this.reasonName(p)} detail=${this.detail(p) ? x509Name(this.detail(p)) : 0} events=` +
      p.events.map((e) => `${e.name}(${e.kind === DtlsEvent.AlertReceived ? alertName(e.reason) : e.kind === DtlsEvent.ApplicationData ? e.data?.length : errorName(e.reason)})`).join(",");
  }

  /** One datagram from `key` (e.g. "127.0.0.1:40000"); returns the datagrams to send back. */
  datagram(key: string, d: Uint8Array, now = nowMs()): Uint8Array[] {
    const x = this.x;
    let p = this.peers.get(key);
    // a closed session is forgotten
    if (p && this.state(p) === ConnState.Closed) { x.srvFree(p.h); this.peers.delete(key); p = undefined; }
    if (!p && d.length > 13 && d[0] === 25) {
      // RFC 9146 6: a tls12_cid record from a new address (NAT rebinding) goes to the
      // connection of its CID; the address moves once a record of it authenticated
      const q = this.byCid(d);
      if (!q) return [];
      const before = this.stats(q);
      x.srvHandleDatagram(q.h, this.put(d, 0), d.length, BigInt(now));
      const after = this.stats(q);
      if (after.authFailures === before.authFailures && after.recordsDropped === before.recordsDropped &&
          after.replaysDropped === before.replaysDropped && after.cidDropped === before.cidDropped) {
        this.peers.delete(q.key);
        q.key = key;
        this.peers.set(key, q);
      }
      this.collect(q, now);
      return this.drain(q.h);
    }
    if (p && isClientHello(d) && this.state(p) === ConnState.Established) {
      // a new handshake from an established peer (RFC 6347 4.2.8) goes to the listener;
      // with a valid cookie it replaces the old session
      const out = this.acceptOn(key, d, now);
      if (out) return out;
    }
    if (!p) return this.acceptOn(key, d, now) ?? [];
    x.srvHandleDatagram(p.h, this.put(d, 0), d.length, BigInt(now));
    this.collect(p, now);
    return this.drain(p.h);
  }

  /** The peer whose CID a tls12_cid record carries (CIDs of one length: the config's). */
  private byCid(d: Uint8Array): ServerPeer | undefined {
    for (const q of this.peers.values()) {
      const cid = this.ownCid(q);
      if (cid && cid.length > 0 && d.length >= 13 + cid.length && Buffer.from(d.subarray(11, 11 + cid.length)).equals(cid)) return q;
    }
    return undefined;
  }

  private acceptOn(key: string, d: Uint8Array, now: number): Uint8Array[] | undefined {
    const x = this.x;
    const addr = bytes(key);
    const r = x.srvAccept(this.listener, this.put(d, 0), d.length, this.put(addr, 16384), addr.length, BigInt(now));
    if (r === 1) { this.helloVerifies++; return this.drain(this.listener); }
    if (r !== 0) return undefined;
    const old = this.peers.get(key);
    if (old) { x.srvFree(old.h); }
    const p: ServerPeer = { key, h: this.listener, events: [], appData: [] };
    this.peers.set(key, p);
    this.history.push(p);
    this.listener = x.srvNew();
    this.collect(p, now);
    return this.drain(p.h);
  }

  timeouts(now = nowMs()): { key: string; d: Uint8Array }[] {
    const out: { key: string; d: Uint8Array }[] = [];
    for (const p of this.peers.values()) {
      const dl = Number(this.x.srvNextDeadline(p.h));
      if (dl >= 0 && dl <= now) {
        this.x.srvHandleTimeout(p.h, BigInt(now));
        this.collect(p, now);
        for (const d of this.drain(p.h)) out.push({ key: p.key, d });
      }
    }
    return out;
  }

  private drain(h: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const n = this.x.srvPollTransmit(h);
      if (n <= 0) break;
      out.push(this.m.read(this.x.srvTransmitPtr(h), n));
    }
    return out;
  }

  private collect(p: ServerPeer, now: number): void {
    const x = this.x;
    for (;;) {
      const kind = x.srvPollEvent(p.h);
      if (kind === DtlsEvent.None) break;
      const ev: EventRecord = { kind, name: EventName[kind], reason: x.srvEventReason(p.h) };
      if (kind === DtlsEvent.ApplicationData || kind === DtlsEvent.PskIdentity) ev.data = this.m.read(x.srvAppDataPtr(p.h), x.srvAppDataLen(p.h));
      p.events.push(ev);
      if (kind === DtlsEvent.ApplicationData) p.appData.push(ev.data!);
      if (kind === DtlsEvent.HandshakeComplete) {
        const n = x.srvKeyLogLen(p.h);
        if (n > 0) p.keyLogLine = Buffer.from(this.m.read(x.srvKeyLogPtr(p.h), n)).toString("latin1");
      }
      if (kind === DtlsEvent.PskIdentity) {
        p.pskIdentity = ev.data!;
        const key = this.pskLookup?.(ev.data!);
        x.srvSupplyPsk(p.h, key ? this.put(key, 8192) : 0, key ? key.length : 0, BigInt(now));
      }
    }
    for (const w of this.waiters.splice(0)) w();
  }

  /** Protect data for the peer; returns [error, datagrams]. */
  send(p: ServerPeer, data: string | Uint8Array, now = nowMs()): [number, Uint8Array[]] {
    const b = bytes(data);
    const r = this.x.srvSend(p.h, this.put(b, 0), b.length, BigInt(now));
    this.collect(p, now);
    return [r, this.drain(p.h)];
  }

  close(p: ServerPeer, now = nowMs()): Uint8Array[] {
    this.x.srvClose(p.h, BigInt(now));
    this.collect(p, now);
    return this.drain(p.h);
  }

  // ---- real UDP ----
  async udpListen(port = 0): Promise<number> {
    const sock = dgram.createSocket("udp4");
    this.sock = sock;
    await new Promise<void>((res, rej) => { sock.once("error", rej); sock.bind(port, "127.0.0.1", () => res()); });
    sock.on("message", (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      for (const d of this.datagram(key, new Uint8Array(msg))) sock.send(d, rinfo.port, rinfo.address);
    });
    sock.on("error", () => {});
    this.ticker = setInterval(() => {
      for (const { key, d } of this.timeouts()) {
        const [a, pt] = key.split(":");
        sock.send(d, Number(pt), a);
      }
    }, 25);
    this.port = sock.address().port;
    return this.port;
  }

  udpSend(p: ServerPeer, data: string | Uint8Array): number {
    const [r, ds] = this.send(p, data);
    const [a, pt] = p.key.split(":");
    for (const d of ds) this.sock!.send(d, Number(pt), a);
    return r;
  }

  waitUntil(pred: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const t0 = setTimeout(() => reject(new Error(`timeout waiting for ${what}: ${this.describe(this.peer())}`)), ms);
      const check = () => { if (pred()) { clearTimeout(t0); resolve(); } else this.waiters.push(check); };
      check();
    });
  }

  async shutdown(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }
}

/** Runs our client against our server in-process until both are quiet; returns the datagrams in order. */
export function pairHandshake(c: DtlsClient, s: DtlsServer, opts: { key?: string; now?: number; maxRounds?: number; dropToServer?: (n: number) => boolean } = {}): { dir: "c2s" | "s2c"; d: Uint8Array }[] {
  const key = opts.key ?? "10.0.0.1:5684";
  const now = opts.now ?? 1000;
  const log: { dir: "c2s" | "s2c"; d: Uint8Array }[] = [];
  const r = c.connect(now);
  if (r !== 0) throw new Error(`connect refused: ${errorName(r)}`);
  let toServer = c.drain();
  let n = 0;
  for (let round = 0; round < (opts.maxRounds ?? 20) && toServer.length; round++) {
    const toClient: Uint8Array[] = [];
    for (const d of toServer) {
      log.push({ dir: "c2s", d });
      if (opts.dropToServer?.(n++)) continue;
      toClient.push(...s.datagram(key, d, now));
    }
    toServer = [];
    for (const d of toClient) {
      log.push({ dir: "s2c", d });
      toServer.push(...c.deliver(d, now));
    }
  }
  return log;
}
