// A scripted hostile DTLS/CoAP peer for the adversarial harness
// (test/adversarial-*.test.ts). The device is the real build/firmware.wasm in
// host-shim/node's Device on a FakeClock (manual timers); the peer is the
// project's DTLS server role (server/dtls-module.ts, as the development
// servers use it) plus a small LwM2M Server (Register / Update / De-register
// answered, requests sent), all in one process without sockets: the device's
// net service is this object, datagrams go through a queue, and time is
// virtual (run(ms) fires the device's and the server's deadlines in order).
//
// Hostility: `toDevice` sees every datagram the honest server would send and
// returns what the device gets instead (dropped, mutated, duplicated, extra
// records: a raw record writer is below); `toServer` does the same for the
// device's datagrams. `honest()` removes both, and `recover()` checks that the
// device then completes a fresh handshake, registers and serves a Read.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Device, FakeClock, FIRMWARE_PATH, type ServerAccountConfig, type LogEvent } from "../../host-shim/node/device";
import type { DevPki } from "../../server/dev-pki";
import type { NetService } from "../../host-shim/node/host";
import { loadDtlsServerModule, ServerSuite, ServerEvent, ServerState, type DtlsServerModule } from "../../server/dtls-module";
import { decodeMessage, encodeMessage, Type, Opt, getOptions, toText, toBytes, type CoapMessage, type CoapOption } from "../../server/coap";

// ---- raw DTLS records (RFC 6347 4.1) and handshake fragments (4.2.2) ----

export const CT = { ChangeCipherSpec: 20, Alert: 21, Handshake: 22, ApplicationData: 23 } as const;
export const HT = { HelloRequest: 0, ClientHello: 1, ServerHello: 2, HelloVerifyRequest: 3, Certificate: 11, ServerKeyExchange: 12, CertificateRequest: 13, ServerHelloDone: 14, ClientKeyExchange: 16, Finished: 20 } as const;

export interface DtlsRecord { type: number; version: number; epoch: number; seq: bigint; body: Uint8Array }
export interface HsFragment { msgType: number; length: number; messageSeq: number; fragOffset: number; fragLength: number; body: Uint8Array }

/** The records of a datagram; a truncated tail is returned as `rest`. */
export function parseRecords(d: Uint8Array): { records: DtlsRecord[]; rest: Uint8Array } {
  const records: DtlsRecord[] = [];
  let o = 0;
  while (o + 13 <= d.length) {
    const len = (d[o + 11] << 8) | d[o + 12];
    if (o + 13 + len > d.length) break;
    let seq = 0n;
    for (let i = 0; i < 6; i++) seq = (seq << 8n) | BigInt(d[o + 5 + i]);
    records.push({ type: d[o], version: (d[o + 1] << 8) | d[o + 2], epoch: (d[o + 3] << 8) | d[o + 4], seq, body: d.slice(o + 13, o + 13 + len) });
    o += 13 + len;
  }
  return { records, rest: d.slice(o) };
}

/** One record; `length` overrides the length field (a lie about the body). */
export function writeRecord(r: DtlsRecord, length = r.body.length): Uint8Array {
  const o = new Uint8Array(13 + r.body.length);
  o[0] = r.type; o[1] = r.version >> 8; o[2] = r.version & 255; o[3] = r.epoch >> 8; o[4] = r.epoch & 255;
  for (let i = 0; i < 6; i++) o[5 + i] = Number((r.seq >> BigInt(8 * (5 - i))) & 255n);
  o[11] = (length >> 8) & 255; o[12] = length & 255;
  o.set(r.body, 13);
  return o;
}
export const writeRecords = (rs: DtlsRecord[]) => cat(...rs.map((r) => writeRecord(r)));

export function parseFragments(body: Uint8Array): HsFragment[] {
  const out: HsFragment[] = [];
  let o = 0;
  while (o + 12 <= body.length) {
    const be24 = (i: number) => (body[i] << 16) | (body[i + 1] << 8) | body[i + 2];
    const fragLength = be24(o + 9);
    out.push({ msgType: body[o], length: be24(o + 1), messageSeq: (body[o + 4] << 8) | body[o + 5], fragOffset: be24(o + 6), fragLength, body: body.slice(o + 12, o + 12 + fragLength) });
    o += 12 + fragLength;
  }
  return out;
}

export function writeFragment(f: HsFragment): Uint8Array {
  const o = new Uint8Array(12 + f.body.length);
  const be24 = (i: number, v: number) => { o[i] = (v >> 16) & 255; o[i + 1] = (v >> 8) & 255; o[i + 2] = v & 255; };
  o[0] = f.msgType; be24(1, f.length); o[4] = f.messageSeq >> 8; o[5] = f.messageSeq & 255; be24(6, f.fragOffset); be24(9, f.fragLength);
  o.set(f.body, 12);
  return o;
}

export function cat(...a: Uint8Array[]): Uint8Array {
  const o = new Uint8Array(a.reduce((s, x) => s + x.length, 0));
  let p = 0;
  for (const x of a) { o.set(x, p); p += x.length; }
  return o;
}

/** A plaintext (epoch 0) alert record. */
export const alertRecord = (level: number, desc: number, seq = 90n, epoch = 0) =>
  writeRecord({ type: CT.Alert, version: 0xfefd, epoch, seq, body: Uint8Array.of(level, desc) });

/** The handshake message types of a datagram (epoch-0 records only; encrypted ones are -1). */
export function messageTypes(d: Uint8Array): number[] {
  const out: number[] = [];
  for (const r of parseRecords(d).records) {
    if (r.type !== CT.Handshake) out.push(-r.type);
    else if (r.epoch !== 0) out.push(-1);
    else for (const f of parseFragments(r.body)) out.push(f.msgType);
  }
  return out;
}

/**
 * Rewrites the whole (unfragmented) handshake message `msgType` in an epoch-0
 * datagram: `fn` gets its body and returns the new one; the fragment and
 * record lengths follow (set `lie` to keep the old fragment header instead).
 */
export function editMessage(d: Uint8Array, msgType: number, fn: (body: Uint8Array) => Uint8Array): Uint8Array {
  const { records, rest } = parseRecords(d);
  return cat(...records.map((r) => {
    if (r.type !== CT.Handshake || r.epoch !== 0) return writeRecord(r);
    const frags = parseFragments(r.body).map((f) => {
      if (f.msgType !== msgType || f.fragOffset !== 0 || f.fragLength !== f.length) return writeFragment(f);
      const body = fn(f.body);
      return writeFragment({ ...f, length: body.length, fragLength: body.length, body });
    });
    return writeRecord({ ...r, body: cat(...frags) });
  }), rest);
}

/** Rewrites every epoch-0 handshake fragment header of type msgType (the body stays). */
export function editFragmentHeader(d: Uint8Array, msgType: number, fn: (f: HsFragment) => HsFragment): Uint8Array {
  const { records, rest } = parseRecords(d);
  return cat(...records.map((r) => {
    if (r.type !== CT.Handshake || r.epoch !== 0) return writeRecord(r);
    return writeRecord({ ...r, body: cat(...parseFragments(r.body).map((f) => (f.msgType === msgType ? writeFragment(fn(f)) : writeFragment(f)))) });
  }), rest);
}

/** Rewrites the record headers of a datagram (`fn` may change any field; the body length follows the body). */
export function editRecords(d: Uint8Array, fn: (r: DtlsRecord, i: number) => DtlsRecord | DtlsRecord[] | null): Uint8Array {
  const { records, rest } = parseRecords(d);
  const out: DtlsRecord[] = [];
  records.forEach((r, i) => { const x = fn(r, i); if (x) out.push(...(Array.isArray(x) ? x : [x])); });
  return cat(writeRecords(out), rest);
}

/**
 * Splits message msgType of an epoch-0 datagram into fragments at the given
 * [offset, length] pairs, all in the message's record (several fragments per
 * record, RFC 6347 4.2.3): no new record sequence numbers, which would shadow
 * the server's next records in the device's replay window.
 */
export function fragmentMessage(d: Uint8Array, msgType: number, pieces: (len: number) => [number, number][]): Uint8Array {
  const { records, rest } = parseRecords(d);
  return cat(...records.map((r) => {
    if (r.type !== CT.Handshake || r.epoch !== 0) return writeRecord(r);
    return writeRecord({ ...r, body: cat(...parseFragments(r.body).map((f) => {
      if (f.msgType !== msgType || f.fragOffset !== 0 || f.fragLength !== f.length) return writeFragment(f);
      return cat(...pieces(f.length).map(([off, len]) => {
        const body = f.body.slice(Math.min(off, f.length), Math.min(off + len, f.length));
        return writeFragment({ ...f, fragOffset: off, fragLength: body.length, body });
      }));
    })) });
  }), rest);
}

/** ServerHello body (RFC 5246 7.4.1.3) field offsets. */
export function serverHelloLayout(b: Uint8Array) {
  const sid = b[34];
  const suite = 35 + sid;
  const ext = suite + 3;
  return { sid, suite, compression: suite + 2, ext, extEnd: ext + 2 + ((b[ext] << 8) | b[ext + 1]) };
}
/** A ServerHello with `add` appended to its extensions (and the list length fixed). */
export function addExtension(b: Uint8Array, type: number, data: Uint8Array): Uint8Array {
  const L = serverHelloLayout(b);
  const has = b.length > L.ext;
  const head = b.slice(0, L.ext);
  const list = has ? b.slice(L.ext + 2, L.extEnd) : new Uint8Array(0);
  const e = cat(Uint8Array.of(type >> 8, type & 255, data.length >> 8, data.length & 255), data);
  const n = list.length + e.length;
  return cat(head, Uint8Array.of(n >> 8, n & 255), list, e);
}
/** The extensions of a ServerHello: [type, data]. */
export function serverHelloExtensions(b: Uint8Array): [number, Uint8Array][] {
  const L = serverHelloLayout(b);
  const out: [number, Uint8Array][] = [];
  for (let o = L.ext + 2; o + 4 <= L.extEnd;) {
    const t = (b[o] << 8) | b[o + 1], n = (b[o + 2] << 8) | b[o + 3];
    out.push([t, b.slice(o + 4, o + 4 + n)]);
    o += 4 + n;
  }
  return out;
}
/** A ServerHello with its extensions replaced. */
export function withExtensions(b: Uint8Array, exts: [number, Uint8Array][]): Uint8Array {
  const L = serverHelloLayout(b);
  const list = cat(...exts.map(([t, d]) => cat(Uint8Array.of(t >> 8, t & 255, d.length >> 8, d.length & 255), d)));
  return cat(b.slice(0, L.ext), Uint8Array.of(list.length >> 8, list.length & 255), list);
}

// ---- the peer ----

export interface ServerDatagram {
  data: Uint8Array;
  /** Index of this datagram among those the server sent since the last reset(). */
  index: number;
  /** Handshake message types in it (see messageTypes), e.g. [3] HelloVerifyRequest, [2, 14] ServerHello + Done. */
  types: number[];
}
export type Interceptor = (d: ServerDatagram) => Uint8Array[];

export const PSK_IDENTITY = "hostile-harness";
export const PSK_KEY = Uint8Array.from(Buffer.from("8b7c6d5e4f30211203f4e5d6c7b8a990", "hex"));
const HOST = "127.0.0.1";
const PORT = 5684;

let shared: Promise<DtlsServerModule> | null = null;

export class HostilePeer implements NetService {
  /** Virtual monotonic time from 0; the wall clock starts at the real one (certificates made today are valid). */
  readonly clock = new FakeClock(0, Math.floor(Date.now() / 1000));
  device!: Device;
  m!: DtlsServerModule;
  private listener = -1;
  private conn = -1;
  private queue: { to: "device" | "server"; data: Uint8Array }[] = [];
  private handle = -1;
  /** Mutates what the server sends (null: honest). */
  toDevice: Interceptor | null = null;
  /** Mutates what the device sends, before the server sees it (null: honest). */
  toServer: ((d: Uint8Array, index: number) => Uint8Array[]) | null = null;
  /** Answers the device's CoAP requests (null: the honest Register / Update / De-register answers). */
  onRequest: ((m: CoapMessage) => CoapMessage | null) | null = null;
  /** Answers the device's responses and notifications (null: an empty ACK for a CON). */
  onNotification: ((m: CoapMessage) => CoapMessage | null) | null = null;
  serverIndex = 0;
  clientIndex = 0;
  /** Every datagram the device sent, in order. */
  deviceSent: Uint8Array[] = [];
  /** Alerts the device sent: plaintext ones read from the wire, encrypted ones as the server decrypted them. */
  deviceAlerts: { level: number; desc: number }[] = [];
  /** Server events (kind, reason) since the last reset(). */
  serverEvents: { kind: number; reason: number }[] = [];
  /** Decrypted CoAP messages from the device. */
  coapIn: CoapMessage[] = [];
  registrations = 0;
  private responses = new Map<string, CoapMessage>();
  private mid = 0x4000;
  private tok = 1;

  /**
   * A booted, provisioned device and the peer. PSK by default (one server
   * module shared by the PSK peers of a process); with `x509` (a DevPki) the
   * device has a certificate account (its certificate from the PKI, the PKI's
   * CA as trust anchor, usage 2) and the server presents the PKI's server
   * certificate from a module instance of its own.
   */
  static async create(o: { x509?: DevPki } = {}): Promise<HostilePeer> {
    const p = new HostilePeer();
    if (o.x509) p.m = await loadDtlsServerModule();
    else p.m = await (shared ??= loadDtlsServerModule());
    const x = p.m.x;
    x.scfgReset();
    x.scfgTimers(1000n, 8000n, 5);
    x.scfgMtu(1280);
    x.scfgSessionCache(0);
    let account: ServerAccountConfig = { shortServerId: 1, uri: `coaps://${HOST}:${PORT}`, securityMode: "psk", pskIdentity: PSK_IDENTITY, pskKey: PSK_KEY, lifetime: 3600 };
    if (o.x509) {
      const pki = o.x509;
      x.scfgSuites(ServerSuite.Ecdsa);
      x.scfgCertificateType(0);
      p.serverCertificates([pki.server.certificate], pki.server.privateKey);
      const anchors = certificateList([pki.ca.certificate]);
      x.scfgTrustAnchors(p.m.write(anchors), anchors.length, 0);
      x.scfgPeerCertificateCapacity(2048);
      const own = pki.device("hostile-harness-x509");
      account = { ...account, securityMode: "x509", publicKey: own.certificate, secretKey: own.privateKey, serverPublicKey: pki.ca.certificate, certificateUsage: 2, pskIdentity: undefined, pskKey: undefined };
    } else {
      x.scfgSuites(ServerSuite.AnyPsk);
    }
    p.device = new Device({ net: p, clock: p.clock, manualTimers: true, firmware: firmwareBytes() });
    p.device.start();
    p.device.provision({ endpoint: "hostile-harness-ep", servers: [account] });
    p.pump();
    return p;
  }

  /** X.509: the chain the server presents (leaf first) and the leaf's private key; new handshakes use them. */
  serverCertificates(chain: Uint8Array[], privateKey: Uint8Array) {
    const x = this.m.x;
    const pub = this.m.se.importPrivate(0, privateKey.slice());
    if (typeof pub === "number") throw new Error(`the SE refused the server key (${pub})`);
    x.scfgIdentity(0, this.m.write(pub), 8);
    const list = certificateList(chain);
    if (list.length > 4096) throw new Error("the server module keeps at most 4096 bytes of certificates");
    x.scfgOwnCertificates(this.m.write(list), list.length);
    if (this.listener >= 0) { x.srvFree(this.listener); this.listener = -1; }
  }

  // ---- NetService (the device's side) ----
  open(host: string, port: number): number {
    assert.equal(`${host}:${port}`, `${HOST}:${PORT}`);
    return ++this.handle;
  }
  send(peer: number, data: Uint8Array): number {
    if (peer !== this.handle) return -2;
    const d = data.slice();
    this.deviceSent.push(d);
    for (const r of parseRecords(d).records) if (r.type === CT.Alert && r.epoch === 0 && r.body.length === 2) this.deviceAlerts.push({ level: r.body[0], desc: r.body[1] });
    const idx = this.clientIndex++;
    for (const x of this.toServer ? this.toServer(d, idx) : [d]) this.queue.push({ to: "server", data: x });
    return 0;
  }
  close(_peer: number): void {}

  // ---- the server's side ----
  private now() { return BigInt(this.clock.now); }

  private newListener() {
    const x = this.m.x;
    this.listener = x.srvNew();
    x.srvSetEphemeralSlot(this.listener, 8);
  }

  /** Forget the server's connection (the next ClientHello starts over). */
  resetServer() {
    const x = this.m.x;
    if (this.conn >= 0) x.srvFree(this.conn);
    this.conn = -1;
    this.serverIndex = 0;
    this.clientIndex = 0;
    this.serverEvents = [];
  }

  private toServerDatagram(d: Uint8Array) {
    const x = this.m.x, now = this.now();
    if (this.listener < 0) this.newListener();
    const hello = d.length >= 26 && d[0] === 22 && d[3] === 0 && d[4] === 0 && d[13] === 1;
    const st = this.conn >= 0 ? x.srvState(this.conn) : -1;
    if (this.conn < 0 || st === ServerState.Closed || (hello && st === ServerState.Established)) {
      if (!hello) return;
      const addr = Buffer.from(`${HOST}:${PORT + 1}`);
      const r = x.srvAccept(this.listener, this.m.write(d), d.length, this.m.write(addr, 65536), addr.length, now);
      if (r === 1) { this.flush(this.listener); return; }
      if (r !== 0) return;
      if (this.conn >= 0) x.srvFree(this.conn);
      this.conn = this.listener;
      this.newListener();
    } else {
      x.srvHandleDatagram(this.conn, this.m.write(d), d.length, now);
    }
    this.events();
    this.flush(this.conn);
  }

  private events() {
    const x = this.m.x, h = this.conn;
    for (;;) {
      const kind = x.srvPollEvent(h);
      if (kind === ServerEvent.None) break;
      const reason = x.srvEventReason(h);
      this.serverEvents.push({ kind, reason });
      if (kind === ServerEvent.PskIdentity) {
        const id = Buffer.from(this.m.read(x.srvAppDataPtr(h), x.srvAppDataLen(h))).toString("utf8");
        if (id === PSK_IDENTITY) x.srvSupplyPsk(h, this.m.write(PSK_KEY, 32768), PSK_KEY.length, this.now());
        else x.srvSupplyPsk(h, 0, 0, this.now());
      } else if (kind === ServerEvent.AlertReceived) {
        const r = x.srvEventReason(h);
        if (!this.deviceAlerts.length || this.deviceAlerts[this.deviceAlerts.length - 1].desc !== r) this.deviceAlerts.push({ level: r === 0 ? 1 : 2, desc: r });
      } else if (kind === ServerEvent.ApplicationData) {
        this.onCoap(this.m.read(x.srvAppDataPtr(h), x.srvAppDataLen(h)));
      }
    }
  }

  private flush(h: number) {
    const x = this.m.x;
    for (;;) {
      const n = x.srvPollTransmit(h);
      if (n <= 0) break;
      const data = this.m.read(x.srvTransmitPtr(h), n);
      const sd: ServerDatagram = { data, index: this.serverIndex++, types: messageTypes(data) };
      for (const y of this.toDevice ? this.toDevice(sd) : [data]) this.queue.push({ to: "device", data: y });
    }
  }

  /** Hand a raw datagram to the device (as if from the server's address). */
  inject(...ds: Uint8Array[]) {
    for (const d of ds) this.queue.push({ to: "device", data: d });
    this.pump();
  }

  /** Deliver queued datagrams both ways until quiet. */
  pump() {
    for (let guard = 0; this.queue.length; guard++) {
      if (guard > 20000) throw new Error("hostile peer: datagram loop");
      const q = this.queue.shift()!;
      if (q.to === "server") this.toServerDatagram(q.data);
      else if (this.handle >= 0) this.device.deliver(this.handle, q.data);
    }
  }

  /** Advance virtual time by ms, firing the device's and the server's deadlines in order and delivering between them; stops early when `until()` holds. */
  run(ms: number, until?: () => boolean): boolean {
    const end = this.clock.now + ms;
    const x = this.m.x;
    this.pump();
    for (let guard = 0; ; guard++) {
      if (until?.()) return true;
      if (guard > 200000) throw new Error("hostile peer: timer loop");
      const dd = this.device.deadline;
      const sd = this.conn >= 0 && x.srvState(this.conn) !== ServerState.Closed ? Number(x.srvNextDeadline(this.conn)) : -1;
      const due = [dd, sd].filter((t) => t >= 0 && t <= end);
      if (!due.length) { this.clock.now = Math.max(this.clock.now, end); return until?.() ?? false; }
      this.clock.now = Math.max(this.clock.now, Math.min(...due));
      if (dd >= 0 && dd <= this.clock.now) this.device.advanceTo(this.clock.now);
      if (sd >= 0 && sd <= this.clock.now && this.conn >= 0) {
        x.srvHandleTimeout(this.conn, this.now());
        this.events();
        this.flush(this.conn);
      }
      this.pump();
    }
  }

  // ---- CoAP (the LwM2M Server's side) ----
  get established() { return this.conn >= 0 && this.m.x.srvState(this.conn) === ServerState.Established; }

  private sendCoap(m: CoapMessage) {
    if (!this.established) return;
    const b = encodeMessage(m);
    this.m.x.srvSend(this.conn, this.m.write(b), b.length, this.now());
    this.flush(this.conn);
  }

  /** Raw CoAP bytes in the established session. */
  sendRaw(b: Uint8Array) {
    assert.ok(this.established, "no session");
    const r = this.m.x.srvSend(this.conn, this.m.write(b), b.length, this.now());
    assert.ok(r >= 0, `the server could send ${b.length} bytes (${r})`);
    this.flush(this.conn);
    this.pump();
    return r;
  }

  private onCoap(b: Uint8Array) {
    let m: CoapMessage;
    try { m = decodeMessage(b); } catch { return; }
    this.coapIn.push(m);
    if (m.code >= 1 && m.code <= 31) {
      const answer = this.onRequest ? this.onRequest(m) : this.honestAnswer(m);
      if (answer) this.sendCoap(answer);
      return;
    }
    const reply = this.onNotification?.(m);
    if (reply) this.sendCoap(reply);
    else if (m.type === Type.CON) this.sendCoap({ type: Type.ACK, code: 0, mid: m.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) });
    if (m.code !== 0) this.responses.set(Buffer.from(m.token).toString("hex"), m);
  }

  /** Register -> 2.01 /rd/1, Update -> 2.04, De-register -> 2.02, anything else 4.04. */
  honestAnswer(m: CoapMessage): CoapMessage {
    const path = getOptions(m, Opt.URI_PATH).map(toText);
    let code = 0x84;
    const options = [];
    if (m.code === 2 && path.length === 1 && path[0] === "rd") {
      code = 0x41;
      this.registrations++;
      options.push({ number: Opt.LOCATION_PATH, value: toBytes("rd") }, { number: Opt.LOCATION_PATH, value: toBytes("1") });
    } else if (m.code === 2 && path[0] === "rd") code = 0x44;
    else if (m.code === 4 && path[0] === "rd") code = 0x42;
    return { type: m.type === Type.CON ? Type.ACK : Type.NON, code, mid: m.type === Type.CON ? m.mid : this.nextMid(), token: m.token, options, payload: new Uint8Array(0) };
  }

  nextToken(): Uint8Array { const t = this.tok++; return Uint8Array.of(0xa0, t >> 8, t & 255); }
  nextMid(): number { return this.mid++ & 0xffff; }

  /** A CoAP request to the device; the response (or null) after `ms` of virtual time at most. */
  request(m: Partial<CoapMessage> & { code: number }, ms = 60000): CoapMessage | null {
    const token = m.token ?? this.nextToken();
    const key = Buffer.from(token).toString("hex");
    this.responses.delete(key);
    this.sendCoap({ type: Type.CON, mid: this.nextMid(), options: [], payload: new Uint8Array(0), ...m, token });
    this.run(ms, () => this.responses.has(key));
    return this.responses.get(key) ?? null;
  }

  /** GET path (Uri-Path options), optionally with Accept. */
  get(path: string, accept?: number, ms?: number): CoapMessage | null {
    const options: CoapOption[] = path.split("/").filter(Boolean).map((s) => ({ number: Opt.URI_PATH, value: toBytes(s) }));
    if (accept !== undefined) options.push({ number: Opt.ACCEPT, value: accept === 0 ? new Uint8Array(0) : Uint8Array.of(accept) });
    return this.request({ code: 1, options }, ms);
  }

  honest() { this.toDevice = null; this.toServer = null; this.onRequest = null; this.onNotification = null; }

  /** Lines the device logged since `from`. */
  logsSince(from: number): LogEvent[] { return this.device.logs.slice(from); }

  /** The DTLS failures the device logged since `from`: reason and alert received (firmware/transport.ts logReason). */
  handshakeFailures(from: number): { reason: number; alert: number | null; text: string }[] {
    return this.logsSince(from).filter((l) => /^DTLS: (handshake failed|connection closed)/.test(l.text)).map((l) => {
      const m = /\(reason (-?\d+)(?:, alert received (\d+))?/.exec(l.text);
      return { reason: m ? Number(m[1]) : NaN, alert: m?.[2] !== undefined ? Number(m[2]) : null, text: l.text };
    });
  }

  /** Run until the device is registered through an established session (false after `ms`). */
  untilRegistered(ms = 15 * 60_000, before = this.registrations): boolean {
    return this.run(ms, () => this.registrations > before && this.established);
  }

  /**
   * The recovery every case ends with: the peer turns honest, the server's session is
   * closed (close_notify when one is up), and the device must complete a fresh
   * handshake, register and serve a Read of /3/0/0.
   */
  recover(ms = 30 * 60_000) {
    this.honest();
    const registered = this.registrations;
    if (this.established) {
      this.m.x.srvClose(this.conn, this.now());
      this.flush(this.conn);
    }
    const handshakes = this.countHandshakes();
    this.resetServer();
    this.pump();
    assert.ok(this.untilRegistered(ms, registered), `the device registers again after the case (logs: ${this.device.logs.slice(-6).map((l) => l.text).join(" | ")})`);
    assert.ok(this.countHandshakes() > handshakes, "a fresh handshake");
    const r = this.get("/3/0/0", 0);
    assert.ok(r, "the device answers a Read");
    assert.equal(r!.code, 0x45, "Read /3/0/0: 2.05");
    assert.equal(toText(r!.payload), "lwm2m-wasm");
  }

  /** Full handshakes completed by the device so far (its 'established' log lines). */
  countHandshakes() { return this.device.logs.filter((l) => l.text.startsWith("DTLS: established")).length; }

  /** Start a new handshake for the next case: the server's session ends with close_notify, the device reconnects. */
  restartSession(toDevice: Interceptor | null = null, toServer: HostilePeer["toServer"] = null): number {
    const from = this.device.logs.length;
    if (this.established) {
      this.m.x.srvClose(this.conn, this.now());
      this.flush(this.conn);
    }
    this.resetServer();
    this.toDevice = toDevice;
    this.toServer = toServer;
    this.pump();
    // the device's log index after its "connection closed ... close_notify" line: what follows belongs to the new handshake
    const i = this.device.logs.findIndex((l, k) => k >= from && /^DTLS: connection closed/.test(l.text));
    return i < 0 ? from : i + 1;
  }
}

/** TLS certificate_list contents: 3-byte length + DER, each. */
export function certificateList(certs: Uint8Array[]): Uint8Array {
  return cat(...certs.map((c) => cat(Uint8Array.of(c.length >> 16, (c.length >> 8) & 255, c.length & 255), c)));
}

let fwBytes: Uint8Array | null = null;
function firmwareBytes(): Uint8Array {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  fwBytes ??= new Uint8Array(readFileSync(FIRMWARE_PATH));
  return fwBytes;
}
