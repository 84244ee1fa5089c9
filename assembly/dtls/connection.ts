// A DTLS 1.2 connection (RFC 6347), sans-I/O: it consumes datagrams and
// time and produces datagrams, events and a deadline. Nothing blocks and
// nothing is allocated once the connection exists: every buffer comes from
// two ArrayBuffers sized by the config at construction (the handshake
// buffers, and everything else); reset() reuses them. growBuffers() is the
// one exception, for a caller that configures a connection anew (e.g. for
// certificates): it replaces the handshake buffers by larger ones.
//
// Client role: connect() sends the ClientHello; the state machine follows
// RFC 5246 7.3 / RFC 6347 4.2 (full and abbreviated handshakes, cookies).
//
// Server role (the development servers and the tests: assembly/tests/
// dtls_server.ts): accept() takes a first ClientHello (stateless cookie =
// HMAC over the client's address and hello, RFC 6347 4.2.1), onClientHello
// answers with ServerHello [Certificate] [ServerKeyExchange]
// [CertificateRequest] ServerHelloDone or resumes from the session cache,
// serverMessage() takes the client's flight, supplyPsk() the host's answer to
// DtlsEvent.PskIdentity. The record layer, flights, reassembly, transcript,
// key schedule, alerts and limits are shared and pick by isServer.
// A build that defines DTLS_CLIENT_ONLY (the firmware) has no server role:
// isServer is a constant false there and the optimizer drops those paths
// (config.ts DTLS_SERVER_ROLE).
import { HostStatus, rng_fill, P256_PUBLIC_KEY_LEN } from "../host/abi";
import { sha256Init, sha256Update, sha256Final, sha256Copy, SHA256_CTX_SIZE } from "../crypto/sha256";
import { ctEqual, wipe } from "../crypto/ct";
import { loadBe16, loadBe24, loadBe48, storeBe16 } from "../util/bytes";
import { X509Error } from "../x509/cert";
import { AlertLevel, AlertDescription, DtlsError, DtlsEvent, alertFor } from "./alert";
import { SuiteBit, Protection, suiteBit, suiteCode, suiteProtection, SUITE_COUNT, CipherSuite } from "./suites";
import {
  RECORD_HEADER_LEN, ContentType, DTLS_1_2, DTLS_1_0, MAX_CIPHERTEXT, MAX_PLAINTEXT, CIPHER_STATE_SIZE,
  REPLAY_WINDOW_SIZE, installKeys, payloadOffset, recordSize, sealRecord, openRecord, replayFresh, replayMark,
} from "./record";
import { HS_HEADER_LEN, HandshakeType, HandshakeReassembler, writeHandshakeHeader } from "./handshake";
import {
  ExtBit, ExtensionType, CertificateType, NAMED_CURVE_SECP256R1, SIG_ECDSA_SECP256R1_SHA256,
  extGroupOk, extPointFormatOk, extSigAlgOk,
  writeClientExtensions, parseHelloExtensions, extSeen, extMfl, extServerCertTypes, extClientCertTypes,
} from "./extensions";
import { rdStart, rd8, rd16, rdVec, rdSkip, rdDone, rdLeft, rdPos, rdFail, vecPtr, wr8, wr16, wrBytes, wrPos } from "./codec";
import {
  certificateBodyLen, ownCertificateListLen, writeCertificate, verifyCertificate, readEcdhParams, ecdhParamsDigest, ecdheGenerate, ecdheAgree,
  writeSignature, verifySignature, MAX_SIGNATURE_LEN, writeEcdhParams, readEcPoint, ECDH_PARAMS_LEN,
} from "./messages";
import { pskPremaster, deriveMasterSecret, deriveKeyBlock, finishedVerifyData, keyLogLine, VERIFY_DATA_LEN, KEY_LOG_LINE_LEN } from "./keys";
import { DtlsConfig, Role, mflBytes, MAX_PSK_LEN, DTLS_SERVER_ROLE } from "./config";
import { DtlsSession, DtlsSessionCache, MAX_SESSION_ID_LEN } from "./session";
import { hmacSha256Init, hmacSha256Update, hmacSha256Final, HMAC_SHA256_CTX_SIZE } from "../crypto/hmac";

export namespace ConnState {
  export const Idle: i32 = 0;
  /** Client: ClientHello sent, waiting for HelloVerifyRequest or ServerHello. */
  export const WaitServerHello: i32 = 1;
  /** Client, full handshake: Certificate .. ServerHelloDone. */
  export const WaitServerFlight: i32 = 2;
  /** Waiting for the peer's ChangeCipherSpec (and a NewSessionTicket before it). */
  export const WaitChangeCipherSpec: i32 = 3;
  /** ChangeCipherSpec received, waiting for the peer's Finished. */
  export const WaitFinished: i32 = 4;
  export const Established: i32 = 5;
  export const Closed: i32 = 6;
  // ---- server role ----
  /** Server: ServerHello flight sent; waiting for [Certificate] ClientKeyExchange. */
  export const WaitClientKeyExchange: i32 = 16;
  /** Server: the client's PSK identity is with the host (DtlsEvent.PskIdentity); supplyPsk() continues. */
  export const NeedPsk: i32 = 17;
  /** Server: client Certificate and ClientKeyExchange received; waiting for CertificateVerify. */
  export const WaitCertificateVerify: i32 = 18;
}

const EVENT_SLOTS: i32 = 8;
const EVENT_SIZE: i32 = 16;
/** Flight entry: content type (1), epoch (1), length (2), then the bytes
 *  (a handshake message with its unfragmented header, or the CCS byte). */
const ENTRY_HEADER: i32 = 4;
/** ClientHello body without SNI and ticket, at most: version, random, session_id<32>,
 *  cookie<255>, 5 suites + SCSV, compression, extensions (all of ours: 56 bytes). */
const CLIENT_HELLO_FIXED: i32 = 2 + 32 + 33 + 256 + 2 + 12 + 2 + 2 + 56;
const ECDSA_SIGN: u32 = 64; // RFC 8422 5.5 ClientCertificateType ecdsa_sign

// Module scratch (single-threaded, wiped after use): premaster / key block,
// ECDH secret, digests, our ephemeral public key.
const SECRET = memory.data(160, 8);
const ZZ = memory.data(32, 8);
const DIGEST = memory.data(32, 8);
const HASH_CTX = memory.data(112, 8);
const ALERT = memory.data(8, 8);
const EPH_PUB = memory.data(65, 8);
// Server: the stateless cookie secret (RFC 6347 4.2.1), drawn once from the DRBG.
// Lazy: a client-only build (no accept()) does not have them.
// @ts-ignore: decorator
@lazy const COOKIE_SECRET = memory.data(32, 8);
// @ts-ignore: decorator
@lazy const COOKIE_MAC = memory.data(32, 8);
// @ts-ignore: decorator
@lazy const HMAC_CTX = memory.data(HMAC_SHA256_CTX_SIZE, 8);
let cookieSecretReady = false;
/** Cookie length: HMAC-SHA256 truncated to 112 bits (a blind guess succeeds
 *  with 2^-112; the handshake budget of DESIGN.md counts the cookie twice). */
const COOKIE_LEN: i32 = 14;
/** Server: room for the rest of a datagram while the host looks up a PSK
 *  (ChangeCipherSpec + Finished after a ClientKeyExchange). */
const PENDING_CAP: i32 = 256;

// @ts-ignore: decorator
@inline function align8(n: i32): i32 {
  return (n + 7) & ~7;
}

/** The flight buffer always holds the largest ClientHello this config can
 *  produce (32-byte session ID, 255-byte cookie, SNI, ticket). */
/** Bytes of one block of handshake buffers: reassembly of a message of up to
 *  hsCap bytes (header, body, bitmap), then a flight of flCap bytes. */
export function handshakeBlockSize(hsCap: i32, flCap: i32): i32 {
  return align8(HS_HEADER_LEN + hsCap) + align8((hsCap + 7) >> 3) + align8(flCap);
}

function helloEntrySize(config: DtlsConfig): i32 {
  return ENTRY_HEADER + HS_HEADER_LEN + CLIENT_HELLO_FIXED + config.serverNameLen +
    (config.sessionTickets ? config.ticketCapacity : 0);
}

/** The connection whose records wait in a shared transmit buffer
 *  (config.txBuffer) until its pollTransmit(); 0 = none. */
let txHolder: usize = 0;

@final
export class DtlsConnection {
  config: DtlsConfig;
  /** Session to offer for resumption; filled with the new session on completion. */
  session: DtlsSession | null = null;
  private mem: ArrayBuffer;
  /** The handshake buffers: reassembly (message + bitmap), then our flight
   *  unless flightMem holds it (after growBuffers()). */
  private hsMem: ArrayBuffer | null = null;
  private flightMem: ArrayBuffer | null = null;
  private reasm: HandshakeReassembler;
  /** tx is config.txBuffer, shared with other connections. */
  private sharedTx: bool;

  // ---- regions of mem (tx: unless shared; reassembly and flight: hsMem, flightMem) ----
  private tx: usize;
  private txCap: i32;
  private flight: usize;
  private flightCap: i32;
  private events: usize;
  private readState: usize;
  private writeState: usize;
  private window: usize;
  private transcript: usize;
  private clientRandom: usize;
  private serverRandom: usize;
  private masterSecret: usize;
  private sid: usize;
  private peerKey: usize;
  private peerEph: usize;
  private prevHash: usize;
  private keyLog: usize;

  /** config.role == Role.Server at construction; read it through isServer. */
  private serverRole: bool;
  /** Server role: always false in a client-only build (DTLS_SERVER_ROLE), so
   *  that the optimizer drops every server path. */
  // @ts-ignore: decorator
  @inline private get isServer(): bool { return DTLS_SERVER_ROLE && this.serverRole; }
  private pending: usize;
  private peerCert: usize;
  /** SE slot of this connection's ephemeral ECDHE key (from the config; a
   *  server with several handshakes at once gives each its own). */
  ephemeralSlot: i32;
  /** Server: sessions to resume by ID and to store new ones in (null = none). */
  sessionCache: DtlsSessionCache | null = null;

  // ---- state: everything from here on is zeroed by reset() ----
  state: i32;
  private offered: u32;
  private extOffered: u32;
  private suite: u32;
  private protection: i32;
  private readEpoch: u32;
  private writeEpoch: u32;
  private writeSeq0: u64;
  private writeSeq1: u64;
  private nextSendSeq: u32;
  private nextRecvSeq: i32;
  /** message_seq of the last message of the peer's last complete flight. */
  private peerLastSeq: i32;
  private lastType: i32;
  private sidLen: i32;
  private helloVerifyCount: i32;
  private offeredResume: bool;
  private resumed: bool;
  private ems: bool;
  private ticketExpected: bool;
  private ticketReceived: bool;
  private certRequested: bool;
  private clientRpk: bool;
  private finishedSent: bool;
  private maxPlaintextIn: i32;
  private maxPlaintextOut: i32;
  private keyLogLen: i32;
  // server role
  private pendingLen: i32;
  private peerCertLen: i32;
  private pskIdPtr: usize;
  private pskIdLen: i32;

  // flight emission and the RFC 6347 4.2.4 timer
  private flightLen: i32;
  private flightPos: i32;
  private flightFrag: i32;
  private sending: bool;
  private txPending: i32;
  private retransmitAt: i64;
  private timeoutMs: i64;
  private retransmits: i32;
  private sessionStart: i64;

  // events
  private evHead: i32;
  private evCount: i32;
  private evKind: i32;
  private evReason: i32;
  private evPtr: usize;
  private evLen: i32;

  /** Why the connection closed or failed (DtlsError), 0 while it is fine. */
  reason: i32;
  /** The x509 reason behind DtlsError.BadCertificate. */
  detail: i32;
  /** Description of the last alert received, -1 none. */
  alertReceived: i32;

  // statistics (LPWA-1: bytes and datagrams per handshake)
  bytesSent: i64;
  bytesReceived: i64;
  datagramsSent: i32;
  datagramsReceived: i32;
  recordsDropped: i32;
  replaysDropped: i32;
  authFailures: i32;

  constructor(config: DtlsConfig) {
    this.config = config;
    this.serverRole = config.role == Role.Server;
    // RFC 6066 4: with a Max Fragment Length no record exceeds it, so the
    // datagram buffer shrinks to one largest record (CBC adds at most 77 bytes).
    const mfl = config.maxFragmentLength != 0 ? mflBytes(config.maxFragmentLength) + 77 : 0x7fffffff;
    const txCap = config.mtu < mfl ? config.mtu : mfl;
    const shared = config.txBuffer != 0;
    this.txCap = txCap;
    this.sharedTx = shared;
    let o: i32 = 0;
    const oTx = o; o += shared ? 0 : align8(txCap);
    const oEvents = o; o += EVENT_SLOTS * EVENT_SIZE;
    const oRead = o; o += align8(CIPHER_STATE_SIZE);
    const oWrite = o; o += align8(CIPHER_STATE_SIZE);
    const oWindow = o; o += REPLAY_WINDOW_SIZE;
    const oTranscript = o; o += align8(SHA256_CTX_SIZE);
    const oCr = o; o += 32;
    const oSr = o; o += 32;
    const oMs = o; o += 48;
    const oSid = o; o += 32;
    const oPeerKey = o; o += 72;
    const oPeerEph = o; o += 72;
    const oPrevHash = o; o += 32;
    // the NSS key log line only when the config asks for it at construction
    const oKeyLog = o; o += config.keyLog ? align8(KEY_LOG_LINE_LEN) : 0;
    const srv = DTLS_SERVER_ROLE && config.role == Role.Server;
    const oPending = o; o += srv ? PENDING_CAP : 0;
    const oPeerCert = o; o += srv ? align8(config.peerCertificateCapacity) : 0;
    const mem = new ArrayBuffer(o);
    const b = changetype<usize>(mem);
    this.mem = mem;
    this.reasm = new HandshakeReassembler(0, 0, 0);
    this.tx = shared ? config.txBuffer : b + <usize>oTx;
    this.events = b + <usize>oEvents;
    this.readState = b + <usize>oRead;
    this.writeState = b + <usize>oWrite;
    this.window = b + <usize>oWindow;
    this.transcript = b + <usize>oTranscript;
    this.clientRandom = b + <usize>oCr;
    this.serverRandom = b + <usize>oSr;
    this.masterSecret = b + <usize>oMs;
    this.sid = b + <usize>oSid;
    this.peerKey = b + <usize>oPeerKey;
    this.peerEph = b + <usize>oPeerEph;
    this.prevHash = b + <usize>oPrevHash;
    this.keyLog = config.keyLog ? b + <usize>oKeyLog : 0;
    this.pending = b + <usize>oPending;
    this.peerCert = b + <usize>oPeerCert;
    this.ephemeralSlot = config.ephemeralSlot;
    // handshakeBufferSize 0: no buffers of its own, the caller lends them (lendHandshakeBuffers)
    if (config.handshakeBufferSize > 0) {
      this.placeHandshakeBuffers(config.handshakeBufferSize, max(config.flightBufferSize, helloEntrySize(config)));
    } else {
      this.reasm.capacity = -1; // takes nothing until buffers are lent
    }
    this.reset();
  }

  /** Allocates the handshake buffers: reassembly of a peer's message of up
   *  to hsCap bytes, and, when flCap > 0, our flight (flCap bytes) after it. */
  private placeHandshakeBuffers(hsCap: i32, flCap: i32): void {
    this.useHandshakeBlock(new ArrayBuffer(handshakeBlockSize(hsCap, flCap)), hsCap, flCap);
  }

  private useHandshakeBlock(mem: ArrayBuffer, hsCap: i32, flCap: i32): void {
    const b = changetype<usize>(mem);
    this.hsMem = mem;
    const r = this.reasm;
    r.buf = b;
    r.capacity = hsCap;
    r.bitmap = b + <usize>align8(HS_HEADER_LEN + hsCap);
    if (flCap > 0) {
      this.flight = r.bitmap + <usize>align8((hsCap + 7) >> 3);
      this.flightCap = flCap;
    }
  }

  /**
   * Handshake buffers lent by the caller, for a connection made with
   * handshakeBufferSize 0 (firmware/transport.ts: one pool for all client
   * connections, as a handshake needs them only while it runs): `block`
   * holds handshakeBlockSize(hsCap, flCap) bytes. Only while Idle or Closed
   * (BadState otherwise); Config when flCap cannot take our ClientHello.
   */
  lendHandshakeBuffers(block: ArrayBuffer, hsCap: i32, flCap: i32): i32 {
    if (this.state != ConnState.Idle && this.state != ConnState.Closed) return DtlsError.BadState;
    if (flCap < helloEntrySize(this.config) || block.byteLength < handshakeBlockSize(hsCap, flCap)) return DtlsError.Config;
    this.returnHandshakeBuffers();
    this.useHandshakeBlock(block, hsCap, flCap);
    return 0;
  }

  /** Whether lent handshake buffers may go to another connection now: no
   *  handshake runs (Idle, Closed, or Established with nothing in flight). */
  handshakeBuffersIdle(): bool {
    return this.state == ConnState.Idle || this.state == ConnState.Closed || this.state == ConnState.Established && !this.sending;
  }

  /** Gives lent handshake buffers back, wiped. The connection stays as it is;
   *  once Established, a peer that retransmits its last flight (ours was
   *  lost, RFC 6347 4.2.4) after this is not answered, and a handshake
   *  message at the next message_seq ends the connection (MessageTooLarge). */
  returnHandshakeBuffers(): void {
    const h = this.hsMem;
    if (h) wipe(changetype<usize>(h), h.byteLength);
    this.hsMem = null;
    this.flightMem = null;
    this.reasm.active = false;
    this.reasm.received = 0;
    this.reasm.buf = 0;
    this.reasm.bitmap = 0;
    this.reasm.capacity = -1;
    this.flight = 0;
    this.flightCap = 0;
    this.flightLen = 0;
    this.sending = false;
  }

  /** Grows the handshake buffers to what the config asks for now
   *  (handshakeBufferSize; flightBufferSize and the largest ClientHello) when
   *  that is more than they hold; never shrinks them. Resets the connection
   *  (Idle). Only while Idle or Closed: BadState otherwise. A larger
   *  reassembly buffer is a new block, and the old block becomes the flight
   *  buffer (it held reassembly and flight); a flight larger than that is a
   *  new block too. A block no longer used is dropped, and the stub runtime
   *  never reclaims memory: a caller there grows a connection a bounded
   *  number of times (firmware/transport.ts: once, the first time an account
   *  of that connection needs X.509, where the old block takes the flight). */
  growBuffers(): i32 {
    if (this.state != ConnState.Idle && this.state != ConnState.Closed) return DtlsError.BadState;
    const c = this.config;
    const hs = max(c.handshakeBufferSize, this.reasm.capacity);
    const fl = max(max(c.flightBufferSize, helloEntrySize(c)), this.flightCap);
    this.reset(); // wipes the old buffers too
    if (this.hsMem == null) { // none of its own (lent buffers returned)
      this.placeHandshakeBuffers(hs, fl);
      return 0;
    }
    if (hs > this.reasm.capacity) {
      const old = this.hsMem!;
      this.placeHandshakeBuffers(hs, 0);
      // the flight stays in the old block, or takes all of it when it must grow and fits
      if (this.flightMem == null || (fl > this.flightCap && old.byteLength >= fl)) {
        this.flightMem = old;
        if (fl > this.flightCap) {
          this.flight = changetype<usize>(old);
          this.flightCap = old.byteLength;
        }
      }
    }
    if (fl > this.flightCap) {
      const f = new ArrayBuffer(align8(fl));
      this.flightMem = f;
      this.flight = changetype<usize>(f);
      this.flightCap = fl;
    }
    return 0;
  }

  /** Back to Idle for a new handshake: state cleared, secrets wiped, buffers kept. */
  reset(): void {
    wipe(changetype<usize>(this.mem), this.mem.byteLength);
    const h = this.hsMem;
    if (h) wipe(changetype<usize>(h), h.byteLength);
    const f = this.flightMem;
    if (f) wipe(changetype<usize>(f), f.byteLength);
    if (txHolder == changetype<usize>(this)) txHolder = 0; // its pending datagram is dropped
    this.reasm.active = false;
    this.reasm.received = 0;
    const from = offsetof<DtlsConnection>("state");
    memory.fill(changetype<usize>(this) + from, 0, offsetof<DtlsConnection>() - from);
    this.peerLastSeq = -1;
    this.lastType = -1;
    this.maxPlaintextIn = MAX_PLAINTEXT;
    this.maxPlaintextOut = MAX_PLAINTEXT;
    this.retransmitAt = -1;
    this.alertReceived = -1;
  }

  // =====================================================================
  // Public API
  // =====================================================================

  /** Client: start the handshake (sends the ClientHello). Returns 0, or a
   *  DtlsError when the configuration is refused (nothing is sent then). */
  connect(now: i64): i32 {
    if (this.state != ConnState.Idle || this.serverRole || this.flightCap == 0) return DtlsError.BadState;
    const c = this.config;
    let suites = c.suites & SuiteBit.All;
    if (c.pskLen <= 0 || c.pskIdentity == 0 && c.pskIdentityLen > 0) suites &= ~SuiteBit.AnyPsk;
    if (c.ownPublicKey == 0) suites &= ~SuiteBit.Ecdsa;
    if (c.certificateType == CertificateType.RawPublicKey ? c.serverPublicKey == 0 : c.trust == 0) suites &= ~SuiteBit.Ecdsa;
    // DTLS-3: a low-entropy secret only with ECDHE-PSK; refuse a config that enables more.
    if (c.pskLowEntropy && (suites & SuiteBit.PlainPsk) != 0) return this.refuse(DtlsError.LowEntropyPsk);
    if (c.pskLen > MAX_PSK_LEN || c.pskIdentityLen > 0xffff || c.serverNameLen > 255) return this.refuse(DtlsError.Config);
    if (suites == 0) return this.refuse(DtlsError.NoSuites);
    if (rng_fill(this.clientRandom, 32) != HostStatus.Ok) return this.refuse(DtlsError.Rng);
    this.offered = suites;
    let ext = ExtBit.ExtendedMasterSecret;
    if (c.maxFragmentLength != 0) {
      ext |= ExtBit.MaxFragmentLength;
      this.maxPlaintextOut = mflBytes(c.maxFragmentLength);
    }
    if (c.serverNameLen > 0) ext |= ExtBit.ServerName;
    if (suites & SuiteBit.Ecdhe) ext |= ExtBit.SupportedGroups | ExtBit.EcPointFormats;
    if (suites & SuiteBit.Ecdsa) {
      ext |= ExtBit.SignatureAlgorithms;
      if (c.certificateType == CertificateType.RawPublicKey) ext |= ExtBit.ClientCertificateType | ExtBit.ServerCertificateType;
    }
    if (c.sessionTickets) ext |= ExtBit.SessionTicket;
    this.extOffered = ext | ExtBit.RenegotiationInfo;
    // Resumption (RFC 5246 7.4.1.2, RFC 5077 3.4): the session ID, or with a
    // ticket a fresh 8-byte ID the server echoes when it accepts the ticket.
    const s = this.session;
    if (s != null && s.valid && (s.suite & suites) != 0 &&
        (c.maxSessionAgeMs <= 0 || now - s.createdAt < c.maxSessionAgeMs)) {
      if (c.sessionTickets && s.ticketLen > 0) {
        this.sidLen = 8;
        if (rng_fill(this.sid, 8) != HostStatus.Ok) return this.refuse(DtlsError.Rng);
        this.offeredResume = true;
      } else if (s.idLen > 0) {
        this.sidLen = s.idLen;
        memory.copy(this.sid, s.id(), <usize>s.idLen);
        this.offeredResume = true;
      }
    }
    sha256Init(this.transcript);
    this.startFlight();
    const e = this.addClientHello(0, 0);
    if (e != 0) return this.refuse(e);
    this.state = ConnState.WaitServerHello;
    this.emitFlight(now, true);
    return 0;
  }

  /** A datagram from the peer (decrypted in place: the bytes are consumed). */
  handleDatagram(ptr: usize, len: i32, now: i64): i32 {
    if (this.state == ConnState.Idle || this.state == ConnState.Closed) return DtlsError.BadState;
    this.bytesReceived += len;
    this.datagramsReceived++;
    if (this.isServer && this.state == ConnState.NeedPsk) {
      this.recordsDropped++; // the peer retransmits
      return DtlsError.Busy;
    }
    this.onRecords(ptr, len, now);
    return 0;
  }

  private onRecords(ptr: usize, len: i32, now: i64): void {
    let off: i32 = 0;
    // RFC 6347 4.1.1: several records per datagram; a truncated one ends it.
    while (len - off >= RECORD_HEADER_LEN && this.state != ConnState.Closed) {
      const rec = ptr + <usize>off;
      const fragLen = <i32>loadBe16(rec + 11);
      if (fragLen > len - off - RECORD_HEADER_LEN) {
        this.recordsDropped++;
        break;
      }
      off += RECORD_HEADER_LEN + fragLen;
      this.onRecord(rec, fragLen, now);
      if (this.isServer && this.state == ConnState.NeedPsk) {
        // Keep the rest (ChangeCipherSpec, Finished) for after supplyPsk().
        const rest = len - off;
        if (rest <= PENDING_CAP) {
          memory.copy(this.pending, ptr + <usize>off, <usize>rest);
          this.pendingLen = rest;
        }
        break;
      }
    }
  }

  /** The timer: retransmit the flight (RFC 6347 4.2.4) or enforce limits. */
  handleTimeout(now: i64): void {
    if (this.state == ConnState.Idle || this.state == ConnState.Closed) return;
    if (this.retransmitAt >= 0 && now >= this.retransmitAt) {
      if (this.retransmits >= this.config.maxRetransmissions) {
        this.fail(this.finishedSent ? DtlsError.FinishedTimeout : DtlsError.Timeout);
        return;
      }
      this.retransmits++;
      const t = this.timeoutMs * 2;
      this.timeoutMs = t < this.config.retransmitMaxMs ? t : this.config.retransmitMaxMs;
      this.retransmitAt = now + this.timeoutMs;
      this.restartFlight();
    }
    if (this.state == ConnState.Established) this.checkAge(now);
  }

  /** Next datagram to send: its length (0 = none); bytes at transmitPtr(),
   *  valid until the next call into the connection (with a shared
   *  config.txBuffer: into any connection that shares it). */
  pollTransmit(): i32 {
    let n: i32 = 0;
    if (this.txPending > 0) {
      n = this.txPending;
      this.txPending = 0;
      if (txHolder == changetype<usize>(this)) txHolder = 0; // handed out
    } else if (this.sending && this.txFree()) {
      n = this.buildFlightDatagram();
    }
    if (n > 0) {
      this.bytesSent += n;
      this.datagramsSent++;
    }
    return n;
  }

  transmitPtr(): usize {
    return this.tx;
  }

  /** Next event (DtlsEvent), DtlsEvent.None when there is none. */
  pollEvent(): i32 {
    if (this.evCount == 0) {
      this.evKind = DtlsEvent.None;
      return DtlsEvent.None;
    }
    const e = this.events + <usize>(this.evHead * EVENT_SIZE);
    this.evKind = load<i32>(e);
    this.evReason = load<i32>(e, 4);
    this.evPtr = <usize>load<u32>(e, 8);
    this.evLen = load<i32>(e, 12);
    this.evHead = (this.evHead + 1) % EVENT_SLOTS;
    this.evCount--;
    return this.evKind;
  }

  eventReason(): i32 { return this.evReason; }
  appDataPtr(): usize { return this.evPtr; }
  appDataLen(): i32 { return this.evLen; }

  /** Protect len bytes as one application_data record. 0, or a DtlsError
   *  (BadState before the handshake completes, TooLarge beyond the MFL,
   *  Busy until pollTransmit() drained, RecordLimit/SessionAge when DTLS-10 closed it). */
  sendApplicationData(ptr: usize, len: i32, now: i64): i32 {
    if (this.state != ConnState.Established) return DtlsError.BadState;
    if (len < 0 || len > this.maxPlaintextOut) return DtlsError.TooLarge;
    if (this.checkAge(now)) return this.reason;
    if (this.writeSeq1 >= this.config.maxRecordSequence) {
      this.fail(DtlsError.RecordLimit);
      return DtlsError.RecordLimit;
    }
    return this.appendRecord(ContentType.ApplicationData, ptr, len);
  }

  /** Send close_notify and close (RFC 5246 7.2.1). */
  close(now: i64): void {
    if (this.state == ConnState.Idle || this.state == ConnState.Closed) return;
    this.fail(DtlsError.LocalClose);
  }

  /** Server role: the host does not accept the peer's authenticated identity
   *  (a raw public key or certificate it does not know): a fatal
   *  bad_certificate alert (RFC 5246 7.2.2) ends the connection. Poll out our
   *  last flight first, so that the peer can read the alert. */
  refusePeer(now: i64): void {
    if (this.state == ConnState.Idle || this.state == ConnState.Closed) return;
    this.fail(DtlsError.BadCertificate);
  }

  /** Monotonic ms of the next handleTimeout() that has something to do, -1 none. */
  nextDeadline(): i64 {
    if (this.state == ConnState.Closed || this.state == ConnState.Idle) return -1;
    let d = this.retransmitAt;
    if (this.state == ConnState.Established && this.config.maxSessionAgeMs > 0) {
      const age = this.sessionStart + this.config.maxSessionAgeMs;
      if (d < 0 || age < d) d = age;
    }
    return d;
  }

  /** IANA code of the negotiated suite, 0 before ServerHello. */
  negotiatedSuite(): u32 {
    return this.suite == 0 ? 0 : suiteCode(<i32>ctz(this.suite));
  }

  isResumed(): bool { return this.resumed; }
  extendedMasterSecret(): bool { return this.ems; }
  /** Record payload limit after MFL negotiation. */
  maxPlaintext(): i32 { return this.maxPlaintextOut; }

  /** The NSS key log line (config.keyLog only): pointer and length (0 = none). */
  keyLogPtr(): usize { return this.keyLog; }
  keyLogLength(): i32 { return this.keyLogLen; }

  // =====================================================================
  // Events, alerts, failure
  // =====================================================================

  private pushEvent(kind: i32, reason: i32, ptr: usize, len: i32): bool {
    if (this.evCount == EVENT_SLOTS) return false;
    const e = this.events + <usize>(((this.evHead + this.evCount) % EVENT_SLOTS) * EVENT_SIZE);
    store<i32>(e, kind);
    store<i32>(e, reason, 4);
    store<u32>(e, <u32>ptr, 8);
    store<i32>(e, len, 12);
    this.evCount++;
    return true;
  }

  private refuse(reason: i32): i32 {
    this.reason = reason;
    return reason;
  }

  /** Protect one record into the pending datagram. 0, Busy or BufferTooSmall. */
  private appendRecord(type: u8, src: usize, len: i32): i32 {
    const prot = this.writeEpoch == 0 ? Protection.Null : this.protection;
    if (!this.txFree()) return DtlsError.Busy;
    if (this.txPending + recordSize(prot, len) > this.txCap) return this.txPending > 0 ? DtlsError.Busy : DtlsError.BufferTooSmall;
    const out = this.tx + <usize>this.txPending;
    memory.copy(out + <usize>(RECORD_HEADER_LEN + payloadOffset(prot)), src, <usize>len);
    const n = sealRecord(out, type, this.writeEpoch, this.nextWriteSeq(this.writeEpoch), len, prot, this.writeState);
    if (n < 0) return DtlsError.Rng;
    this.txPending += n;
    if (this.sharedTx) txHolder = changetype<usize>(this);
    return 0;
  }

  /** The transmit buffer may be written: it is our own, or no other
   *  connection's records wait in the shared one (config.txBuffer). */
  private txFree(): bool {
    return !this.sharedTx || txHolder == 0 || txHolder == changetype<usize>(this);
  }

  private nextWriteSeq(epoch: u32): u64 {
    if (epoch == 0) return this.writeSeq0++;
    return this.writeSeq1++;
  }

  private sendAlert(level: u8, desc: i32): void {
    store<u8>(ALERT, level);
    store<u8>(ALERT + 1, <u8>desc);
    this.appendRecord(ContentType.Alert, ALERT, 2);
  }

  /** End the connection for `reason`: the matching alert (if any) goes out,
   *  then AlertSent / Closed events; secrets are wiped. */
  private fail(reason: i32): void {
    if (this.state == ConnState.Closed) return;
    const alert = alertFor(reason);
    if (alert >= 0) {
      this.sendAlert(alert == AlertDescription.close_notify ? AlertLevel.Warning : AlertLevel.Fatal, alert);
      if (alert != AlertDescription.close_notify) this.pushEvent(DtlsEvent.AlertSent, reason, 0, 0);
    }
    this.reason = reason;
    this.state = ConnState.Closed;
    this.sending = false;
    this.retransmitAt = -1;
    this.flightLen = 0;
    this.pushEvent(DtlsEvent.Closed, reason, 0, 0);
    this.wipeSecrets();
    wipe(this.readState, CIPHER_STATE_SIZE);
    // the write keys stay until the pending alert datagram was polled? It is sealed already.
    wipe(this.writeState, CIPHER_STATE_SIZE);
  }

  private wipeSecrets(): void {
    wipe(this.masterSecret, 48);
    wipe(SECRET, 160);
    wipe(ZZ, 32);
  }

  /** DTLS-10 session age: close when reached. True when closed. */
  private checkAge(now: i64): bool {
    const max = this.config.maxSessionAgeMs;
    if (max > 0 && now - this.sessionStart >= max) {
      this.fail(DtlsError.SessionAge);
      return true;
    }
    return false;
  }

  // =====================================================================
  // Flights (RFC 6347 4.2.4): stored as plaintext, framed at each send
  // =====================================================================

  private startFlight(): void {
    this.flightLen = 0;
    this.sending = false;
  }

  /** Room for a handshake body in the flight buffer. */
  private hsRoom(): i32 {
    return this.flightCap - this.flightLen - ENTRY_HEADER - HS_HEADER_LEN;
  }

  /** Where the next handshake message's body goes. */
  private hsBody(): usize {
    return this.flight + <usize>(this.flightLen + ENTRY_HEADER + HS_HEADER_LEN);
  }

  /** Seal the message whose body (bodyLen bytes) was written at hsBody():
   *  header, message_seq, transcript. */
  private addHandshake(type: u8, bodyLen: i32): void {
    const e = this.flight + <usize>this.flightLen;
    const total = HS_HEADER_LEN + bodyLen;
    store<u8>(e, ContentType.Handshake);
    store<u8>(e + 1, <u8>this.writeEpoch);
    store<u16>(e + 2, <u16>total);
    writeHandshakeHeader(e + ENTRY_HEADER, type, bodyLen, this.nextSendSeq++);
    sha256Update(this.transcript, e + ENTRY_HEADER, total);
    this.flightLen += ENTRY_HEADER + total;
  }

  /** ChangeCipherSpec; what follows is written in epoch 1. */
  private addChangeCipherSpec(): void {
    const e = this.flight + <usize>this.flightLen;
    store<u8>(e, ContentType.ChangeCipherSpec);
    store<u8>(e + 1, <u8>this.writeEpoch);
    store<u16>(e + 2, 1);
    store<u8>(e + 4, 1);
    this.flightLen += ENTRY_HEADER + 1;
    this.writeEpoch = 1;
  }

  /** Finished (RFC 5246 7.4.9) over the transcript so far. */
  private addFinished(): void {
    this.transcriptHash(DIGEST);
    finishedVerifyData(this.masterSecret, this.isServer, DIGEST, this.hsBody());
    this.addHandshake(HandshakeType.finished, VERIFY_DATA_LEN);
    this.finishedSent = true;
  }

  private emitFlight(now: i64, timer: bool): void {
    this.retransmits = 0;
    this.timeoutMs = this.config.retransmitInitialMs;
    this.retransmitAt = timer ? now + this.timeoutMs : -1;
    this.restartFlight();
  }

  private restartFlight(): void {
    this.flightPos = 0;
    this.flightFrag = 0;
    this.sending = this.flightLen > 0;
  }

  /** Frame the next part of the flight into tx: whole records, handshake
   *  messages fragmented to the MTU / MFL (RFC 6347 4.2.3). */
  private buildFlightDatagram(): i32 {
    let used: i32 = 0;
    while (this.flightPos < this.flightLen) {
      const e = this.flight + <usize>this.flightPos;
      const type = load<u8>(e);
      const epoch = <u32>load<u8>(e + 1);
      const len = <i32>load<u16>(e + 2);
      const data = e + <usize>ENTRY_HEADER;
      const prot = epoch == 0 ? Protection.Null : this.protection;
      const pre = RECORD_HEADER_LEN + payloadOffset(prot);
      const room = this.txCap - used;
      const out = this.tx + <usize>used;
      if (type == ContentType.ChangeCipherSpec) {
        if (recordSize(prot, 1) > room) break;
        store<u8>(out + <usize>pre, 1);
        const n = sealRecord(out, type, epoch, this.nextWriteSeq(epoch), 1, prot, this.writeState);
        if (n < 0) return this.sealFailed(DtlsError.Rng);
        used += n;
        this.flightPos += ENTRY_HEADER + len;
        continue;
      }
      const body = len - HS_HEADER_LEN;
      const remaining = body - this.flightFrag;
      // largest fragment whose record fits the room and the MFL
      let f = room - recordSize(prot, HS_HEADER_LEN) - (prot == Protection.CbcSha256 ? 15 : 0);
      const limit = this.maxPlaintextOut - HS_HEADER_LEN;
      if (f > limit) f = limit;
      if (f > remaining) f = remaining;
      if (f < remaining && f < 64 && used > 0) break; // start a new datagram instead of a sliver
      if (f < 0 || (f == 0 && remaining > 0)) {
        if (used == 0) return this.sealFailed(DtlsError.BufferTooSmall); // MTU too small to make progress
        break;
      }
      const p = out + <usize>pre;
      memory.copy(p, data, 6); // type, length, message_seq
      store<u8>(p + 6, <u8>(this.flightFrag >> 16));
      store<u8>(p + 7, <u8>(this.flightFrag >> 8));
      store<u8>(p + 8, <u8>this.flightFrag);
      store<u8>(p + 9, <u8>(f >> 16));
      store<u8>(p + 10, <u8>(f >> 8));
      store<u8>(p + 11, <u8>f);
      memory.copy(p + 12, data + <usize>(HS_HEADER_LEN + this.flightFrag), <usize>f);
      const n = sealRecord(out, type, epoch, this.nextWriteSeq(epoch), HS_HEADER_LEN + f, prot, this.writeState);
      if (n < 0) return this.sealFailed(DtlsError.Rng);
      used += n;
      this.flightFrag += f;
      if (this.flightFrag >= body) {
        this.flightPos += ENTRY_HEADER + len;
        this.flightFrag = 0;
      } else {
        break; // the datagram is full
      }
    }
    if (this.flightPos >= this.flightLen) this.sending = false;
    return used;
  }

  /** The flight cannot be framed (the DRBG refused a CBC IV, or the MTU is
   *  too small): end the connection; the partly built datagram is dropped. */
  private sealFailed(reason: i32): i32 {
    this.sending = false;
    this.fail(reason);
    return 0;
  }

  // =====================================================================
  // Records
  // =====================================================================

  private onRecord(rec: usize, fragLen: i32, now: i64): void {
    const type = load<u8>(rec);
    const version = loadBe16(rec + 1);
    const epoch = loadBe16(rec + 3);
    const seq = loadBe48(rec + 5);
    if (type < ContentType.ChangeCipherSpec || type > ContentType.ApplicationData || fragLen > MAX_CIPHERTEXT ||
        // RFC 6347 4.2.1: a HelloVerifyRequest may carry 1.0 in the record
        (version != DTLS_1_2 && !(version == DTLS_1_0 && epoch == 0))) {
      this.recordsDropped++;
      return;
    }
    if (epoch != this.readEpoch) {
      // The previous epoch: only a retransmitted handshake is of interest.
      if (epoch + 1 == this.readEpoch && type == ContentType.Handshake) {
        this.onHandshakeRecord(rec + <usize>RECORD_HEADER_LEN, fragLen, true, now);
      } else {
        this.recordsDropped++;
      }
      return;
    }
    if (!replayFresh(this.window, seq)) {
      this.replaysDropped++;
      return;
    }
    const prot = epoch == 0 ? Protection.Null : this.protection;
    const n = openRecord(rec, prot, this.readState);
    if (n < 0) {
      // RFC 6347 4.1.2.7: invalid records are dropped; DTLS-10 counts them.
      this.authFailures++;
      if (this.isServer && this.state == ConnState.WaitFinished) {
        // The client's first protected record (its Finished) does not
        // authenticate: its keys differ from ours (wrong PSK). TLS answers
        // bad_record_mac (RFC 5246 7.2.2, RFC 4279 2); DTLS may (RFC 6347 4.1.2.7).
        this.fail(DtlsError.HandshakeDecrypt);
      } else if (this.authFailures >= this.config.maxAuthFailures && this.protection == Protection.Ccm8) {
        this.fail(DtlsError.AuthFailureLimit);
      }
      return;
    }
    // RFC 6347 4.1.2.6: the window moves only for records that verified. Epoch-0
    // records carry no MAC, so they never move it: one spoofed plaintext record
    // (sequence number 2^48-1) would otherwise make the genuine flight look like
    // a replay. Duplicates at epoch 0 are the handshake's business (message_seq, 4.2.2).
    if (epoch != 0) replayMark(this.window, seq);
    const pt = rec + <usize>(RECORD_HEADER_LEN + payloadOffset(prot));
    if (n > this.maxPlaintextIn) {
      if (epoch == 0) this.recordsDropped++;
      else this.fail(DtlsError.RecordOverflow); // RFC 6066 4
      return;
    }
    if (type == ContentType.Handshake) {
      this.onHandshakeRecord(pt, n, false, now);
    } else if (type == ContentType.ChangeCipherSpec) {
      this.onChangeCipherSpec(pt, n);
    } else if (type == ContentType.Alert) {
      this.onAlert(pt, n);
    } else if (this.state == ConnState.Established && epoch > 0) {
      if (!this.pushEvent(DtlsEvent.ApplicationData, 0, pt, n)) this.recordsDropped++;
    } else {
      this.recordsDropped++;
    }
  }

  private onChangeCipherSpec(p: usize, n: i32): void {
    // A CCS out of place (reordered, duplicated) is dropped; the peer retransmits.
    // RFC 5077 3.3: a promised NewSessionTicket comes before it.
    if (this.state != ConnState.WaitChangeCipherSpec || n != 1 || load<u8>(p) != 1 ||
        (this.ticketExpected && !this.ticketReceived)) {
      this.recordsDropped++;
      return;
    }
    this.readEpoch = 1;
    memory.fill(this.window, 0, REPLAY_WINDOW_SIZE);
    this.state = ConnState.WaitFinished;
  }

  private onAlert(p: usize, n: i32): void {
    if (n != 2) {
      this.recordsDropped++;
      return;
    }
    const level = load<u8>(p), desc = <i32>load<u8>(p + 1);
    this.alertReceived = desc;
    if (desc == AlertDescription.close_notify) {
      this.pushEvent(DtlsEvent.AlertReceived, desc, 0, 0);
      this.fail(DtlsError.PeerClosed); // answered with our close_notify (RFC 5246 7.2.1)
    } else if (level == AlertLevel.Fatal) {
      this.pushEvent(DtlsEvent.AlertReceived, desc, 0, 0);
      this.fail(DtlsError.PeerAlert);
    } else {
      this.pushEvent(DtlsEvent.AlertReceived, desc, 0, 0);
    }
  }

  /** Handshake fragments of one record. previousEpoch: only retransmissions are looked at. */
  private onHandshakeRecord(p: usize, len: i32, previousEpoch: bool, now: i64): void {
    while (len > 0) {
      if (len < HS_HEADER_LEN) {
        this.recordsDropped++;
        return;
      }
      const type = load<u8>(p);
      const length = <i32>loadBe24(p + 1);
      const seq = <i32>loadBe16(p + 4);
      const off = <i32>loadBe24(p + 6);
      const fl = <i32>loadBe24(p + 9);
      if (fl > len - HS_HEADER_LEN || off + fl > length) {
        this.recordsDropped++;
        return;
      }
      const frag = p + <usize>HS_HEADER_LEN;
      p += <usize>(HS_HEADER_LEN + fl);
      len -= HS_HEADER_LEN + fl;
      if (type == HandshakeType.hello_request) {
        // RFC 5246 7.4.1.1: ignored during a handshake; afterwards it asks for
        // renegotiation, which this implementation refuses (RFC 5746, DTLS-9).
        if (!previousEpoch && !this.isServer && this.state == ConnState.Established && length == 0) {
          this.sendAlert(AlertLevel.Warning, AlertDescription.no_renegotiation);
          this.pushEvent(DtlsEvent.AlertSent, DtlsError.NoRenegotiation, 0, 0);
        }
        continue;
      }
      if (type == HandshakeType.client_hello && this.isServer && this.state == ConnState.Established && !previousEpoch) {
        // A new handshake on this connection (its message_seq starts at 0
        // again, RFC 6347 4.2.2): renegotiation is refused (RFC 5746, DTLS-9),
        // the connection goes on.
        this.sendAlert(AlertLevel.Warning, AlertDescription.no_renegotiation);
        this.pushEvent(DtlsEvent.AlertSent, DtlsError.NoRenegotiation, 0, 0);
        continue;
      }
      if (seq < this.nextRecvSeq) {
        // RFC 6347 4.2.4: the peer retransmitted its last flight, so ours was lost.
        if (seq == this.peerLastSeq && this.flightLen > 0 && !this.sending) this.restartFlight();
        continue;
      }
      if (previousEpoch || seq > this.nextRecvSeq) {
        this.recordsDropped++; // a later message: the peer will retransmit (RFC 6347 4.2.2)
        continue;
      }
      let r = this.reasm.add(type, length, <u32>seq, off, frag, fl);
      if (r == -2) {
        // The expected message_seq with another msg_type or length than the fragments
        // so far (RFC 6347 4.2.3): at epoch 0 either may be spoofed. Reassembly restarts
        // with the newest fragment: a single spoofed fragment then costs one
        // retransmission of the genuine flight, where keeping the first would lock
        // the reassembler until the handshake times out.
        this.reasm.reset();
        r = this.reasm.add(type, length, <u32>seq, off, frag, fl);
      }
      if (r == -1) {
        this.fail(DtlsError.MessageTooLarge);
        return;
      }
      if (r != 1) continue;
      this.nextRecvSeq++;
      const msg = this.reasm.buf;
      // Finished and CertificateVerify cover the transcript before themselves.
      if (type == HandshakeType.finished || type == HandshakeType.certificate_verify) this.transcriptHash(this.prevHash);
      sha256Update(this.transcript, msg, HS_HEADER_LEN + length);
      const err = this.isServer
        ? this.serverMessage(type, msg + <usize>HS_HEADER_LEN, length, seq, now)
        : this.clientMessage(type, msg + <usize>HS_HEADER_LEN, length, seq, now);
      this.reasm.reset();
      if (err != 0) {
        this.fail(err);
        return;
      }
      this.lastType = type;
      if (this.state == ConnState.Closed) return;
    }
  }

  private transcriptHash(out: usize): void {
    sha256Copy(HASH_CTX, this.transcript);
    sha256Final(HASH_CTX, out);
  }

  // =====================================================================
  // Key schedule
  // =====================================================================

  /** Key block -> read/write protection (RFC 5246 6.3), NSS key log. */
  private deriveKeys(): void {
    const ccm = this.protection == Protection.Ccm8;
    deriveKeyBlock(this.masterSecret, this.clientRandom, this.serverRandom, SECRET, ccm ? 40 : 96);
    // CCM: client_key(16) server_key(16) client_IV(4) server_IV(4)
    // CBC: client_MAC(32) server_MAC(32) client_key(16) server_key(16)
    const cKey: usize = ccm ? 0 : 64, sKey: usize = ccm ? 16 : 80;
    const cExtra: usize = ccm ? 32 : 0, sExtra: usize = ccm ? 36 : 32;
    const srv = this.isServer;
    installKeys(this.writeState, SECRET + (srv ? sKey : cKey), SECRET + (srv ? sExtra : cExtra), this.protection);
    installKeys(this.readState, SECRET + (srv ? cKey : sKey), SECRET + (srv ? cExtra : sExtra), this.protection);
    wipe(SECRET, 96);
    if (this.config.keyLog && this.keyLog != 0) this.keyLogLen = keyLogLine(this.keyLog, this.clientRandom, this.masterSecret);
  }

  /** Handshake done: session cache, events. */
  private complete(now: i64): void {
    this.state = ConnState.Established;
    this.retransmitAt = -1;
    // The peer's Finished after ours proves our last flight arrived.
    if (this.resumed == this.isServer) this.flightLen = 0;
    const s = this.session;
    const cache = this.sessionCache;
    if (this.isServer && !this.resumed && cache != null && this.ems && this.sidLen > 0) {
      cache.store(this.sid, this.sidLen, this.masterSecret, this.suite, now);
    }
    if (!this.resumed) {
      this.sessionStart = now;
      if (s != null) {
        // RFC 7627 5.3: only sessions with the extended master secret are resumed.
        s.valid = this.ems && (this.sidLen > 0 || s.ticketLen > 0);
        s.idLen = this.sidLen;
        memory.copy(s.id(), this.sid, <usize>this.sidLen);
        // the master secret only into a session that can be resumed (no EMS or
        // neither ID nor ticket: it would never be used, so it is not kept)
        if (s.valid) memory.copy(s.masterSecret(), this.masterSecret, 48);
        else wipe(s.masterSecret(), 48);
        s.suite = this.suite;
        s.ems = this.ems;
        s.createdAt = now;
      }
    } else if (s != null) {
      this.sessionStart = s.createdAt;
    }
    wipe(this.masterSecret, 48);
    this.pushEvent(DtlsEvent.HandshakeComplete, 0, 0, 0);
  }

  // =====================================================================
  // Client role
  // =====================================================================

  /** The ClientHello into the flight; cookie: the HelloVerifyRequest's (RFC
   *  6347 4.2.1), read where it is: the second hello is built at once, and
   *  retransmissions resend the flight. */
  private addClientHello(cookie: usize, cookieLen: i32): i32 {
    const c = this.config;
    const s = this.session;
    const ticketLen = (this.extOffered & ExtBit.SessionTicket) != 0 && this.offeredResume && s != null ? s.ticketLen : 0;
    const need = CLIENT_HELLO_FIXED + c.serverNameLen + ticketLen;
    if (need > this.hsRoom()) return DtlsError.BufferTooSmall;
    const body = this.hsBody();
    wrPos = body;
    wr16(DTLS_1_2); // client_version
    wrBytes(this.clientRandom, 32);
    wr8(<u32>this.sidLen);
    wrBytes(this.sid, this.sidLen);
    wr8(<u32>cookieLen);
    wrBytes(cookie, cookieLen);
    const lenAt = wrPos;
    wr16(0);
    for (let i = 0; i < SUITE_COUNT; i++) if (this.offered & (<u32>1 << i)) wr16(suiteCode(i));
    wr16(CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV); // RFC 5746 3.4
    store<u16>(lenAt, bswap<u16>(<u16>(wrPos - lenAt - 2)));
    wr8(1); // compression_methods: null only
    wr8(0);
    writeClientExtensions(this.extOffered, c.maxFragmentLength, c.serverName, c.serverNameLen,
      s != null ? s.ticket() : 0, ticketLen);
    this.addHandshake(HandshakeType.client_hello, <i32>(wrPos - body));
    return 0;
  }

  private clientMessage(type: u8, body: usize, len: i32, seq: i32, now: i64): i32 {
    const st = this.state;
    if (st == ConnState.WaitServerHello) {
      if (type == HandshakeType.hello_verify_request) return this.onHelloVerifyRequest(body, len, now);
      if (type == HandshakeType.server_hello) return this.onServerHello(body, len);
    } else if (st == ConnState.WaitServerFlight) {
      if (type == HandshakeType.certificate) return this.onCertificate(body, len);
      if (type == HandshakeType.server_key_exchange) return this.onServerKeyExchange(body, len);
      if (type == HandshakeType.certificate_request) return this.onCertificateRequest(body, len);
      if (type == HandshakeType.server_hello_done) {
        const s = this.suite, last = this.lastType;
        const ok = (s & SuiteBit.Ecdsa) != 0
          ? last == HandshakeType.server_key_exchange || last == HandshakeType.certificate_request
          : last == HandshakeType.server_key_exchange || (s & SuiteBit.PlainPsk) != 0 && last == HandshakeType.server_hello;
        if (!ok || len != 0) return ok ? DtlsError.Decode : DtlsError.UnexpectedMessage;
        this.peerLastSeq = seq;
        return this.sendClientKeyExchangeFlight(now);
      }
    } else if (st == ConnState.WaitChangeCipherSpec) {
      if (type == HandshakeType.new_session_ticket && this.ticketExpected && !this.ticketReceived) {
        return this.onNewSessionTicket(body, len);
      }
    } else if (st == ConnState.WaitFinished) {
      if (type == HandshakeType.finished) return this.onFinished(body, len, seq, now);
    }
    return DtlsError.UnexpectedMessage;
  }

  /** RFC 6347 4.2.1: answer with the same ClientHello plus the cookie. */
  private onHelloVerifyRequest(body: usize, len: i32, now: i64): i32 {
    rdStart(body, len);
    const version = rd16();
    const n = rdVec(1, 0, 255);
    const cookie = vecPtr; // in the reassembly buffer, distinct from the flight
    if (!rdDone()) return DtlsError.Decode;
    if (version != DTLS_1_0 && version != DTLS_1_2) return DtlsError.ProtocolVersion;
    if (++this.helloVerifyCount > 2) return DtlsError.TooManyHelloVerify;
    // RFC 6347 4.2.6: the first ClientHello and the HelloVerifyRequest are not in the transcript.
    sha256Init(this.transcript);
    this.startFlight();
    const e = this.addClientHello(cookie, n);
    if (e != 0) return e;
    this.emitFlight(now, true);
    return 0;
  }

  private onServerHello(body: usize, len: i32): i32 {
    const c = this.config;
    rdStart(body, len);
    const version = rd16();
    const random = rdSkip(32);
    const sidLen = rdVec(1, 0, MAX_SESSION_ID_LEN);
    const sid = vecPtr;
    const code = rd16();
    const compression = rd8();
    let extLen: i32 = 0, ext: usize = 0;
    if (rdLeft() > 0) {
      extLen = rdVec(2, 0, 0xffff);
      ext = vecPtr;
    }
    if (!rdDone()) return DtlsError.Decode;
    if (version != DTLS_1_2) return DtlsError.ProtocolVersion;
    const bit = suiteBit(code);
    if ((bit & this.offered) == 0) return DtlsError.SuiteNotOffered;
    if (compression != 0) return DtlsError.Compression;
    const e = parseHelloExtensions(ext, extLen, true);
    if (e != 0) return e;
    const seen = extSeen;
    if ((seen & ~this.extOffered) != 0) return DtlsError.ExtensionNotOffered; // incl. encrypt_then_mac
    // RFC 6066 4: the server echoes the requested length or ignores it.
    if ((seen & ExtBit.MaxFragmentLength) != 0) {
      if (extMfl != c.maxFragmentLength) return DtlsError.IllegalExtension;
      this.maxPlaintextIn = mflBytes(extMfl);
    }
    memory.copy(this.serverRandom, random, 32);
    this.suite = bit;
    this.protection = suiteProtection(bit);
    this.ems = (seen & ExtBit.ExtendedMasterSecret) != 0;
    this.ticketExpected = (seen & ExtBit.SessionTicket) != 0;
    if ((bit & SuiteBit.Ecdsa) != 0 && c.certificateType == CertificateType.RawPublicKey) {
      // RFC 7250 4.2: without server_certificate_type the server would send X.509.
      if (extServerCertTypes != (<u32>1 << CertificateType.RawPublicKey)) return DtlsError.CertificateType;
      this.clientRpk = extClientCertTypes == (<u32>1 << CertificateType.RawPublicKey);
    }
    const s = this.session;
    if (this.offeredResume && s != null && sidLen == this.sidLen && sidLen > 0 &&
        memory.compare(sid, this.sid, <usize>sidLen) == 0) {
      // Abbreviated handshake (RFC 5246 7.3)
      if (s.suite != bit) return DtlsError.ResumptionMismatch;
      if (!this.ems) return DtlsError.ExtendedMasterSecret; // RFC 7627 5.3
      this.resumed = true;
      memory.copy(this.masterSecret, s.masterSecret(), 48);
      this.deriveKeys();
      this.state = ConnState.WaitChangeCipherSpec;
    } else {
      if (s != null) s.clear(); // not resumed: the old session is gone
      this.sidLen = sidLen;
      memory.copy(this.sid, sid, <usize>sidLen);
      this.state = ConnState.WaitServerFlight;
    }
    return 0;
  }

  /** The server's certificate: RFC 7250 raw public key or an X.509 chain (DTLS-4/5/8). */
  private onCertificate(body: usize, len: i32): i32 {
    if ((this.suite & SuiteBit.Ecdsa) == 0 || this.lastType != HandshakeType.server_hello) return DtlsError.UnexpectedMessage;
    const c = this.config;
    const r = verifyCertificate(body, len, c.certificateType == CertificateType.RawPublicKey,
      c.serverPublicKey, c.serverPublicKeyLen, c.trust, c.ownPublicKey, this.peerKey);
    if (r >= DtlsError.Decode) return r;
    this.detail = r;
    if (r == X509Error.RpkMismatch) return DtlsError.RpkMismatch;
    if (r == X509Error.KeyEqualsOwn) return DtlsError.PeerUsesOwnKey;
    return DtlsError.BadCertificate;
  }

  private onServerKeyExchange(body: usize, len: i32): i32 {
    const s = this.suite;
    if ((s & SuiteBit.Ecdsa) != 0 ? this.lastType != HandshakeType.certificate : this.lastType != HandshakeType.server_hello) {
      return DtlsError.UnexpectedMessage;
    }
    rdStart(body, len);
    if (s & SuiteBit.AnyPsk) rdVec(2, 0, 0xffff); // psk_identity_hint (RFC 4279 2): not used
    if (s & SuiteBit.Ecdhe) {
      const params = rdPos;
      const e = readEcdhParams(this.peerEph);
      if (e != 0) return e;
      if (s & SuiteBit.Ecdsa) {
        ecdhParamsDigest(this.clientRandom, this.serverRandom, params, <i32>(rdPos - params), DIGEST);
        return verifySignature(this.peerKey, DIGEST);
      }
    }
    return rdDone() ? 0 : DtlsError.Decode;
  }

  private onCertificateRequest(body: usize, len: i32): i32 {
    if ((this.suite & SuiteBit.Ecdsa) == 0 || this.lastType != HandshakeType.server_key_exchange) return DtlsError.UnexpectedMessage;
    rdStart(body, len);
    const nTypes = rdVec(1, 1, 255);
    const types = vecPtr;
    const nAlgs = rdVec(2, 2, 0xfffe);
    const algs = vecPtr;
    rdVec(2, 0, 0xffff); // certificate_authorities: not used
    if (!rdDone() || (nAlgs & 1) != 0) return DtlsError.Decode;
    let ecdsa = false, sha256Ecdsa = false;
    for (let i = 0; i < nTypes; i++) if (<u32>load<u8>(types + <usize>i) == ECDSA_SIGN) ecdsa = true;
    for (let i = 0; i < nAlgs; i += 2) if (loadBe16(algs + <usize>i) == SIG_ECDSA_SECP256R1_SHA256) sha256Ecdsa = true;
    if (!ecdsa) return DtlsError.UnknownCertificateType;
    if (!sha256Ecdsa) return DtlsError.UnsupportedSignature;
    if (this.config.certificateType == CertificateType.RawPublicKey && !this.clientRpk) return DtlsError.CertificateType;
    this.certRequested = true;
    return 0;
  }

  /** [Certificate] ClientKeyExchange [CertificateVerify] ChangeCipherSpec Finished. */
  private sendClientKeyExchangeFlight(now: i64): i32 {
    const c = this.config;
    const s = this.suite;
    this.startFlight();
    // RFC 5246 7.4.6: without a certificate of our own, an empty list and no CertificateVerify
    const rpk = c.certificateType == CertificateType.RawPublicKey;
    const signs = this.certRequested && (rpk || ownCertificateListLen(c) > 0);
    if (this.certRequested) {
      const n = certificateBodyLen(rpk, ownCertificateListLen(c));
      if (this.hsRoom() < n) return DtlsError.BufferTooSmall;
      wrPos = this.hsBody();
      writeCertificate(rpk, c.ownPublicKey, c.ownCertificates, c.ownCertificatesLen, c.ownCertificateDer, c.ownCertificateDerLen);
      this.addHandshake(HandshakeType.certificate, n);
    }
    if (s & SuiteBit.Ecdhe) {
      // Ephemeral key in an SE slot; only the shared secret comes back.
      let e = ecdheGenerate(this.ephemeralSlot, EPH_PUB);
      if (e == 0) e = ecdheAgree(this.ephemeralSlot, this.peerEph, ZZ);
      if (e != 0) return e;
    }
    // ClientKeyExchange: psk_identity (RFC 4279 2) and/or ECPoint (RFC 8422 5.7)
    if (this.hsRoom() < 2 + c.pskIdentityLen + 66) return DtlsError.BufferTooSmall;
    const body = this.hsBody();
    wrPos = body;
    if (s & SuiteBit.AnyPsk) {
      wr16(<u32>c.pskIdentityLen);
      wrBytes(c.pskIdentity, c.pskIdentityLen);
    }
    if (s & SuiteBit.Ecdhe) {
      wr8(P256_PUBLIC_KEY_LEN);
      wrBytes(EPH_PUB, P256_PUBLIC_KEY_LEN);
    }
    this.addHandshake(HandshakeType.client_key_exchange, <i32>(wrPos - body));
    let pmsLen: i32;
    if (s & SuiteBit.Ecdsa) {
      memory.copy(SECRET, ZZ, 32);
      pmsLen = 32;
    } else {
      pmsLen = pskPremaster(SECRET, (s & SuiteBit.Ecdhe) != 0 ? ZZ : 0, 32, c.psk, c.pskLen);
    }
    wipe(ZZ, 32);
    // RFC 7627 4: session_hash = Hash(handshake messages up to and including ClientKeyExchange)
    this.transcriptHash(DIGEST);
    deriveMasterSecret(SECRET, pmsLen, this.ems ? DIGEST : 0, this.clientRandom, this.serverRandom, this.masterSecret);
    wipe(SECRET, 160);
    this.deriveKeys();
    if (signs) {
      // CertificateVerify: ecdsa_secp256r1_sha256 over the same transcript (RFC 5246 7.4.8)
      if (this.hsRoom() < MAX_SIGNATURE_LEN) return DtlsError.BufferTooSmall;
      const p = this.hsBody();
      wrPos = p;
      const e = writeSignature(c.identitySlot, DIGEST);
      if (e != 0) return e;
      this.addHandshake(HandshakeType.certificate_verify, <i32>(wrPos - p));
    }
    if (this.hsRoom() < VERIFY_DATA_LEN + ENTRY_HEADER + 1) return DtlsError.BufferTooSmall;
    this.addChangeCipherSpec();
    this.addFinished();
    this.state = ConnState.WaitChangeCipherSpec;
    this.emitFlight(now, true);
    return 0;
  }

  /** RFC 5077 3.3: keep the ticket for the next resumption. */
  private onNewSessionTicket(body: usize, len: i32): i32 {
    rdStart(body, len);
    const hint = (rd16() << 16) | rd16();
    const n = rdVec(2, 0, 0xffff);
    if (!rdDone()) return DtlsError.Decode;
    this.ticketReceived = true;
    const s = this.session;
    if (s != null) {
      const fits = n <= s.ticketCapacity;
      s.ticketLen = fits ? n : 0;
      s.ticketLifetimeHint = hint;
      if (fits) memory.copy(s.ticket(), vecPtr, <usize>n);
      if (this.resumed) s.valid = s.idLen > 0 || s.ticketLen > 0;
    }
    return 0;
  }

  private onFinished(body: usize, len: i32, seq: i32, now: i64): i32 {
    if (len != VERIFY_DATA_LEN) return DtlsError.Decode;
    finishedVerifyData(this.masterSecret, !this.isServer, this.prevHash, DIGEST);
    if (!ctEqual(DIGEST, body, VERIFY_DATA_LEN)) return DtlsError.FinishedMismatch;
    if (this.resumed != this.isServer) {
      // The peer finished first (client: abbreviated handshake; server: full
      // one): our ChangeCipherSpec + Finished end it. No timer: we retransmit
      // when the peer retransmits its Finished (RFC 6347 4.2.4).
      this.peerLastSeq = seq;
      this.startFlight();
      this.addChangeCipherSpec();
      this.addFinished();
      this.emitFlight(now, false);
    }
    this.complete(now);
    return 0;
  }

  // =====================================================================
  // Server role: stateless cookies, ClientHello, the server flights, PSK
  // identity lookup by the host, client certificate / RPK verification,
  // resumption from the session cache, renegotiation refused.
  // =====================================================================

  /** Server: a datagram from a peer that has no connection yet (RFC 6347
   *  4.2.1). addr/addrLen: the peer's transport address, bound into the
   *  cookie. Returns 1 when only a HelloVerifyRequest is waiting in
   *  pollTransmit() and the connection stays Idle (nothing of the peer is
   *  kept: reuse it for the next datagram), 0 when a ClientHello with a valid
   *  cookie started the handshake (the connection now belongs to this peer;
   *  state Closed with an alert queued when the hello is refused), or a
   *  negative DtlsError when the datagram is not an acceptable first ClientHello
   *  (dropped, nothing to send). */
  accept(ptr: usize, len: i32, addr: usize, addrLen: i32, now: i64): i32 {
    if (!DTLS_SERVER_ROLE) ERROR("DtlsConnection#accept: the server role is not compiled in (DTLS_CLIENT_ONLY)");
    if (!this.isServer || this.state != ConnState.Idle) return DtlsError.BadState;
    if (len < RECORD_HEADER_LEN + HS_HEADER_LEN) return DtlsError.Decode;
    const recLen = <i32>loadBe16(ptr + 11);
    const version = loadBe16(ptr + 1);
    if (load<u8>(ptr) != ContentType.Handshake || loadBe16(ptr + 3) != 0 || recLen > len - RECORD_HEADER_LEN ||
        (version != DTLS_1_2 && version != DTLS_1_0)) return DtlsError.Decode;
    const hs = ptr + <usize>RECORD_HEADER_LEN;
    const length = <i32>loadBe24(hs + 1);
    const seq = <i32>loadBe16(hs + 4);
    // A stateless server takes the ClientHello in one fragment only.
    if (load<u8>(hs) != HandshakeType.client_hello || loadBe24(hs + 6) != 0 || <i32>loadBe24(hs + 9) != length ||
        length > recLen - HS_HEADER_LEN) return DtlsError.Decode;
    const body = hs + <usize>HS_HEADER_LEN;
    // client_version, random, session_id | cookie | cipher_suites, compression_methods (+ extensions)
    rdStart(body, length);
    rd16();
    rdSkip(32);
    const sidLen = rdVec(1, 0, MAX_SESSION_ID_LEN);
    const sid = vecPtr;
    const mid = rdPos;
    const cookieLen = rdVec(1, 0, 255);
    const cookie = vecPtr;
    const tail = rdPos;
    rdVec(2, 2, 0xfffe);
    rdVec(1, 1, 255);
    if (rdFail) return DtlsError.Decode;
    if (this.config.helloVerify) {
      // Cookie = HMAC(secret, client address || hello parameters) (RFC 6347 4.2.1)
      if (!cookieSecretReady) {
        if (rng_fill(COOKIE_SECRET, 32) != HostStatus.Ok) return DtlsError.Rng;
        cookieSecretReady = true;
      }
      hmacSha256Init(HMAC_CTX, COOKIE_SECRET, 32);
      hmacSha256Update(HMAC_CTX, addr, addrLen);
      hmacSha256Update(HMAC_CTX, body, <i32>(mid - body));
      hmacSha256Update(HMAC_CTX, tail, <i32>(rdPos - tail));
      hmacSha256Final(HMAC_CTX, COOKIE_MAC);
      const cache = this.sessionCache;
      // RFC 6347 4.2.1: no cookie exchange is needed to resume a session (the
      // answer is about as long as the hello: no amplification); a lookup only.
      const resuming = cache != null && cache.find(sid, sidLen, now, this.config.maxSessionAgeMs) != null;
      if (!resuming && (cookieLen != COOKIE_LEN || !ctEqual(cookie, COOKIE_MAC, COOKIE_LEN))) {
        if (!this.txFree()) {
          wipe(COOKIE_MAC, 32);
          return DtlsError.Busy;
        }
        // HelloVerifyRequest: record and message_seq mirror the ClientHello's;
        // server_version DTLS 1.0 (RFC 6347 4.2.1).
        const out = this.tx;
        const bodyLen = 3 + COOKIE_LEN;
        store<u8>(out, ContentType.Handshake);
        storeBe16(out + 1, DTLS_1_0);
        memory.copy(out + 3, ptr + 3, 8); // epoch 0, the ClientHello's sequence number
        storeBe16(out + 11, <u32>(HS_HEADER_LEN + bodyLen));
        writeHandshakeHeader(out + RECORD_HEADER_LEN, HandshakeType.hello_verify_request, bodyLen, <u32>seq);
        const b = out + <usize>(RECORD_HEADER_LEN + HS_HEADER_LEN);
        storeBe16(b, DTLS_1_0);
        store<u8>(b + 2, <u8>COOKIE_LEN);
        memory.copy(b + 3, COOKIE_MAC, <usize>COOKIE_LEN);
        wipe(COOKIE_MAC, 32);
        this.txPending = RECORD_HEADER_LEN + HS_HEADER_LEN + bodyLen;
        if (this.sharedTx) txHolder = changetype<usize>(this);
        return 1;
      }
      wipe(COOKIE_MAC, 32);
    }
    // The handshake starts: the peer's hello is message `seq`; ours mirror it.
    this.bytesReceived += len;
    this.datagramsReceived++;
    this.peerLastSeq = seq;
    this.nextRecvSeq = seq + 1;
    this.nextSendSeq = <u32>seq;
    this.writeSeq0 = loadBe48(ptr + 5);
    replayMark(this.window, loadBe48(ptr + 5));
    sha256Init(this.transcript);
    sha256Update(this.transcript, hs, HS_HEADER_LEN + length);
    this.lastType = HandshakeType.client_hello;
    this.state = ConnState.WaitClientKeyExchange;
    const e = this.onClientHello(body, length, now);
    if (e != 0) this.fail(e);
    return 0;
  }

  /** Server: the key for the PSK identity of DtlsEvent.PskIdentity (keyLen 0:
   *  unknown identity, refused with unknown_psk_identity). The rest of the
   *  datagram that carried the ClientKeyExchange is processed now. */
  supplyPsk(key: usize, keyLen: i32, now: i64): i32 {
    if (!DTLS_SERVER_ROLE) ERROR("DtlsConnection#supplyPsk: the server role is not compiled in (DTLS_CLIENT_ONLY)");
    if (this.state != ConnState.NeedPsk) return DtlsError.BadState;
    if (keyLen <= 0 || keyLen > MAX_PSK_LEN) {
      this.fail(DtlsError.UnknownPskIdentity);
      return DtlsError.UnknownPskIdentity;
    }
    this.state = ConnState.WaitChangeCipherSpec;
    this.pskKeys(key, keyLen);
    const n = this.pendingLen;
    this.pendingLen = 0;
    if (n > 0) this.onRecords(this.pending, n, now);
    return 0;
  }

  /** Server: the client's PSK identity (valid while NeedPsk and until the next datagram). */
  pskIdentityPtr(): usize { return this.pskIdPtr; }
  pskIdentityLength(): i32 { return this.pskIdLen; }
  /** Server: the client's 65-byte public key (ECDSA suites, after its Certificate). */
  peerPublicKeyPtr(): usize { return this.peerKey; }
  /** Server: a copy of the client's leaf certificate DER (X.509) or SubjectPublicKeyInfo
   *  (RPK), 0 bytes when none or larger than config.peerCertificateCapacity. */
  peerCertificatePtr(): usize { return this.peerCert; }
  peerCertificateLength(): i32 { return this.peerCertLen; }
  /** The session ID (server: the host keeps the peer's identity under it for resumptions). */
  sessionIdPtr(): usize { return this.sid; }
  sessionIdLength(): i32 { return this.sidLen; }

  /** RFC 5246 7.4.1.2 / 7.4.1.3: choose the suite and answer. */
  private onClientHello(body: usize, len: i32, now: i64): i32 {
    const c = this.config;
    rdStart(body, len);
    const version = rd16();
    const random = rdSkip(32);
    const sidLen = rdVec(1, 0, MAX_SESSION_ID_LEN);
    const sid = vecPtr;
    rdVec(1, 0, 255); // cookie
    const nSuites = rdVec(2, 2, 0xfffe);
    const suites = vecPtr;
    const nComp = rdVec(1, 1, 255);
    const comp = vecPtr;
    let extLen: i32 = 0, ext: usize = 0;
    if (rdLeft() > 0) {
      extLen = rdVec(2, 0, 0xffff);
      ext = vecPtr;
    }
    if (!rdDone() || (nSuites & 1) != 0) return DtlsError.Decode;
    // DTLS versions count down: 0xFEFD is 1.2, 0xFEFF 1.0
    if (version > DTLS_1_2) return DtlsError.ProtocolVersion;
    let nullCompression = false;
    for (let i = 0; i < nComp; i++) if (load<u8>(comp + <usize>i) == 0) nullCompression = true;
    if (!nullCompression) return DtlsError.Compression;
    const e = parseHelloExtensions(ext, extLen, false);
    if (e != 0) return e;
    const seen = extSeen;
    // RFC 7627: the extended master secret is required (no session without it).
    if ((seen & ExtBit.ExtendedMasterSecret) == 0) return DtlsError.ExtendedMasterSecret;
    let secureReneg = (seen & ExtBit.RenegotiationInfo) != 0;
    let offered: u32 = 0;
    for (let i = 0; i < nSuites; i += 2) {
      const code = loadBe16(suites + <usize>i);
      if (code == CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV) secureReneg = true;
      offered |= suiteBit(code);
    }
    memory.copy(this.clientRandom, random, 32);
    let usable = offered & c.suites & SuiteBit.All;
    // RFC 8422 5.1: secp256r1 and uncompressed points, when the client lists groups / formats (DTLS-7)
    if ((seen & ExtBit.SupportedGroups) != 0 && !extGroupOk || (seen & ExtBit.EcPointFormats) != 0 && !extPointFormatOk) {
      usable &= ~SuiteBit.Ecdhe;
    }
    const rpk = c.certificateType == CertificateType.RawPublicKey;
    const rpkBit: u32 = <u32>1 << CertificateType.RawPublicKey;
    if (!extSigAlgOk || c.ownPublicKey == 0 ||
        // RFC 7250 4.2: a raw public key only to a client that offers to take one
        (rpk ? (extServerCertTypes & rpkBit) == 0
             : ownCertificateListLen(c) == 0 || (seen & ExtBit.ServerCertificateType) != 0 && (extServerCertTypes & 1) == 0)) {
      usable &= ~SuiteBit.Ecdsa;
    }
    if (usable == 0) return DtlsError.NoCommonSuite;
    if (c.maxFragmentLength != 0 && (seen & ExtBit.MaxFragmentLength) == 0) {
      // our buffers are sized by the config's MFL: a client must agree to it
      return DtlsError.MissingExtension;
    }
    if ((seen & ExtBit.MaxFragmentLength) != 0) {
      // RFC 6066 4: echo the client's request
      this.maxPlaintextIn = mflBytes(extMfl);
      this.maxPlaintextOut = mflBytes(extMfl);
      if (c.maxFragmentLength != 0 && extMfl > c.maxFragmentLength) return DtlsError.IllegalExtension;
    }
    this.extOffered = seen;
    if (rng_fill(this.serverRandom, 32) != HostStatus.Ok) return DtlsError.Rng;

    // Resumption by session ID (RFC 5246 7.3; RFC 7627 5.3: EMS sessions only)
    const cache = this.sessionCache;
    if (sidLen > 0 && cache != null) {
      const s = cache.find(sid, sidLen, now, c.maxSessionAgeMs);
      if (s != null && (s.suite & usable) != 0 && s.ems) {
        this.suite = s.suite;
        this.protection = suiteProtection(s.suite);
        this.ems = true;
        this.resumed = true;
        this.sidLen = sidLen;
        memory.copy(this.sid, sid, <usize>sidLen);
        memory.copy(this.masterSecret, s.masterSecret(), 48);
        this.sessionStart = s.createdAt;
        this.startFlight();
        let r = this.addServerHello(secureReneg, false, false);
        if (r != 0) return r;
        this.deriveKeys();
        if (this.hsRoom() < VERIFY_DATA_LEN + ENTRY_HEADER + 1) return DtlsError.BufferTooSmall;
        this.addChangeCipherSpec();
        this.addFinished();
        this.state = ConnState.WaitChangeCipherSpec;
        this.emitFlight(now, true);
        return 0;
      }
    }

    // Full handshake: the server's preference is the bit order.
    const bit = usable & (~usable + 1);
    this.suite = bit;
    this.protection = suiteProtection(bit);
    this.ems = true;
    if (cache != null) {
      this.sidLen = 32;
      if (rng_fill(this.sid, 32) != HostStatus.Ok) return DtlsError.Rng;
    }
    const ecdsa = (bit & SuiteBit.Ecdsa) != 0;
    this.certRequested = ecdsa && c.verifyPeer;
    if (this.certRequested) {
      // the client presents the same kind of credential as we do
      this.clientRpk = rpk;
      if (rpk ? (extClientCertTypes & rpkBit) == 0 : (seen & ExtBit.ClientCertificateType) != 0 && (extClientCertTypes & 1) == 0) {
        return DtlsError.CertificateType;
      }
    }
    this.startFlight();
    let r = this.addServerHello(secureReneg, ecdsa && rpk, this.certRequested && rpk);
    if (r != 0) return r;
    if (ecdsa) {
      const n = certificateBodyLen(rpk, ownCertificateListLen(c));
      if (this.hsRoom() < n) return DtlsError.BufferTooSmall;
      wrPos = this.hsBody();
      writeCertificate(rpk, c.ownPublicKey, c.ownCertificates, c.ownCertificatesLen, c.ownCertificateDer, c.ownCertificateDerLen);
      this.addHandshake(HandshakeType.certificate, n);
    }
    if (bit & SuiteBit.Ecdhe) {
      // ServerKeyExchange: [psk_identity_hint] ServerECDHParams [signature] (RFC 5489 2, RFC 8422 5.4)
      if (this.hsRoom() < 2 + ECDH_PARAMS_LEN + MAX_SIGNATURE_LEN) return DtlsError.BufferTooSmall;
      r = ecdheGenerate(this.ephemeralSlot, EPH_PUB);
      if (r != 0) return r;
      const p = this.hsBody();
      wrPos = p;
      if (bit & SuiteBit.AnyPsk) wr16(0); // no hint
      const params = wrPos;
      writeEcdhParams(EPH_PUB);
      if (ecdsa) {
        ecdhParamsDigest(this.clientRandom, this.serverRandom, params, ECDH_PARAMS_LEN, DIGEST);
        r = writeSignature(c.identitySlot, DIGEST);
        if (r != 0) return r;
      }
      this.addHandshake(HandshakeType.server_key_exchange, <i32>(wrPos - p));
    }
    if (this.certRequested) {
      // CertificateRequest (RFC 5246 7.4.4): ecdsa_sign, ecdsa_secp256r1_sha256, no CA names
      if (this.hsRoom() < 8) return DtlsError.BufferTooSmall;
      const p = this.hsBody();
      wrPos = p;
      wr8(1);
      wr8(ECDSA_SIGN);
      wr16(2);
      wr16(SIG_ECDSA_SECP256R1_SHA256);
      wr16(0);
      this.addHandshake(HandshakeType.certificate_request, 8);
    }
    if (this.hsRoom() < 0) return DtlsError.BufferTooSmall;
    this.addHandshake(HandshakeType.server_hello_done, 0);
    this.emitFlight(now, true);
    return 0;
  }

  /** ServerHello with the server extensions this hello needs (RFC 5246 7.4.1.3). */
  private addServerHello(secureReneg: bool, serverRpk: bool, clientRpk: bool): i32 {
    if (this.hsRoom() < 2 + 32 + 33 + 3 + 2 + 32) return DtlsError.BufferTooSmall;
    const body = this.hsBody();
    wrPos = body;
    wr16(DTLS_1_2);
    wrBytes(this.serverRandom, 32);
    wr8(<u32>this.sidLen);
    wrBytes(this.sid, this.sidLen);
    wr16(this.negotiatedSuite());
    wr8(0); // null compression
    const lenAt = wrPos;
    wr16(0);
    const seen = this.extOffered;
    if (secureReneg) {
      wr16(ExtensionType.renegotiation_info); // RFC 5746 3.6: empty renegotiated_connection
      wr16(1);
      wr8(0);
    }
    wr16(ExtensionType.extended_master_secret);
    wr16(0);
    if (seen & ExtBit.MaxFragmentLength) {
      wr16(ExtensionType.max_fragment_length);
      wr16(1);
      wr8(<u32>extMflOf(this.maxPlaintextOut));
    }
    if ((this.suite & SuiteBit.Ecdhe) != 0 && (seen & ExtBit.EcPointFormats) != 0) {
      wr16(ExtensionType.ec_point_formats); // RFC 8422 5.2
      wr16(2);
      wr8(1);
      wr8(0);
    }
    if (clientRpk) {
      wr16(ExtensionType.client_certificate_type);
      wr16(1);
      wr8(CertificateType.RawPublicKey);
    }
    if (serverRpk) {
      wr16(ExtensionType.server_certificate_type);
      wr16(1);
      wr8(CertificateType.RawPublicKey);
    }
    storeBe16(lenAt, <u32>(wrPos - lenAt - 2));
    this.addHandshake(HandshakeType.server_hello, <i32>(wrPos - body));
    return 0;
  }

  private serverMessage(type: u8, body: usize, len: i32, seq: i32, now: i64): i32 {
    const st = this.state;
    if (st == ConnState.WaitClientKeyExchange) {
      if (type == HandshakeType.certificate && this.certRequested && this.lastType == HandshakeType.client_hello) {
        return this.onClientCertificate(body, len);
      }
      if (type == HandshakeType.client_key_exchange) {
        if (this.certRequested && this.lastType != HandshakeType.certificate) return DtlsError.PeerCertificateMissing;
        return this.onClientKeyExchange(body, len);
      }
    } else if (st == ConnState.WaitCertificateVerify) {
      if (type == HandshakeType.certificate_verify) {
        // RFC 5246 7.4.8: over the transcript up to the ClientKeyExchange
        rdStart(body, len);
        const e = verifySignature(this.peerKey, this.prevHash);
        if (e == 0) this.state = ConnState.WaitChangeCipherSpec;
        return e;
      }
    } else if (st == ConnState.WaitFinished) {
      if (type == HandshakeType.finished) return this.onFinished(body, len, seq, now);
    }
    return DtlsError.UnexpectedMessage;
  }

  /** The client's Certificate (RFC 5246 7.4.6 / RFC 7250): required when requested. */
  private onClientCertificate(body: usize, len: i32): i32 {
    const c = this.config;
    if (len == 3 && loadBe24(body) == 0) return DtlsError.PeerCertificateMissing;
    const r = verifyCertificate(body, len, this.clientRpk, c.serverPublicKey, c.serverPublicKeyLen, c.trust,
      c.ownPublicKey, this.peerKey, true);
    if (r != 0) {
      if (r >= DtlsError.Decode) return r;
      this.detail = r;
      if (r == X509Error.RpkMismatch) return DtlsError.RpkMismatch;
      if (r == X509Error.KeyEqualsOwn) return DtlsError.PeerUsesOwnKey;
      return DtlsError.BadCertificate;
    }
    // A copy for the host: the SPKI (RPK) or the leaf DER (X.509).
    const first = this.clientRpk ? body : body + 3;
    const n = <i32>loadBe24(first);
    if (n <= this.config.peerCertificateCapacity && n <= len - 3) {
      memory.copy(this.peerCert, first + 3, <usize>n);
      this.peerCertLen = n;
    }
    return 0;
  }

  /** ClientKeyExchange: psk_identity (RFC 4279 2) and/or the client's ECPoint (RFC 8422 5.7). */
  private onClientKeyExchange(body: usize, len: i32): i32 {
    const s = this.suite, c = this.config;
    rdStart(body, len);
    let idLen: i32 = 0, id: usize = 0;
    if (s & SuiteBit.AnyPsk) {
      idLen = rdVec(2, 0, 0xffff);
      id = vecPtr;
    }
    if (s & SuiteBit.Ecdhe) {
      const e = readEcPoint(this.peerEph);
      if (e != 0) return e;
    }
    if (!rdDone()) return DtlsError.Decode;
    if (s & SuiteBit.Ecdhe) {
      const e = ecdheAgree(this.ephemeralSlot, this.peerEph, ZZ);
      if (e != 0) return e;
    }
    // RFC 7627 4: session_hash over the messages up to this ClientKeyExchange
    this.transcriptHash(this.prevHash);
    if ((s & SuiteBit.AnyPsk) == 0) {
      memory.copy(SECRET, ZZ, 32);
      wipe(ZZ, 32);
      deriveMasterSecret(SECRET, 32, this.prevHash, this.clientRandom, this.serverRandom, this.masterSecret);
      wipe(SECRET, 160);
      this.deriveKeys();
      this.state = this.certRequested ? ConnState.WaitCertificateVerify : ConnState.WaitChangeCipherSpec;
      return 0;
    }
    // Z waits in the master secret's place while the key is looked up.
    if (s & SuiteBit.Ecdhe) memory.copy(this.masterSecret, ZZ, 32);
    wipe(ZZ, 32);
    this.pskIdPtr = id;
    this.pskIdLen = idLen;
    if (c.pskLen > 0) {
      // one configured identity
      if (idLen != c.pskIdentityLen || memory.compare(id, c.pskIdentity, <usize>idLen) != 0) return DtlsError.UnknownPskIdentity;
      this.state = ConnState.WaitChangeCipherSpec;
      this.pskKeys(c.psk, c.pskLen);
      return 0;
    }
    this.state = ConnState.NeedPsk;
    this.pushEvent(DtlsEvent.PskIdentity, 0, id, idLen);
    return 0;
  }

  /** PSK / ECDHE-PSK premaster (RFC 4279 2, RFC 5489 2) -> extended master secret -> keys. */
  private pskKeys(key: usize, keyLen: i32): void {
    const ecdhe = (this.suite & SuiteBit.Ecdhe) != 0;
    const pmsLen = pskPremaster(SECRET, ecdhe ? this.masterSecret : 0, 32, key, keyLen);
    wipe(this.masterSecret, 48);
    deriveMasterSecret(SECRET, pmsLen, this.prevHash, this.clientRandom, this.serverRandom, this.masterSecret);
    wipe(SECRET, 160);
    this.deriveKeys();
  }
}

/** The RFC 6066 code of a record size limit from mflBytes(). */
function extMflOf(bytes: i32): i32 {
  return bytes == 512 ? 1 : bytes == 1024 ? 2 : bytes == 2048 ? 3 : 4;
}
