// `net` service of ABI v1 over node:dgram. Handles are allocated at once;
// host names resolve asynchronously and sends wait for the resolution.
import dgram from "node:dgram";
import { lookup } from "node:dns";
import { isIP } from "node:net";
import { HostStatus } from "./status";

interface Peer {
  socket: dgram.Socket;
  address?: string;
  port: number;
  pending: Uint8Array[];
  failed: boolean;
  /** Datagrams handed to the socket and not yet sent; a close waits for them (a close_notify is the last one). */
  inflight?: number;
  closing?: boolean;
}

export type DatagramHandler = (peer: number, data: Uint8Array) => void;

export class UdpNet {
  private peers = new Map<number, Peer>();
  private nextHandle = 0;
  /** Bytes and datagrams sent/received, for the bench and the CLI. */
  readonly stats = { sentBytes: 0, sentDatagrams: 0, receivedBytes: 0, receivedDatagrams: 0 };

  constructor(private onDatagram: DatagramHandler) {}

  open(host: string, port: number): number {
    if (!host || port <= 0 || port > 65535) return HostStatus.Invalid;
    const handle = this.nextHandle++;
    const family = isIP(host) === 6 || host.startsWith("[") ? "udp6" : "udp4";
    const socket = dgram.createSocket(family);
    const peer: Peer = { socket, port, pending: [], failed: false };
    this.peers.set(handle, peer);
    socket.on("message", (msg, rinfo) => {
      if (peer.address && (rinfo.address !== peer.address || rinfo.port !== peer.port)) return; // not our peer
      this.stats.receivedBytes += msg.length;
      this.stats.receivedDatagrams++;
      this.onDatagram(handle, new Uint8Array(msg));
    });
    socket.on("error", () => { peer.failed = true; });
    socket.bind(0, family === "udp6" ? "::" : "0.0.0.0");
    const bare = host.replace(/^\[|\]$/g, "");
    if (isIP(bare)) this.resolved(peer, bare);
    else lookup(bare, { family: family === "udp6" ? 6 : 4 }, (err, address) => {
      if (err) { peer.failed = true; peer.pending = []; return; }
      this.resolved(peer, address);
    });
    return handle;
  }

  private resolved(peer: Peer, address: string) {
    peer.address = address;
    for (const d of peer.pending) this.transmit(peer, d);
    peer.pending = [];
  }

  private transmit(peer: Peer, data: Uint8Array) {
    this.stats.sentBytes += data.length;
    this.stats.sentDatagrams++;
    peer.inflight = (peer.inflight ?? 0) + 1;
    peer.socket.send(data, peer.port, peer.address, () => {
      peer.inflight!--;
      if (peer.closing && peer.inflight === 0) peer.socket.close();
    });
  }

  send(handle: number, data: Uint8Array): number {
    const peer = this.peers.get(handle);
    if (!peer) return HostStatus.Invalid;
    if (peer.failed) return HostStatus.Io;
    const copy = data.slice();
    if (peer.address === undefined) peer.pending.push(copy);
    else this.transmit(peer, copy);
    return HostStatus.Ok;
  }

  close(handle: number) {
    const peer = this.peers.get(handle);
    if (!peer) return;
    this.peers.delete(handle);
    if (peer.inflight) peer.closing = true; // closed once the last datagram (e.g. close_notify) is sent
    else peer.socket.close();
  }

  closeAll() {
    for (const h of [...this.peers.keys()]) this.close(h);
  }
}
