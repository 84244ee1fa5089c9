// The one URI splitter of the firmware: coap://, coaps:// (RFC 7252 §6.1, §6.2)
// host[:port][/path], as the LwM2M Server URI (lwm2m/client/registration.ts
// connOpen) and the EST URI (firmware/transport.ts, RFC 9148 §5) are written.

/** The parts of the last uriSplit: host, port, the path after its '/'. */
export let uriHost: usize = 0;
export let uriHostLen: i32 = 0;
export let uriPort: i32 = 0;
export let uriPath: usize = 0;
export let uriPathLen: i32 = 0;

/** Splits scheme://host[:port][/path] at p (n bytes); the port defaults by the scheme (5684
 *  for the five-letter "coaps", else 5683); `bare`: an IPv6 literal without its brackets.
 *  False for an empty host, a port not in 1..65535, or anything but '/' after
 *  host[:port]. */
export function uriSplit(p: usize, n: i32, bare: bool): bool {
  up = p;
  un = n;
  let q = 0;
  let c: i32;
  while ((c = at(q)) >= 0 && c != 0x3a) q++; // scheme ":"
  uriPort = q == 5 ? 5684 : 5683;
  q += 3; // "//"
  const h = q;
  const v6 = at(q) == 0x5b; // "[v6]"
  while ((c = at(q)) >= 0 && (v6 ? c != 0x5d : c != 0x3a && c != 0x2f)) q++;
  if (v6) c = at(++q);
  uriHost = p + <usize>h;
  uriHostLen = q - h;
  if (q > n || uriHostLen <= 0) return false;
  if (bare && v6) { uriHost++; uriHostLen -= 2; }
  if (c == 0x3a) {
    let v = 0;
    while (<u32>(c = at(++q) - 0x30) <= 9) {
      v = v * 10 + c;
      if (v > 65535) return false;
    }
    if (v == 0) return false;
    uriPort = v;
    c = at(q);
  }
  if (c >= 0 && c != 0x2f) return false;
  uriPath = p + <usize>(q + 1);
  uriPathLen = max(n - q - 1, 0);
  return true;
}
let up: usize = 0;
let un: i32 = 0;
/** The byte at q of the URI being split, -1 past its end. */
function at(q: i32): i32 { return q < un ? <i32>load<u8>(up + <usize>q) : -1; }

/** "coaps://" at p (n bytes), with something after it. */
export function isCoaps(p: usize, n: i32): bool { return n > 8 && load<u64>(p) == 0x2f2f3a7370616f63; }
