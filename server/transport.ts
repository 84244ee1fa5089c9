// Datagram transports for the development servers. The CoAP layer
// (server/coap.ts) only sees `ServerTransport`: datagrams in, keyed by a
// peer key, and datagrams out to a peer key. Plain CoAP runs over
// `UdpTransport`; CoAP over DTLS 1.2 runs over `DtlsTransport` (the firmware's
// own DTLS server role compiled to a separate wasm module), which attaches the
// authenticated peer identity to every datagram. One DtlsTransport serves PSK,
// RPK (RFC 7250) and X.509 clients on one port: with both RPK and X.509
// credentials it runs two module instances and sends each new handshake to one
// by its ClientHello's server_certificate_type extension.
import dgram from "node:dgram";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { X509Certificate } from "node:crypto";
import { loadDtlsServerModule, ServerSuite, ServerEvent, ServerState, type DtlsServerModule } from "./dtls-module";

/** Who the peer proved to be during the DTLS handshake (secure transports only). */
export type PeerIdentity =
  | { kind: "psk"; identity: string }
  | { kind: "rpk"; publicKey: Uint8Array } // SubjectPublicKeyInfo DER (RFC 7250)
  | { kind: "x509"; subject: string; certificate: Uint8Array }; // leaf certificate DER

export interface PeerInfo {
  address: string;
  port: number;
  /** true when the datagram came through an authenticated, encrypted channel. */
  secure: boolean;
  identity?: PeerIdentity;
}

export interface BoundAddress { address: string; port: number }

export type DatagramListener = (peerKey: string, bytes: Uint8Array, peer: PeerInfo) => void;

export interface ServerTransport {
  /** URI scheme of what this transport carries: "coap" (NoSec) or "coaps" (DTLS). */
  readonly scheme: "coap" | "coaps";
  bind(port?: number, address?: string): Promise<BoundAddress>;
  address(): BoundAddress | null;
  on(event: "datagram", listener: DatagramListener): this;
  on(event: "error", listener: (err: Error) => void): this;
  off(event: "datagram", listener: DatagramListener): this;
  /** Sends one CoAP message to the peer (a DTLS transport encrypts it in the peer's session). */
  send(peerKey: string, bytes: Uint8Array): void;
  /** The peer key of an address, for traffic the server starts (server-initiated bootstrap). */
  peerKeyFor(address: string, port: number): string;
  /** What is known about a peer (identity after a handshake), if anything. */
  peerInfo(peerKey: string): PeerInfo | undefined;
  close(): Promise<void>;
}

export function formatPeerKey(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

export function parsePeerKey(peerKey: string): { address: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(peerKey);
  if (!m) throw new Error(`bad peer key '${peerKey}'`);
  return { address: m[1], port: Number(m[2]) };
}

/** Plain CoAP over UDP (NoSec). */
/** Binds a plain UDP transport at address:port for a server: kept in `owned` (closed with the
 *  server) and handed to `serve` (the server's addTransport). */
export async function listenUdp(owned: ServerTransport[], serve: (t: ServerTransport) => unknown, port: number, address: string): Promise<BoundAddress> {
  const t = new UdpTransport(address.includes(":") ? "udp6" : "udp4");
  const bound = await t.bind(port, address);
  owned.push(t);
  serve(t);
  return bound;
}

/** A UDP socket bound at address:port; its later errors go to `owner`'s "error" event. */
async function bindSocket(family: "udp4" | "udp6", port: number, address: string, owner: EventEmitter, recvBufferSize?: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket(recvBufferSize ? { type: family, recvBufferSize } : { type: family });
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(port, address, () => { sock.off("error", reject); resolve(); });
  });
  sock.on("error", (err) => owner.emit("error", err));
  return sock;
}

export class UdpTransport extends EventEmitter implements ServerTransport {
  readonly scheme = "coap" as const;
  private sock: dgram.Socket | null = null;
  private bound: BoundAddress | null = null;
  /** Datagrams and bytes, for logs and the bench. */
  readonly stats = { sentDatagrams: 0, sentBytes: 0, receivedDatagrams: 0, receivedBytes: 0 };
  /** Test hook: outgoing datagrams matching this predicate are dropped (simulated loss). */
  dropOutgoing: ((peerKey: string, bytes: Uint8Array) => boolean) | null = null;

  constructor(private readonly family: "udp4" | "udp6" = "udp4") { super(); }

  async bind(port = 0, address = this.family === "udp6" ? "::1" : "127.0.0.1"): Promise<BoundAddress> {
    if (this.sock) throw new Error("UdpTransport is already bound");
    const sock = await bindSocket(this.family, port, address, this);
    this.sock = sock;
    sock.on("message", (msg, rinfo) => {
      this.stats.receivedDatagrams++;
      this.stats.receivedBytes += msg.length;
      const peerKey = formatPeerKey(rinfo.address, rinfo.port);
      this.emit("datagram", peerKey, new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { address: rinfo.address, port: rinfo.port, secure: false });
    });
    const a = sock.address();
    this.bound = { address: a.address, port: a.port };
    return this.bound;
  }

  address(): BoundAddress | null { return this.bound; }

  send(peerKey: string, bytes: Uint8Array): void {
    if (!this.sock) throw new Error("UdpTransport is not bound");
    if (this.dropOutgoing?.(peerKey, bytes)) return;
    const { address, port } = parsePeerKey(peerKey);
    this.stats.sentDatagrams++;
    this.stats.sentBytes += bytes.length;
    this.sock.send(bytes, port, address);
  }

  peerKeyFor(address: string, port: number): string { return formatPeerKey(address, port); }

  peerInfo(peerKey: string): PeerInfo | undefined {
    const { address, port } = parsePeerKey(peerKey);
    return { address, port, secure: false };
  }

  async close(): Promise<void> {
    const sock = this.sock;
    this.sock = null;
    this.bound = null;
    if (sock) await new Promise<void>((res) => sock.close(() => res()));
  }
}

// ---- DTLS --------------------------------------------------------------------------------

/** Credentials a DTLS server transport needs; lookups are per handshake. */
export interface DtlsServerCredentials {
  /** PSK: the key for a PSK identity the client sent (undefined = unknown identity, handshake refused). */
  psk?: { lookup(identity: string): Uint8Array | undefined; hint?: string };
  /** RPK (RFC 7250): our P-256 key pair and which client keys (SPKI DER) are accepted. */
  rpk?: { privateKey: Uint8Array; publicKey: Uint8Array; acceptClientKey(spki: Uint8Array): boolean };
  /** X.509: our chain (leaf first, DER), key, and the trust anchors client certificates must chain to. */
  x509?: { certificateChain: Uint8Array[]; privateKey: Uint8Array; trustAnchors: Uint8Array[] };
}

export class DtlsNotAvailableError extends Error {
  constructor(why = "the DTLS server module could not be loaded") {
    super(`DtlsTransport is not available: ${why}`);
    this.name = "DtlsNotAvailableError";
  }
}

/**
 * Whether a datagram that starts with a DTLS ClientHello asks for a raw public
 * key from the server: its server_certificate_type extension (RFC 7250 3,
 * type 20; body = a 1-byte-length list of certificate types, in the client's
 * order of preference) lists 2 (RawPublicKey) before 0 (X.509), e.g. [2] or
 * [2, 0]; libcoap's X.509 client sends [0, 2]. Reads the first record only,
 * and its handshake message must be a whole, unfragmented ClientHello;
 * anything else (not a ClientHello, a fragment, malformed or truncated
 * anywhere, no such extension, a list without 2 or with 0 first) is false.
 * Never throws.
 */
export function clientHelloWantsRawPublicKey(datagram: Uint8Array): boolean {
  const d = datagram;
  // record header: type(1) version(2) epoch(2) seq(6) length(2)
  if (d.length < 13 || d[0] !== 22) return false;
  const recordEnd = 13 + ((d[11] << 8) | d[12]);
  if (recordEnd > d.length) return false;
  // handshake header: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)
  let o = 13;
  if (o + 12 > recordEnd || d[o] !== 1) return false;
  const length = (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
  const fragmentOffset = (d[o + 6] << 16) | (d[o + 7] << 8) | d[o + 8];
  const fragmentLength = (d[o + 9] << 16) | (d[o + 10] << 8) | d[o + 11];
  if (fragmentOffset !== 0 || fragmentLength !== length) return false;
  o += 12;
  const end = o + length;
  if (end > recordEnd) return false;
  o += 2 + 32; // client_version, random
  if (o + 1 > end) return false;
  o += 1 + d[o]; // session_id <0..32>
  if (o + 1 > end) return false;
  o += 1 + d[o]; // cookie <0..255>
  if (o + 2 > end) return false;
  o += 2 + ((d[o] << 8) | d[o + 1]); // cipher_suites
  if (o + 1 > end) return false;
  o += 1 + d[o]; // compression_methods
  if (o + 2 > end) return false; // no extensions
  const extEnd = o + 2 + ((d[o] << 8) | d[o + 1]);
  if (extEnd > end) return false;
  o += 2;
  while (o + 4 <= extEnd) {
    const type = (d[o] << 8) | d[o + 1], len = (d[o + 2] << 8) | d[o + 3];
    o += 4;
    if (o + len > extEnd) return false;
    if (type === 20) {
      if (len < 1 || 1 + d[o] > len) return false;
      // RFC 7250 4.1: the list is in the client's order of preference; the first type we serve wins
      for (let i = 0; i < d[o]; i++) {
        if (d[o + 1 + i] === 2) return true;
        if (d[o + 1 + i] === 0) return false;
      }
      return false;
    }
    o += len;
  }
  return false;
}

/**
 * One DTLS server module instance: its own simulated SE, global server config
 * (one certificate type), stateless listener, session cache and the
 * identities of its sessions.
 */
interface DtlsInstance {
  m: DtlsServerModule;
  /** What an ECDSA handshake on this instance authenticates: a raw public key or an X.509 chain. */
  certificateType: "rpk" | "x509";
  listener: number;
  sessionIdentity: Map<string, PeerIdentity>;
  nextSlot: number;
}

/** RFC 9146: the length of the connection IDs the development servers hand out. */
const DTLS_CID_LEN = 8;

interface DtlsPeer { key: string; inst: DtlsInstance; h: number; info: PeerInfo; pskIdentity?: string }

/** What happened in a peer's DTLS session (`dtls` event): for logs and the web view. */
export interface DtlsEvent {
  peerKey: string;
  /** Epoch ms. */
  at: number;
  /** handshake: a ClientHello with a valid cookie started one; established; alert (sent or received); closed; refused (identity not accepted). */
  kind: "handshake" | "established" | "alert" | "closed" | "refused";
  detail: string;
}

/**
 * CoAP over DTLS 1.2 using the firmware's DTLS server role (server/dtls-module.ts,
 * the same AssemblyScript code as the device's client, GC runtime). One DTLS
 * session per peer key; `datagram` is emitted with decrypted CoAP bytes and
 * `PeerInfo { secure: true, identity }`; `send` encrypts in the peer's
 * established session (and drops when there is none: a DTLS server cannot
 * start a session). Stateless cookies (RFC 6347 4.2.1): nothing is kept for a
 * peer before its ClientHello carries a valid cookie. PSK identities are looked
 * up per handshake through `credentials.psk.lookup`; RPK clients are accepted
 * by `credentials.rpk.acceptClientKey(spki)` once their key is proven; X.509
 * clients must chain to `credentials.x509.trustAnchors`. Sessions are cached for
 * resumption by session ID; the peer's identity is kept with the session ID.
 *
 * PSK, RPK and X.509 on one port: the module's server config has a single
 * certificate type, so when both `rpk` and `x509` are given two module
 * instances are loaded, one presenting the raw public key and one the X.509
 * chain (each also doing PSK when `psk` is given). Each new handshake goes to
 * one of them by its ClientHello (`clientHelloWantsRawPublicKey`: a
 * server_certificate_type extension listing RawPublicKey → the RPK instance,
 * anything else → the X.509 instance), and the peer stays on that instance.
 * With only one of `rpk` / `x509` (or PSK alone) one instance serves all.
 */
export class DtlsTransport extends EventEmitter implements ServerTransport {
  readonly scheme = "coaps" as const;
  private sock: dgram.Socket | null = null;
  private bound: BoundAddress | null = null;
  /** The RPK instance (when `rpk` is given) and the X.509 / PSK-only instance (when `x509` is given or `rpk` is not). */
  private rpkInst: DtlsInstance | null = null;
  private x509Inst: DtlsInstance | null = null;
  private peers = new Map<string, DtlsPeer>();
  /** Peers with a timer armed (handshake retransmission, limits): only these are looked at by the ticker, so idle sessions cost nothing. */
  private timed = new Set<DtlsPeer>();
  private ticker: NodeJS.Timeout | null = null;
  /** Datagrams and bytes on the wire, and handshakes (over all module instances). */
  readonly stats = { sentDatagrams: 0, sentBytes: 0, receivedDatagrams: 0, receivedBytes: 0, handshakes: 0, refused: 0,
    /** RFC 9146: tls12_cid records from an address with no connection, by CID: moved there / dropped (unknown CID or not authentic). */
    cidRebinds: 0, cidDropped: 0 };

  constructor(readonly credentials: DtlsServerCredentials, private readonly family: "udp4" | "udp6" = "udp4") { super(); }

  /** Development and tests only: each later session's NSS key log line (CLIENT_RANDOM ...) goes
   *  to `sink` when it is established, so Wireshark/tshark can decrypt a capture. */
  private keyLogSink: ((line: string) => void) | null = null;
  enableKeyLog(sink: (line: string) => void): void {
    this.keyLogSink = sink;
    for (const inst of [this.rpkInst, this.x509Inst]) {
      if (!inst) continue;
      inst.m.x.scfgKeyLog(1);
      // the waiting listener was made without the key log buffer (read at construction): a new one
      inst.m.x.srvFree(inst.listener);
      this.newListener(inst);
    }
  }

  async bind(port = 0, address = this.family === "udp6" ? "::1" : "127.0.0.1"): Promise<BoundAddress> {
    if (this.sock) throw new Error("DtlsTransport is already bound");
    const c = this.credentials;
    if (!c.psk && !c.rpk && !c.x509) throw new Error("DtlsTransport: no credentials (psk, rpk or x509)");
    const load = async (): Promise<DtlsServerModule> => {
      try {
        return await loadDtlsServerModule();
      } catch (e) {
        throw new DtlsNotAvailableError((e as Error).message);
      }
    };
    const rpkInst = c.rpk ? this.configure(await load(), "rpk") : null;
    const x509Inst = c.x509 || !c.rpk ? this.configure(await load(), "x509") : null;
    this.rpkInst = rpkInst;
    this.x509Inst = x509Inst;
    // thousands of clients handshaking at once: a receive buffer larger than the 208 KiB default (capped by net.core.rmem_max)
    const sock = await bindSocket(this.family, port, address, this, 4 << 20);
    this.sock = sock;
    sock.on("message", (msg, rinfo) => {
      this.stats.receivedDatagrams++;
      this.stats.receivedBytes += msg.length;
      try {
        this.onDatagram(formatPeerKey(rinfo.address, rinfo.port), rinfo.address, rinfo.port, new Uint8Array(msg));
      } catch (e) {
        this.emit("error", e as Error);
      }
    });
    this.ticker = setInterval(() => this.onTick(), 50);
    this.ticker.unref();
    const a = sock.address();
    this.bound = { address: a.address, port: a.port };
    return this.bound;
  }

  /**
   * Configures one module instance: PSK when `psk` is given, plus ECDSA with a
   * raw public key (`rpk`, certificate type 2) or with the X.509 chain and
   * trust anchors (`x509`, type 0) when those credentials are given.
   */
  private configure(m: DtlsServerModule, certificateType: "rpk" | "x509"): DtlsInstance {
    const x = m.x, c = this.credentials;
    let suites = 0;
    if (c.psk) suites |= ServerSuite.AnyPsk;
    const ecdsa = certificateType === "rpk" ? c.rpk : c.x509;
    if (ecdsa) {
      const pub = m.se.importPrivate(0, ecdsa.privateKey.slice());
      if (typeof pub === "number") throw new Error(`DtlsTransport: the server key was refused by the SE (${pub})`);
      x.scfgIdentity(0, m.write(pub), 8);
      suites |= ServerSuite.Ecdsa;
      if (certificateType === "rpk") {
        x.scfgCertificateType(2);
        x.scfgClientKey(0, 0); // any key; acceptClientKey decides
      } else {
        x.scfgCertificateType(0);
        const list = certificateList(c.x509!.certificateChain);
        x.scfgOwnCertificates(m.write(list), list.length);
        const anchors = certificateList(c.x509!.trustAnchors);
        x.scfgTrustAnchors(m.write(anchors), anchors.length, 0);
      }
    }
    if (suites === 0) throw new Error("DtlsTransport: no credentials (psk, rpk or x509)");
    x.scfgSuites(suites);
    x.scfgTimers(1000n, 8000n, 5);
    x.scfgMtu(1280);
    x.scfgPeerCertificateCapacity(2048);
    x.scfgSessionCache(64);
    x.scfgConnectionId(DTLS_CID_LEN); // RFC 9146, for clients that offer it (CCM_8 suites)
    const inst: DtlsInstance = { m, certificateType, listener: -1, sessionIdentity: new Map(), nextSlot: 0 };
    this.newListener(inst);
    return inst;
  }

  /**
   * A fresh stateless listener for the instance. Its ECDHE key slot (8..15 of the
   * instance's SE, in turn) is set now: the listener generates the ephemeral key
   * while it accepts the ClientHello (ServerKeyExchange), and the connection it
   * becomes keeps using that slot for the ECDH.
   */
  private newListener(inst: DtlsInstance): void {
    const x = inst.m.x;
    inst.listener = x.srvNew();
    x.srvSetEphemeralSlot(inst.listener, 8 + (inst.nextSlot++ % 8));
  }

  /** The instance a new handshake goes to, by its ClientHello. */
  private instanceFor(hello: Uint8Array): DtlsInstance {
    if (!this.rpkInst) return this.x509Inst!;
    if (!this.x509Inst) return this.rpkInst;
    return clientHelloWantsRawPublicKey(hello) ? this.rpkInst : this.x509Inst;
  }

  private onDatagram(key: string, address: string, port: number, d: Uint8Array): void {
    const now = BigInt(Math.floor(performance.now()));
    let p = this.peers.get(key);
    if (p && p.inst.m.x.srvState(p.h) === ServerState.Closed) { this.forget(p); p = undefined; }
    if (!p && d.length > 13 + DTLS_CID_LEN && d[0] === 25) {
      this.onCidRecord(key, address, port, d, now);
      return;
    }
    const hello = d.length >= 26 && d[0] === 22 && d[3] === 0 && d[4] === 0 && d[13] === 1;
    if (!p || (hello && p.inst.m.x.srvState(p.h) === ServerState.Established)) {
      // a new handshake (RFC 6347 4.2.8 for a known peer): the chosen instance's stateless listener first
      const inst = this.instanceFor(d);
      const m = inst.m, x = m.x;
      const addr = Buffer.from(key);
      const r = x.srvAccept(inst.listener, m.write(d), d.length, m.write(addr, 65536), addr.length, now);
      if (r === 1) { this.flush(key, inst, inst.listener); return; }
      if (r === 0) {
        if (p) this.forget(p);
        const np: DtlsPeer = { key, inst, h: inst.listener, info: { address, port, secure: true } };
        this.peers.set(key, np);
        this.stats.handshakes++;
        this.dtlsEvent(key, "handshake", `ClientHello with a valid cookie from ${key}`);
        this.newListener(inst);
        this.events(np);
        this.flush(key, inst, np.h);
        this.rearm(np);
        return;
      }
      if (!p) return; // not a ClientHello: dropped
    }
    const m = p.inst.m;
    m.x.srvHandleDatagram(p.h, m.write(d), d.length, now);
    this.events(p);
    this.flush(key, p.inst, p.h);
    this.rearm(p);
  }

  private dtlsEvent(peerKey: string, kind: DtlsEvent["kind"], detail: string): void {
    if (this.listenerCount("dtls") > 0) this.emit("dtls", { peerKey, at: Date.now(), kind, detail } satisfies DtlsEvent);
  }

  /** After each call into a peer's session: a closed one is freed at once, and `timed` follows the next deadline. */
  private rearm(p: DtlsPeer): void {
    if (this.peers.get(p.key) !== p) { this.timed.delete(p); return; }
    const x = p.inst.m.x;
    if (x.srvState(p.h) === ServerState.Closed) this.forget(p);
    else if (Number(x.srvNextDeadline(p.h)) >= 0) this.timed.add(p);
    else this.timed.delete(p);
  }

  /** RFC 9146 6: a tls12_cid record from an address without a connection (NAT
   *  rebinding): the connection is found by the CID; its address moves to the
   *  new one only when the record authenticated (the module counted no drop). */
  private onCidRecord(key: string, address: string, port: number, d: Uint8Array, now: bigint): void {
    const cid = Buffer.from(d.subarray(11, 11 + DTLS_CID_LEN));
    let p: DtlsPeer | undefined;
    for (const q of this.peers.values()) {
      const x = q.inst.m.x;
      if (x.srvOwnCidLen(q.h) === DTLS_CID_LEN && cid.equals(Buffer.from(q.inst.m.read(x.srvOwnCidPtr(q.h), DTLS_CID_LEN)))) { p = q; break; }
    }
    if (!p) { this.stats.cidDropped++; return; }
    const m = p.inst.m, x = m.x;
    const drops = () => [4, 5, 6, 7].map((i) => Number(x.srvStat(p!.h, i))).join();
    const before = drops();
    x.srvHandleDatagram(p.h, m.write(d), d.length, now);
    if (drops() === before && x.srvState(p.h) === ServerState.Established) {
      this.peers.delete(p.key);
      p.key = key;
      p.info = { ...p.info, address, port };
      this.peers.set(key, p);
      this.stats.cidRebinds++;
    } else {
      this.stats.cidDropped++;
    }
    this.events(p);
    this.flush(p.key, p.inst, p.h);
  }

  private events(p: DtlsPeer): void {
    const m = p.inst.m, x = m.x;
    for (;;) {
      const kind = x.srvPollEvent(p.h);
      if (kind === ServerEvent.None) break;
      if (kind === ServerEvent.PskIdentity) {
        const id = Buffer.from(m.read(x.srvAppDataPtr(p.h), x.srvAppDataLen(p.h))).toString("utf8");
        p.pskIdentity = id;
        const key = this.credentials.psk?.lookup(id);
        const now = BigInt(Math.floor(performance.now()));
        if (key) x.srvSupplyPsk(p.h, m.write(key, 32768), key.length, now);
        else x.srvSupplyPsk(p.h, 0, 0, now);
      } else if (kind === ServerEvent.HandshakeComplete) {
        this.onEstablished(p);
      } else if (kind === ServerEvent.ApplicationData && p.info.identity) {
        const bytes = m.read(x.srvAppDataPtr(p.h), x.srvAppDataLen(p.h));
        this.emit("datagram", p.key, bytes, { ...p.info });
      } else if (kind === ServerEvent.AlertReceived || kind === ServerEvent.AlertSent) {
        this.dtlsEvent(p.key, "alert", `${kind === ServerEvent.AlertReceived ? "received" : "sent"} (reason ${x.srvEventReason(p.h)})`);
      } else if (kind === ServerEvent.Closed) {
        const reason = x.srvReason(p.h);
        if (reason !== -57 && reason !== -53) this.stats.refused++;
        this.dtlsEvent(p.key, "closed", `reason ${reason}`);
      }
    }
  }

  /** The authenticated identity: PSK identity, client SPKI (RPK instance), or the leaf certificate (X.509 instance). */
  private onEstablished(p: DtlsPeer): void {
    const inst = p.inst, m = inst.m, x = m.x;
    const sid = Buffer.from(m.read(x.srvSessionIdPtr(p.h), x.srvSessionIdLen(p.h))).toString("hex");
    let identity: PeerIdentity | undefined;
    if (x.srvResumed(p.h)) {
      identity = inst.sessionIdentity.get(sid);
    } else if (p.pskIdentity !== undefined && (x.srvSuite(p.h) === 0xc0a8 || x.srvSuite(p.h) === 0x00ae || x.srvSuite(p.h) === 0xc037)) {
      identity = { kind: "psk", identity: p.pskIdentity };
    } else {
      const cert = m.read(x.srvPeerCertificatePtr(p.h), x.srvPeerCertificateLen(p.h));
      if (inst.certificateType === "rpk") {
        if (cert.length > 0 && this.credentials.rpk?.acceptClientKey(cert)) identity = { kind: "rpk", publicKey: cert };
      } else if (cert.length > 0) {
        let subject = "";
        try { subject = new X509Certificate(cert).subject; } catch { /* the module validated it */ }
        identity = { kind: "x509", subject, certificate: cert };
      }
    }
    if (!identity) {
      // not accepted (unknown RPK, or a resumed session we no longer know): our
      // Finished goes out, then a fatal bad_certificate, so the client learns it now
      // (counted in `refused` by its Closed event)
      this.flush(p.key, inst, p.h);
      x.srvRefusePeer(p.h, BigInt(Math.floor(performance.now())));
      this.dtlsEvent(p.key, "refused", inst.certificateType === "rpk" ? "raw public key not accepted" : "session not known");
      return;
    }
    if (sid) inst.sessionIdentity.set(sid, identity);
    p.info = { ...p.info, identity };
    const who = identity.kind === "psk" ? `PSK identity '${identity.identity}'` : identity.kind === "rpk" ? "raw public key" : `certificate ${identity.subject.replace(/\n/g, ", ")}`;
    const kl = this.keyLogSink ? Number(x.srvKeyLogLen(p.h)) : 0;
    if (kl > 0) this.keyLogSink!(Buffer.from(inst.m.read(x.srvKeyLogPtr(p.h), kl)).toString("latin1"));
    this.dtlsEvent(p.key, "established", `${who}, suite 0x${Number(x.srvSuite(p.h)).toString(16).padStart(4, "0")}${x.srvResumed(p.h) ? ", resumed" : ""}`);
  }

  private flush(key: string, inst: DtlsInstance, h: number): void {
    const m = inst.m, x = m.x;
    const { address, port } = parsePeerKey(key);
    for (;;) {
      const n = x.srvPollTransmit(h);
      if (n <= 0) break;
      const d = m.read(x.srvTransmitPtr(h), n);
      this.stats.sentDatagrams++;
      this.stats.sentBytes += n;
      this.sock?.send(d, port, address);
    }
  }

  private forget(p: DtlsPeer): void {
    p.inst.m.x.srvFree(p.h);
    this.peers.delete(p.key);
    this.timed.delete(p);
  }

  /** Peers (sessions and handshakes in progress) held now. */
  get peerCount(): number { return this.peers.size; }

  private onTick(): void {
    const now = Math.floor(performance.now());
    for (const p of [...this.timed]) {
      const x = p.inst.m.x;
      if (x.srvState(p.h) === ServerState.Closed) { this.forget(p); continue; }
      const dl = Number(x.srvNextDeadline(p.h));
      if (dl >= 0 && dl <= now) {
        x.srvHandleTimeout(p.h, BigInt(now));
        this.events(p);
        this.flush(p.key, p.inst, p.h);
      }
      this.rearm(p);
    }
  }

  address(): BoundAddress | null { return this.bound; }

  send(peerKey: string, bytes: Uint8Array): void {
    const p = this.peers.get(peerKey);
    if (!p || p.inst.m.x.srvState(p.h) !== ServerState.Established) return; // no session: dropped
    const m = p.inst.m;
    m.x.srvSend(p.h, m.write(bytes), bytes.length, BigInt(Math.floor(performance.now())));
    this.events(p);
    this.flush(peerKey, p.inst, p.h);
    this.rearm(p);
  }

  peerKeyFor(address: string, port: number): string { return formatPeerKey(address, port); }

  peerInfo(peerKey: string): PeerInfo | undefined {
    const p = this.peers.get(peerKey);
    return p?.info.identity ? { ...p.info } : undefined;
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const p of [...this.peers.values()]) {
      const x = p.inst.m.x;
      if (x.srvState(p.h) === ServerState.Established) {
        x.srvClose(p.h, BigInt(Math.floor(performance.now())));
        this.flush(p.key, p.inst, p.h);
      }
      this.forget(p);
    }
    const sock = this.sock;
    this.sock = null;
    this.bound = null;
    if (sock) await new Promise<void>((res) => sock.close(() => res()));
  }
}

function certificateList(certs: Uint8Array[]): Buffer {
  return Buffer.concat(certs.map((c) => Buffer.concat([Buffer.from([c.length >> 16, (c.length >> 8) & 255, c.length & 255]), c])));
}
