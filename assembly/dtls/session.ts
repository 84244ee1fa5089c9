// A session that a later connection may resume (RFC 5246 7.3, RFC 5077):
// session ID and/or ticket, master secret, suite, EMS. Sealed storage of it
// across sleep (DTLS-10) is done by the storage layer on top of this.
import { wipe } from "../crypto/ct";

export const MAX_SESSION_ID_LEN: i32 = 32;
export const MASTER_SECRET_LEN: i32 = 48;

@final
export class DtlsSession {
  private mem: ArrayBuffer;
  readonly ticketCapacity: i32;
  /** A resumable session is present (EMS negotiated, and an ID or ticket). */
  valid: bool = false;
  idLen: i32 = 0;
  ticketLen: i32 = 0;
  /** SuiteBit of the session's cipher suite. */
  suite: u32 = 0;
  ems: bool = false;
  ticketLifetimeHint: u32 = 0;
  /** Monotonic ms of the full handshake that created it (DTLS-10 age). */
  createdAt: i64 = 0;

  constructor(ticketCapacity: i32) {
    this.ticketCapacity = ticketCapacity;
    this.mem = new ArrayBuffer(MAX_SESSION_ID_LEN + MASTER_SECRET_LEN + ticketCapacity);
  }

  id(): usize {
    return changetype<usize>(this.mem);
  }

  masterSecret(): usize {
    return changetype<usize>(this.mem) + <usize>MAX_SESSION_ID_LEN;
  }

  ticket(): usize {
    return changetype<usize>(this.mem) + <usize>(MAX_SESSION_ID_LEN + MASTER_SECRET_LEN);
  }

  clear(): void {
    wipe(changetype<usize>(this.mem), this.mem.byteLength);
    this.valid = false;
    this.idLen = 0;
    this.ticketLen = 0;
    this.suite = 0;
    this.ems = false;
  }
}

/** Server role: a small cache of sessions by session ID (RFC 5246 7.4.1.2);
 *  when full the oldest entry is replaced. */
@final
export class DtlsSessionCache {
  private entries: Array<DtlsSession> = new Array<DtlsSession>(0);

  constructor(count: i32) {
    for (let i = 0; i < count; i++) this.entries.push(new DtlsSession(0));
  }

  /** The valid session with this ID younger than maxAgeMs (0 = no limit), or null. */
  find(id: usize, len: i32, now: i64, maxAgeMs: i64): DtlsSession | null {
    if (len <= 0 || len > MAX_SESSION_ID_LEN) return null;
    for (let i = 0; i < this.entries.length; i++) {
      const s = unchecked(this.entries[i]);
      if (s.valid && s.idLen == len && memory.compare(s.id(), id, <usize>len) == 0) {
        if (maxAgeMs > 0 && now - s.createdAt >= maxAgeMs) {
          s.clear();
          return null;
        }
        return s;
      }
    }
    return null;
  }

  /** Keep a session (EMS only, RFC 7627 5.3). */
  store(id: usize, len: i32, masterSecret: usize, suite: u32, now: i64): void {
    if (this.entries.length == 0) return;
    let pick = unchecked(this.entries[0]);
    for (let i = 0; i < this.entries.length; i++) {
      const s = unchecked(this.entries[i]);
      if (!s.valid) { pick = s; break; }
      if (s.createdAt < pick.createdAt) pick = s;
    }
    pick.clear();
    memory.copy(pick.id(), id, <usize>len);
    memory.copy(pick.masterSecret(), masterSecret, <usize>MASTER_SECRET_LEN);
    pick.idLen = len;
    pick.suite = suite;
    pick.ems = true;
    pick.createdAt = now;
    pick.valid = true;
  }

  clear(): void {
    for (let i = 0; i < this.entries.length; i++) unchecked(this.entries[i]).clear();
  }
}
