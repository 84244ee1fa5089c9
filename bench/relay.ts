// A UDP relay between a DTLS client and a DTLS server on 127.0.0.1 that
// counts every datagram in each direction (UDP payload bytes, exactly as
// handed to / read from the socket) and parses the DTLS record headers in
// it, so a handshake's extent and duration are decided the same way for our
// client and for a peer's client (openssl s_client, gnutls-cli).
//
//   client ──► relay.port ──► relay's upstream socket ──► server
//
// A handshake ends when both Finished messages have crossed the relay: the
// first handshake record under epoch ≥ 1 in each direction (RFC 6347 4.1:
// Finished is the first record protected by the new epoch). Bytes and
// datagrams are counted from the first datagram of the capture up to and
// including the datagram that completes that pair.
import dgram from "node:dgram";

export type Direction = "c2s" | "s2c";

export interface RecordInfo {
  /** RFC 6347 4.1 ContentType: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data. */
  type: number;
  epoch: number;
  length: number;
  /** Handshake message type of a plaintext (epoch 0) handshake record. */
  hsType?: number;
  /** Plaintext handshake fragments in the record: type, message_seq, fragment_offset (RFC 6347 4.2.2). */
  fragments?: string[];
}

export interface DatagramLog {
  /** process.hrtime.bigint() at the relay, ns. */
  t: bigint;
  dir: Direction;
  len: number;
  records: RecordInfo[];
}

/** DTLS record headers in one datagram (a malformed tail is ignored). */
export function parseRecords(d: Uint8Array): RecordInfo[] {
  const out: RecordInfo[] = [];
  let p = 0;
  while (p + 13 <= d.length) {
    const type = d[p], epoch = (d[p + 3] << 8) | d[p + 4], length = (d[p + 11] << 8) | d[p + 12];
    const r: RecordInfo = { type, epoch, length };
    if (type === 22 && epoch === 0 && length > 0 && p + 13 < d.length) {
      r.hsType = d[p + 13];
      r.fragments = [];
      const end = Math.min(d.length, p + 13 + length);
      for (let q = p + 13; q + 12 <= end;) {
        const fragLen = (d[q + 9] << 16) | (d[q + 10] << 8) | d[q + 11];
        r.fragments.push(`${d[q]}/${(d[q + 4] << 8) | d[q + 5]}/${(d[q + 6] << 16) | (d[q + 7] << 8) | d[q + 8]}`);
        q += 12 + fragLen;
      }
    }
    out.push(r);
    p += 13 + length;
  }
  return out;
}

export interface HandshakeSpan {
  complete: boolean;
  /** UDP payload bytes and datagrams up to and including the datagram that completed the handshake. */
  bytes: number;
  datagrams: number;
  c2sBytes: number;
  c2sDatagrams: number;
  s2cBytes: number;
  s2cDatagrams: number;
  /** First datagram (the ClientHello) to the datagram carrying the second Finished, ms. */
  ms: number;
  /** A HelloVerifyRequest (handshake type 3) was seen: the cookie exchange took place. */
  cookie: boolean;
  /** The server's Finished came before the client's (an abbreviated handshake, RFC 5246 7.3). */
  abbreviated: boolean;
  /** Plaintext handshake fragments seen twice in the same direction: a flight was retransmitted. */
  retransmissions: number;
  /** Bytes and datagrams after the cookie exchange (from the ClientHello that follows the HelloVerifyRequest). */
  afterCookie: { bytes: number; datagrams: number } | null;
}

/** The handshake at the start of a capture. */
export function handshakeSpan(log: DatagramLog[]): HandshakeSpan {
  const span: HandshakeSpan = {
    complete: false, bytes: 0, datagrams: 0, c2sBytes: 0, c2sDatagrams: 0, s2cBytes: 0, s2cDatagrams: 0,
    ms: NaN, cookie: false, abbreviated: false, retransmissions: 0, afterCookie: null,
  };
  let clientFinished = false, serverFinished = false;
  const seen = { c2s: new Set<string>(), s2c: new Set<string>() };
  const t0 = log.length ? log[0].t : 0n;
  for (const d of log) {
    span.datagrams++;
    span.bytes += d.len;
    if (d.dir === "c2s") { span.c2sBytes += d.len; span.c2sDatagrams++; } else { span.s2cBytes += d.len; span.s2cDatagrams++; }
    if (span.afterCookie) { span.afterCookie.bytes += d.len; span.afterCookie.datagrams++; }
    for (const r of d.records) {
      for (const f of r.fragments ?? []) {
        if (seen[d.dir].has(f)) span.retransmissions++;
        seen[d.dir].add(f);
      }
      if (r.type === 22 && r.epoch === 0 && r.hsType === 3 && !span.cookie) { span.cookie = true; span.afterCookie = { bytes: 0, datagrams: 0 }; }
      if (r.type === 22 && r.epoch >= 1) {
        if (d.dir === "c2s") clientFinished = true;
        else { if (!clientFinished) span.abbreviated = true; serverFinished = true; }
      }
    }
    if (clientFinished && serverFinished) {
      span.complete = true;
      span.ms = Number(d.t - t0) / 1e6;
      break;
    }
  }
  return span;
}

export class UdpRelay {
  /** The port clients send to. */
  port = 0;
  log: DatagramLog[] = [];
  private front?: dgram.Socket;
  /** One upstream socket for the relay's life: the server sees one client address for every
   *  handshake (openssl s_server answers the address of its previous connection otherwise). */
  private back?: dgram.Socket;
  /** The client of the current capture (handshakes are measured one at a time). */
  private client?: { address: string; port: number };
  private waiters: (() => void)[] = [];

  constructor(readonly serverPort: number, readonly serverHost = "127.0.0.1") {}

  async start(): Promise<this> {
    const bind = async (): Promise<dgram.Socket> => {
      const s = dgram.createSocket("udp4");
      await new Promise<void>((res, rej) => { s.once("error", rej); s.bind(0, "127.0.0.1", () => res()); });
      s.on("error", () => {});
      return s;
    };
    const front = (this.front = await bind());
    const back = (this.back = await bind());
    this.port = front.address().port;
    front.on("message", (msg, rinfo) => {
      this.client = { address: rinfo.address, port: rinfo.port };
      this.record("c2s", msg);
      back.send(msg, this.serverPort, this.serverHost);
    });
    back.on("message", (msg, rinfo) => {
      if (rinfo.port !== this.serverPort || !this.client) return;
      this.record("s2c", msg);
      front.send(msg, this.client.port, this.client.address);
    });
    return this;
  }

  private record(dir: Direction, msg: Buffer): void {
    this.log.push({ t: process.hrtime.bigint(), dir, len: msg.length, records: parseRecords(msg) });
    for (const w of this.waiters.splice(0)) w();
  }

  /** Starts a new capture. */
  reset(): void {
    this.log = [];
    this.client = undefined;
  }

  /** Resolves when the capture holds a complete handshake, rejects after ms. */
  waitHandshake(ms: number): Promise<HandshakeSpan> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no complete handshake at the relay within ${ms} ms (${this.log.length} datagrams seen)`)), ms);
      timer.unref(); // a wait abandoned by a failed client must not hold the process
      const check = () => {
        const s = handshakeSpan(this.log);
        if (s.complete) { clearTimeout(timer); resolve(s); } else this.waiters.push(check);
      };
      check();
    });
  }

  async stop(): Promise<void> {
    this.reset();
    for (const s of [this.front, this.back]) if (s) await new Promise<void>((res) => s.close(() => res()));
    this.front = this.back = undefined;
  }
}
