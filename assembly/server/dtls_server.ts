// Entry of the DTLS server role (assembly/dtls/server.ts) for the development
// servers: one server config (credentials copied into static buffers; the setters
// shared with the client test entry are in dtls-config-api.ts),
// connections by handle (new / free, so that the entry built with a GC runtime
// serves many clients: server/dtls-module.ts), a session cache shared by them,
// and the host side of the PSK identity lookup. The tests build the same entry
// with --runtime stub (assembly/tests/dtls_server.ts re-exports it).
import { ABI_VERSION } from "../host/abi";
import { DtlsConfig, Role } from "../dtls/config";
import { DtlsConnection } from "../dtls/connection";
import { serverAccept, serverSupplyPsk } from "../dtls/server";
import { DtlsSessionCache } from "../dtls/session";
import { TrustConfig, TRUST_CONFIG_SIZE } from "../x509/trust";
import { config, useConfig } from "./dtls-config-api";

export function abiVersion(): i32 { return ABI_VERSION; }

// The area the host writes datagrams and credentials into and reads results from.
const SCRATCH_SIZE: i32 = 1 << 18;
const SCRATCH = memory.data(SCRATCH_SIZE, 16);
export function scratch(): usize { return SCRATCH; }
export function scratchSize(): i32 { return SCRATCH_SIZE; }

// ---- configuration (what the server presents and accepts) -------------------
const CLIENT_KEY = memory.data(256);
const TRUST = memory.data(TRUST_CONFIG_SIZE, 8);
const MAX_ANCHORS: i32 = 4;
const ANCHORS = memory.data(4 * 2048);
const ANCHOR_LIST = memory.data(8 * MAX_ANCHORS, 8);

useConfig(newConfig());
let cache: DtlsSessionCache | null = null;

function newConfig(): DtlsConfig {
  const c = new DtlsConfig();
  c.role = Role.Server;
  c.handshakeBufferSize = 2048;
  c.flightBufferSize = 2048;
  return c;
}

/** A fresh server config (connections made before keep theirs). */
export function scfgReset(): void { useConfig(newConfig()); }
export {
  cfgSuites as scfgSuites, cfgPsk as scfgPsk, cfgMfl as scfgMfl, cfgMtu as scfgMtu, cfgTimers as scfgTimers,
  cfgKeyLog as scfgKeyLog, cfgConnectionId as scfgConnectionId, cfgIdentity as scfgIdentity,
  cfgCertificateType as scfgCertificateType, cfgOwnCertificates as scfgOwnCertificates,
} from "./dtls-config-api";
export function scfgBuffers(handshake: i32, flight: i32): void {
  config.handshakeBufferSize = handshake;
  config.flightBufferSize = flight;
}
export function scfgVerifyPeer(on: bool): void { config.verifyPeer = on; }
export function scfgHelloVerify(on: bool): void { config.helloVerify = on; }
export function scfgPeerCertificateCapacity(n: i32): void { config.peerCertificateCapacity = n; }
/** RPK: the one client key accepted (SPKI, point or X||Y); len 0 = any key, the host decides. */
export function scfgClientKey(p: usize, len: i32): void {
  memory.copy(CLIENT_KEY, p, <usize>len);
  config.serverPublicKey = len > 0 ? CLIENT_KEY : 0;
  config.serverPublicKeyLen = len;
}
/** X.509 client authentication: trust anchors as a certificate_list (3-byte length + DER each), VerifyFlag bits. */
export function scfgTrustAnchors(p: usize, len: i32, flags: i32): i32 {
  if (len > 4 * 2048) return -1;
  memory.copy(ANCHORS, p, <usize>len);
  let off: i32 = 0, n: i32 = 0;
  while (off + 3 <= len && n < MAX_ANCHORS) {
    const l = (<i32>load<u8>(ANCHORS + <usize>off) << 16) | (<i32>load<u8>(ANCHORS + <usize>off + 1) << 8) | <i32>load<u8>(ANCHORS + <usize>off + 2);
    if (off + 3 + l > len) return -1;
    store<u32>(ANCHOR_LIST + <usize>(8 * n), <u32>(ANCHORS + <usize>off + 3));
    store<i32>(ANCHOR_LIST + <usize>(8 * n), l, 4);
    n++;
    off += 3 + l;
  }
  const t = changetype<TrustConfig>(TRUST);
  t.clear();
  t.store = ANCHOR_LIST;
  t.storeCount = n;
  t.flags = flags;
  config.trust = TRUST;
  return n;
}
/** A session cache of `count` entries for the connections made from now on (0 = none). */
export function scfgSessionCache(count: i32): void { cache = count > 0 ? new DtlsSessionCache(count) : null; }
export function sessionCacheClear(): void { if (cache != null) cache!.clear(); }

// ---- connections by handle -------------------------------------------------------
const conns = new Array<DtlsConnection | null>(0);

/** A new server connection from the current config; returns its handle. */
export function srvNew(): i32 {
  const c = new DtlsConnection(config);
  c.sessionCache = cache;
  for (let i = 0; i < conns.length; i++) {
    if (conns[i] == null) {
      conns[i] = c;
      return i;
    }
  }
  conns.push(c);
  return conns.length - 1;
}
/** Drop a connection (its memory is reclaimed under a GC runtime). */
export function srvFree(h: i32): void {
  const c = conns[h];
  if (c != null) c.reset(); // wipes its secrets
  conns[h] = null;
}
export function srvCount(): i32 {
  let n = 0;
  for (let i = 0; i < conns.length; i++) if (conns[i] != null) n++;
  return n;
}
export function srvReset(h: i32): void { conns[h]!.reset(); }
export function srvSetEphemeralSlot(h: i32, slot: i32): void { conns[h]!.ephemeralSlot = slot; }

export function srvAccept(h: i32, p: usize, len: i32, addr: usize, addrLen: i32, now: i64): i32 {
  return serverAccept(conns[h]!, p, len, addr, addrLen, now);
}
export function srvHandleDatagram(h: i32, p: usize, len: i32, now: i64): i32 { return conns[h]!.handleDatagram(p, len, now); }
export function srvSupplyPsk(h: i32, key: usize, len: i32, now: i64): i32 { return serverSupplyPsk(conns[h]!, key, len, now); }
export function srvHandleTimeout(h: i32, now: i64): void { conns[h]!.handleTimeout(now); }
export function srvPollTransmit(h: i32): i32 { return conns[h]!.pollTransmit(); }
export function srvTransmitPtr(h: i32): usize { return conns[h]!.transmitPtr(); }
export function srvPollEvent(h: i32): i32 { return conns[h]!.pollEvent(); }
export function srvEventReason(h: i32): i32 { return conns[h]!.eventReason(); }
export function srvAppDataPtr(h: i32): usize { return conns[h]!.appDataPtr(); }
export function srvAppDataLen(h: i32): i32 { return conns[h]!.appDataLen(); }
export function srvSend(h: i32, p: usize, len: i32, now: i64): i32 { return conns[h]!.sendApplicationData(p, len, now); }
export function srvClose(h: i32, now: i64): void { conns[h]!.close(now); }
export function srvRefusePeer(h: i32, now: i64): void { conns[h]!.refusePeer(now); }
export function srvNextDeadline(h: i32): i64 { return conns[h]!.nextDeadline(); }
export function srvState(h: i32): i32 { return conns[h]!.state; }
export function srvReason(h: i32): i32 { return conns[h]!.reason; }
export function srvDetail(h: i32): i32 { return conns[h]!.detail; }
export function srvSuite(h: i32): u32 { return conns[h]!.negotiatedSuite(); }
export function srvResumed(h: i32): bool { return conns[h]!.isResumed(); }
export function srvMaxPlaintext(h: i32): i32 { return conns[h]!.maxPlaintext(); }
export function srvPskIdentityPtr(h: i32): usize { return conns[h]!.pskIdentityPtr(); }
export function srvPskIdentityLen(h: i32): i32 { return conns[h]!.pskIdentityLength(); }
export function srvPeerKeyPtr(h: i32): usize { return conns[h]!.peerPublicKeyPtr(); }
export function srvPeerCertificatePtr(h: i32): usize { return conns[h]!.peerCertificatePtr(); }
export function srvPeerCertificateLen(h: i32): i32 { return conns[h]!.peerCertificateLength(); }
export function srvSessionIdPtr(h: i32): usize { return conns[h]!.sessionIdPtr(); }
export function srvSessionIdLen(h: i32): i32 { return conns[h]!.sessionIdLength(); }
export function srvKeyLogPtr(h: i32): usize { return conns[h]!.keyLogPtr(); }
export function srvKeyLogLen(h: i32): i32 { return conns[h]!.keyLogLength(); }
/** RFC 9146: the CID the peer puts in its records to us (length -1: none negotiated). */
export function srvOwnCidPtr(h: i32): usize { return conns[h]!.ownCid; }
export function srvOwnCidLen(h: i32): i32 { return conns[h]!.cidOn ? conns[h]!.ownCidLen : -1; }
export function srvPeerCidPtr(h: i32): usize { return conns[h]!.peerCid; }
export function srvPeerCidLen(h: i32): i32 { return conns[h]!.cidOn ? conns[h]!.peerCidLen : -1; }
/** Counters as in dtls.ts connStat. */
export function srvStat(h: i32, i: i32): i64 { return conns[h]!.stat(i); }
