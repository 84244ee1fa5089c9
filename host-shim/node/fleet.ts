// `lwm2m-wasm fleet`: many simulated devices in one Node process, against any
// LwM2M server (load and soak tests with real DTLS and bootstrap).
//
// What keeps a device small (bench/fleet.ts measures it):
// - one compiled WebAssembly.Module for all devices: an instance is its 64 KiB
//   linear memory and a few globals, not a copy of the code;
// - flash images lazily backed (SparseNorFlash): only sectors the store
//   programmed take memory;
// - logs and client events in a ring per device (`--log-lines`), written to
//   files on request (`--logs DIR` at the end, SIGUSR2 at any time);
// - UDP: one `FleetNet` owns every socket. Without a Connection ID a DTLS
//   1.2 server tells its clients apart by source address and port only, so
//   each association has a socket of its own (Node's dgram cannot pick a
//   source per datagram: no IP_PKTINFO), spread over loopback source
//   addresses 127.0.0.x when the server is on loopback so the ephemeral port
//   range (about 28,000 per address) is no limit. With `--shared-sockets K`
//   each device asks for an RFC 9146 Connection ID; an association
//   handshakes on a socket of its own (handshake records carry no CID), then
//   moves to one of K shared sockets once the server's records carry its
//   CID; inbound tls12_cid records there are routed by the CID in the record
//   header, and the server moves the connection's address when the first
//   record from the shared socket authenticates (RFC 9146 6). A sleeping
//   device holds no socket. The bench measures what a socket costs.
// - sleep (`--sleep S --sleep-share F`): a sleeper's firmware instance is
//   dropped at each power-down and a new one boots on the same flash, SE and
//   RNG at the wake (an abbreviated handshake, an Update).
import { LogDictionary } from "./log-dictionary";
import { EventEmitter } from "node:events";
import dgram from "node:dgram";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Device, FIRMWARE_PATH, type AccountConfig, type ClientEvent, type FactoryConfig, type LogEvent } from "./device";
import { DeviceRng } from "./drbg";
import { SimulatedSecureElement } from "./se";
import { SparseNorFlash } from "./sparse-flash";
import { HostStatus, BootStatus } from "./status";
import type { NetService } from "./host";
import { DEV_KDF, devPsk } from "../../server/dev-psk";

// ---- the shared network ---------------------------------------------------------------

interface Association {
  /** Its own socket: from open() until it moves to a shared socket (then null). */
  own: OwnSocket | null;
  address: string; port: number; closed: boolean;
  /** Highest DTLS handshake message_seq sent in plaintext (DTLS), or the last CoAP message ID (NoSec). */
  lastSeq: number;
  /** The handshake in progress, as far as its kind is known: none, ClientHello sent, ServerHello received. */
  hs: "none" | "hello" | "serverHello";
  /** RFC 9146: the CID the device asked for in its last ClientHello (hex; the server puts it in its records to us), and
   *  whether a tls12_cid record came back on the association's own socket (the server uses the CID: the handshake is over). */
  ownCid: string | null;
  cidIn: boolean;
  /** The shared socket it sends and receives on once moved, and the CID it is routed by there. */
  shared: SharedSocket | null;
  routedCid: string | null;
  /** Records for the shared socket held until the own socket's last sends have left (keeps the order). */
  holding: Uint8Array[] | null;
  deliver: (d: Uint8Array) => void;
}

/** An association's own socket, with its sends not yet handed to the kernel (node:dgram sends after a DNS step even
 *  for numeric addresses, and close() cancels what is still queued). */
interface OwnSocket { socket: dgram.Socket; pending: number; whenFlushed: (() => void)[] }

/** One socket many devices share once their connections use a CID: inbound tls12_cid records are routed by it. */
interface SharedSocket { socket: dgram.Socket; routes: Map<string, Association> }

/** A completed server flight's kind: full (ServerHello … ServerHelloDone) or abbreviated (ServerHello, ChangeCipherSpec, Finished). */
export type HandshakeKind = "full" | "abbreviated";

/** Counters over all devices of a fleet. */
export interface NetCounters {
  sentDatagrams: number; sentBytes: number; receivedDatagrams: number; receivedBytes: number;
  /** DTLS handshakes started: ClientHellos without a cookie (message_seq 0) sent for the first time. */
  handshakes: number;
  /** Of those, by the server's first flight (RFC 5246 7.3): ServerHelloDone after the ServerHello = full, ChangeCipherSpec = abbreviated (a resumed session). */
  fullHandshakes: number; abbreviatedHandshakes: number;
  /** Flights sent again: a plaintext DTLS handshake record whose message_seq was already sent (RFC 6347 4.2.4), or a NoSec CoAP CON with a message ID already sent. */
  retransmissions: number;
  /** Sockets open now and at most (own sockets and shared ones). */
  sockets: number; peakSockets: number;
  /** Shared sockets: associations moved onto one (in all), on one now, and inbound datagrams for no device (a CID no
   *  association holds now: the server's answer to a close_notify after the device closed, say). */
  moves: number; onShared: number; unroutable: number;
}

const TLS12_CID = 25; // RFC 9146 3: the record content type of a DTLSCiphertext with a CID
const EXT_CONNECTION_ID = 54; // RFC 9146 3

/**
 * The CID a client asks the server to use (its connection_id extension, RFC 9146 3) from the
 * ClientHello at the start of datagram `d` (record header RFC 6347 4.1, handshake header 4.2.2,
 * ClientHello body RFC 5246 7.4.1.2 with the DTLS cookie); null without one or when torn.
 */
export function clientHelloCid(d: Uint8Array): Uint8Array | null {
  if (d.length < 25 || d[0] !== 22 || d[13] !== 1) return null;
  const end = Math.min(d.length, 13 + ((d[11] << 8) | d[12]));
  let o = 25 + 2 + 32; // client_version, random
  const skip = (lenBytes: 1 | 2) => {
    if (o + lenBytes > end) return false;
    o += lenBytes + (lenBytes === 1 ? d[o] : (d[o] << 8) | d[o + 1]);
    return o <= end;
  };
  if (!skip(1) || !skip(1) || !skip(2) || !skip(1)) return null; // session_id, cookie, cipher_suites, compression_methods
  if (o + 2 > end) return null;
  const extEnd = Math.min(end, o + 2 + ((d[o] << 8) | d[o + 1]));
  for (o += 2; o + 4 <= extEnd;) {
    const type = (d[o] << 8) | d[o + 1], len = (d[o + 2] << 8) | d[o + 3];
    if (o + 4 + len > extEnd) return null;
    if (type === EXT_CONNECTION_ID) return len >= 1 && d[o + 4] === len - 1 ? d.slice(o + 5, o + 4 + len) : null;
    o += 4 + len;
  }
  return null;
}

/** A tls12_cid record in datagram `d` (records walked by their headers up to the first one with a CID). */
function hasCidRecord(d: Uint8Array): boolean {
  for (let o = 0; o + 13 <= d.length; o += 13 + ((d[o + 11] << 8) | d[o + 12])) if (d[o] === TLS12_CID) return true;
  return false;
}

/** The UDP side of a whole fleet; each device gets a `NetService` view of it (`forDevice`). */
export class FleetNet {
  readonly counters: NetCounters = {
    sentDatagrams: 0, sentBytes: 0, receivedDatagrams: 0, receivedBytes: 0, handshakes: 0, fullHandshakes: 0, abbreviatedHandshakes: 0,
    retransmissions: 0, sockets: 0, peakSockets: 0, moves: 0, onShared: 0, unroutable: 0,
  };
  private readonly sharedSockets: (SharedSocket | null)[];
  /** CID lengths the devices asked for (the routing looks for each). */
  private readonly cidLengths = new Set<number>();

  /**
   * `sourceAddresses`: how many loopback source addresses (127.0.0.1 ...) devices are spread over for a loopback server.
   * `shared`: sockets shared by all devices (device n on shared socket n mod `shared`; 0 = each association keeps its own).
   * A DTLS association starts on a socket of its own (the handshake has no CID to route by) and moves to its shared
   * socket once the server uses the CID the device asked for (RFC 9146): the server finds the connection by the CID
   * and moves its address (RFC 9146 6). Associations without a CID keep their own socket.
   */
  constructor(private readonly sourceAddresses = 1, shared = 0) {
    this.sharedSockets = new Array<SharedSocket | null>(shared).fill(null);
  }

  private openSocket(): dgram.Socket {
    this.counters.sockets++;
    this.counters.peakSockets = Math.max(this.counters.peakSockets, this.counters.sockets);
    return dgram.createSocket("udp4");
  }
  private closeSocket(s: dgram.Socket) {
    this.counters.sockets--;
    s.close();
  }

  /** Shared socket i, opened on first use. */
  private sharedSocket(i: number, bindTo: string): SharedSocket {
    const have = this.sharedSockets[i];
    if (have) return have;
    const sh: SharedSocket = { socket: this.openSocket(), routes: new Map() };
    this.sharedSockets[i] = sh;
    sh.socket.on("message", (msg, rinfo) => {
      const d = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      let a: Association | undefined;
      if (d[0] === TLS12_CID) {
        for (const n of this.cidLengths) {
          if (d.length < 13 + n) continue;
          a = sh.routes.get(Buffer.from(d.subarray(11, 11 + n)).toString("hex"));
          if (a) break;
        }
      }
      if (!a || a.closed || rinfo.port !== a.port || rinfo.address !== a.address) { this.counters.unroutable++; return; }
      this.counters.receivedDatagrams++;
      this.counters.receivedBytes += msg.length;
      a.deliver(d);
    });
    sh.socket.on("error", () => {}); // a send to an unreachable server: the devices time out and retry on their own
    sh.socket.bind(0, bindTo);
    return sh;
  }

  /** Closes the shared sockets (the fleet's end). */
  close() {
    for (const [i, sh] of this.sharedSockets.entries()) {
      if (!sh) continue;
      this.closeSocket(sh.socket);
      this.sharedSockets[i] = null;
    }
  }

  /** `onHandshake`: a handshake of this device's got the server's first flight (its kind). */
  forDevice(index: number, deliver: (peer: number, data: Uint8Array) => void, onHandshake?: (kind: HandshakeKind) => void): NetService {
    const assocs = new Map<number, Association>();
    let next = 0;
    const bindTo = (address: string) => (address.startsWith("127.") ? `127.0.0.${1 + (index % this.sourceAddresses)}` : "0.0.0.0");
    const unshare = (a: Association) => {
      if (!a.shared) return;
      if (a.routedCid !== null && a.shared.routes.get(a.routedCid) === a) a.shared.routes.delete(a.routedCid);
      a.shared = null;
      a.routedCid = null;
      a.holding = null;
      this.counters.onShared--;
    };
    /** The association's own socket (at open, and again when a moved one starts a new handshake). */
    const dedicate = (a: Association) => {
      const socket = this.openSocket();
      const own: OwnSocket = { socket, pending: 0, whenFlushed: [] };
      a.own = own;
      socket.on("message", (msg, rinfo) => {
        if (a.closed || a.own !== own || rinfo.port !== a.port || rinfo.address !== a.address) return; // not our peer
        this.counters.receivedDatagrams++;
        this.counters.receivedBytes += msg.length;
        const d = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
        if (a.hs !== "none") {
          const kind = this.serverFlight(a, d);
          if (kind) onHandshake?.(kind);
        }
        if (a.ownCid !== null && !a.cidIn && hasCidRecord(d)) a.cidIn = true;
        a.deliver(d);
      });
      socket.on("error", () => { if (a.own === own) { a.own = null; this.closeSocket(socket); } });
      socket.bind(0, bindTo(a.address));
    };
    /** `then` once the own socket's queued sends have left (at once when none are queued). */
    const afterFlush = (own: OwnSocket, then: () => void) => { if (own.pending === 0) then(); else own.whenFlushed.push(then); };
    const sendOwn = (own: OwnSocket, data: Uint8Array, a: Association) => {
      own.pending++;
      own.socket.send(data, a.port, a.address, () => {
        if (--own.pending === 0) for (const f of own.whenFlushed.splice(0)) f();
      });
    };
    /** The own socket closes once what it queued has left. */
    const retire = (own: OwnSocket) => afterFlush(own, () => this.closeSocket(own.socket));
    const close = (h: number) => {
      const a = assocs.get(h);
      if (!a) return;
      assocs.delete(h);
      a.closed = true;
      unshare(a);
      if (a.own) { retire(a.own); a.own = null; }
    };
    return {
      open: (host: string, port: number): number => {
        const bare = host.replace(/^\[|\]$/g, "");
        // numeric addresses only: thousands of devices resolving names would be a DNS load test
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(bare) || port <= 0 || port > 65535) return HostStatus.Invalid;
        const h = next++;
        const a: Association = {
          own: null, address: bare, port, closed: false, lastSeq: -1, hs: "none", ownCid: null, cidIn: false, shared: null, routedCid: null, holding: null,
          deliver: (d) => deliver(h, d),
        };
        assocs.set(h, a);
        dedicate(a);
        return h;
      },
      send: (h: number, data: Uint8Array): number => {
        const a = assocs.get(h);
        if (!a) return HostStatus.Invalid;
        this.count(a, data);
        const cidRecord = data.length > 0 && data[0] === TLS12_CID;
        const copy = data.slice();
        if (a.shared && !cidRecord) {
          // a new handshake (plaintext records): back on a socket of its own, its CID no longer routed
          unshare(a);
          dedicate(a);
        } else if (!a.shared && cidRecord && a.cidIn && a.ownCid !== null && this.sharedSockets.length > 0) {
          // the handshake is over and both sides use the CIDs: onto the shared socket, the own one closed
          const sh = this.sharedSocket(index % this.sharedSockets.length, bindTo(a.address));
          const other = sh.routes.get(a.ownCid);
          if (!other || other.closed) {
            sh.routes.set(a.ownCid, a);
            a.shared = sh;
            a.routedCid = a.ownCid;
            this.counters.moves++;
            this.counters.onShared++;
            const own = a.own;
            a.own = null;
            if (own) {
              // the last flight of the handshake may still be queued on the own socket (an abbreviated handshake's
              // Finished and the first request come from one firmware call): it leaves first, then these records
              a.holding = [];
              afterFlush(own, () => {
                const held = a.holding ?? [];
                a.holding = null;
                if (a.shared === sh) for (const d of held) sh.socket.send(d, a.port, a.address);
              });
              retire(own);
            }
          } // else: another device asked for the same CID (random, 2^-32 for 4 bytes): this one keeps its socket
        }
        if (a.shared && a.holding) a.holding.push(copy);
        else if (a.shared) a.shared.socket.send(copy, a.port, a.address);
        else if (a.own) sendOwn(a.own, copy, a);
        else return HostStatus.Invalid;
        return HostStatus.Ok;
      },
      close,
      closeAll: () => { for (const h of [...assocs.keys()]) close(h); },
    };
  }

  /**
   * The kind of the handshake in progress from the server's plaintext records
   * (RFC 6347 4.1 record header: type, version, epoch, sequence number, length;
   * 4.2.2 handshake header: msg_type first, fragment_length last): after the ServerHello, a
   * ServerHelloDone means a full handshake, a ChangeCipherSpec an abbreviated
   * one (RFC 5246 7.3). Counted once per ClientHello, whatever is retransmitted.
   */
  private serverFlight(a: Association, d: Uint8Array): HandshakeKind | null {
    for (let o = 0; o + 13 <= d.length;) {
      const type = d[o], epoch0 = d[o + 3] === 0 && d[o + 4] === 0, len = (d[o + 11] << 8) | d[o + 12];
      if (type === TLS12_CID || o + 13 + len > d.length) break; // tls12_cid (after the handshake) or a torn record
      if (epoch0 && type === 22) {
        // every message of the record: a flight's messages may share one (RFC 6347 4.2.3)
        for (let m = o + 13; m + 12 <= o + 13 + len; m += 12 + ((d[m + 9] << 16) | (d[m + 10] << 8) | d[m + 11])) {
          if (d[m] === 2 && a.hs === "hello") a.hs = "serverHello";
          else if (d[m] === 14 && a.hs === "serverHello") return this.classified(a, "full");
        }
      } else if (type === 20 && a.hs === "serverHello") {
        return this.classified(a, "abbreviated");
      }
      o += 13 + len;
    }
    return null;
  }

  private classified(a: Association, kind: HandshakeKind): HandshakeKind {
    a.hs = "none";
    if (kind === "full") this.counters.fullHandshakes++; else this.counters.abbreviatedHandshakes++;
    return kind;
  }

  /** Handshakes and retransmissions from the plaintext headers (DTLS record: type 22, epoch 0; handshake header message_seq). */
  private count(a: Association, d: Uint8Array) {
    this.counters.sentDatagrams++;
    this.counters.sentBytes += d.length;
    if (d.length >= 25 && d[0] === 22 && d[3] === 0 && d[4] === 0) {
      const seq = (d[17] << 8) | d[18];
      if (d[13] === 1 && seq === 0 && a.lastSeq > 1) a.lastSeq = -1; // a new handshake on the same association
      if (seq <= a.lastSeq) this.counters.retransmissions++;
      else if (d[13] === 1 && seq === 0) { this.counters.handshakes++; a.hs = "hello"; }
      if (d[13] === 1) {
        // RFC 9146: the CID we ask for, in each ClientHello of a handshake (the cookie one again)
        const cid = clientHelloCid(d);
        a.ownCid = cid && cid.length > 0 ? Buffer.from(cid).toString("hex") : null;
        a.cidIn = false;
        if (cid && cid.length > 0) this.cidLengths.add(cid.length);
      }
      a.lastSeq = Math.max(a.lastSeq, seq);
    } else if (d.length >= 4 && d[0] >> 6 === 1 && ((d[0] >> 4) & 3) === 0) {
      // NoSec CoAP CON: its message ID sent before = a retransmission (RFC 7252 4.2)
      const mid = (d[2] << 8) | d[3];
      if (mid === a.lastSeq) this.counters.retransmissions++;
      a.lastSeq = mid;
    }
  }
}

// ---- the fleet --------------------------------------------------------------------------------

export type DeviceStatus = "waiting" | "starting" | "bootstrapping" | "registering" | "registered" | "retrying" | "failed" | "deregistered"
  | "sleeping" | "waking";

type LogRing = Pick<Device, "logs" | "events">;

/** What a device keeps across a power cycle: its flash, its secure element and its RNG (the firmware instance goes). */
interface DeviceHardware { rng: DeviceRng; se: SimulatedSecureElement; flash: SparseNorFlash }

export interface FleetDevice {
  index: number;
  endpoint: string;
  status: DeviceStatus;
  device?: Device;
  /** performance.now() at start and at the first registration. */
  startedAt?: number;
  registeredAt?: number;
  registrations: number;
  updates: number;
  notifications: number;
  deregistered: boolean;
  failures: string[];
  /** DTLS handshakes of this device by the server's first flight. */
  handshakesFull: number;
  handshakesAbbreviated: number;
  /** The sleep behaviour (`sleepFor`, `sleepShare`): after each Register / Update the device powers down
   *  (prepare_sleep), its firmware instance is dropped, and a new one boots from the same flash and SE. */
  sleeper: boolean;
  sleeps: number;
  wakes: number;
  /** Wakes whose first request was acknowledged: an Update of the registration kept across the sleep, or a new Register. */
  wakeUpdates: number;
  wakeRegisters: number;
  /** The first DTLS handshake after each wake, by kind. */
  wakesAbbreviated: number;
  wakesFull: number;
  hw?: DeviceHardware;
  /** performance.now() at the wake in progress (until its Update or Register is acknowledged). */
  wokeAt?: number;
  wakeHandshakeSeen?: boolean;
  sleepTimer?: NodeJS.Timeout;
  powerDown?: Promise<void>;
  /** The log ring and client events of the instance that went to sleep (the instance itself is dropped). */
  sleepLogs?: LogRing;
}

export interface FleetOptions {
  count: number;
  /** Endpoint of device n (0-based index) when `spec` does not give one. */
  endpointPrefix: string;
  /** First device number in names and templates (default 1). */
  firstNumber?: number;
  /** The factory configuration of device n (its endpoint included). */
  spec(n: number, endpoint: string): FactoryConfig;
  /** Devices started per second (default 50; 0 = all at once). */
  rate?: number;
  /** A folder per device under it (flash image and SE key store); in memory when absent. */
  stateDir?: string;
  /** Replace a stored configuration with the spec (default: a provisioned device keeps its own). */
  reprovision?: boolean;
  /** Log lines and client events kept per device (default 40). */
  logLines?: number;
  /** Every `notifyEvery` seconds, a share `notifyShare` (0..1) of the devices changes /3/0/9 (battery level): observers get notifications. */
  notifyEvery?: number;
  notifyShare?: number;
  /** Sleep with resumption: a share `sleepShare` (0..1) of the devices powers down for `sleepFor` seconds after each
   *  Register / Update and wakes as a new firmware instance on the same flash and SE (a resumed DTLS session, an Update). */
  sleepFor?: number;
  sleepShare?: number;
  /** A device not registered this long after its start counts as failed ("timeout"); it keeps trying. Default 120 s. */
  registerTimeoutMs?: number;
  /** The firmware file (default build/firmware.wasm). */
  firmware?: string;
  /** Loopback source addresses to spread devices over (default: one per 20,000 devices). */
  sourceAddresses?: number;
  /** UDP sockets shared by all devices once their connections use a CID (FleetNet; default 0: a socket per association). */
  sharedSockets?: number;
  /** RFC 9146: the CID length each device asks for (Device connectionId; default off, 4 with shared sockets). */
  connectionId?: number;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1))] : null);

/**
 * Events: 'registered' (FleetDevice, its first registration), 'allRegistered',
 * 'failed' (FleetDevice, reason).
 */
export class Fleet extends EventEmitter {
  readonly devices: FleetDevice[] = [];
  readonly net: FleetNet;
  readonly module: WebAssembly.Module;
  readonly logDictionary: LogDictionary | null;
  readonly failuresByReason = new Map<string, number>();
  /** process.memoryUsage() after the module was compiled, before the first device. */
  readonly baseline: NodeJS.MemoryUsage;
  startedAt = 0;
  allRegisteredAt: number | null = null;
  socketsAtAllRegistered: number | null = null;
  private starter: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private stopping = false;
  private notifier: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private nextToStart = 0;
  /** ms from each wake (power-up) to its first request acknowledged. */
  private readonly wakeToAck: number[] = [];

  constructor(readonly options: FleetOptions) {
    super();
    const first = options.firstNumber ?? 1;
    for (let i = 0; i < options.count; i++) {
      this.devices.push({
        index: i, endpoint: `${options.endpointPrefix}${first + i}`, status: "waiting", registrations: 0, updates: 0, notifications: 0, deregistered: false, failures: [],
        handshakesFull: 0, handshakesAbbreviated: 0, sleeper: this.isSleeper(i), sleeps: 0, wakes: 0, wakeUpdates: 0, wakeRegisters: 0, wakesAbbreviated: 0, wakesFull: 0,
      });
    }
    this.net = new FleetNet(options.sourceAddresses ?? Math.max(1, Math.ceil(options.count / 20000)), options.sharedSockets ?? 0);
    const path = options.firmware ?? FIRMWARE_PATH;
    const bytes = readFileSync(path);
    this.module = new WebAssembly.Module(bytes);
    this.logDictionary = LogDictionary.forModule(path, bytes);
    this.baseline = process.memoryUsage();
  }

  /** Sleepers: a share `sleepShare` of the devices spread evenly over the indexes (0.25: devices 4, 8, 12, ... by number). */
  private isSleeper(i: number): boolean {
    const share = Math.min(1, this.options.sleepShare ?? 0.1);
    return (this.options.sleepFor ?? 0) > 0 && Math.floor((i + 1) * share + 1e-9) > Math.floor(i * share + 1e-9);
  }

  /** Starts the devices at the configured rate; resolves when the last one is started. */
  start(): Promise<void> {
    this.startedAt = performance.now();
    const rate = this.options.rate ?? 50;
    const timeout = this.options.registerTimeoutMs ?? 120_000;
    this.watchdog = setInterval(() => {
      const now = performance.now();
      for (const d of this.devices) {
        if (d.startedAt !== undefined && d.registeredAt === undefined && d.status !== "failed" && now - d.startedAt > timeout) this.fail(d, "timeout (not registered)", false);
      }
    }, 1000);
    this.watchdog.unref();
    if (this.options.notifyEvery && (this.options.notifyShare ?? 0) > 0) {
      const share = Math.min(1, this.options.notifyShare!);
      this.notifier = setInterval(() => {
        for (const d of this.devices) {
          if (d.status === "registered" && d.index % 1000 < share * 1000) d.device?.setResource(3, 0, 9, Math.floor(Math.random() * 101));
        }
      }, this.options.notifyEvery * 1000);
    }
    // One device per turn of the event loop (setImmediate runs after the I/O of that turn): a boot takes
    // 10-20 ms of CPU, and the devices already handshaking must get their datagrams in between, or they
    // retransmit (and the server with them).
    return new Promise((resolve) => {
      const t0 = performance.now();
      const step = () => {
        this.starter = null;
        if (this.stopping) { resolve(); return; }
        const due = rate <= 0 ? this.devices.length : Math.floor(((performance.now() - t0) / 1000) * rate) + 1;
        if (this.nextToStart < Math.min(due, this.devices.length)) this.startDevice(this.devices[this.nextToStart++]);
        if (this.nextToStart >= this.devices.length) { resolve(); return; }
        this.starter = this.nextToStart < due ? setImmediate(step) : setTimeout(step, t0 + (this.nextToStart / rate) * 1000 - performance.now());
      };
      step();
    });
  }

  private fail(d: FleetDevice, reason: string, final: boolean) {
    d.failures.push(reason);
    this.failuresByReason.set(reason, (this.failuresByReason.get(reason) ?? 0) + 1);
    if (final || reason.startsWith("timeout")) d.status = "failed";
    else if (d.status !== "failed") d.status = "retrying";
    this.emit("failed", d, reason);
  }

  private startDevice(d: FleetDevice) {
    d.status = "starting";
    d.startedAt = performance.now();
    const o = this.options;
    const dir = o.stateDir ? join(o.stateDir, d.endpoint) : undefined;
    if (dir) mkdirSync(dir, { recursive: true });
    try {
      d.hw = {
        rng: new DeviceRng(),
        se: new SimulatedSecureElement(dir ? join(dir, "se-keystore.json") : undefined),
        flash: new SparseNorFlash(dir ? { path: join(dir, "flash.img") } : {}),
      };
    } catch (e) {
      this.fail(d, `start: ${(e as Error).message}`, true);
      return;
    }
    const dev = this.powerUp(d);
    if (!dev) return;
    if (dev.provisioned && !o.reprovision) return; // the stored configuration registers on its own
    try {
      dev.provision(o.spec(d.index, d.endpoint));
    } catch (e) {
      this.fail(d, `provisioning: ${(e as Error).message}`, true);
      dev.stop();
    }
  }

  /** A new firmware instance on the device's flash, SE and RNG, booted (the first start, or the wake from deep sleep);
   *  the log ring of the previous instance carries over. */
  private powerUp(d: FleetDevice, previous?: LogRing): Device | null {
    let dev!: Device;
    try {
      dev = new Device({
        module: this.module,
        logDictionary: this.logDictionary,
        rng: d.hw!.rng, se: d.hw!.se, flash: d.hw!.flash,
        net: this.net.forDevice(d.index, (peer, data) => dev.deliver(peer, data), (kind) => this.onHandshake(d, kind)),
        logLimit: this.options.logLines ?? 40,
        connectionId: this.options.connectionId ?? (this.options.sharedSockets ? 4 : -1),
      });
    } catch (e) {
      this.fail(d, `start: ${(e as Error).message}`, true);
      return null;
    }
    if (previous) { dev.logs.push(...previous.logs); dev.events.push(...previous.events); }
    d.device = dev;
    dev.on("event", (e: ClientEvent) => this.onEvent(d, e));
    dev.on("log", (l: LogEvent) => {
      if (l.level > 1) return;
      const m = /^DTLS: (.+?) ssid=\d+: (.+?) \(reason/.exec(l.text);
      if (m) this.fail(d, `DTLS ${m[1]}: ${m[2]}`, false);
    });
    dev.on("fatal", (e: Error) => this.fail(d, `firmware fatal: ${e.message}`, true));
    const status = dev.start();
    const all = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
    if ((status & all) !== all) { this.fail(d, `boot failed (status ${status})`, true); dev.stop(); return null; }
    return dev;
  }

  private onHandshake(d: FleetDevice, kind: HandshakeKind) {
    if (kind === "full") d.handshakesFull++; else d.handshakesAbbreviated++;
    if (d.wokeAt !== undefined && !d.wakeHandshakeSeen) {
      d.wakeHandshakeSeen = true;
      if (kind === "full") d.wakesFull++; else d.wakesAbbreviated++;
    }
  }

  /** Deep sleep (LPWA-1): prepare_sleep (close_notify; the DTLS session and the registration stay sealed in the
   *  store), the instance is dropped, and `sleepFor` seconds later a new one boots on the same flash and SE. */
  private sleep(d: FleetDevice) {
    const dev = d.device;
    if (!dev || this.stopping || d.powerDown || d.status === "failed") return;
    d.status = "sleeping";
    d.sleeps++;
    d.powerDown = dev.prepareSleep().then(() => {
      dev.removeAllListeners("event");
      d.powerDown = undefined;
      d.device = undefined; // the instance (its linear memory) is garbage from here
      d.sleepLogs = { logs: dev.logs, events: dev.events };
      if (!this.stopping) d.sleepTimer = setTimeout(() => this.wake(d), (this.options.sleepFor ?? 0) * 1000);
    });
  }

  private wake(d: FleetDevice) {
    d.sleepTimer = undefined;
    const previous = d.sleepLogs;
    d.sleepLogs = undefined;
    d.status = "waking";
    d.wakes++;
    d.wokeAt = performance.now();
    d.wakeHandshakeSeen = false;
    this.powerUp(d, previous);
  }

  private onEvent(d: FleetDevice, e: ClientEvent) {
    switch (e.name) {
      case "bootstrapRequested": if (d.status !== "retrying") d.status = "bootstrapping"; break;
      case "bootstrapped": d.status = "registering"; break;
      case "bootstrapFailed": this.fail(d, `bootstrap failed (${e.arg})`, false); break;
      case "bootstrapRefused": this.fail(d, `bootstrap refused (config error ${e.arg})`, false); break;
      case "registrationFailed": this.fail(d, `registration failed (${coapCode(e.arg)})`, false); break;
      case "registered":
        d.registrations++;
        d.status = "registered";
        if (d.wokeAt !== undefined) this.wakeAcknowledged(d, "register");
        if (d.registeredAt === undefined) {
          d.registeredAt = performance.now();
          this.emit("registered", d);
          if (this.allRegisteredAt === null && this.devices.every((x) => x.registeredAt !== undefined)) {
            this.allRegisteredAt = performance.now();
            this.socketsAtAllRegistered = this.net.counters.sockets;
            this.emit("allRegistered");
          }
        }
        break;
      case "updated":
        d.updates++;
        if (d.wokeAt !== undefined) { d.status = "registered"; this.wakeAcknowledged(d, "update"); }
        break;
      case "notification": d.notifications++; break;
      case "deregistered": d.deregistered = true; d.status = "deregistered"; break;
    }
    if (e.name === "bootstrapRequested" && d.status === "starting") d.status = "bootstrapping";
    if (d.sleeper && (e.name === "registered" || e.name === "updated")) setImmediate(() => this.sleep(d));
  }

  private wakeAcknowledged(d: FleetDevice, how: "update" | "register") {
    this.wakeToAck.push(performance.now() - d.wokeAt!);
    d.wokeAt = undefined;
    if (how === "update") d.wakeUpdates++; else d.wakeRegisters++;
  }

  /** Counts by status. */
  census(): Record<DeviceStatus, number> {
    const c: Record<DeviceStatus, number> = {
      waiting: 0, starting: 0, bootstrapping: 0, registering: 0, registered: 0, retrying: 0, failed: 0, deregistered: 0, sleeping: 0, waking: 0,
    };
    for (const d of this.devices) c[d.status]++;
    return c;
  }

  /** Every device de-registers (and its sockets close); resolves when all are done or after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.starter) { clearTimeout(this.starter as NodeJS.Timeout); clearImmediate(this.starter as NodeJS.Immediate); }
    if (this.notifier) clearInterval(this.notifier);
    if (this.watchdog) clearInterval(this.watchdog);
    this.starter = this.notifier = this.watchdog = null;
    // sleeping devices power up to de-register: each waits for its wake's Update (or Register) first
    await Promise.all(this.devices.map((d) => d.powerDown));
    const woken = this.devices.filter((d) => d.status === "sleeping" && !d.device);
    for (const d of woken) { if (d.sleepTimer) clearTimeout(d.sleepTimer); this.wake(d); }
    const t0 = performance.now();
    while (woken.some((d) => d.wokeAt !== undefined && d.device && d.status !== "failed") && performance.now() - t0 < timeoutMs) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const d of this.devices) if (d.sleepTimer) clearTimeout(d.sleepTimer);
    await Promise.all(this.devices.map((d) => d.device?.shutdown(timeoutMs)));
    for (const d of this.devices) d.device?.stop();
    this.net.close();
  }

  /** Each device's log ring to DIR/<endpoint>.log. */
  writeLogs(dir: string): number {
    mkdirSync(dir, { recursive: true });
    let n = 0;
    for (const d of this.devices) {
      const ring = d.device ?? d.sleepLogs;
      if (!ring) continue;
      const lines = ring.logs.map((l) => `[${l.levelName}] ${l.text}`);
      const events = ring.events.map((e) => `[event] ${e.name} ssid=${e.ssid} arg=${e.arg}${e.text ? ` ${e.text}` : ""}`);
      writeFileSync(join(dir, `${d.endpoint.replace(/[^A-Za-z0-9._-]/g, "_")}.log`),
        `# ${d.endpoint}: ${d.status}; last ${lines.length} log lines, then the last ${events.length} client events\n${[...lines, ...events].join("\n")}\n`);
      n++;
    }
    return n;
  }

  /** The JSON report (times in ms; memory in bytes): `memory` when every device had registered (or now), `memoryAtEnd` before the stop. */
  report(memoryAtRegistered?: NodeJS.MemoryUsage, memoryAtEnd?: { usage: NodeJS.MemoryUsage; asleep: number }) {
    const times = this.devices.filter((d) => d.registeredAt !== undefined).map((d) => d.registeredAt! - d.startedAt!).sort((a, b) => a - b);
    const r1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
    const started = this.devices.filter((d) => d.startedAt !== undefined).length;
    const mem = memoryAtRegistered ?? process.memoryUsage();
    const c = this.net.counters;
    const sleepers = this.devices.filter((d) => d.sleeper);
    const sum = (f: (d: FleetDevice) => number) => this.devices.reduce((s, d) => s + f(d), 0);
    const wakeTimes = [...this.wakeToAck].sort((a, b) => a - b);
    const end = memoryAtEnd?.usage ?? process.memoryUsage();
    return {
      count: this.devices.length,
      started,
      registered: times.length,
      deregistered: this.devices.filter((d) => d.deregistered).length,
      failed: this.devices.filter((d) => d.status === "failed").length,
      timeToRegisterMs: {
        min: r1(quantile(times, 0)), median: r1(quantile(times, 0.5)), p99: r1(quantile(times, 0.99)), max: r1(times.length ? times[times.length - 1] : null),
      },
      allRegisteredMs: this.allRegisteredAt === null ? null : r1(this.allRegisteredAt - this.startedAt),
      handshakes: c.handshakes,
      /** By the server's first flight: ServerHelloDone = full, ChangeCipherSpec = abbreviated (resumed). */
      handshakesFull: c.fullHandshakes,
      handshakesAbbreviated: c.abbreviatedHandshakes,
      retransmissions: c.retransmissions,
      datagrams: { sent: c.sentDatagrams, received: c.receivedDatagrams, sentBytes: c.sentBytes, receivedBytes: c.receivedBytes },
      sockets: {
        open: c.sockets, peak: c.peakSockets, atAllRegistered: this.socketsAtAllRegistered,
        /** Shared sockets (FleetNet): associations moved onto one, on one at the end, inbound datagrams no CID claimed. */
        shared: this.options.sharedSockets ?? 0, moves: c.moves, onShared: c.onShared, unroutable: c.unroutable,
      },
      updates: this.devices.reduce((s, d) => s + d.updates, 0),
      notifications: this.devices.reduce((s, d) => s + d.notifications, 0),
      sleep: {
        devices: sleepers.length,
        sleepForS: this.options.sleepFor ?? 0,
        powerDowns: sum((d) => d.sleeps),
        wakes: sum((d) => d.wakes),
        /** The first handshake after each wake: abbreviated (the sealed session resumed) or full. */
        wakesAbbreviated: sum((d) => d.wakesAbbreviated),
        wakesFull: sum((d) => d.wakesFull),
        /** Wakes whose first request was acknowledged: an Update of the kept registration, or a new Register. */
        wakeUpdatesAcknowledged: sum((d) => d.wakeUpdates),
        wakeRegisters: sum((d) => d.wakeRegisters),
        wakeToAcknowledgedMs: {
          min: r1(quantile(wakeTimes, 0)), median: r1(quantile(wakeTimes, 0.5)), p99: r1(quantile(wakeTimes, 0.99)), max: r1(wakeTimes.length ? wakeTimes[wakeTimes.length - 1] : null),
        },
      },
      failuresByReason: Object.fromEntries([...this.failuresByReason].sort((a, b) => b[1] - a[1])),
      failedDevices: this.devices.filter((d) => d.status === "failed" || d.registeredAt === undefined).slice(0, 20).map((d) => ({ endpoint: d.endpoint, status: d.status, failures: d.failures.slice(-3) })),
      memory: {
        rssBaseline: this.baseline.rss, rss: mem.rss, heapUsed: mem.heapUsed, arrayBuffers: mem.arrayBuffers,
        rssPerDevice: started ? Math.round((mem.rss - this.baseline.rss) / started) : null,
        arrayBuffersPerDevice: started ? Math.round((mem.arrayBuffers - this.baseline.arrayBuffers) / started) : null,
        heapPerDevice: started ? Math.round((mem.heapUsed - this.baseline.heapUsed) / started) : null,
        flashResidentPerDevice: started ? Math.round(this.devices.reduce((s, d) => s + (d.hw?.flash.residentBytes ?? 0), 0) / started) : null,
      },
      memoryAtEnd: { rss: end.rss, rssPerDevice: started ? Math.round((end.rss - this.baseline.rss) / started) : null, asleep: memoryAtEnd?.asleep ?? this.census().sleeping },
    };
  }
}
export type FleetReport = ReturnType<Fleet["report"]>;

/** "4.03" from a CoAP code byte; other numbers (reasons) as they are. */
function coapCode(c: number): string {
  return c >= 64 && c < 256 ? `${c >> 5}.${String(c & 31).padStart(2, "0")}` : String(c);
}

// ---- credentials per device ----------------------------------------------------------------------

/** {n} (the device number) and {ep} (its endpoint) in a template. */
export function fillDevice(template: string, n: number, endpoint: string): string {
  return template.replace(/\{n\}/g, String(n)).replace(/\{ep\}/g, endpoint);
}

/** One row of a --credentials list (JSON array of objects or CSV with a header line of these names). */
export interface CredentialRow { endpoint?: string; pskIdentity?: string; pskKey?: string; rpkKey?: string; cert?: string; key?: string }

export function readCredentialList(file: string): CredentialRow[] {
  const text = readFileSync(file, "utf8");
  if (/\.json$/i.test(file) || text.trimStart().startsWith("[")) {
    const rows = JSON.parse(text);
    if (!Array.isArray(rows)) throw new Error(`${file}: a JSON array of objects is expected`);
    return rows as CredentialRow[];
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
  const header = lines.shift()?.split(",").map((h) => h.trim()) ?? [];
  const known = ["endpoint", "pskIdentity", "pskKey", "rpkKey", "cert", "key"];
  for (const h of header) if (!known.includes(h)) throw new Error(`${file}: unknown column '${h}' (${known.join(", ")})`);
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [header[i], v.trim()])) as CredentialRow);
}

/** The device-side flags with {n}/{ep} filled and 'dev-kdf' replaced by the identity's development key. */
export function deviceArgs(args: string[], n: number, endpoint: string, row?: CredentialRow): string[] {
  const out = args.map((a) => fillDevice(a, n, endpoint));
  const set = (flag: string, v: string | undefined) => {
    if (v === undefined || v === "") return;
    const i = out.indexOf(flag);
    if (i >= 0) out[i + 1] = v; else out.push(flag, v);
  };
  if (row) { set("--psk-identity", row.pskIdentity); set("--psk-key", row.pskKey); set("--rpk-key", row.rpkKey); set("--cert", row.cert); set("--key", row.key); }
  const k = out.indexOf("--psk-key"), id = out.indexOf("--psk-identity");
  if (k >= 0 && out[k + 1] === DEV_KDF && id >= 0) out[k + 1] = Buffer.from(devPsk(out[id + 1])).toString("hex");
  return out;
}

// ---- command line -------------------------------------------------------------------------------------

export const FLEET_USAGE = `usage: lwm2m-wasm fleet --count N --endpoint-prefix P (--bootstrap URI | --server URI) [security] [options]
  security (as for 'device'; {n} = the device number, {ep} = its endpoint, in identities, keys and file names):
    --psk-identity ID --psk-key HEX|dev-kdf     dev-kdf: the development servers' derived keys (server/README.md)
    --rpk-key FILE --server-rpk FILE | --cert FILE --key FILE --ca FILE [--cert-usage N]
    --credentials FILE     per-device credentials: a JSON array or a CSV (header: endpoint,pskIdentity,pskKey,rpkKey,cert,key)
  options:
    --first N              number of the first device (default 1): endpoints P1, P2, ...
    --rate R               devices started per second (default 50; 0 = all at once)
    --duration S           run S seconds after the last device is started, then every device de-registers and the command exits
                           (default: until Ctrl-C)
    --stop-when-registered stop (de-register, exit) as soon as every device has registered (or at --duration, whichever is first)
    --lifetime S           registration lifetime with --server (default 300; with --bootstrap the Bootstrap-Server's
                           configuration sets it): each device sends an Update at 90 % of it
    --notify-every S --notify-share F   every S seconds a share F (0..1) of the devices changes /3/0/9: notifications to observers
    --sleep S --sleep-share F            a share F (0..1, default 0.1) of the devices sleeps: after each Register / Update it
                           powers down (close_notify, session and registration sealed in its store), its firmware instance is
                           dropped, and S seconds later a new one boots on the same flash and SE: an abbreviated handshake
                           (session resumption) and an Update. Sleepers are spread evenly (0.25: every 4th device).
    --state DIR            each device's flash and SE in DIR/<endpoint>/ (kept; --reprovision replaces stored configurations)
    --log-lines N          log lines kept per device (default 40); --logs DIR writes them at the end (SIGUSR2: now)
    --report FILE          the JSON report (default fleet-report.json); --quiet: no progress line
    --register-timeout S   a device not registered after S seconds counts as failed (default 120)
    --source-addresses N   loopback source addresses to spread devices over (127.0.0.1..N)
    --shared-sockets K     K UDP sockets shared by all devices: each DTLS association handshakes on a socket of its own,
                           then moves to a shared one once the server uses its RFC 9146 Connection ID (inbound records
                           are routed by it); needs a server that routes by CID and CCM_8 suites
    --cid N                the CID length each device asks for (device --cid; default 4 with --shared-sockets, else off)`;

type CredentialsOf = (args: string[], uri: string) => Partial<AccountConfig>;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
function num(args: string[], name: string, fallback: number, min = 0): number {
  const v = option(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} ${v}: a number ≥ ${min} is expected`);
  return n;
}

/** Parses the flags into FleetOptions; `credentials` is the device command's reader of the security flags. */
export function fleetOptions(args: string[], credentials: CredentialsOf): FleetOptions & {
  duration: number | null; stopWhenRegistered: boolean; report: string; logs?: string; quiet: boolean;
} {
  const count = num(args, "--count", NaN, 1);
  if (!Number.isInteger(count)) throw new Error("--count N is required");
  const prefix = option(args, "--endpoint-prefix");
  if (!prefix) throw new Error("--endpoint-prefix P is required");
  const bs = option(args, "--bootstrap"), server = option(args, "--server");
  if (!!bs === !!server) throw new Error("give exactly one of --bootstrap URI and --server URI");
  const uri = (bs ?? server)!;
  if (!/^coaps?:\/\/(\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:]+\]):\d+\/?$/.test(uri)) throw new Error(`${uri}: a coap:// or coaps:// URI with a numeric address and a port`);
  const listFile = option(args, "--credentials");
  const rows = listFile ? readCredentialList(listFile) : undefined;
  if (rows && rows.length < count) throw new Error(`${listFile}: ${rows.length} rows for ${count} devices`);
  const first = num(args, "--first", 1);
  const lifetime = num(args, "--lifetime", 300, 1);
  const spec = (i: number, endpoint: string): FactoryConfig => {
    const row = rows?.[i];
    const ep = row?.endpoint || endpoint;
    const creds = credentials(deviceArgs(args, first + i, ep, row), uri);
    return bs
      ? { endpoint: ep, bootstrap: { uri, ...creds, clientHoldOffTime: 0 } }
      : { endpoint: ep, servers: [{ uri, ...creds, shortServerId: 1, lifetime }] };
  };
  spec(0, `${prefix}${first}`); // the first device's flags fail now, not in the middle of the run
  const sharedSockets = num(args, "--shared-sockets", 0);
  if (!Number.isInteger(sharedSockets)) throw new Error("--shared-sockets K: a whole number");
  const cid = option(args, "--cid");
  const connectionId = cid === undefined ? (sharedSockets > 0 ? 4 : undefined) : num(args, "--cid", 0);
  if (connectionId !== undefined && (!Number.isInteger(connectionId) || connectionId > 32)) throw new Error("--cid N: a CID length 0..32");
  if (sharedSockets > 0 && !(connectionId! >= 1)) throw new Error("--shared-sockets needs a CID of 1 byte or more (--cid N): inbound records are routed by it");
  const duration = option(args, "--duration");
  return {
    count, endpointPrefix: prefix, firstNumber: first, spec,
    rate: num(args, "--rate", 50), stateDir: option(args, "--state"), reprovision: args.includes("--reprovision"),
    logLines: num(args, "--log-lines", 40, 1), notifyEvery: num(args, "--notify-every", 0), notifyShare: num(args, "--notify-share", 1),
    sleepFor: num(args, "--sleep", 0), sleepShare: num(args, "--sleep-share", 0.1),
    registerTimeoutMs: num(args, "--register-timeout", 120, 1) * 1000,
    sourceAddresses: option(args, "--source-addresses") ? num(args, "--source-addresses", 1, 1) : undefined,
    sharedSockets, connectionId,
    duration: duration === undefined ? null : num(args, "--duration", 0), stopWhenRegistered: args.includes("--stop-when-registered"), report: option(args, "--report") ?? "fleet-report.json",
    logs: option(args, "--logs"), quiet: args.includes("--quiet"),
  };
}

const kib = (b: number | null) => (b === null ? "—" : `${(b / 1024).toFixed(1)} KiB`);
const ms = (x: number | null) => (x === null ? "—" : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

export function summaryTable(r: FleetReport): string {
  const rows: [string, string][] = [
    ["devices", `${r.count} (started ${r.started})`],
    ["registered", `${r.registered}`],
    ["de-registered at the end", `${r.deregistered}`],
    ["failed", `${r.failed}`],
    ["time to register min / median / p99 / max", `${ms(r.timeToRegisterMs.min)} / ${ms(r.timeToRegisterMs.median)} / ${ms(r.timeToRegisterMs.p99)} / ${ms(r.timeToRegisterMs.max)}`],
    ["all registered after", ms(r.allRegisteredMs)],
    ["DTLS handshakes / retransmissions", `${r.handshakes} / ${r.retransmissions}`],
    ["datagrams sent / received", `${r.datagrams.sent} / ${r.datagrams.received}`],
    ["DTLS handshakes full / abbreviated (resumed)", `${r.handshakesFull} / ${r.handshakesAbbreviated}`],
    ["updates / notifications", `${r.updates} / ${r.notifications}`],
    ["UDP sockets peak / when all registered", `${r.sockets.peak} / ${r.sockets.atAllRegistered ?? "—"}` +
      (r.sockets.shared ? ` (${r.sockets.shared} shared; ${r.sockets.moves} associations moved onto them, ${r.sockets.unroutable} datagrams for no device)` : "")],
    ["resident per device (RSS delta / started)", `${kib(r.memory.rssPerDevice)} (flash ${kib(r.memory.flashResidentPerDevice)}, JS heap ${kib(r.memory.heapPerDevice)}, buffers ${kib(r.memory.arrayBuffersPerDevice)})`],
  ];
  if (r.sleep.devices > 0) {
    const w = r.sleep.wakeToAcknowledgedMs;
    rows.push(
      ["sleepers / power-downs / wakes", `${r.sleep.devices} / ${r.sleep.powerDowns} / ${r.sleep.wakes}`],
      ["wakes: abbreviated / full handshake", `${r.sleep.wakesAbbreviated} / ${r.sleep.wakesFull}`],
      ["wakes: Update acknowledged / Register again", `${r.sleep.wakeUpdatesAcknowledged} / ${r.sleep.wakeRegisters}`],
      ["wake → acknowledged min / median / p99 / max", `${ms(w.min)} / ${ms(w.median)} / ${ms(w.p99)} / ${ms(w.max)}`],
    );
  }
  for (const [reason, n] of Object.entries(r.failuresByReason)) rows.push([`failure: ${reason}`, String(n)]);
  const w = Math.max(...rows.map((x) => x[0].length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join("\n");
}

/** `lwm2m-wasm fleet ...`; resolves with the exit code (0: every device registered and de-registered). */
export async function runFleet(args: string[], credentials: CredentialsOf): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) { console.log(FLEET_USAGE); return 0; }
  if (!existsSync(FIRMWARE_PATH)) { console.error(`no firmware at ${FIRMWARE_PATH}: run 'npm run build' first`); return 2; }
  let o: ReturnType<typeof fleetOptions>;
  try {
    o = fleetOptions(args, credentials);
  } catch (e) {
    console.error(`lwm2m-wasm fleet: ${(e as Error).message}\n${FLEET_USAGE}`);
    return 2;
  }
  const fleet = new Fleet(o);
  let memAtRegistered: NodeJS.MemoryUsage | undefined;
  fleet.on("allRegistered", () => {
    (globalThis as { gc?: () => void }).gc?.();
    memAtRegistered = process.memoryUsage();
  });
  const tty = process.stderr.isTTY;
  let last = { t: performance.now(), reg: 0, started: 0 };
  const progress = () => {
    const c = fleet.census();
    const now = performance.now();
    const reg = fleet.devices.filter((d) => d.registeredAt !== undefined).length, started = fleet.devices.length - c.waiting;
    const dt = (now - last.t) / 1000 || 1;
    const line = `fleet ${((now - fleet.startedAt) / 1000).toFixed(1)} s: ${c.registered}/${o.count} registered, ${c.bootstrapping} bootstrapping, ` +
      `${c.starting + c.registering} registering, ${c.retrying} retrying, ${c.failed} failed, ${c.deregistered} de-registered` +
      (o.sleepFor ? `, ${c.sleeping} sleeping, ${c.waking} waking` : "") + "; " +
      `${((started - last.started) / dt).toFixed(0)} started/s, ${((reg - last.reg) / dt).toFixed(0)} registered/s, ${fleet.net.counters.sockets} sockets`;
    last = { t: now, reg, started };
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
  const ticker = o.quiet ? null : setInterval(progress, tty ? 1000 : 5000);
  const dumpLogs = () => { if (o.logs) console.error(`\nlogs of ${fleet.writeLogs(o.logs)} devices written to ${o.logs}/`); };
  process.on("SIGUSR2", dumpLogs);
  let stopRequested: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stopRequested = resolve; });
  // on(), not once(): Ctrl-C reaches this process twice (the terminal's process group, and bin/lwm2m-wasm.js forwarding it)
  const onSignal = () => stopRequested();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  console.error(`fleet: ${o.count} devices ${o.endpointPrefix}${o.firstNumber}..${o.endpointPrefix}${(o.firstNumber ?? 1) + o.count - 1}, ${o.rate || "all"} per second; one compiled module (${(readFileSync(o.firmware ?? FIRMWARE_PATH).length / 1024).toFixed(0)} KiB of wasm)`);
  const allRegistered = new Promise<void>((resolve) => fleet.once("allRegistered", () => resolve()));
  await fleet.start();
  await Promise.race([
    stopped,
    ...(o.duration !== null ? [new Promise((r) => setTimeout(r, o.duration! * 1000))] : []),
    ...(o.stopWhenRegistered ? [allRegistered] : []),
  ]);
  if (ticker) { progress(); clearInterval(ticker); }
  console.error(`${tty ? "\n" : ""}fleet: stopping: every device de-registers`);
  (globalThis as { gc?: () => void }).gc?.();
  const memAtEnd = { usage: process.memoryUsage(), asleep: fleet.census().sleeping };
  await fleet.stop();
  dumpLogs();
  process.off("SIGUSR2", dumpLogs);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  const report = { generatedAt: new Date().toISOString(), options: { ...o, spec: undefined }, ...fleet.report(memAtRegistered ?? memAtEnd.usage, memAtEnd) };
  writeFileSync(o.report, JSON.stringify(report, null, 2) + "\n");
  console.log(summaryTable(report));
  console.log(`report: ${o.report}`);
  return report.registered === o.count && report.deregistered === o.count ? 0 : 1;
}
