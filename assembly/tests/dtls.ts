// Test entry for assembly/dtls: config setters, one client connection and a
// session for the JS side (interop, negative and fuzz tests, the bench), and
// thin wrappers over the record layer, reassembly and key schedule for unit
// tests. The config setters it shares with the server role's entry are in
// server/dtls-config-api.ts.
export { scratch, scratchSize } from "./_scratch";
import { ABI_VERSION } from "../host/abi";
import { DtlsConfig } from "../dtls/config";
import { DtlsConnection } from "../dtls/connection";
import { DtlsSession } from "../dtls/session";
import { HandshakeReassembler } from "../dtls/handshake";
import { parseHelloExtensions, extSeen, extMfl, extSniLen, extTicketLen } from "../dtls/extensions";
import { TrustConfig, TRUST_CONFIG_SIZE } from "../x509/trust";
import { config, useConfig, ownCertsBuffer } from "../server/dtls-config-api";
export {
  RECORD_HEADER_LEN, CIPHER_STATE_SIZE, REPLAY_WINDOW_SIZE, installKeys, sealRecord, openRecord, replayFresh,
  replayMark, recordSize, payloadOffset,
} from "../dtls/record";
export { alertFor } from "../dtls/alert";
export { pskPremaster, deriveMasterSecret, deriveKeyBlock, finishedVerifyData, keyLogLine } from "../dtls/keys";

export function abiVersion(): i32 { return ABI_VERSION; }
/** The stub runtime's bump pointer, seen through a zero-length allocation: two
 *  probes with nothing between them differ by a constant (no per-datagram allocation check). */
export function heapProbe(): usize { return changetype<usize>(new ArrayBuffer(0)); }

// ---- configuration ----------------------------------------------------------
const SNI = memory.data(256);
const SERVER_KEY = memory.data(256);
const TRUST = memory.data(TRUST_CONFIG_SIZE, 8);
const TRUST_KEY = memory.data(2048);
const TRUST_HOST = memory.data(256);
const TRUST_STORE = memory.data(2048);
const TRUST_STORE_LIST = memory.data(64, 8);

export function cfgReset(): void { useConfig(new DtlsConfig()); }
export {
  cfgSuites, cfgPsk, cfgMfl, cfgMtu, cfgTimers, cfgKeyLog, cfgConnectionId, cfgIdentity, cfgCertificateType, cfgOwnCertificates,
} from "../server/dtls-config-api";
export function cfgSni(p: usize, len: i32): void {
  memory.copy(SNI, p, <usize>len);
  config.serverName = len > 0 ? SNI : 0;
  config.serverNameLen = len;
}
export function cfgTickets(on: bool): void { config.sessionTickets = on; }
export function cfgBuffers(handshake: i32, flight: i32, ticket: i32): void {
  config.handshakeBufferSize = handshake;
  config.flightBufferSize = flight;
  config.ticketCapacity = ticket;
}
export function cfgLimits(maxSeq: u64, maxAgeMs: i64, maxAuthFailures: i32): void {
  config.maxRecordSequence = maxSeq;
  config.maxSessionAgeMs = maxAgeMs;
  config.maxAuthFailures = maxAuthFailures;
}
/** RPK mode: the server's key (SPKI, 65-byte point or X||Y). */
export function cfgServerKey(p: usize, len: i32): void {
  memory.copy(SERVER_KEY, p, <usize>len);
  config.serverPublicKey = SERVER_KEY;
  config.serverPublicKeyLen = len;
}
/** X.509: our one certificate as plain DER (config.ownCertificateDer), in place of a list. */
export function cfgOwnCertificateDer(p: usize, len: i32): void {
  memory.copy(ownCertsBuffer(), p, <usize>len);
  config.ownCertificates = 0;
  config.ownCertificatesLen = 0;
  config.ownCertificateDer = ownCertsBuffer();
  config.ownCertificateDerLen = len;
}
/** X.509 trust (x509 TrustConfig): resource 4, usage, matching type, host,
 *  one PKIX anchor (storeLen 0 = none), VerifyFlag bits. */
export function cfgTrust(key: usize, keyLen: i32, usage: i32, matching: i32, host: usize, hostLen: i32,
  storePtr: usize, storeLen: i32, flags: i32): void {
  memory.copy(TRUST_KEY, key, <usize>keyLen);
  memory.copy(TRUST_HOST, host, <usize>hostLen);
  memory.copy(TRUST_STORE, storePtr, <usize>storeLen);
  store<u32>(TRUST_STORE_LIST, <u32>TRUST_STORE);
  store<i32>(TRUST_STORE_LIST, storeLen, 4);
  const t = changetype<TrustConfig>(TRUST);
  t.clear();
  t.usage = usage;
  t.matching = matching;
  t.serverKey = TRUST_KEY;
  t.serverKeyLen = keyLen;
  t.host = TRUST_HOST;
  t.hostLen = hostLen;
  t.store = TRUST_STORE_LIST;
  t.storeCount = storeLen > 0 ? 1 : 0;
  t.flags = flags;
  config.trust = TRUST;
}

// ---- one client connection + one session ---------------------------------------
let conn: DtlsConnection | null = null;
let session: DtlsSession | null = null;
let useSession = false;

/** A new connection from the current config (allocates: call rarely; reuse with connReset). */
export function connNew(withSession: bool): void {
  useSession = withSession;
  if (withSession && session == null) session = new DtlsSession(config.ticketCapacity);
  const c = new DtlsConnection(config);
  c.session = withSession ? session : null;
  conn = c;
}
/** growBuffers() with these sizes in the connection's config. */
export function connGrow(handshake: i32, flight: i32): i32 {
  config.handshakeBufferSize = handshake;
  config.flightBufferSize = flight;
  return conn!.growBuffers();
}
export function connReset(): void {
  const c = conn!;
  c.reset();
  c.session = useSession ? session : null;
}
export function sessionClear(): void { if (session != null) session!.clear(); }
export function sessionValid(): bool { return session != null && session!.valid; }
export function sessionIdLen(): i32 { return session != null ? session!.idLen : -1; }
export function sessionTicketLen(): i32 { return session != null ? session!.ticketLen : -1; }
export function sessionSetCreatedAt(t: i64): void { if (session != null) session!.createdAt = t; }

export function connConnect(now: i64): i32 { return conn!.connect(now); }
export function connHandleDatagram(p: usize, len: i32, now: i64): i32 { return conn!.handleDatagram(p, len, now); }
export function connHandleTimeout(now: i64): void { conn!.handleTimeout(now); }
export function connPollTransmit(): i32 { return conn!.pollTransmit(); }
export function connTransmitPtr(): usize { return conn!.transmitPtr(); }
export function connPollEvent(): i32 { return conn!.pollEvent(); }
export function connEventReason(): i32 { return conn!.eventReason(); }
export function connAppDataPtr(): usize { return conn!.appDataPtr(); }
export function connAppDataLen(): i32 { return conn!.appDataLen(); }
export function connSend(p: usize, len: i32, now: i64): i32 { return conn!.sendApplicationData(p, len, now); }
export function connClose(now: i64): void { conn!.close(now); }
export function connNextDeadline(): i64 { return conn!.nextDeadline(); }
export function connState(): i32 { return conn!.state; }
export function connReason(): i32 { return conn!.reason; }
export function connDetail(): i32 { return conn!.detail; }
export function connAlertReceived(): i32 { return conn!.alertReceived; }
export function connSuite(): u32 { return conn!.negotiatedSuite(); }
export function connResumed(): bool { return conn!.isResumed(); }
export function connEms(): bool { return conn!.extendedMasterSecret(); }
export function connMaxPlaintext(): i32 { return conn!.maxPlaintext(); }
export function connKeyLogPtr(): usize { return conn!.keyLogPtr(); }
export function connKeyLogLen(): i32 { return conn!.keyLogLength(); }
/** Counters: 0 bytesSent, 1 bytesReceived, 2 datagramsSent, 3 datagramsReceived,
 *  4 recordsDropped, 5 replaysDropped, 6 authFailures. */
export function connStat(i: i32): i64 { return conn!.stat(i); }

// ---- unit-test wrappers ------------------------------------------------------------
const REASM_BUF = memory.data(12 + 4096, 8);
const REASM_BITS = memory.data(512, 8);
let reasm: HandshakeReassembler | null = null;

export function reasmNew(capacity: i32): void { reasm = new HandshakeReassembler(REASM_BUF, capacity, REASM_BITS); }
export function reasmReset(): void { reasm!.reset(); }
export function reasmAdd(type: u8, length: i32, seq: u32, offset: i32, frag: usize, len: i32): i32 {
  return reasm!.add(type, length, seq, offset, frag, len);
}
export function reasmBuf(): usize { return REASM_BUF; }

/** parseHelloExtensions; out = [seen, mfl, sniLen, ticketLen] (i32). */
export function parseExtensions(p: usize, len: i32, fromServer: bool, out: usize): i32 {
  const r = parseHelloExtensions(p, len, fromServer);
  store<u32>(out, extSeen);
  store<i32>(out, extMfl, 4);
  store<i32>(out, extSniLen, 8);
  store<i32>(out, extTicketLen, 12);
  return r;
}
/** RFC 9146: the negotiated CIDs (length -1: none negotiated). */
export function connOwnCidPtr(): usize { return conn!.ownCid; }
export function connOwnCidLen(): i32 { return conn!.cidOn ? conn!.ownCidLen : -1; }
export function connPeerCidPtr(): usize { return conn!.peerCid; }
export function connPeerCidLen(): i32 { return conn!.cidOn ? conn!.peerCidLen : -1; }
/** The connection kept across deep sleep (issue 10 §2): its state out, and back into the
 *  connection after a reset (everything wiped, as after a reboot). */
export function connKeepState(out: usize): i32 { return conn!.keepState(out); }
export function connRestoreKept(src: usize, seq: u64, limit: u64, sessionStart: i64): i32 {
  conn!.reset();
  return conn!.restoreKept(src, seq, limit, sessionStart);
}
export function connWriteSequence(): u64 { return conn!.writeSequence(); }
