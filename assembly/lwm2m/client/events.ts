// Client events for the host (the simulator prints them, tests wait on them)
// and log lines built without allocation. Events and logs never carry key
// material (SE-3): only ids, codes, paths, locations and URIs.
import { Cap } from "../../profile";
import { log_write, LogLevel } from "../../host/abi";
import { textLength, textCharAt, putDecimalAt } from "../../util/log";

export namespace ClientEvent {
  export const None: i32 = 0;
  export const BootstrapRequested: i32 = 1; // Bootstrap-Request sent (text: the Bootstrap-Server URI)
  export const Bootstrapped: i32 = 2; // Bootstrap-Finish accepted (2.04)
  export const BootstrapFailed: i32 = 3; // arg: why (BsFail.*), or a ConfigError when Finish was refused (4.06)
  export const Registered: i32 = 4; // ssid, text: Location-Path
  export const RegistrationFailed: i32 = 5; // ssid, arg: response code or an AttemptFail
  export const Updated: i32 = 6; // ssid
  export const Deregistered: i32 = 7; // ssid
  export const NotificationSent: i32 = 8; // ssid, arg: Observe sequence number, text: path
  export const ObservationStarted: i32 = 9; // ssid, text: path
  export const ObservationEnded: i32 = 10; // ssid, text: path
  export const Disabled: i32 = 11; // ssid, arg: Disable Timeout (s)
  export const Reboot: i32 = 12; // Execute /3/0/4
  export const FactoryReset: i32 = 13; // Execute /3/0/5
  export const BootstrapFinishRefused: i32 = 14; // arg: ConfigError (BS-5), the old configuration stays
  export const Insecure: i32 = 15; // a NoSec (Security Mode 3) channel was opened (DTLS-11); ssid, text: URI
  export const Enrolled: i32 = 16; // Security Mode 4: EST enrolment / renewal installed a certificate; ssid, arg 0 sen / 1 sren
  export const EnrolFailed: i32 = 17; // ssid, arg: the EST server's CoAP code (e.g. 0x80 = 4.00) or an EstError (< 0)
}

/** Why a bootstrap attempt failed (ClientEvent.BootstrapFailed arg). */
export namespace BsFail {
  export const Timeout: i32 = -1; // the Bootstrap-Request was not answered
  export const NoFinish: i32 = -2; // no Bootstrap-Finish in time: the session was dropped
  export const Transport: i32 = -3; // the channel could not be opened (e.g. secure transport unavailable)
  export const NoAccount: i32 = -4; // no Bootstrap-Server account
}

/** Why a request to a server got no response code (the code's place in onResponse / attemptFailed, ClientEvent.RegistrationFailed arg). */
export namespace AttemptFail {
  export const Timeout: i32 = -1; // no answer after the CoAP retransmissions (RFC 7252 §4.2)
  export const Transport: i32 = -2; // the channel could not be opened or failed
  export const Reset: i32 = -3; // the server answered with RST (RFC 7252 §4.2)
  export const NotSent: i32 = -4; // the request could not be sent
}

const RING: i32 = Cap.EVENTS; // a power of two (profiles.json)
const TEXT_CAP: i32 = 64;
// entry: kind i32, ssid i32, arg i32, len i32, text
// @ts-ignore: decorator
@inline const ENTRY: i32 = 80;
const ring = memory.data(80 * RING, 4);
let head: i32 = 0;
let count: i32 = 0;

/** Last event taken by eventNext(). */
export let evSsid: i32 = 0;
export let evArg: i32 = 0;
export let evLen: i32 = 0;
export const evText = memory.data(64);

/** Queues an event (the oldest is dropped when the host does not drain them). */
export function emit(kind: i32, ssid: i32, arg: i32, text: usize, len: i32): void {
  if (count == RING) { head = (head + 1) & (RING - 1); count--; }
  const e = ring + <usize>(((head + count) & (RING - 1)) * ENTRY);
  const n = min(max(len, 0), TEXT_CAP);
  store<i32>(e, kind);
  store<i32>(e, ssid, 4);
  store<i32>(e, arg, 8);
  store<i32>(e, n, 12);
  if (n) memory.copy(e + 16, text, <usize>n);
  count++;
}

/** Next event kind (ClientEvent.*), details in evSsid / evArg / evText[0..evLen); None when empty. */
export function eventNext(): i32 {
  if (!count) return ClientEvent.None;
  const e = ring + <usize>(head * ENTRY);
  head = (head + 1) & (RING - 1);
  count--;
  evSsid = load<i32>(e, 4);
  evArg = load<i32>(e, 8);
  evLen = load<i32>(e, 12);
  memory.copy(evText, e + 16, <usize>evLen);
  return load<i32>(e);
}

// ---- log lines: lb("text").num(5).bytes(p, n).end(level) style, as functions ----
// lb / ls take a string or an ASCII literal (util/log.ts textLength: the
// build's transform turns their string-literal arguments into ASCII bytes).

const LINE_CAP: i32 = 200;
const line = memory.data(200);
let pos: i32 = 0;

export function lb<T>(s: T): void { pos = 0; ls<T>(s); }
export function ls<T>(s: T): void {
  const n = textLength<T>(s);
  for (let i = 0; i < n && pos < LINE_CAP; i++) store<u8>(line + <usize>(pos++), <u8>textCharAt<T>(s, i));
}
/** Printable ASCII bytes (anything else becomes '?'). */
export function lbytes(p: usize, n: i32): void {
  for (let i = 0; i < n && pos < LINE_CAP; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    store<u8>(line + <usize>(pos++), <u8>(c >= 0x20 && c < 0x7f ? c : 0x3f));
  }
}
export function lnum(v: i64): void { pos = putDecimalAt(line, LINE_CAP, v, pos); }
/** CoAP code as c.dd. */
export function lcode(code: i32): void {
  lnum(code >> 5);
  ls(".");
  const d = code & 31;
  if (d < 10) ls("0");
  lnum(d);
}
export function lend(level: i32): void { log_write(level, line, pos); }
export function linfo(): void { lend(LogLevel.Info); }
export function lwarn(): void { lend(LogLevel.Warn); }
export function lerror(): void { lend(LogLevel.Error); }
/** The line so far (for an event text). */
export function lineText(): usize { return line; }
export function lineLen(): i32 { return pos; }
