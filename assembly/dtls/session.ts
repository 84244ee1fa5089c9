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
