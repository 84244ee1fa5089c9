// The DTLS config setters both DTLS entries export to their hosts: the server
// role's entry (server/dtls_server.ts, as scfg*) and the client test entry
// (tests/dtls.ts, as cfg*). Credentials are copied into static buffers here
// (the firmware keeps them in the Security object instead: firmware/dtls-account.ts).
import { DtlsConfig } from "../dtls/config";

const PSK_IDENTITY = memory.data(1024);
const PSK = memory.data(64);
const OWN_PUB = memory.data(65);
const OWN_CERTS = memory.data(4096);

/** The config the entry's next connection is made from. */
export let config = new DtlsConfig();
/** A fresh config (connections made before keep theirs). */
export function useConfig(c: DtlsConfig): void { config = c; }
/** The static copy of our certificate(s) (cfgOwnCertificates). */
export function ownCertsBuffer(): usize { return OWN_CERTS; }

export function cfgSuites(mask: u32): void { config.suites = mask; }
/** One PSK identity + key (the server without one asks the host for every identity). */
export function cfgPsk(id: usize, idLen: i32, key: usize, keyLen: i32, lowEntropy: bool): void {
  memory.copy(PSK_IDENTITY, id, <usize>idLen);
  memory.copy(PSK, key, <usize>keyLen);
  config.pskIdentity = PSK_IDENTITY;
  config.pskIdentityLen = idLen;
  config.psk = PSK;
  config.pskLen = keyLen;
  config.pskLowEntropy = lowEntropy;
}
export function cfgMfl(code: i32): void { config.maxFragmentLength = code; }
export function cfgMtu(mtu: i32): void { config.mtu = mtu; }
export function cfgTimers(initialMs: i64, maxMs: i64, count: i32): void {
  config.retransmitInitialMs = initialMs;
  config.retransmitMaxMs = maxMs;
  config.maxRetransmissions = count;
}
export function cfgKeyLog(on: bool): void { config.keyLog = on; }
/** RFC 9146: the length of our connection ID (-1: none offered / accepted). */
export function cfgConnectionId(len: i32): void { config.connectionIdLength = len; }
/** Our ECDSA identity: the key in SE `slot`, its 65-byte public key. */
export function cfgIdentity(slot: i32, pub: usize, ephemeralSlot: i32): void {
  memory.copy(OWN_PUB, pub, 65);
  config.identitySlot = slot;
  config.ownPublicKey = OWN_PUB;
  config.ephemeralSlot = ephemeralSlot;
}
export function cfgCertificateType(t: u32): void { config.certificateType = t; }
/** X.509: our chain as certificate_list contents (3-byte length + DER each). */
export function cfgOwnCertificates(p: usize, len: i32): void {
  memory.copy(OWN_CERTS, p, <usize>len);
  config.ownCertificates = OWN_CERTS;
  config.ownCertificatesLen = len;
}
