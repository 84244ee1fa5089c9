// Logging without allocation: ASCII from a string literal (plus an optional
// decimal number) is copied into one static line buffer and handed to the
// host. Never pass secret material here (SE-3): only literals and counters.
//
// The text is a string, or an ASCII literal: the build's transform
// (scripts/ascii-literals.mjs) turns a string literal passed straight to
// these functions into a usize to a length byte and the bytes (half the size
// of a UTF-16 string). Both write the same bytes.
import { log_write, LogLevel } from "../host/abi";

const LINE_CAP: i32 = 160;
const line = memory.data(160);

/** Compile-time check that T is a string or an ASCII literal (usize). */
// @ts-ignore: decorator
@inline export function checkText<T>(): void {
  if (!isString<T>() && (!isInteger<T>() || isSigned<T>() || sizeof<T>() != sizeof<usize>())) {
    ERROR("log text: a string, or a usize from the ascii-literals transform");
  }
}

/** Length of a text: a string, or an ASCII literal (usize to a length byte and the bytes). */
// @ts-ignore: decorator
@inline export function textLength<T>(s: T): i32 {
  checkText<T>();
  if (isString<T>()) return changetype<string>(s).length;
  return <i32>load<u8>(changetype<usize>(s));
}

/** Character i of a text (see textLength). */
// @ts-ignore: decorator
@inline export function textCharAt<T>(s: T, i: i32): u32 {
  if (isString<T>()) return <u32>changetype<string>(s).charCodeAt(i);
  return <u32>load<u8>(changetype<usize>(s) + 1 + <usize>i);
}

function putAscii<T>(s: T, at: i32): i32 {
  const n = textLength<T>(s);
  for (let i = 0; i < n && at < LINE_CAP; i++) {
    const c = textCharAt<T>(s, i);
    // a string's non-ASCII char is '?'; an ASCII literal's bytes are copied (a log-dictionary token is >= 0x80)
    store<u8>(line + <usize>at, isString<T>() && c >= 0x80 ? <u8>0x3f : <u8>c);
    at++;
  }
  return at;
}

/** Optional '-' and the decimal digits of v into buf[at..cap): the new end. The
 *  digits go in whole or not at all (shared with the client's line builder). */
export function putDecimalAt(buf: usize, cap: i32, v: i64, at: i32): i32 {
  if (v < 0) { if (at < cap) { store<u8>(buf + <usize>at, 0x2d); at++; } v = -v; }
  let digits: i32 = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (at + digits > cap) return at;
  for (let i = digits - 1; i >= 0; i--) { store<u8>(buf + <usize>(at + i), <u8>(0x30 + <i32>(v % 10))); v /= 10; }
  return at + digits;
}

export function log<T>(level: i32, msg: T): void {
  log_write(level, line, putAscii<T>(msg, 0));
}

/** `msg` followed by a decimal number, e.g. ("flash sectors: ", 16). */
export function logNum<T>(level: i32, msg: T, n: i64): void {
  log_write(level, line, putDecimalAt(line, LINE_CAP, n, putAscii<T>(msg, 0)));
}

export function info<T>(msg: T): void { log<T>(LogLevel.Info, msg); }
export function warn<T>(msg: T): void { log<T>(LogLevel.Warn, msg); }
export function error<T>(msg: T): void { log<T>(LogLevel.Error, msg); }
