// Datagram transports for the development servers. The CoAP layer
// (server/coap.ts) only sees `ServerTransport`: datagrams in, keyed by a
// peer key, and datagrams out to a peer key. Plain CoAP runs over
// `UdpTransport`; CoAP over DTLS (PSK / RPK / X.509, the firmware's own DTLS
// server role compiled to a separate wasm module) will be `DtlsTransport`,
// which attaches the authenticated peer identity to every datagram.
import dgram from "node:dgram";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";

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
  constructor() {
    super("DtlsTransport is not yet available: the DTLS server role (separate wasm module) is not wired in");
    this.name = "DtlsNotAvailableError";
  }
}

/**
 * CoAP over DTLS 1.2 using the firmware's DTLS server role. Placeholder: every
 * method throws DtlsNotAvailableError until the DTLS server module lands. The
 * contract for the implementation: one DTLS session per peer key; `datagram`
 * is emitted with decrypted CoAP bytes and `PeerInfo { secure: true,
 * identity }`; `send` encrypts in the peer's established session (and drops
 * when there is none: a DTLS server cannot start a session).
 */
export class DtlsTransport extends EventEmitter implements ServerTransport {
  readonly scheme = "coaps" as const;
  constructor(readonly credentials: DtlsServerCredentials) { super(); }
  async bind(_port?: number, _address?: string): Promise<BoundAddress> { throw new DtlsNotAvailableError(); }
  address(): BoundAddress | null { return null; }
  send(_peerKey: string, _bytes: Uint8Array): void { throw new DtlsNotAvailableError(); }
  peerKeyFor(address: string, port: number): string { return formatPeerKey(address, port); }
  peerInfo(_peerKey: string): PeerInfo | undefined { return undefined; }
  async close(): Promise<void> {}
}
