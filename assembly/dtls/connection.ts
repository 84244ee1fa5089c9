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
// Server role: server.ts (serverAccept, serverSupplyPsk, serverMessage), the
// DTLS_CLIENT_ONLY seam. The record layer, flights, reassembly, transcript,
// key schedule, alerts and limits here are shared and pick by isServer.
// Members without `private` below are the role files' interface (server.ts),
// besides the public API.
//
// The handshake message order is a table (order.ts): onHandshakeRecord and
// onChangeCipherSpec look each message up there before its handler runs.
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
  MAX_CID_LEN, cidRecordSize, cidPayloadOffset, sealCidRecord, openCidRecord, cidRealType,
} from "./record";
import { HS_HEADER_LEN, HandshakeType, HandshakeReassembler, writeHandshakeHeader } from "./handshake";
import {
  ExtBit, ExtensionType, CertificateType, NAMED_CURVE_SECP256R1, SIG_ECDSA_SECP256R1_SHA256,
  extGroupOk, extPointFormatOk, extSigAlgOk,
  writeClientExtensions, parseHelloExtensions, extSeen, extMfl, extServerCertTypes, extClientCertTypes, extCidPtr, extCidLen,
} from "./extensions";
import { rdStart, rd8, rd16, rdVec, rdSkip, rdDone, rdLeft, rdPos, rdFail, vecPtr, wr8, wr16, wrBytes, wrPos } from "./codec";
import {
  certificateBodyLen, ownCertificateListLen, writeCertificate, verifyCertificate, readEcdhParams, ecdhParamsDigest, ecdheGenerate, ecdheAgree,
  writeSignature, verifySignature, MAX_SIGNATURE_LEN, writeEcdhParams, readEcPoint, ECDH_PARAMS_LEN,
} from "./messages";
import { pskPremaster, deriveMasterSecret, deriveKeyBlock, finishedVerifyData, keyLogLine, VERIFY_DATA_LEN, KEY_LOG_LINE_LEN } from "./keys";
import { DtlsConfig, Role, mflBytes, MAX_PSK_LEN, DTLS_SERVER_ROLE } from "./config";
import { HAS_ECDSA } from "../profile";
import { DtlsSession, DtlsSessionCache, MAX_SESSION_ID_LEN } from "./session";
import { ConnState, suiteClass, nextState, CHANGE_CIPHER_SPEC } from "./order";
import { serverMessage } from "./server";

export { ConnState } from "./order";

const EVENT_SLOTS: i32 = 8;
const EVENT_SIZE: i32 = 16;
/** Flight entry: content type (1), epoch (1), length (2), then the bytes
 *  (a handshake message with its unfragmented header, or the CCS byte). */
export const ENTRY_HEADER: i32 = 4;
/** ClientHello body without SNI and ticket, at most: version, random, session_id<32>,
 *  cookie<255>, 5 suites + SCSV, compression, extensions (all of ours: 56 bytes). */
const CLIENT_HELLO_FIXED: i32 = 2 + 32 + 33 + 256 + 2 + 12 + 2 + 2 + 56;
export const ECDSA_SIGN: u32 = 64; // RFC 8422 5.5 ClientCertificateType ecdsa_sign

// Module scratch (single-threaded, wiped after use): premaster / key block,
// ECDH secret, digests, our ephemeral public key.
export const SECRET = memory.data(160, 8);
export const ZZ = memory.data(32, 8);
export const DIGEST = memory.data(32, 8);
const HASH_CTX = memory.data(112, 8);
const ALERT = memory.data(8, 8);
export const EPH_PUB = memory.data(65, 8);
/** Server: room for the rest of a datagram while the host looks up a PSK
 *  (ChangeCipherSpec + Finished after a ClientKeyExchange). */
const PENDING_CAP: i32 = 256;

// The connection kept across deep sleep (keepState / restoreKept): suite u32, 0 u8, cidOn u8,
// ownCidLen u8, peerCidLen u8, maxPlaintextIn i32, maxPlaintextOut i32, 0 u32, replay window,
// our CID, the peer's CID, the read and the write cipher state (keys, salts: secret).
const K_WINDOW: usize = 24;
const K_OWN_CID: usize = K_WINDOW + <usize>REPLAY_WINDOW_SIZE;
const K_PEER_CID: usize = K_OWN_CID + <usize>MAX_CID_LEN;
const K_READ: usize = K_PEER_CID + <usize>MAX_CID_LEN;
const K_WRITE: usize = K_READ + <usize>align8(CIPHER_STATE_SIZE);
export const KEPT_STATE_SIZE: i32 = <i32>K_WRITE + align8(CIPHER_STATE_SIZE);

// @ts-ignore: decorator
@inline function align8(n: i32): i32 {
  return (n + 7) & ~7;
}

/** Bytes of one block of handshake buffers: reassembly of a message of up to
 *  hsCap bytes (header, body, bitmap), then a flight of flCap bytes. */
export function handshakeBlockSize(hsCap: i32, flCap: i32): i32 {
  return align8(HS_HEADER_LEN + hsCap) + align8((hsCap + 7) >> 3) + align8(flCap);
}

/** helloEntrySize for any config: a 255-byte server name and a ticket of up to ticketCapacity bytes. */
export function helloEntryMax(ticketCapacity: i32): i32 {
  return ENTRY_HEADER + HS_HEADER_LEN + CLIENT_HELLO_FIXED + 255 + ticketCapacity;
}

/** The flight buffer always holds the largest ClientHello this config can
 *  produce (32-byte session ID, 255-byte cookie, SNI, ticket). */
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
  sharedTx: bool;

  // ---- regions of mem (tx: unless shared; reassembly and flight: hsMem, flightMem) ----
  tx: usize;
  private txCap: i32;
  private flight: usize;
  private flightCap: i32;
  private events: usize;
  private readState: usize;
  private writeState: usize;
  window: usize;
  transcript: usize;
  clientRandom: usize;
  serverRandom: usize;
  masterSecret: usize;
  sid: usize;
  peerKey: usize;
  peerEph: usize;
  prevHash: usize;
  /** RFC 9146: the CID the peer puts in records to us, and the one we put in records to it. */
  ownCid: usize;
  peerCid: usize;
  /** The CID buffers exist: config.connectionIdLength >= 0 at construction. */
  cidRoom: bool;
  private keyLog: usize;

  /** config.role == Role.Server at construction; read it through isServer. */
  private serverRole: bool;
  /** Server role: always false in a client-only build (DTLS_SERVER_ROLE), so
   *  that the optimizer drops every server path. */
  // @ts-ignore: decorator
  @inline get isServer(): bool { return DTLS_SERVER_ROLE && this.serverRole; }
  pending: usize;
  peerCert: usize;
  /** SE slot of this connection's ephemeral ECDHE key (from the config; a
   *  server with several handshakes at once gives each its own). */
  ephemeralSlot: i32;
  /** Server: sessions to resume by ID and to store new ones in (null = none). */
  sessionCache: DtlsSessionCache | null = null;

  // ---- state: everything from here on is zeroed by reset() ----
  state: i32;
  private offered: u32;
  extOffered: u32;
  suite: u32;
  protection: i32;
  private readEpoch: u32;
  private writeEpoch: u32;
  writeSeq0: u64;
  private writeSeq1: u64;
  nextSendSeq: u32;
  nextRecvSeq: i32;
  /** message_seq of the last message of the peer's last complete flight. */
  peerLastSeq: i32;
  sidLen: i32;
  private helloVerifyCount: i32;
  private offeredResume: bool;
  resumed: bool;
  ems: bool;
  private ticketExpected: bool;
  private ticketReceived: bool;
  certRequested: bool;
  clientRpk: bool;
  private finishedSent: bool;
  maxPlaintextIn: i32;
  maxPlaintextOut: i32;
  private keyLogLen: i32;
  /** RFC 9146: a connection ID was negotiated (either CID may be empty). */
  cidOn: bool;
  ownCidLen: i32;
  peerCidLen: i32;
  // server role
  pendingLen: i32;
  peerCertLen: i32;
  pskIdPtr: usize;
  pskIdLen: i32;

  // flight emission and the RFC 6347 4.2.4 timer
  private flightLen: i32;
  private flightPos: i32;
  private flightFrag: i32;
  private sending: bool;
  txPending: i32;
  private retransmitAt: i64;
  private timeoutMs: i64;
  private retransmits: i32;
  sessionStart: i64;
  /** No record of epoch 1 is sealed with a sequence number at or above this (restoreKept: the
   *  numbers the caller reserved in its store, so that a nonce is never used twice). */
  writeSeqLimit: u64;
  /** No record of epoch >= 1 is opened once authFailures reaches this (DTLS-10 across reboots:
   *  the failures the caller reserved in its store for a kept connection, keep.ts); dropped unopened. */
  authFailureLimit: i32;

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
  /** tls12_cid records dropped: CID not negotiated, unknown CID, or a record without the CID we asked for. */
  cidDropped: i32;

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
    const oOwnCid = o; o += config.connectionIdLength >= 0 ? 2 * MAX_CID_LEN : 0;
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
    this.ownCid = b + <usize>oOwnCid;
    this.peerCid = this.ownCid + <usize>MAX_CID_LEN;
    this.cidRoom = config.connectionIdLength >= 0;
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
    this.maxPlaintextIn = MAX_PLAINTEXT;
    this.maxPlaintextOut = MAX_PLAINTEXT;
    this.retransmitAt = -1;
    this.alertReceived = -1;
    this.writeSeqLimit = u64.MAX_VALUE;
    this.authFailureLimit = i32.MAX_VALUE;
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
    if (c.ownPublicKey == 0 || !HAS_ECDSA) suites &= ~SuiteBit.Ecdsa; // !HAS_ECDSA: no RPK / X.509 in this build profile
    if (c.certificateType == CertificateType.RawPublicKey ? c.serverPublicKey == 0 : c.trust == 0) suites &= ~SuiteBit.Ecdsa;
    // DTLS-3: a low-entropy secret only with ECDHE-PSK; refuse a config that enables more.
    if (c.pskLowEntropy && (suites & SuiteBit.PlainPsk) != 0) return this.refuse(DtlsError.LowEntropyPsk);
    if (c.pskLen > MAX_PSK_LEN || c.pskIdentityLen > 0xffff || c.serverNameLen > 255) return this.refuse(DtlsError.Config);
    if (suites == 0) return this.refuse(DtlsError.NoSuites);
    if (rng_fill(this.clientRandom, 32) != HostStatus.Ok) return this.refuse(DtlsError.Rng);
    // Resumption (RFC 5246 7.4.1.2: the hello offers at least the session's suite): only that
    // suite, so that it carries only the extensions that suite needs (no supported_groups /
    // ec_point_formats for a PSK session, RFC 8422 5.1); a refused resumption is a full
    // handshake with the suite this server chose before
    const s = this.session;
    const resume = s != null && s.valid && (s.suite & suites) != 0 &&
      (c.maxSessionAgeMs <= 0 || now - s.createdAt < c.maxSessionAgeMs) && (c.sessionTickets && s.ticketLen > 0 || s.idLen > 0);
    if (resume) suites = s!.suite & suites;
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
    // RFC 5077 3.1: the empty SessionTicket extension asks for a ticket; resuming a session this
    // server gave no ticket for (by its session ID: the sealed session remembers) does not ask again
    if (c.sessionTickets && !(resume && s!.ticketLen == 0)) ext |= ExtBit.SessionTicket;
    // RFC 9146 3: our CID, offered with CCM_8 suites only (record.ts sealCidRecord)
    if (c.connectionIdLength >= 0 && this.cidRoom && (suites & ~SuiteBit.Ccm8) == 0) {
      const n = min(c.connectionIdLength, MAX_CID_LEN);
      if (rng_fill(this.ownCid, n) != HostStatus.Ok) return this.refuse(DtlsError.Rng);
      this.ownCidLen = n;
      ext |= ExtBit.ConnectionId;
    }
    this.extOffered = ext | ExtBit.RenegotiationInfo;
    // Resumption (RFC 5246 7.4.1.2, RFC 5077 3.4): the session ID, or with a
    // ticket a fresh 8-byte ID the server echoes when it accepts the ticket.
    if (resume) {
      if (c.sessionTickets && s!.ticketLen > 0) {
        this.sidLen = 8;
        if (rng_fill(this.sid, 8) != HostStatus.Ok) return this.refuse(DtlsError.Rng);
        this.offeredResume = true;
      } else {
        this.sidLen = s!.idLen;
        memory.copy(this.sid, s!.id(), <usize>s!.idLen);
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

  onRecords(ptr: usize, len: i32, now: i64): void {
    let off: i32 = 0;
    // RFC 6347 4.1.1: several records per datagram; a truncated one ends it.
    while (len - off >= RECORD_HEADER_LEN && this.state != ConnState.Closed) {
      const rec = ptr + <usize>off;
      // RFC 9146 4: a tls12_cid record has our CID before its length
      const cid = this.cidOn && this.ownCidLen > 0 && load<u8>(rec) == ContentType.Tls12Cid;
      const hdr = RECORD_HEADER_LEN + (cid ? this.ownCidLen : 0);
      const fragLen = len - off >= hdr ? <i32>loadBe16(rec + <usize>(hdr - 2)) : 0x7fffffff;
      if (fragLen > len - off - hdr) {
        this.recordsDropped++;
        break;
      }
      off += hdr + fragLen;
      if (cid) this.onCidRecord(rec, fragLen, now);
      else this.onRecord(rec, fragLen, now);
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

  // ---- the connection kept across deep sleep (issue 10 §2, LPWA-1) ----

  /** Client, Established: what carries the connection on with no handshake (suite, CIDs,
   *  replay window, both cipher states: secret) into out, KEPT_STATE_SIZE bytes; the size,
   *  or BadState. The caller seals it, with the next write sequence number (writeSequence). */
  keepState(out: usize): i32 {
    if (this.state != ConnState.Established || this.isServer || this.readEpoch != 1 || this.writeEpoch != 1) return DtlsError.BadState;
    memory.fill(out, 0, <usize>KEPT_STATE_SIZE);
    store<u32>(out, this.suite);
    store<u8>(out, this.cidOn ? 1 : 0, 5);
    store<u8>(out, <u8>this.ownCidLen, 6);
    store<u8>(out, <u8>this.peerCidLen, 7);
    store<i32>(out, this.maxPlaintextIn, 8);
    store<i32>(out, this.maxPlaintextOut, 12);
    memory.copy(out + K_WINDOW, this.window, <usize>REPLAY_WINDOW_SIZE);
    if (this.cidOn) {
      memory.copy(out + K_OWN_CID, this.ownCid, <usize>this.ownCidLen);
      memory.copy(out + K_PEER_CID, this.peerCid, <usize>this.peerCidLen);
    }
    memory.copy(out + K_READ, this.readState, <usize>CIPHER_STATE_SIZE);
    memory.copy(out + K_WRITE, this.writeState, <usize>CIPHER_STATE_SIZE);
    return KEPT_STATE_SIZE;
  }

  /** Client, Idle: Established again from keepState's bytes, no handshake. Records go out
   *  with sequence numbers writeSeq .. seqLimit - 1 only (the caller reserved them in its
   *  store first); sessionStart (monotonic ms of the full handshake) keeps DTLS-10's age.
   *  0, BadState, or Config for bytes that are not a kept state (nothing changed then). */
  restoreKept(src: usize, writeSeq: u64, seqLimit: u64, sessionStart: i64): i32 {
    if (this.state != ConnState.Idle || this.isServer) return DtlsError.BadState;
    const suite = load<u32>(src);
    const cid = load<u8>(src, 5);
    const ownLen = <i32>load<u8>(src, 6), peerLen = <i32>load<u8>(src, 7);
    const inMax = load<i32>(src, 8), outMax = load<i32>(src, 12);
    if (popcnt(suite) != 1 || (suite & this.config.suites & SuiteBit.All) != suite || cid > 1 ||
        cid == 1 && !this.cidRoom || ownLen > MAX_CID_LEN || peerLen > MAX_CID_LEN || cid == 0 && ownLen + peerLen != 0 ||
        inMax < 1 || inMax > MAX_PLAINTEXT || outMax < 1 || outMax > MAX_PLAINTEXT || writeSeq >= seqLimit ||
        seqLimit > this.config.maxRecordSequence) {
      return DtlsError.Config;
    }
    this.suite = suite;
    this.protection = suiteProtection(suite);
    this.cidOn = cid == 1;
    this.ownCidLen = ownLen;
    this.peerCidLen = peerLen;
    if (this.cidOn) {
      memory.copy(this.ownCid, src + K_OWN_CID, <usize>ownLen);
      memory.copy(this.peerCid, src + K_PEER_CID, <usize>peerLen);
    }
    this.maxPlaintextIn = inMax;
    this.maxPlaintextOut = outMax;
    memory.copy(this.window, src + K_WINDOW, <usize>REPLAY_WINDOW_SIZE);
    memory.copy(this.readState, src + K_READ, <usize>CIPHER_STATE_SIZE);
    memory.copy(this.writeState, src + K_WRITE, <usize>CIPHER_STATE_SIZE);
    this.readEpoch = 1;
    this.writeEpoch = 1;
    this.writeSeq1 = writeSeq;
    this.writeSeqLimit = seqLimit;
    this.sessionStart = sessionStart;
    this.state = ConnState.Established;
    return 0;
  }

  /** The sequence number of our next record of epoch 1. */
  writeSequence(): u64 { return this.writeSeq1; }

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

  /** The NSS key log line (config.keyLog only): pointer and length (0 = none). */
  /** Counters by index: 0 bytesSent, 1 bytesReceived, 2 datagramsSent, 3 datagramsReceived,
   *  4 recordsDropped, 5 replaysDropped, 6 authFailures, 7 cidDropped; -1 otherwise. */
  stat(i: i32): i64 {
    switch (i) {
      case 0: return this.bytesSent;
      case 1: return this.bytesReceived;
      case 2: return <i64>this.datagramsSent;
      case 3: return <i64>this.datagramsReceived;
      case 4: return <i64>this.recordsDropped;
      case 5: return <i64>this.replaysDropped;
      case 6: return <i64>this.authFailures;
      case 7: return <i64>this.cidDropped;
    }
    return -1;
  }
  keyLogPtr(): usize { return this.keyLog; }
  keyLogLength(): i32 { return this.keyLogLen; }

  // =====================================================================
  // Events, alerts, failure
  // =====================================================================

  pushEvent(kind: i32, reason: i32, ptr: usize, len: i32): bool {
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
    // a nonce is never used twice: not past the sequence numbers reserved (restoreKept)
    if (this.writeEpoch > 0 && this.writeSeq1 >= this.writeSeqLimit) return DtlsError.RecordLimit;
    const cid = this.cidOut(this.writeEpoch);
    const size = cid ? cidRecordSize(this.peerCidLen, len) : recordSize(prot, len);
    if (this.txPending + size > this.txCap) return this.txPending > 0 ? DtlsError.Busy : DtlsError.BufferTooSmall;
    const out = this.tx + <usize>this.txPending;
    memory.copy(out + <usize>(cid ? cidPayloadOffset(this.peerCidLen) : RECORD_HEADER_LEN + payloadOffset(prot)), src, <usize>len);
    const seq = this.nextWriteSeq(this.writeEpoch);
    const n = cid
      ? sealCidRecord(out, type, this.writeEpoch, seq, len, this.peerCid, this.peerCidLen, this.writeState)
      : sealRecord(out, type, this.writeEpoch, seq, len, prot, this.writeState);
    if (n < 0) return DtlsError.Rng;
    this.txPending += n;
    this.holdSharedTx();
    return 0;
  }

  /** RFC 9146 3: the peer's CID (at most MAX_CID_LEN bytes); CID records from epoch 1 on. */
  acceptPeerCid(cid: usize, len: i32): void {
    memory.copy(this.peerCid, cid, <usize>len);
    this.peerCidLen = len;
    this.cidOn = true;
  }

  /** Our records of this epoch carry the peer's CID (RFC 9146 3: not in epoch 0, not when it is empty). */
  private cidOut(epoch: u32): bool {
    return this.cidOn && epoch > 0 && this.peerCidLen > 0;
  }

  /** Records of this connection wait in the shared transmit buffer. */
  holdSharedTx(): void {
    if (this.sharedTx) txHolder = changetype<usize>(this);
  }

  /** The transmit buffer may be written: it is our own, or no other
   *  connection's records wait in the shared one (config.txBuffer). */
  txFree(): bool {
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
  fail(reason: i32): void {
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
    // the alert above is sealed into the transmit buffer already: the write keys go too
    wipe(this.writeState, CIPHER_STATE_SIZE);
  }

  private wipeSecrets(): void {
    wipe(this.masterSecret, 48); // the master secret ends with the connection
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

  startFlight(): void {
    this.flightLen = 0;
    this.sending = false;
  }

  /** Room for a handshake body in the flight buffer. */
  hsRoom(): i32 {
    return this.flightCap - this.flightLen - ENTRY_HEADER - HS_HEADER_LEN;
  }

  /** Where the next handshake message's body goes. */
  hsBody(): usize {
    return this.flight + <usize>(this.flightLen + ENTRY_HEADER + HS_HEADER_LEN);
  }

  /** Seal the message whose body (bodyLen bytes) was written at hsBody():
   *  header, message_seq, transcript. */
  addHandshake(type: u8, bodyLen: i32): void {
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
  addChangeCipherSpec(): void {
    const e = this.flight + <usize>this.flightLen;
    store<u8>(e, ContentType.ChangeCipherSpec);
    store<u8>(e + 1, <u8>this.writeEpoch);
    store<u16>(e + 2, 1);
    store<u8>(e + 4, 1);
    this.flightLen += ENTRY_HEADER + 1;
    this.writeEpoch = 1;
  }

  /** Finished (RFC 5246 7.4.9) over the transcript so far. */
  addFinished(): void {
    this.transcriptHash(DIGEST);
    finishedVerifyData(this.masterSecret, this.isServer, DIGEST, this.hsBody());
    this.addHandshake(HandshakeType.finished, VERIFY_DATA_LEN);
    this.finishedSent = true;
  }

  emitFlight(now: i64, timer: bool): void {
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
      const cid = this.cidOut(epoch);
      const pre = cid ? cidPayloadOffset(this.peerCidLen) : RECORD_HEADER_LEN + payloadOffset(prot);
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
      let f = room - (cid ? cidRecordSize(this.peerCidLen, HS_HEADER_LEN) : recordSize(prot, HS_HEADER_LEN)) -
        (prot == Protection.CbcSha256 ? 15 : 0);
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
      let pt = HS_HEADER_LEN + f;
      this.flightFrag += f;
      if (this.flightFrag >= body) {
        this.flightPos += ENTRY_HEADER + len;
        this.flightFrag = 0;
        // RFC 6347 4.2.3: whole messages of the same flight and epoch may share the
        // record (13 B of record header saved per message: ServerHello..ServerHelloDone).
        while (this.flightPos < this.flightLen) {
          const e2 = this.flight + <usize>this.flightPos;
          const len2 = <i32>load<u16>(e2 + 2);
          const fits = (cid ? cidRecordSize(this.peerCidLen, pt + len2) : recordSize(prot, pt + len2)) +
            (prot == Protection.CbcSha256 ? 15 : 0) <= room;
          if (load<u8>(e2) != ContentType.Handshake || <u32>load<u8>(e2 + 1) != epoch ||
              pt + len2 > this.maxPlaintextOut || !fits) break;
          memory.copy(p + <usize>pt, e2 + <usize>ENTRY_HEADER, <usize>len2); // header as unfragmented (addHandshake)
          pt += len2;
          this.flightPos += ENTRY_HEADER + len2;
        }
      }
      const seq = this.nextWriteSeq(epoch);
      const n = cid
        ? sealCidRecord(out, type, epoch, seq, pt, this.peerCid, this.peerCidLen, this.writeState)
        : sealRecord(out, type, epoch, seq, pt, prot, this.writeState);
      if (n < 0) return this.sealFailed(DtlsError.Rng);
      used += n;
      if (this.flightFrag != 0) break; // the datagram is full
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
        (version != DTLS_1_2 && !(version == DTLS_1_0 && epoch == 0)) ||
        // RFC 9146 3: with a CID of ours negotiated, protected records carry it
        (epoch > 0 && this.cidOn && this.ownCidLen > 0)) {
      if (type == ContentType.Tls12Cid || epoch > 0 && this.cidOn) this.cidDropped++;
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
    if (epoch != 0 && this.pastAuthReserve()) return;
    const prot = epoch == 0 ? Protection.Null : this.protection;
    const n = openRecord(rec, prot, this.readState);
    if (n < 0) {
      this.authFailed();
      return;
    }
    // RFC 6347 4.1.2.6: the window moves only for records that verified. Epoch-0
    // records carry no MAC, so they never move it: one spoofed plaintext record
    // (sequence number 2^48-1) would otherwise make the genuine flight look like
    // a replay. Duplicates at epoch 0 are the handshake's business (message_seq, 4.2.2).
    if (epoch != 0) replayMark(this.window, seq);
    this.onPlaintext(type, rec + <usize>(RECORD_HEADER_LEN + payloadOffset(prot)), n, epoch, now);
  }

  /** RFC 9146 4: a tls12_cid record (fragLen after our CID). Dropped and
   *  counted unless it carries our CID in the current epoch (>= 1). */
  private onCidRecord(rec: usize, fragLen: i32, now: i64): void {
    const epoch = loadBe16(rec + 3);
    const seq = loadBe48(rec + 5);
    if (loadBe16(rec + 1) != DTLS_1_2 || epoch == 0 || epoch != this.readEpoch || fragLen > MAX_CIPHERTEXT ||
        memory.compare(rec + 11, this.ownCid, <usize>this.ownCidLen) != 0) {
      this.cidDropped++;
      this.recordsDropped++;
      return;
    }
    const fresh = replayFresh(this.window, seq); // RFC 6347 4.1.2.6, before the record is opened
    if (!fresh) {
      this.replaysDropped++;
      return;
    }
    if (this.pastAuthReserve()) return;
    const n = openCidRecord(rec, this.ownCidLen, this.readState);
    if (n < 0) {
      this.authFailed();
      return;
    }
    replayMark(this.window, seq);
    const type = cidRealType;
    if (type < ContentType.ChangeCipherSpec || type > ContentType.ApplicationData) {
      this.recordsDropped++;
      return;
    }
    this.onPlaintext(type, rec + <usize>cidPayloadOffset(this.ownCidLen), n, epoch, now);
  }

  /** DTLS-10 across reboots: a protected record is dropped unopened once the failures the
   *  caller reserved (authFailureLimit) are used up, until it reserves more. */
  private pastAuthReserve(): bool {
    if (this.authFailures < this.authFailureLimit) return false;
    this.recordsDropped++;
    return true;
  }

  /** RFC 6347 4.1.2.7: invalid records are dropped; DTLS-10 counts them. */
  private authFailed(): void {
    this.authFailures++;
    if (this.isServer && this.state == ConnState.WaitFinished) {
      // The client's first protected record (its Finished) does not
      // authenticate: its keys differ from ours (wrong PSK). TLS answers
      // bad_record_mac (RFC 5246 7.2.2, RFC 4279 2); DTLS may (RFC 6347 4.1.2.7).
      this.fail(DtlsError.HandshakeDecrypt);
    } else if (this.authFailures >= this.config.maxAuthFailures && this.protection == Protection.Ccm8) {
      this.fail(DtlsError.AuthFailureLimit);
    }
  }

  /** The verified content of a record. */
  private onPlaintext(type: u8, pt: usize, n: i32, epoch: u32, now: i64): void {
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
    const next = nextState(this.state, suiteClass(this.suite, this.certRequested), CHANGE_CIPHER_SPEC, this.isServer);
    if (next < 0 || n != 1 || load<u8>(p) != 1 || (this.ticketExpected && !this.ticketReceived)) {
      this.recordsDropped++;
      return;
    }
    this.readEpoch = 1;
    memory.fill(this.window, 0, REPLAY_WINDOW_SIZE);
    this.state = next;
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
      // order.ts: the message must be the next one for this state and suite class
      let err = nextState(this.state, suiteClass(this.suite, this.certRequested), type, this.isServer);
      if (err >= 0) {
        this.state = err;
        err = this.isServer
          ? serverMessage(this, type, msg + <usize>HS_HEADER_LEN, length, seq, now)
          : this.clientMessage(type, msg + <usize>HS_HEADER_LEN, length, seq, now);
      }
      this.reasm.reset();
      if (err != 0) {
        this.fail(err);
        return;
      }
      if (this.state == ConnState.Closed) return;
    }
  }

  transcriptHash(out: usize): void {
    sha256Copy(HASH_CTX, this.transcript);
    sha256Final(HASH_CTX, out);
  }

  // =====================================================================
  // Key schedule
  // =====================================================================

  /** Key block -> read/write protection (RFC 5246 6.3), NSS key log. */
  deriveKeys(): void {
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
      s != null ? s.ticket() : 0, ticketLen, this.ownCid, this.ownCidLen);
    this.addHandshake(HandshakeType.client_hello, <i32>(wrPos - body));
    return 0;
  }

  /** A message of the server's flights, in the order connection.ts checked
   *  against order.ts (the state is already the row's next one). */
  private clientMessage(type: u8, body: usize, len: i32, seq: i32, now: i64): i32 {
    if (type == HandshakeType.hello_verify_request) return this.onHelloVerifyRequest(body, len, now);
    if (type == HandshakeType.server_hello) return this.onServerHello(body, len);
    // (never reached without ECDSA suites, order.ts; HAS_ECDSA folds the paths away in a PSK-only build profile)
    if (type == HandshakeType.certificate) return HAS_ECDSA ? this.onCertificate(body, len) : DtlsError.UnexpectedMessage;
    if (type == HandshakeType.server_key_exchange) return this.onServerKeyExchange(body, len);
    if (type == HandshakeType.certificate_request) return HAS_ECDSA ? this.onCertificateRequest(body, len) : DtlsError.UnexpectedMessage;
    if (type == HandshakeType.server_hello_done) {
      if (len != 0) return DtlsError.Decode;
      this.peerLastSeq = seq;
      return this.sendClientKeyExchangeFlight(now);
    }
    if (type == HandshakeType.new_session_ticket) {
      // RFC 5077 3.3: only when the ServerHello promised one, once
      if (!this.ticketExpected || this.ticketReceived) return DtlsError.UnexpectedMessage;
      return this.onNewSessionTicket(body, len);
    }
    if (type == HandshakeType.finished) return this.onFinished(body, len, seq, now);
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
    if (seen & ExtBit.ConnectionId) {
      // RFC 9146 3: the CID we put in records to the server
      if (extCidLen > MAX_CID_LEN) return DtlsError.IllegalExtension;
      this.acceptPeerCid(extCidPtr, extCidLen);
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
    }
    return 0;
  }

  /** The server's certificate: RFC 7250 raw public key or an X.509 chain (DTLS-4/5/8). */
  private onCertificate(body: usize, len: i32): i32 {
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
    rdStart(body, len);
    if (s & SuiteBit.AnyPsk) rdVec(2, 0, 0xffff); // psk_identity_hint (RFC 4279 2): not used
    if (s & SuiteBit.Ecdhe) {
      const params = rdPos;
      const e = readEcdhParams(this.peerEph);
      if (e != 0) return e;
      if (HAS_ECDSA && (s & SuiteBit.Ecdsa) != 0) {
        ecdhParamsDigest(this.clientRandom, this.serverRandom, params, <i32>(rdPos - params), DIGEST);
        return verifySignature(this.peerKey, DIGEST);
      }
    }
    return rdDone() ? 0 : DtlsError.Decode;
  }

  private onCertificateRequest(body: usize, len: i32): i32 {
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
    const signs = HAS_ECDSA && this.certRequested && (rpk || ownCertificateListLen(c) > 0);
    if (HAS_ECDSA && this.certRequested) {
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
    if (HAS_ECDSA && (s & SuiteBit.Ecdsa) != 0) {
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

  onFinished(body: usize, len: i32, seq: i32, now: i64): i32 {
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

}
