// A NAT for tests between a simulated device and a server on loopback: the
// device talks to `port`; the server sees the NAT's outer socket, whose source
// port changes at rebind() (NAT rebinding, RFC 9146 1). Every datagram is
// logged, and natPcap writes the log as a capture for tshark.
import dgram from "node:dgram";

export class Nat {
  readonly log: { up: boolean; outerPort: number; d: Buffer }[] = [];
  private inner = dgram.createSocket("udp4");
  private outer!: dgram.Socket;
  private device: { address: string; port: number } | null = null;
  outerPort = 0;
  port = 0;
  /** Tests: a datagram to the device (dropDown) or from it (dropUp) for which this answers true is
   *  lost (after it is logged). */
  dropDown: ((d: Buffer) => boolean) | null = null;
  dropUp: ((d: Buffer) => boolean) | null = null;
  constructor(private serverPort: number) {}
  async start(): Promise<void> {
    await new Promise<void>((r) => this.inner.bind(0, "127.0.0.1", () => r()));
    this.port = this.inner.address().port;
    this.inner.on("message", (m, rinfo) => {
      this.device = { address: rinfo.address, port: rinfo.port };
      this.log.push({ up: true, outerPort: this.outerPort, d: m });
      if (this.dropUp?.(m)) return;
      this.outer.send(m, this.serverPort, "127.0.0.1");
    });
    await this.openOuter();
  }
  private async openOuter(): Promise<void> {
    const s = dgram.createSocket("udp4");
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    const port = s.address().port;
    s.on("message", (m) => {
      if (s !== this.outer || !this.device) return; // the old binding is gone
      this.log.push({ up: false, outerPort: port, d: m });
      if (this.dropDown?.(m)) return;
      this.inner.send(m, this.device.port, this.device.address);
    });
    this.outer = s;
    this.outerPort = port;
  }
  /** An on-path attacker: d to the device, from the address it talks to (logged as from the server). */
  async toDevice(d: Buffer): Promise<void> {
    if (!this.device) throw new Error("the device has not sent anything yet");
    const { port, address } = this.device;
    await new Promise<void>((r, j) => this.inner.send(d, port, address, (e) => (e ? j(e) : r())));
  }
  /** The NAT forgets the binding: the device's next datagram leaves from a new source port. */
  async rebind(): Promise<number> {
    const old = this.outer;
    await this.openOuter();
    old.close();
    return this.outerPort;
  }
  close() { this.inner.close(); this.outer.close(); }
}


/** A pcap (LINKTYPE_RAW, IPv4/UDP) of the NAT's outer side: device 10.0.0.1:<outer port>, server 10.0.0.2:5684. */
export function natPcap(log: Nat["log"]): Buffer {
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6); gh.writeUInt32LE(65535, 16); gh.writeUInt32LE(101, 20);
  const out = [gh];
  log.forEach(({ up, outerPort, d }, i) => {
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(up ? outerPort : 5684, 0); udp.writeUInt16BE(up ? 5684 : outerPort, 2); udp.writeUInt16BE(8 + d.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45; ip.writeUInt16BE(28 + d.length, 2); ip[8] = 64; ip[9] = 17;
    Buffer.from(up ? [10, 0, 0, 1, 10, 0, 0, 2] : [10, 0, 0, 2, 10, 0, 0, 1]).copy(ip, 12);
    let sum = 0;
    for (let j = 0; j < 20; j += 2) sum += ip.readUInt16BE(j);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    const pkt = Buffer.concat([ip, udp, d]);
    const ph = Buffer.alloc(16);
    ph.writeUInt32LE(i + 1, 0); ph.writeUInt32LE(pkt.length, 8); ph.writeUInt32LE(pkt.length, 12);
    out.push(ph, pkt);
  });
  return Buffer.concat(out);
}

