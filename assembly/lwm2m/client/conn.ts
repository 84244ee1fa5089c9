// LwM2M client connections: one per Security account in use (the
// Bootstrap-Server account, each LwM2M Server account). A connection owns a
// CoAP endpoint (assembly/coap/endpoint.ts) and an observation table, both
// in static memory, and is bound to ONE Security Object instance: every
// request that arrives on it is served with that account's identity
// (Caller.Bootstrap or the Short Server ID), never with anything the message
// says (SEC-2). The bytes go through a transport the firmware glue provides
// (plain UDP for NoSec, a DTLS connection for the secure modes): see
// setTransport below.
import { CoapEndpoint, coapEndpointInit, coapEndpointSize, COAP_ENDPOINT_FIXED, COAP_SLOT_HDR } from "../../coap/endpoint";
import { CoapObserveTable, coapObserveSize, obsInit, COAP_OBSERVE_HDR, COAP_OBSERVE_ENTRY_SIZE } from "../../coap/observe";
import { Cap } from "../../profile";
import { LwPath } from "../formats/entry";

/** One Bootstrap-Server + Cap.SERVERS LwM2M Server accounts (MAX_SECURITY_INSTANCES; at most
 *  MAX_SERVER_INSTANCES server accounts, BS-5; profiles.json). Connection 0 is the Bootstrap-Server
 *  account's, 1.. are the LwM2M Servers' (connAlloc). */
export const MAX_CONNS: i32 = 1 + Cap.SERVERS;
/** The Bootstrap-Server connection's index. */
export const BS_CONN: i32 = 0;
/** Largest CoAP message we build: a 2^(MAX_SZX+4)-byte block plus header, token and options (profiles.json). */
export const MSG_CAP: i32 = Cap.COAP_MSG;
export const EP_SLOTS: i32 = Cap.COAP_EXCHANGES; // slot 0 our requests, the others notifications
/** The Bootstrap-Server connection sends our requests only (Bootstrap-Request): nobody observes the client there. */
export const BS_EP_SLOTS: i32 = 1;
export const EP_DEDUP: i32 = Cap.COAP_DEDUP;
export const OBS_PER_CONN: i32 = Cap.OBSERVATIONS;
export const LOC_CAP: i32 = 48; // Location-Path of a registration, as (len, bytes)*
/** Block size we serve and accept: 2^(MAX_SZX+4) bytes, 512 in `full` (RFC 7959 §2.2). */
export const MAX_SZX: i32 = Cap.COAP_SZX;

// Static sizes (coapEndpointSize / coapObserveSize as compile-time constants; connsInit checks them)
const MSG_ALIGNED: i32 = (MSG_CAP + 7) & ~7;
const EP_SIZE: i32 = COAP_ENDPOINT_FIXED + EP_DEDUP * 16 + MSG_ALIGNED + EP_SLOTS * (COAP_SLOT_HDR + MSG_ALIGNED);
const BS_EP_SIZE: i32 = COAP_ENDPOINT_FIXED + EP_DEDUP * 16 + MSG_ALIGNED + BS_EP_SLOTS * (COAP_SLOT_HDR + MSG_ALIGNED);
const OBS_SIZE: i32 = COAP_OBSERVE_HDR + OBS_PER_CONN * COAP_OBSERVE_ENTRY_SIZE;
const BS_OBS_SIZE: i32 = COAP_OBSERVE_HDR;
// Connection 0 (Bootstrap-Server) first, then the LwM2M Servers'.
const EP_AREA = memory.data(BS_EP_SIZE + EP_SIZE * Cap.SERVERS, 8);
const OBS_AREA = memory.data(BS_OBS_SIZE + OBS_SIZE * Cap.SERVERS, 8);

/** Which account a connection belongs to. */
export namespace Role {
  export const None: i32 = 0;
  export const Bootstrap: i32 = 1;
  export const Server: i32 = 2;
}

/** Connection states (registration §6.2, bootstrap §6.1). */
export namespace St {
  export const Idle: i32 = 0;
  export const Wait: i32 = 1; // timer: Client Hold Off Time, a retry back-off, Disable Timeout
  export const Connecting: i32 = 2; // the transport is opening (DTLS handshake)
  export const Registering: i32 = 3;
  export const Registered: i32 = 4;
  export const Updating: i32 = 5;
  export const Deregistering: i32 = 6;
  export const BsRequesting: i32 = 7; // Bootstrap-Request sent
  export const Bootstrapping: i32 = 8; // a bootstrap session: Bootstrap-Write/... until Finish
  export const Failed: i32 = 9; // registration failed (every retry sequence); waits for bootstrap / a new config
  export const Disabled: i32 = 10; // Disable executed: until Disable Timeout
  export const Lingering: i32 = 11; // bootstrap done: answers duplicates of Finish for a while
}

/** What the request in slot 0 is. */
export namespace Req {
  export const None: i32 = 0;
  export const Register: i32 = 1;
  export const Update: i32 = 2;
  export const Deregister: i32 = 3;
  export const BootstrapRequest: i32 = 4;
}

/** Update contents (§6.2.2): flags of Conn.update. */
export const U_LIFETIME: i32 = 1;
export const U_BINDING: i32 = 2;
export const U_OBJECTS: i32 = 4;
export const U_TRIGGER: i32 = 8; // Registration Update Trigger: an Update even with nothing changed

@unmanaged export class Conn {
  role: i32;
  state: i32;
  secIid: i32;
  ssid: i32; // 0 for the Bootstrap-Server account
  /** Channel.Closed / Up / Pending. */
  transport: i32;
  pending: i32; // Req.* in slot 0
  attempt: i32; // communication attempts in this sequence (§6.2.1.2)
  sequence: i32; // failed sequences
  lifetime: i32; // registered lifetime (s)
  update: i32; // U_* to send
  locLen: i32;
  bindingLen: i32;
  /** After the De-register: 0 idle, 1 Disabled (Disable executed), 2 stay idle (shutdown, reset). */
  afterDereg: i32;
  /** Observations restored at a wake (firmware/observe-store.ts): no notification until the
   *  wake's Update is acknowledged, so that the server has the new address first. */
  obsHeld: i32;
  timer: i64; // state deadline (ms), -1 none
  since: i64; // registered / last updated at; bootstrap: last activity
  binding: u64; // registered binding (up to 8 letters)
}
// @ts-ignore: decorator
@inline const CONN_SIZE: i32 = 80;
const CONNS = memory.data(80 * MAX_CONNS, 8);
const LOCS = memory.data(48 * MAX_CONNS);

export function conn(i: i32): Conn { return changetype<Conn>(CONNS + <usize>(i * CONN_SIZE)); }
export function connEp(i: i32): CoapEndpoint {
  return changetype<CoapEndpoint>(EP_AREA + <usize>(i == BS_CONN ? 0 : BS_EP_SIZE + (i - 1) * EP_SIZE));
}
/** Per connection: its endpoint is lent to the transport (an EST enrolment before the account
 *  registers, firmware/transport.ts); the client neither polls nor drains it meanwhile. */
const EP_LENT = memory.data(MAX_CONNS);
export function connEpLent(i: i32): bool { return load<u8>(EP_LENT + <usize>i) != 0; }
export function connEpLend(i: i32, lent: bool): void { store<u8>(EP_LENT + <usize>i, lent ? 1 : 0); }
/** Connection i's endpoint as connAlloc makes it (nothing in flight, fresh message IDs); 0 or -1 (DRBG). */
export function connEpReset(i: i32): i32 {
  return coapEndpointInit(changetype<usize>(connEp(i)), MSG_CAP, i == BS_CONN ? BS_EP_SLOTS : EP_SLOTS, EP_DEDUP);
}
/** The observations of connection i (none on the Bootstrap-Server connection: a table of 0). */
export function connObs(i: i32): CoapObserveTable {
  return changetype<CoapObserveTable>(OBS_AREA + <usize>(i == BS_CONN ? 0 : BS_OBS_SIZE + (i - 1) * OBS_SIZE));
}
/** Ends every observation of connection i. */
/** Connection i without observations (and so none held back for a wake's Update). */
export function connObsClear(i: i32): void { obsInit(connObs(i), i == BS_CONN ? 0 : OBS_PER_CONN); conn(i).obsHeld = 0; }
/** Location-Path of the registration: (len, bytes)*, Conn.locLen bytes. */
export function connLoc(i: i32): usize { return LOCS + <usize>(i * LOC_CAP); }

/** Per-observation reporting state, parallel to the CoAP observe table of a server
 *  connection (index (conn - 1) * OBS_PER_CONN + k; connection 0 has no observations). */
@unmanaged export class ObsState {
  oid: u16; // LwPath of the target
  iid: u16;
  rid: u16;
  riid: u16;
  dirty: i32; // the value changed since the last notification
  pad: i32;
  lastSent: i64;
  lastValue: f64; // numeric value last notified (gt / lt / st), NaN none
  holdUntil: i64; // no notification attempt before (the endpoint had no free slot)
}
// @ts-ignore: decorator
@inline const OBS_STATE_SIZE: i32 = 40;
const OBS_STATES = memory.data(40 * OBS_PER_CONN * Cap.SERVERS, 8);
/** Only for an observation of connObs(ci) (ci >= 1: connection 0's table has none). */
export function obsState(ci: i32, k: i32): ObsState {
  return changetype<ObsState>(OBS_STATES + <usize>(((ci - 1) * OBS_PER_CONN + k) * OBS_STATE_SIZE));
}
export function obsPathOf(s: ObsState): LwPath { return changetype<LwPath>(changetype<usize>(s)); }

// ---------------------------------------------------------------------------
// Transport seam (installed by the firmware glue)

/**
 * Opens the channel of connection `ci` to the account's server: host (ASCII,
 * brackets kept for an IPv6 literal; inside the Security URI, valid while the
 * connection lives) and port from the Security URI, `mode`
 * = Security Mode (resource 2). Returns Channel.Up (ready: NoSec),
 * Channel.Pending (a DTLS handshake runs; call clientTransportUp /
 * clientTransportFailed later) or a negative error (e.g. the secure
 * transport is not available).
 */
export type TransportOpen = (ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32, port: i32, now: i64) => i32;
/** One CoAP message out on connection ci (NoSec: a datagram; DTLS: an application-data record). */
export type TransportSend = (ci: i32, ptr: usize, len: i32) => i32;
export type TransportClose = (ci: i32) => void;
/** The state of a connection's channel (Conn.transport), and what TransportOpen answers (Up or Pending). */
export namespace Channel {
  /** No channel. */
  export const Closed: i32 = 0;
  /** Ready for CoAP messages (NoSec, or the DTLS handshake done). */
  export const Up: i32 = 1;
  /** A DTLS handshake runs (clientTransportUp / clientTransportFailed follow). */
  export const Pending: i32 = 2;
}

function noOpen(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32, port: i32, now: i64): i32 { return -1; }
function noSend(ci: i32, ptr: usize, len: i32): i32 { return -1; }
function noClose(ci: i32): void {}
export let transportOpen: TransportOpen = noOpen;
export let transportSend: TransportSend = noSend;
export let transportClose: TransportClose = noClose;

export function setTransport(open: TransportOpen, send: TransportSend, close: TransportClose): void {
  transportOpen = open;
  transportSend = send;
  transportClose = close;
}

// ---------------------------------------------------------------------------
// Table

/** Checks the static layout once (a size mistake is a build bug, not an input). */
export function connsInit(): i32 {
  if (coapEndpointSize(MSG_CAP, EP_SLOTS, EP_DEDUP) > EP_SIZE || coapObserveSize(OBS_PER_CONN) > OBS_SIZE
      || coapEndpointSize(MSG_CAP, BS_EP_SLOTS, EP_DEDUP) > BS_EP_SIZE || coapObserveSize(0) > BS_OBS_SIZE
      || offsetof<Conn>() > <usize>CONN_SIZE || offsetof<ObsState>() > <usize>OBS_STATE_SIZE) unreachable();
  memory.fill(CONNS, 0, CONN_SIZE * MAX_CONNS);
  return 0;
}

/** A free connection for an account (the Bootstrap-Server's: 0; an LwM2M Server's: 1..2);
 *  -1 when none (or the CoAP endpoint could not start: DRBG unhealthy). */
export function connAlloc(role: i32, secIid: i32, ssid: i32): i32 {
  const bs = role == Role.Bootstrap;
  const first = bs ? BS_CONN : BS_CONN + 1;
  const end = bs ? BS_CONN + 1 : MAX_CONNS;
  for (let i = first; i < end; i++) {
    const c = conn(i);
    if (c.role != Role.None) continue;
    if (coapEndpointInit(changetype<usize>(connEp(i)), MSG_CAP, bs ? BS_EP_SLOTS : EP_SLOTS, EP_DEDUP) != 0) return -1;
    connObsClear(i);
    memory.fill(changetype<usize>(c), 0, CONN_SIZE);
    c.role = role;
    c.secIid = secIid;
    c.ssid = ssid;
    c.timer = -1;
    return i;
  }
  return -1;
}

/** Closes the transport and frees the connection (its observations end with it). */
export function connFree(i: i32): void {
  const c = conn(i);
  if (c.role == Role.None) return;
  if (c.transport != Channel.Closed) transportClose(i);
  memory.fill(changetype<usize>(c), 0, CONN_SIZE);
  connObsClear(i);
}

/** The connection of an LwM2M Server account, -1 none. */
export function connOfSsid(ssid: i32): i32 {
  for (let i = 0; i < MAX_CONNS; i++) if (conn(i).role == Role.Server && conn(i).ssid == ssid) return i;
  return -1;
}

export function connOfRole(role: i32): i32 {
  for (let i = 0; i < MAX_CONNS; i++) if (conn(i).role == role) return i;
  return -1;
}

/** Full representations (Read, Discover, notifications) are built here, then
 *  served in blocks; also the decoding scratch of writes and the image buffer
 *  of the configuration (Bootstrap-Finish, persistence). */
export const REPR_CAP: i32 = Cap.REPR;
export const REPR = memory.data(REPR_CAP, 8);

/** min over deadlines, -1 = none. (A call, not @inline: 14 call sites.) */
export function earliest(a: i64, b: i64): i64 { return a < 0 ? b : b < 0 ? a : min(a, b); }
