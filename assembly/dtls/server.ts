// The server role of a DTLS 1.2 connection (RFC 6347), for the development
// servers (assembly/server/dtls_server.ts) and the tests: serverAccept() takes
// a first ClientHello (stateless cookie = HMAC over the client's address and
// hello, RFC 6347 4.2.1), onClientHello answers with ServerHello [Certificate]
// [ServerKeyExchange] [CertificateRequest] ServerHelloDone or resumes from the
// session cache, serverMessage() takes the client's flight (in the order of
// order.ts), serverSupplyPsk() the host's answer to DtlsEvent.PskIdentity.
// The record layer, flights, reassembly, transcript, key schedule, alerts and
// limits are connection.ts's, shared by both roles.
//
// This file is the DTLS_CLIENT_ONLY seam (config.ts DTLS_SERVER_ROLE): a build
// that defines it (the firmware) has isServer constant false, so the
// optimizer drops every call into this file, and serverAccept() /
// serverSupplyPsk() are compile errors there.
import { HostStatus, rng_fill } from "../host/abi";
import { sha256Init, sha256Update } from "../crypto/sha256";
import { ctEqual, wipe } from "../crypto/ct";
import { loadBe16, loadBe24, loadBe48, storeBe16 } from "../util/bytes";
import { X509Error } from "../x509/cert";
import { DtlsError, DtlsEvent } from "./alert";
import { SuiteBit, suiteBit, suiteProtection, CipherSuite } from "./suites";
import { RECORD_HEADER_LEN, ContentType, DTLS_1_2, DTLS_1_0, replayMark, MAX_CID_LEN } from "./record";
import { HS_HEADER_LEN, HandshakeType, writeHandshakeHeader } from "./handshake";
import {
  ExtBit, ExtensionType, CertificateType, SIG_ECDSA_SECP256R1_SHA256,
  extGroupOk, extPointFormatOk, extSigAlgOk, parseHelloExtensions, extSeen, extMfl, extServerCertTypes, extClientCertTypes,
  extCidPtr, extCidLen, writeConnectionId,
} from "./extensions";
import { rdStart, rd16, rdVec, rdSkip, rdDone, rdLeft, rdPos, rdFail, vecPtr, wr8, wr16, wrBytes, wrPos } from "./codec";
import {
  certificateBodyLen, ownCertificateListLen, writeCertificate, verifyCertificate, ecdhParamsDigest, ecdheGenerate, ecdheAgree,
  writeSignature, verifySignature, MAX_SIGNATURE_LEN, writeEcdhParams, readEcPoint, ECDH_PARAMS_LEN,
} from "./messages";
import { pskPremaster, deriveMasterSecret, VERIFY_DATA_LEN } from "./keys";
import { mflBytes, MAX_PSK_LEN, DTLS_SERVER_ROLE } from "./config";
import { MAX_SESSION_ID_LEN } from "./session";
import { ConnState } from "./order";
import { DtlsConnection, SECRET, ZZ, DIGEST, EPH_PUB, ENTRY_HEADER, ECDSA_SIGN } from "./connection";
import { hmacSha256Init, hmacSha256Update, hmacSha256Final, HMAC_SHA256_CTX_SIZE } from "../crypto/hmac";

// The stateless cookie secret (RFC 6347 4.2.1), drawn once from the DRBG.
// Lazy: a client-only build (no serverAccept()) does not have them.
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

/** Server: a datagram from a peer that has no connection yet (RFC 6347
 *  4.2.1). addr/addrLen: the peer's transport address, bound into the
 *  cookie. Returns 1 when only a HelloVerifyRequest is waiting in
 *  pollTransmit() and the connection stays Idle (nothing of the peer is
 *  kept: reuse it for the next datagram), 0 when a ClientHello with a valid
 *  cookie started the handshake (the connection now belongs to this peer;
 *  state Closed with an alert queued when the hello is refused), or a
 *  negative DtlsError when the datagram is not an acceptable first ClientHello
 *  (dropped, nothing to send). */
export function serverAccept(conn: DtlsConnection, ptr: usize, len: i32, addr: usize, addrLen: i32, now: i64): i32 {
  if (!DTLS_SERVER_ROLE) ERROR("serverAccept: the server role is not compiled in (DTLS_CLIENT_ONLY)");
  if (!conn.isServer || conn.state != ConnState.Idle) return DtlsError.BadState;
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
  if (conn.config.helloVerify) {
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
    const cache = conn.sessionCache;
    // RFC 6347 4.2.1: no cookie exchange is needed to resume a session (the
    // answer is about as long as the hello: no amplification); a lookup only.
    const resuming = cache != null && cache.find(sid, sidLen, now, conn.config.maxSessionAgeMs) != null;
    if (!resuming && (cookieLen != COOKIE_LEN || !ctEqual(cookie, COOKIE_MAC, COOKIE_LEN))) {
      if (!conn.txFree()) {
        wipe(COOKIE_MAC, 32);
        return DtlsError.Busy;
      }
      // HelloVerifyRequest: record and message_seq mirror the ClientHello's;
      // server_version DTLS 1.0 (RFC 6347 4.2.1).
      const out = conn.tx;
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
      conn.txPending = RECORD_HEADER_LEN + HS_HEADER_LEN + bodyLen;
      conn.holdSharedTx();
      return 1;
    }
    wipe(COOKIE_MAC, 32);
  }
  // The handshake starts: the peer's hello is message `seq`; ours mirror it.
  conn.bytesReceived += len;
  conn.datagramsReceived++;
  conn.peerLastSeq = seq;
  conn.nextRecvSeq = seq + 1;
  conn.nextSendSeq = <u32>seq;
  conn.writeSeq0 = loadBe48(ptr + 5);
  replayMark(conn.window, loadBe48(ptr + 5));
  sha256Init(conn.transcript);
  sha256Update(conn.transcript, hs, HS_HEADER_LEN + length);
  const e = onClientHello(conn, body, length, now);
  if (e != 0) conn.fail(e);
  return 0;
}

/** Server: the key for the PSK identity of DtlsEvent.PskIdentity (keyLen 0:
 *  unknown identity, refused with unknown_psk_identity). The rest of the
 *  datagram that carried the ClientKeyExchange is processed now. */
export function serverSupplyPsk(conn: DtlsConnection, key: usize, keyLen: i32, now: i64): i32 {
  if (!DTLS_SERVER_ROLE) ERROR("serverSupplyPsk: the server role is not compiled in (DTLS_CLIENT_ONLY)");
  if (conn.state != ConnState.NeedPsk) return DtlsError.BadState;
  if (keyLen <= 0 || keyLen > MAX_PSK_LEN) {
    conn.fail(DtlsError.UnknownPskIdentity);
    return DtlsError.UnknownPskIdentity;
  }
  conn.state = ConnState.WaitChangeCipherSpec;
  pskKeys(conn, key, keyLen);
  const n = conn.pendingLen;
  conn.pendingLen = 0;
  if (n > 0) conn.onRecords(conn.pending, n, now);
  return 0;
}

/** RFC 9146 3: a connection ID when the client offers one that fits
 *  (MAX_CID_LEN), the config accepts CIDs and the suite is CCM_8; otherwise
 *  none (the extension is not echoed: not negotiated). */
function negotiateCid(conn: DtlsConnection, suite: u32): i32 {
  const c = conn.config;
  if ((extSeen & ExtBit.ConnectionId) == 0 || c.connectionIdLength < 0 || !conn.cidRoom || extCidLen > MAX_CID_LEN ||
      (suite & ~SuiteBit.Ccm8) != 0) return 0;
  const n = min(c.connectionIdLength, MAX_CID_LEN);
  if (rng_fill(conn.ownCid, n) != HostStatus.Ok) return DtlsError.Rng;
  conn.ownCidLen = n;
  conn.acceptPeerCid(extCidPtr, extCidLen);
  return 0;
}

/** RFC 5246 7.4.1.2 / 7.4.1.3: choose the suite and answer. */
function onClientHello(conn: DtlsConnection, body: usize, len: i32, now: i64): i32 {
  const c = conn.config;
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
  memory.copy(conn.clientRandom, random, 32);
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
    conn.maxPlaintextIn = mflBytes(extMfl);
    conn.maxPlaintextOut = mflBytes(extMfl);
    if (c.maxFragmentLength != 0 && extMfl > c.maxFragmentLength) return DtlsError.IllegalExtension;
  }
  conn.extOffered = seen;
  if (rng_fill(conn.serverRandom, 32) != HostStatus.Ok) return DtlsError.Rng;

  let r0: i32 = 0;
  // Resumption by session ID (RFC 5246 7.3; RFC 7627 5.3: EMS sessions only)
  const cache = conn.sessionCache;
  if (sidLen > 0 && cache != null) {
    const s = cache.find(sid, sidLen, now, c.maxSessionAgeMs);
    if (s != null && (s.suite & usable) != 0 && s.ems) {
      conn.suite = s.suite;
      conn.protection = suiteProtection(s.suite);
      conn.ems = true;
      conn.resumed = true;
      conn.sidLen = sidLen;
      memory.copy(conn.sid, sid, <usize>sidLen);
      memory.copy(conn.masterSecret, s.masterSecret(), 48);
      conn.sessionStart = s.createdAt;
      r0 = negotiateCid(conn, s.suite);
      if (r0 != 0) return r0;
      conn.startFlight();
      let r = addServerHello(conn, secureReneg, false, false);
      if (r != 0) return r;
      conn.deriveKeys();
      if (conn.hsRoom() < VERIFY_DATA_LEN + ENTRY_HEADER + 1) return DtlsError.BufferTooSmall;
      conn.addChangeCipherSpec();
      conn.addFinished();
      conn.state = ConnState.WaitChangeCipherSpec;
      conn.emitFlight(now, true);
      return 0;
    }
  }

  // Full handshake: the server's preference is the bit order.
  const bit = usable & (~usable + 1);
  conn.suite = bit;
  conn.protection = suiteProtection(bit);
  conn.ems = true;
  if (cache != null) {
    conn.sidLen = 32;
    if (rng_fill(conn.sid, 32) != HostStatus.Ok) return DtlsError.Rng;
  }
  r0 = negotiateCid(conn, bit);
  if (r0 != 0) return r0;
  const ecdsa = (bit & SuiteBit.Ecdsa) != 0;
  conn.certRequested = ecdsa && c.verifyPeer;
  if (conn.certRequested) {
    // the client presents the same kind of credential as we do
    conn.clientRpk = rpk;
    if (rpk ? (extClientCertTypes & rpkBit) == 0 : (seen & ExtBit.ClientCertificateType) != 0 && (extClientCertTypes & 1) == 0) {
      return DtlsError.CertificateType;
    }
  }
  conn.startFlight();
  let r = addServerHello(conn, secureReneg, ecdsa && rpk, conn.certRequested && rpk);
  if (r != 0) return r;
  if (ecdsa) {
    const n = certificateBodyLen(rpk, ownCertificateListLen(c));
    if (conn.hsRoom() < n) return DtlsError.BufferTooSmall;
    wrPos = conn.hsBody();
    writeCertificate(rpk, c.ownPublicKey, c.ownCertificates, c.ownCertificatesLen, c.ownCertificateDer, c.ownCertificateDerLen);
    conn.addHandshake(HandshakeType.certificate, n);
  }
  if (bit & SuiteBit.Ecdhe) {
    // ServerKeyExchange: [psk_identity_hint] ServerECDHParams [signature] (RFC 5489 2, RFC 8422 5.4)
    if (conn.hsRoom() < 2 + ECDH_PARAMS_LEN + MAX_SIGNATURE_LEN) return DtlsError.BufferTooSmall;
    r = ecdheGenerate(conn.ephemeralSlot, EPH_PUB);
    if (r != 0) return r;
    const p = conn.hsBody();
    wrPos = p;
    if (bit & SuiteBit.AnyPsk) wr16(0); // no hint
    const params = wrPos;
    writeEcdhParams(EPH_PUB);
    if (ecdsa) {
      ecdhParamsDigest(conn.clientRandom, conn.serverRandom, params, ECDH_PARAMS_LEN, DIGEST);
      r = writeSignature(c.identitySlot, DIGEST);
      if (r != 0) return r;
    }
    conn.addHandshake(HandshakeType.server_key_exchange, <i32>(wrPos - p));
  }
  if (conn.certRequested) {
    // CertificateRequest (RFC 5246 7.4.4): ecdsa_sign, ecdsa_secp256r1_sha256, no CA names
    if (conn.hsRoom() < 8) return DtlsError.BufferTooSmall;
    const p = conn.hsBody();
    wrPos = p;
    wr8(1);
    wr8(ECDSA_SIGN);
    wr16(2);
    wr16(SIG_ECDSA_SECP256R1_SHA256);
    wr16(0);
    conn.addHandshake(HandshakeType.certificate_request, 8);
  }
  if (conn.hsRoom() < 0) return DtlsError.BufferTooSmall;
  conn.addHandshake(HandshakeType.server_hello_done, 0);
  conn.state = conn.certRequested ? ConnState.WaitClientCertificate : ConnState.WaitClientKeyExchange;
  conn.emitFlight(now, true);
  return 0;
}

/** ServerHello with the server extensions this hello needs (RFC 5246 7.4.1.3). */
function addServerHello(conn: DtlsConnection, secureReneg: bool, serverRpk: bool, clientRpk: bool): i32 {
  if (conn.hsRoom() < 2 + 32 + 33 + 3 + 2 + 32) return DtlsError.BufferTooSmall;
  const body = conn.hsBody();
  wrPos = body;
  wr16(DTLS_1_2);
  wrBytes(conn.serverRandom, 32);
  wr8(<u32>conn.sidLen);
  wrBytes(conn.sid, conn.sidLen);
  wr16(conn.negotiatedSuite());
  wr8(0); // null compression
  const lenAt = wrPos;
  wr16(0);
  const seen = conn.extOffered;
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
    wr8(<u32>extMflOf(conn.maxPlaintextOut));
  }
  if ((conn.suite & SuiteBit.Ecdhe) != 0 && (seen & ExtBit.EcPointFormats) != 0) {
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
  if (conn.cidOn) writeConnectionId(conn.ownCid, conn.ownCidLen); // RFC 9146 3
  storeBe16(lenAt, <u32>(wrPos - lenAt - 2));
  conn.addHandshake(HandshakeType.server_hello, <i32>(wrPos - body));
  return 0;
}

/** A message of the client's second flight, in the order connection.ts checked
 *  against order.ts (the state is already the row's next one). */
export function serverMessage(conn: DtlsConnection, type: u8, body: usize, len: i32, seq: i32, now: i64): i32 {
  if (type == HandshakeType.certificate) return onClientCertificate(conn, body, len);
  if (type == HandshakeType.client_key_exchange) return onClientKeyExchange(conn, body, len);
  if (type == HandshakeType.certificate_verify) {
    // RFC 5246 7.4.8: over the transcript up to the ClientKeyExchange
    rdStart(body, len);
    return verifySignature(conn.peerKey, conn.prevHash);
  }
  if (type == HandshakeType.finished) return conn.onFinished(body, len, seq, now);
  return DtlsError.UnexpectedMessage;
}

/** The client's Certificate (RFC 5246 7.4.6 / RFC 7250): required when requested. */
function onClientCertificate(conn: DtlsConnection, body: usize, len: i32): i32 {
  const c = conn.config;
  if (len == 3 && loadBe24(body) == 0) return DtlsError.PeerCertificateMissing;
  const r = verifyCertificate(body, len, conn.clientRpk, c.serverPublicKey, c.serverPublicKeyLen, c.trust,
    c.ownPublicKey, conn.peerKey, true);
  if (r != 0) {
    if (r >= DtlsError.Decode) return r;
    conn.detail = r;
    if (r == X509Error.RpkMismatch) return DtlsError.RpkMismatch;
    if (r == X509Error.KeyEqualsOwn) return DtlsError.PeerUsesOwnKey;
    return DtlsError.BadCertificate;
  }
  // A copy for the host: the SPKI (RPK) or the leaf DER (X.509).
  const first = conn.clientRpk ? body : body + 3;
  const n = <i32>loadBe24(first);
  if (n <= conn.config.peerCertificateCapacity && n <= len - 3) {
    memory.copy(conn.peerCert, first + 3, <usize>n);
    conn.peerCertLen = n;
  }
  return 0;
}

/** ClientKeyExchange: psk_identity (RFC 4279 2) and/or the client's ECPoint (RFC 8422 5.7). */
function onClientKeyExchange(conn: DtlsConnection, body: usize, len: i32): i32 {
  const s = conn.suite, c = conn.config;
  rdStart(body, len);
  let idLen: i32 = 0, id: usize = 0;
  if (s & SuiteBit.AnyPsk) {
    idLen = rdVec(2, 0, 0xffff);
    id = vecPtr;
  }
  if (s & SuiteBit.Ecdhe) {
    const e = readEcPoint(conn.peerEph);
    if (e != 0) return e;
  }
  if (!rdDone()) return DtlsError.Decode;
  if (s & SuiteBit.Ecdhe) {
    const e = ecdheAgree(conn.ephemeralSlot, conn.peerEph, ZZ);
    if (e != 0) return e;
  }
  // RFC 7627 4: session_hash over the messages up to this ClientKeyExchange
  conn.transcriptHash(conn.prevHash);
  if ((s & SuiteBit.AnyPsk) == 0) {
    memory.copy(SECRET, ZZ, 32);
    wipe(ZZ, 32);
    deriveMasterSecret(SECRET, 32, conn.prevHash, conn.clientRandom, conn.serverRandom, conn.masterSecret);
    wipe(SECRET, 160);
    conn.deriveKeys();
    return 0;
  }
  // Z waits in the master secret's place while the key is looked up.
  if (s & SuiteBit.Ecdhe) memory.copy(conn.masterSecret, ZZ, 32);
  wipe(ZZ, 32);
  conn.pskIdPtr = id;
  conn.pskIdLen = idLen;
  if (c.pskLen > 0) {
    // one configured identity
    if (idLen != c.pskIdentityLen || memory.compare(id, c.pskIdentity, <usize>idLen) != 0) return DtlsError.UnknownPskIdentity;
    pskKeys(conn, c.psk, c.pskLen);
    return 0;
  }
  conn.state = ConnState.NeedPsk;
  conn.pushEvent(DtlsEvent.PskIdentity, 0, id, idLen);
  return 0;
}

/** PSK / ECDHE-PSK premaster (RFC 4279 2, RFC 5489 2) -> extended master secret -> keys. */
function pskKeys(conn: DtlsConnection, key: usize, keyLen: i32): void {
  const ecdhe = (conn.suite & SuiteBit.Ecdhe) != 0;
  const pmsLen = pskPremaster(SECRET, ecdhe ? conn.masterSecret : 0, 32, key, keyLen);
  wipe(conn.masterSecret, 48);
  deriveMasterSecret(SECRET, pmsLen, conn.prevHash, conn.clientRandom, conn.serverRandom, conn.masterSecret);
  wipe(SECRET, 160);
  conn.deriveKeys();
}

/** The RFC 6066 code of a record size limit from mflBytes(). */
function extMflOf(bytes: i32): i32 {
  return bytes == 512 ? 1 : bytes == 1024 ? 2 : bytes == 2048 ? 3 : 4;
}
