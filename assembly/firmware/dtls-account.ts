// The DTLS account: each client connection's DtlsConfig and DtlsSession, and
// the config built from its Security Object instance (LwM2M 1.1 E.1, resources
// 2-5, 13-16): the credential copies the config points at (the PSK, our public
// key from the SE, the X.509 trust inputs), made here and nowhere else.
// firmware/transport.ts owns the channels (DtlsConnection, datagrams, events).
import { clock_wall_seconds, se_public_key, HostStatus } from "../host/abi";
import { SECURITY_OID, Sec, SecurityMode, securityKeyHandle, securitySecret, securitySecretLen } from "../lwm2m/objects/security";
import { findObject, instFind, resIndex, riCount, riIdAt, getInt, getBytes, found, valueLen } from "../lwm2m/model";
import { bsEntropyHigh } from "../lwm2m/bootstrap-config";
import { lb, ls, lnum, lerror, lwarn } from "../lwm2m/client/events";
import { DtlsConfig, MAX_PSK_LEN } from "../dtls/config";
import { DtlsSession } from "../dtls/session";
import { SuiteBit, suiteBit } from "../dtls/suites";
import { CertificateType } from "../dtls/extensions";
import { TrustConfig, TRUST_CONFIG_SIZE } from "../x509/trust";
import { VerifyFlag } from "../x509/verify";
import { wipe } from "../crypto/ct";
import { SeSlot } from "../se/keys";
import { keyLoad, keySlot } from "./persist";
import { STORE_SCRATCH } from "../storage/store";
import { estCredSlot } from "../est/credential";
import { EST_ENABLED, estCredCert, estCredLen, estCaLoad } from "./est-state";
import { SESSION_TICKET_CAP } from "./session-store";
import { MAX_CID_LEN } from "../dtls/record";
import { HAS_ECDSA, HAS_X509, HAS_EST } from "../profile";
import { conn, MAX_CONNS } from "../lwm2m/client/conn";

// Per-connection credential copies the DTLS config points at (the rest points
// into the Security Object, our certificate too): the PSK (wiped once the key
// schedule consumed it, SEC-3), our public key, the x509 trust decision inputs.
const PSK = memory.data(64 * MAX_CONNS, 8);
const OWN_PUB = memory.data(72 * MAX_CONNS, 8);
const TRUST = memory.data(TRUST_CONFIG_SIZE * MAX_CONNS, 8);

/** Largest datagram we send (DtlsConfig.mtu). */
export const MTU: i32 = 1152;
/** The transmit buffer the connections share: the record store's buffer
 *  (storage/store.ts STORE_SCRATCH: 2,100 bytes, 1,204 with psk-lpwa's CAP_STORE_VALUE), free between store calls.
 *  A datagram lives there from the DTLS call that builds it to the flush()
 *  right after that call, and no store call runs in between: the store is
 *  called (the PSK from its sealed record, persistence) only with every
 *  connection flushed. */
const TX: usize = STORE_SCRATCH;

/** RFC 9146 connection ID, a device setting from the host (set_connection_id, before init):
 *  -1 off (default); otherwise the length (0..32) of the CID we ask the server to put in
 *  the records it sends us (0: we only accept the server's CID and send with it).
 *  LwM2M 1.1's Security Object has no resource for it, so the host sets it. Off by default:
 *  it costs 5 + N bytes in every ClientHello and 1 + N (+ the server's CID) per record, it is
 *  offered with CCM_8 suites only (dtls/connection.ts), and it only pays when the address
 *  changes under a session (NAT rebinding, RFC 9146 1; several devices behind one socket). */
let cidLength: i32 = -1;
/** set_connection_id: -1..MAX_CID_LEN; false (unchanged) otherwise. Read when a connection's
 *  connection's configure, before the connection is made (its CID buffers exist only then). */
export function setConnectionIdLength(n: i32): bool {
  if (n < -1 || n > MAX_CID_LEN) return false;
  cidLength = n;
  return true;
}

export function pskBuf(ci: i32): usize { return PSK + <usize>(ci * MAX_PSK_LEN); }

// Allocated on a connection's first secure open, not at start-up (the stub
// runtime never frees, so what a connection never uses is never taken): the
// config and session here, the DtlsConnection with its handshake buffers in
// transport.ts at the first handshake.
// (pointer tables in static memory, 0 = not made yet: the stub runtime never frees)
const CONFIGS = memory.data(4 * MAX_CONNS, 4);
const SESSIONS = memory.data(4 * MAX_CONNS, 4);
@inline function slot(table: usize, i: i32): usize { return table + (<usize>i << 2); }

export function cfgOf(ci: i32): DtlsConfig {
  let c = changetype<DtlsConfig | null>(load<usize>(slot(CONFIGS, ci)));
  if (c == null) {
    c = new DtlsConfig();
    c.mtu = MTU;
    c.txBuffer = TX;
    c.handshakeBufferSize = 0; // lent from the pool for each handshake (takeHandshakeBlock)
    c.flightBufferSize = 0;
    // RFC 5077 tickets and session IDs: the session is kept in the sealed store (session-store.ts)
    c.ticketCapacity = SESSION_TICKET_CAP;
    c.sessionTickets = true;
    c.ephemeralSlot = SeSlot.FirstEphemeral + ci; // our ephemeral ECDHE slot, one per connection (se/keys.ts plan)
    store<usize>(slot(CONFIGS, ci), changetype<usize>(c));
    store<usize>(slot(SESSIONS, ci), changetype<usize>(new DtlsSession(SESSION_TICKET_CAP)));
  }
  return c;
}
export function sessionOf(ci: i32): DtlsSession {
  cfgOf(ci);
  return changetype<DtlsSession>(load<usize>(slot(SESSIONS, ci)));
}

export function wipePsk(ci: i32): void {
  wipe(pskBuf(ci), MAX_PSK_LEN);
}

// ---- configuration from the Security Object --------------------------------------

/** The account's PSK into pskBuf(ci): its length, or <= 0. */
export function loadPsk(ci: i32, secIid: u32, handle: i32): i32 {
  const k = pskBuf(ci);
  if (handle >= 0) return keyLoad(handle, k, MAX_PSK_LEN);
  if (handle != -1) return -1;
  const p = securitySecret(secIid);
  const n = securitySecretLen;
  if (n <= 0 || n > MAX_PSK_LEN) return -1;
  memory.copy(k, p, <usize>n);
  return n;
}

/** Resource 16 (IANA codes) as a SuiteBit mask; All when absent. */
function ciphersuites(secIid: u32): u32 {
  const o = findObject(SECURITY_OID);
  if (!o) return SuiteBit.All;
  const s = instFind(o, secIid);
  const idx = resIndex(o, Sec.Ciphersuite);
  if (!s || idx < 0) return SuiteBit.All;
  const n = riCount(o, s, idx);
  if (n == 0) return SuiteBit.All;
  let m: u32 = 0;
  for (let k = 0; k < n; k++) m |= suiteBit(<u32>getInt(SECURITY_OID, secIid, Sec.Ciphersuite, riIdAt(o, s, idx, k)));
  return m;
}

/** An IPv4 / IPv6 literal (RFC 6066 3: no SNI for those). */
function isIpLiteral(host: usize, n: i32): bool {
  if (n > 0 && load<u8>(host) == 0x5b) return true;
  for (let i = 0; i < n; i++) {
    const c = load<u8>(host + <usize>i);
    if (c != 0x2e && (c < 0x30 || c > 0x39)) return false;
  }
  return true;
}

/** Fills connection ci's DtlsConfig from Security instance secIid (PSK, RPK, X.509, or mode 4
 *  with the enrolled credential); false when the credentials are missing or unusable (logged). */
export function configure(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32): bool {
  const c = cfgOf(ci);
  c.clearCredentials();
  let suites = ciphersuites(secIid);
  const sni = getBytes(SECURITY_OID, secIid, Sec.Sni);
  if (found && valueLen > 0) {
    c.serverName = sni;
    c.serverNameLen = valueLen;
  }
  const own = getBytes(SECURITY_OID, secIid, Sec.PublicKeyOrIdentity);
  const ownLen = found ? valueLen : 0;
  const srv = getBytes(SECURITY_OID, secIid, Sec.ServerPublicKey);
  const srvLen = found ? valueLen : 0;
  const handle = securityKeyHandle(secIid);
  if (mode == SecurityMode.PSK) {
    // RFC 4279 2: identity = resource 3; the key from the sealed store (SEC-3). Loaded here
    // to check it, then only around the calls that may build the key schedule (loadPsk).
    const k = pskBuf(ci);
    const n = loadPsk(ci, secIid, handle);
    wipePsk(ci);
    if (n <= 0) {
      lb("DTLS: ssid=");
      lnum(conn(ci).ssid);
      ls(": no usable PSK (resource 5), status ");
      lnum(n);
      lerror();
      return false;
    }
    c.psk = k;
    c.pskLen = n;
    c.pskIdentity = own;
    c.pskIdentityLen = ownLen;
    // DTLS-3 / BS-4: the factory Bootstrap-Server secret marked low entropy -> ECDHE-PSK only
    if (getInt(SECURITY_OID, secIid, Sec.BootstrapServer) != 0 && !bsEntropyHigh) {
      c.pskLowEntropy = true;
      suites &= SuiteBit.EcdhePskCbc;
    } else {
      suites &= SuiteBit.AnyPsk;
    }
  } else if (HAS_ECDSA) { // (profiles.json: a PSK-only build has neither RPK nor X.509)
    // RPK / X.509: our private key stays in its SE slot; its public key from the SE
    // (mode 4: the enrolled key's slot and certificate, EST-6)
    const est = EST_ENABLED && mode == SecurityMode.CertificateWithEst;
    const slot = est ? estCredSlot : keySlot(handle);
    const pub = OWN_PUB + <usize>(ci * 72);
    if (slot < 0 || se_public_key(slot, pub) != HostStatus.Ok) {
      lb("DTLS: ssid=");
      lnum(conn(ci).ssid);
      ls(": no private key in the secure element (resource 5)");
      lerror();
      return false;
    }
    c.identitySlot = slot;
    c.ownPublicKey = pub;
    suites &= SuiteBit.Ecdsa;
    if (!HAS_X509 || mode == SecurityMode.RPK) {
      // DTLS-4: the server's key must equal resource 4 exactly
      c.certificateType = CertificateType.RawPublicKey;
      c.serverPublicKey = srv;
      c.serverPublicKeyLen = srvLen;
    } else {
      c.certificateType = CertificateType.X509;
      // our certificate (resource 3) goes into the Certificate message from where it is stored
      c.ownCertificateDer = est ? estCredCert() : ownLen > 0 ? own : 0;
      c.ownCertificateDerLen = est ? estCredLen() : ownLen;
      // RFC 6125 / LwM2M resource 14: the name checked is the SNI when present, else the URI host
      if (c.serverNameLen == 0 && !isIpLiteral(host, hostLen)) {
        c.serverName = host;
        c.serverNameLen = hostLen;
      }
      const named = c.serverNameLen > 0;
      c.trust = trustFrom(ci, secIid, srv, srvLen, named ? c.serverName : host, named ? c.serverNameLen : hostLen, 0);
    }
  }
  c.connectionIdLength = -1;
  if (cidLength >= 0) {
    // RFC 9146 3: the CID is offered only when every suite offered is CCM_8 (the AEAD additional
    // data of RFC 9146 5); LwM2M 1.1 mandates the CCM_8 suites, so asking for a CID offers those only
    if ((suites & SuiteBit.Ccm8) != 0) {
      suites &= SuiteBit.Ccm8;
      c.connectionIdLength = cidLength;
    } else {
      lb("DTLS: ssid=");
      lnum(conn(ci).ssid);
      ls(": no CCM_8 suite allowed for this account, connection ID not offered");
      lwarn();
    }
  }
  c.suites = suites;
  return true;
}


/** Connection ci's TrustConfig for the server's certificate, against key (DTLS-5/6/8: LwM2M
 *  Certificate Usage, resource 15, default 3, and Matching Type, resource 13, default 0; secIid
 *  < 0: key is an explicit trust anchor, usage 2) and the name host (RFC 6125). */
function trustFrom(ci: i32, secIid: i32, key: usize, keyLen: i32, host: usize, hostLen: i32, flags: i32): usize {
  const t = changetype<TrustConfig>(TRUST + <usize>(ci * TRUST_CONFIG_SIZE));
  if (secIid < 0) {
    t.usage = 2;
    t.matching = 0;
  } else {
    const usage = getInt(SECURITY_OID, <u32>secIid, Sec.CertificateUsage);
    t.usage = found ? <i32>usage : 3;
    const matching = getInt(SECURITY_OID, <u32>secIid, Sec.MatchingType);
    t.matching = found ? <i32>matching : 0;
  }
  t.serverKey = key;
  t.serverKeyLen = keyLen;
  t.host = host;
  t.hostLen = hostLen;
  t.store = 0;
  t.storeCount = 0;
  t.ownPub = OWN_PUB + <usize>(ci * 72);
  // DTLS-6: no wall clock -> the build-time lower bound decides for indirect trust
  t.flags = (clock_wall_seconds() < 0 ? VerifyFlag.ALLOW_TIME_LOWER_BOUND : 0) | flags;
  return changetype<usize>(t);
}

/** Connection ci's DtlsConfig for the EST server of mode-4 account secIid (RFC 9148, issue 8 §5):
 *  client authentication with the enrolled certificate for /sren (renewing), else the factory
 *  IDevID (resources 3 and 5), else, when the EST server is the Bootstrap-Server (bsSec >= 0: its
 *  Security instance), that account's PSK; the server checked against the explicit EST trust
 *  anchor (usage 2), else resource 4 as for the LwM2M Server (with the PSK: the PSK itself),
 *  never unauthenticated. False when either is missing (logged).
 *  anchorBuf: EST_CA_MAX bytes the caller lends for the explicit anchor until the handshake is over. */
export function configureEst(ci: i32, secIid: u32, renewing: bool, host: usize, hostLen: i32, anchorBuf: usize, bsSec: i32): bool {
  const c = cfgOf(ci);
  c.clearCredentials();
  getBytes(SECURITY_OID, secIid, Sec.PublicKeyOrIdentity);
  if (!renewing && !(found && valueLen > 0) && bsSec >= 0) {
    // issue 8 §5: the Bootstrap-Server account's PSK (RFC 4279 2: identity resource 3, key from
    // the sealed store or resource 5), with its low-entropy rule (BS-4 / DTLS-3: ECDHE-PSK only)
    const n = loadPsk(ci, <u32>bsSec, securityKeyHandle(<u32>bsSec));
    wipePsk(ci); // loaded again around the calls that build the key schedule (transport.ts)
    const id = getBytes(SECURITY_OID, <u32>bsSec, Sec.PublicKeyOrIdentity);
    if (n <= 0 || !found || valueLen <= 0) {
      lb("EST: no usable PSK of the Bootstrap-Server account for the EST server, status ");
      lnum(n);
      lerror();
      return false;
    }
    c.psk = pskBuf(ci);
    c.pskLen = n;
    c.pskIdentity = id;
    c.pskIdentityLen = valueLen;
    c.pskLowEntropy = !bsEntropyHigh;
    c.suites = ciphersuites(<u32>bsSec) & (bsEntropyHigh ? SuiteBit.AnyPsk : SuiteBit.EcdhePskCbc);
    return true;
  }
  const pub = OWN_PUB + <usize>(ci * 72);
  let slot = -1;
  if (renewing) {
    slot = estCredSlot;
    c.ownCertificateDer = estCredCert();
    c.ownCertificateDerLen = estCredLen();
  } else {
    slot = keySlot(securityKeyHandle(secIid));
    const own = getBytes(SECURITY_OID, secIid, Sec.PublicKeyOrIdentity);
    c.ownCertificateDer = found && valueLen > 0 ? own : 0;
    c.ownCertificateDerLen = found ? valueLen : 0;
  }
  if (slot < 0 || c.ownCertificateDerLen <= 0 || se_public_key(slot, pub) != HostStatus.Ok) {
    lb("EST: ssid=");
    lnum(conn(ci).ssid);
    ls(": no client credential for the EST server (IDevID certificate and key: resources 3 and 5)");
    lerror();
    return false;
  }
  c.identitySlot = slot;
  c.ownPublicKey = pub;
  c.certificateType = CertificateType.X509;
  c.suites = ciphersuites(secIid) & SuiteBit.Ecdsa;
  // certificate-sized handshake buffers come from the pool (transport.ts takeHandshakeBlock)
  let key = anchorBuf;
  let keyLen = estCaLoad(anchorBuf);
  const explicit = keyLen > 0;
  if (!explicit) {
    key = getBytes(SECURITY_OID, secIid, Sec.ServerPublicKey);
    keyLen = found ? valueLen : 0;
  }
  if (keyLen <= 0) {
    lb("EST: no trust anchor for the EST server (never unauthenticated)");
    lerror();
    return false;
  }
  if (!isIpLiteral(host, hostLen)) { c.serverName = host; c.serverNameLen = hostLen; }
  c.trust = trustFrom(ci, explicit ? -1 : <i32>secIid, key, keyLen, host, hostLen, VerifyFlag.SERVER_AUTH);
  return true;
}
