// Datagram transports for the development servers. The CoAP layer
// (server/coap.ts) only sees `ServerTransport`: datagrams in, keyed by a
// peer key, and datagrams out to a peer key. Plain CoAP runs over
// `UdpTransport`; CoAP over DTLS (PSK / RPK / X.509, the firmware's own DTLS
// server role compiled to a separate wasm module) will be `DtlsTransport`,
// which attaches the authenticated peer identity to every datagram.
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
    const sock = dgram.createSocket(this.family);
    this.sock = sock;
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(port, address, () => { sock.off("error", reject); resolve(); });
    });
    sock.on("error", (err) => this.emit("error", err));
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

// ---- DTLS (to be filled by the DTLS server-role work) ---------------------------------

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

interface DtlsPeer { key: string; h: number; info: PeerInfo; pskIdentity?: string }

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
 */
export class DtlsTransport extends EventEmitter implements ServerTransport {
  readonly scheme = "coaps" as const;
  private sock: dgram.Socket | null = null;
  private bound: BoundAddress | null = null;
  private m: DtlsServerModule | null = null;
  private listener = -1;
  private peers = new Map<string, DtlsPeer>();
  private sessionIdentity = new Map<string, PeerIdentity>();
  private ticker: NodeJS.Timeout | null = null;
  private nextSlot = 0;
  /** Datagrams and bytes on the wire, and handshakes. */
  readonly stats = { sentDatagrams: 0, sentBytes: 0, receivedDatagrams: 0, receivedBytes: 0, handshakes: 0, refused: 0 };

  constructor(readonly credentials: DtlsServerCredentials, private readonly family: "udp4" | "udp6" = "udp4") { super(); }

  async bind(port = 0, address = this.family === "udp6" ? "::1" : "127.0.0.1"): Promise<BoundAddress> {
    if (this.sock) throw new Error("DtlsTransport is already bound");
    let m: DtlsServerModule;
    try {
      m = await loadDtlsServerModule();
    } catch (e) {
      throw new DtlsNotAvailableError((e as Error).message);
    }
    this.m = m;
    this.configure(m);
    const sock = dgram.createSocket(this.family);
    this.sock = sock;
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(port, address, () => { sock.off("error", reject); resolve(); });
    });
    sock.on("error", (err) => this.emit("error", err));
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

  private configure(m: DtlsServerModule): void {
    const x = m.x, c = this.credentials;
    let suites = 0;
    if (c.psk) suites |= ServerSuite.AnyPsk;
    const ecdsa = c.rpk ?? c.x509;
    if (ecdsa) {
      const pub = m.se.importPrivate(0, ecdsa.privateKey.slice());
      if (typeof pub === "number") throw new Error(`DtlsTransport: the server key was refused by the SE (${pub})`);
      x.scfgIdentity(0, m.write(pub), 8);
      suites |= ServerSuite.Ecdsa;
      if (c.rpk) {
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
    this.listener = x.srvNew();
  }

  private onDatagram(key: string, address: string, port: number, d: Uint8Array): void {
    const m = this.m!, x = m.x, now = BigInt(Math.floor(performance.now()));
    let p = this.peers.get(key);
    if (p && x.srvState(p.h) === ServerState.Closed) { this.forget(p); p = undefined; }
    const hello = d.length >= 26 && d[0] === 22 && d[3] === 0 && d[4] === 0 && d[13] === 1;
    if (!p || (hello && x.srvState(p.h) === ServerState.Established)) {
      // a new handshake (RFC 6347 4.2.8 for a known peer): the stateless listener first
      const addr = Buffer.from(key);
      const r = x.srvAccept(this.listener, m.write(d), d.length, m.write(addr, 65536), addr.length, now);
      if (r === 1) { this.flush(key, this.listener); return; }
      if (r === 0) {
        if (p) this.forget(p);
        p = { key, h: this.listener, info: { address, port, secure: true } };
        this.peers.set(key, p);
        this.stats.handshakes++;
        x.srvSetEphemeralSlot(p.h, 8 + (this.nextSlot++ % 8));
        this.listener = x.srvNew();
        this.events(p);
        this.flush(key, p.h);
        return;
      }
      if (!p) return; // not a ClientHello: dropped
    }
    x.srvHandleDatagram(p.h, m.write(d), d.length, now);
    this.events(p);
    this.flush(key, p.h);
  }

  private events(p: DtlsPeer): void {
    const m = this.m!, x = m.x;
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
      } else if (kind === ServerEvent.Closed && x.srvReason(p.h) !== -57 && x.srvReason(p.h) !== -53) {
        this.stats.refused++;
      }
    }
  }

  /** The authenticated identity: PSK identity, client SPKI, or the leaf certificate. */
  private onEstablished(p: DtlsPeer): void {
    const m = this.m!, x = m.x;
    const sid = Buffer.from(m.read(x.srvSessionIdPtr(p.h), x.srvSessionIdLen(p.h))).toString("hex");
    let identity: PeerIdentity | undefined;
    if (x.srvResumed(p.h)) {
      identity = this.sessionIdentity.get(sid);
    } else if (p.pskIdentity !== undefined && (x.srvSuite(p.h) === 0xc0a8 || x.srvSuite(p.h) === 0x00ae || x.srvSuite(p.h) === 0xc037)) {
      identity = { kind: "psk", identity: p.pskIdentity };
    } else {
      const cert = m.read(x.srvPeerCertificatePtr(p.h), x.srvPeerCertificateLen(p.h));
      if (this.credentials.rpk) {
        if (this.credentials.rpk.acceptClientKey(cert)) identity = { kind: "rpk", publicKey: cert };
      } else if (cert.length > 0) {
        let subject = "";
        try { subject = new X509Certificate(cert).subject; } catch { /* the module validated it */ }
        identity = { kind: "x509", subject, certificate: cert };
      }
    }
    if (!identity) {
      // not accepted (unknown RPK, or a resumed session we no longer know)
      this.stats.refused++;
      x.srvClose(p.h, BigInt(Math.floor(performance.now())));
      return;
    }
    if (sid) this.sessionIdentity.set(sid, identity);
    p.info = { ...p.info, identity };
  }

  private flush(key: string, h: number): void {
    const m = this.m!, x = m.x;
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
    this.m!.x.srvFree(p.h);
    this.peers.delete(p.key);
  }

  private onTick(): void {
    if (!this.m) return;
    const x = this.m.x, now = Math.floor(performance.now());
    for (const p of [...this.peers.values()]) {
      const st = x.srvState(p.h);
      if (st === ServerState.Closed) { this.forget(p); continue; }
      const dl = Number(x.srvNextDeadline(p.h));
      if (dl >= 0 && dl <= now) {
        x.srvHandleTimeout(p.h, BigInt(now));
        this.events(p);
        this.flush(p.key, p.h);
      }
    }
  }

  address(): BoundAddress | null { return this.bound; }

  send(peerKey: string, bytes: Uint8Array): void {
    const p = this.peers.get(peerKey);
    const m = this.m;
    if (!m || !p || m.x.srvState(p.h) !== ServerState.Established) return; // no session: dropped
    m.x.srvSend(p.h, m.write(bytes), bytes.length, BigInt(Math.floor(performance.now())));
    this.events(p);
    this.flush(peerKey, p.h);
  }

  peerKeyFor(address: string, port: number): string { return formatPeerKey(address, port); }

  peerInfo(peerKey: string): PeerInfo | undefined {
    const p = this.peers.get(peerKey);
    return p?.info.identity ? { ...p.info } : undefined;
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.m) {
      for (const p of [...this.peers.values()]) {
        if (this.m.x.srvState(p.h) === ServerState.Established) {
          this.m.x.srvClose(p.h, BigInt(Math.floor(performance.now())));
          this.flush(p.key, p.h);
        }
        this.forget(p);
      }
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
