// Logging without allocation: ASCII from a string literal (plus an optional
// decimal number) is copied into one static line buffer and handed to the
// host. Never pass secret material here (SE-3): only literals and counters.
import { log_write, LogLevel } from "../host/abi";

const LINE_CAP: i32 = 160;
const line = memory.data(160);

function putAscii(s: string, at: i32): i32 {
  const n = s.length;
  for (let i = 0; i < n && at < LINE_CAP; i++) {
    const c = <u32>s.charCodeAt(i);
    store<u8>(line + <usize>at, c < 0x80 ? <u8>c : <u8>0x3f);
    at++;
  }
  return at;
}

function putDecimal(v: i64, at: i32): i32 {
  if (v < 0) { if (at < LINE_CAP) { store<u8>(line + <usize>at, 0x2d); at++; } v = -v; }
  let digits: i32 = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (at + digits > LINE_CAP) return at;
  for (let i = digits - 1; i >= 0; i--) { store<u8>(line + <usize>(at + i), <u8>(0x30 + <i32>(v % 10))); v /= 10; }
  return at + digits;
}

export function log(level: i32, msg: string): void {
  log_write(level, line, putAscii(msg, 0));
}

/** `msg` followed by a decimal number, e.g. ("flash sectors: ", 16). */
export function logNum(level: i32, msg: string, n: i64): void {
  log_write(level, line, putDecimal(n, putAscii(msg, 0)));
}

export function info(msg: string): void { log(LogLevel.Info, msg); }
export function warn(msg: string): void { log(LogLevel.Warn, msg); }
export function error(msg: string): void { log(LogLevel.Error, msg); }
