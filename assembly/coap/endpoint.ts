// CoAP transaction layer (RFC 7252 §4, §5.3, §4.8), sans-I/O: one endpoint
// per peer (a UDP association or a DTLS connection). The caller feeds
// datagrams and time, and drains datagrams to send and events:
//
//   ep.handleDatagram(ptr, len, now); ep.handleTimeout(now);
//   while ((n = ep.pollTransmit()) > 0) send(ep.txPtr, n);
//   while ((e = ep.pollEvent()) != CoapEvent.None) ... ep.eventSlot, ep.eventMid, ep.rx
//   timer at ep.nextDeadline()
//
// All state lives in caller memory (coapEndpointSize bytes): the header
// below, the received-message view, one writer, the control queue, the
// event ring, the deduplication table, one response cache and the transmit
// slots. Slot 0 carries our client requests (NSTART = 1, §4.7); slots 1..
// carry server-side messages (separate responses, notifications).
//
// Contract: ep.rx is a view into the datagram given to handleDatagram, valid
// until the next call; a Request is answered (beginResponse+send, or
// acceptSeparate) before the next datagram is fed. Drain pollTransmit and
// pollEvent after every call (the event ring holds 8; the control queue 4).
// Duplicates are answered from the response cache: the last piggybacked
// response whole, and the RESP_HISTORY before it when they are small (up to
// RESP_HISTORY_CAP bytes: 2.04, 2.01, short 2.05). A peer may send several
// requests in one datagram (several DTLS records, RFC 6347 4.1.1) and
// retransmit each; an older large response is not kept (its duplicate is
// dropped, and the peer's exchange times out).
import { rng_fill } from "../host/abi";
import {
  CoapMessage, CoapWriter, coapParse, coapBytesEqual, CoapType, CoapCode, CoapError, CoapOption,
  COAP_MESSAGE_SIZE, COAP_WRITER_SIZE,
} from "./message";

export namespace CoapEvent {
  export const None: i32 = 0;
  /** A new request (view in ep.rx): answer with beginResponse()+send(), or acceptSeparate(). */
  export const Request: i32 = 1;
  /** The response to our request in ep.eventSlot (view in ep.rx; token in slotToken()). */
  export const Response: i32 = 2;
  /** ep.eventSlot gave up: CON not acknowledged after MAX_RETRANSMIT, or no response in time. */
  export const Timeout: i32 = 3;
  /** RST for ep.eventSlot, or ep.eventSlot = -1 (e.g. a RST to a NON notification; ep.eventMid). */
  export const Reset: i32 = 4;
  /** A server-side CON (separate response, notification) in ep.eventSlot was acknowledged. */
  export const Acked: i32 = 5;
}

// slot states
const S_FREE: i32 = 0;
const S_CON: i32 = 1; // CON sent, waiting for ACK/RST (retransmitting)
const S_WAIT: i32 = 2; // client request acknowledged (or NON): waiting for the response
const S_NON: i32 = 3; // NON to send once, then free
// slot flags
const F_PENDING: i32 = 1; // to (re)transmit at the next pollTransmit
const F_CLIENT: i32 = 2; // our request (slot 0)

// dedup kinds: what a duplicate CON gets (§4.5); ACK/RST equal their type codes
const D_SILENT: i32 = 0; // nothing (still processing, or a NON)
const D_RESPONSE: i32 = 1; // the cached piggybacked response again
const D_ACK: i32 = 2; // the empty ACK again
const D_RST: i32 = 3; // the RST again

const CTL_QUEUE: i32 = 4; // power of two
/** Older piggybacked responses kept for duplicates (besides the last one), and their size limit. */
const RESP_HISTORY: i32 = 2;
const RESP_HISTORY_CAP: i32 = 56;
const HIST_STRIDE: i32 = 8 + RESP_HISTORY_CAP; // mid u16, len u16, pending u8, pad; bytes
const EVENT_RING: i32 = 8; // power of two

@unmanaged class Slot {
  state: i32;
  flags: i32;
  len: i32;
  mid: i32;
  retransmits: i32;
  timeout: i32;
  deadline: i64;
}
const SLOT_HDR: i32 = 32;

@unmanaged class DedupEntry {
  mid: i32;
  kind: i32;
  expiry: i64;
}

// @ts-ignore: decorator
@inline function align8(n: i32): i32 { return (n + 7) & ~7; }

const HDR: i32 = 160; // >= offsetof<CoapEndpoint>(), checked in coapEndpointInit
const RX_OFF: i32 = HDR;
const W_OFF: i32 = RX_OFF + 48; // >= COAP_MESSAGE_SIZE
const CTL_OFF: i32 = W_OFF + 24; // >= COAP_WRITER_SIZE
const CTLBUF_OFF: i32 = CTL_OFF + CTL_QUEUE * 4;
const EV_OFF: i32 = CTLBUF_OFF + 8;
const DEDUP_OFF: i32 = EV_OFF + EVENT_RING * 4;

/** The fixed part of an endpoint and one transmit slot's header: callers that size a
 *  static area at compile time use them (coapEndpointSize checks it at run time). */
export const COAP_ENDPOINT_FIXED: i32 = DEDUP_OFF + RESP_HISTORY * HIST_STRIDE;
export const COAP_SLOT_HDR: i32 = SLOT_HDR;
/** Bytes of caller memory for an endpoint (8-byte aligned). */
export function coapEndpointSize(msgCap: i32, slots: i32, dedup: i32): i32 {
  return DEDUP_OFF + dedup * 16 + align8(msgCap) + RESP_HISTORY * HIST_STRIDE + slots * (SLOT_HDR + align8(msgCap));
}

const TMP = memory.data(8);

/** Random bytes from the device DRBG (EST-2); false when it is unhealthy. */
function random(p: usize, n: i32): bool { return rng_fill(p, n) == 0; }

@unmanaged export class CoapEndpoint {
  // RFC 7252 §4.8 transmission parameters (ms); change with setTransmission()
  ackTimeout: i32;
  ackRandomFactor: i32; // per mille (1500 = 1.5)
  maxRetransmit: i32;
  exchangeLifetime: i32; // §4.8.2, 247 s by default
  nonLifetime: i32; // 145 s
  responseTimeout: i32; // wait for a separate or NON response: MAX_TRANSMIT_WAIT, 93 s
  tokenLen: i32; // bytes of random token per request (§5.3.1), 0..8
  msgCap: i32;
  slotCount: i32;
  dedupCount: i32;
  nextMid: i32;
  respOff: i32;
  slotOff: i32;
  slotStride: i32;
  respLen: i32;
  respMid: i32;
  respPending: i32;
  histOff: i32;
  histNext: i32;
  rxAnswerable: i32; // rx holds a request that has not been answered yet
  rxDedup: i32;
  wSlot: i32; // where the writer writes: -1 response cache, >= 0 slot, -2 nothing
  wReplace: i32; // the write replaces an outstanding CON in wSlot (RFC 7641 §4.5.2)
  ctlHead: i32;
  ctlCount: i32;
  evHead: i32;
  evCount: i32;
  /** Slot and message ID of the last event returned by pollEvent(). */
  eventSlot: i32;
  eventMid: i32;
  /** Datagram returned by pollTransmit(). */
  txPtr: usize;

  get self(): usize { return changetype<usize>(this); }
  /** The last received message (valid until the next handleDatagram and while its bytes are). */
  get rx(): CoapMessage { return changetype<CoapMessage>(this.self + RX_OFF); }
  get writer(): CoapWriter { return changetype<CoapWriter>(this.self + W_OFF); }
  private slot(i: i32): Slot { return changetype<Slot>(this.self + <usize>(this.slotOff + i * this.slotStride)); }
  slotBuf(i: i32): usize { return this.self + <usize>(this.slotOff + i * this.slotStride + SLOT_HDR); }
  /** Token of the message in slot i (stays readable after the slot is freed, until reused). */
  slotToken(i: i32): usize { return this.slotBuf(i) + 4; }
  slotTkl(i: i32): i32 { return <i32>load<u8>(this.slotBuf(i)) & 15; }
  slotMid(i: i32): i32 { return this.slot(i).mid; }
  slotBusy(i: i32): bool { return this.slot(i).state != S_FREE; }
  private dedup(i: i32): DedupEntry { return changetype<DedupEntry>(this.self + <usize>(DEDUP_OFF + i * 16)); }
  private hist(i: i32): usize { return this.self + <usize>(this.histOff + i * HIST_STRIDE); }

  /** The cached response makes room for a new one: kept in the history when small (pending or not). */
  private keepResponse(): void {
    const n = this.respLen;
    if (n > 0 && n <= RESP_HISTORY_CAP) {
      const h = this.hist(this.histNext);
      this.histNext = (this.histNext + 1) % RESP_HISTORY;
      store<u16>(h, <u16>this.respMid);
      store<u16>(h, <u16>n, 2);
      store<u8>(h, <u8>this.respPending, 4);
      memory.copy(h + 8, this.self + <usize>this.respOff, <usize>n);
    }
    this.respLen = 0;
    this.respPending = 0;
  }

  /** A duplicate CON whose response was piggybacked: that response again, if it is still cached. */
  private resendResponse(mid: i32): void {
    if (this.respMid == mid && this.respLen > 0) { this.respPending = 1; return; }
    for (let i = 0; i < RESP_HISTORY; i++) {
      const h = this.hist(i);
      if (load<u16>(h, 2) != 0 && <i32>load<u16>(h) == mid) { store<u8>(h, 1, 4); return; }
    }
  }

  /**
   * ACK_TIMEOUT (ms), ACK_RANDOM_FACTOR (per mille), MAX_RETRANSMIT, and the
   * derived times of §4.8.2 (MAX_LATENCY 100 s, PROCESSING_DELAY = ACK_TIMEOUT).
   */
  setTransmission(ackTimeout: i32, ackRandomFactor: i32, maxRetransmit: i32): void {
    this.ackTimeout = ackTimeout;
    this.ackRandomFactor = ackRandomFactor;
    this.maxRetransmit = maxRetransmit;
    const t = <i64>ackTimeout * <i64>ackRandomFactor / 1000;
    const span = t * ((<i64>1 << maxRetransmit) - 1); // MAX_TRANSMIT_SPAN
    this.exchangeLifetime = <i32>(span + 200000 + <i64>ackTimeout);
    this.nonLifetime = <i32>(span + 100000);
    this.responseTimeout = <i32>(t * ((<i64>1 << (maxRetransmit + 1)) - 1)); // MAX_TRANSMIT_WAIT
  }

  private newMid(): i32 {
    const m = this.nextMid;
    this.nextMid = (m + 1) & 0xffff;
    return m;
  }

  /** Initial retransmission timeout, uniform in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR] (§4.2). */
  private initialTimeout(): i32 {
    const spread = <i64>this.ackTimeout * <i64>(this.ackRandomFactor - 1000) / 1000;
    let r: i64 = 0;
    if (random(TMP, 2)) r = <i64>load<u16>(TMP);
    return this.ackTimeout + <i32>(r * spread / 65535);
  }

  private pushEvent(kind: i32, slot: i32, mid: i32): void {
    if (this.evCount == EVENT_RING) { this.evHead = (this.evHead + 1) & (EVENT_RING - 1); this.evCount--; }
    const i = (this.evHead + this.evCount) & (EVENT_RING - 1);
    store<u32>(this.self + <usize>(EV_OFF + i * 4), <u32>kind | (<u32>(slot + 1) << 8) | (<u32>mid << 16));
    this.evCount++;
  }

  /** Next event (CoapEvent), with eventSlot/eventMid; None when there is none. */
  pollEvent(): i32 {
    if (this.evCount == 0) return CoapEvent.None;
    const v = load<u32>(this.self + <usize>(EV_OFF + this.evHead * 4));
    this.evHead = (this.evHead + 1) & (EVENT_RING - 1);
    this.evCount--;
    this.eventSlot = <i32>((v >> 8) & 0xff) - 1;
    this.eventMid = <i32>(v >> 16);
    return <i32>(v & 0xff);
  }

  private queueCtl(type: i32, mid: i32): void {
    if (this.ctlCount == CTL_QUEUE) return; // the peer retransmits
    const i = (this.ctlHead + this.ctlCount) & (CTL_QUEUE - 1);
    store<u32>(this.self + <usize>(CTL_OFF + i * 4), (<u32>type << 16) | <u32>mid);
    this.ctlCount++;
  }

  /** Next datagram to send (length; bytes at txPtr), 0 when there is none. */
  pollTransmit(): i32 {
    if (this.ctlCount) {
      const v = load<u32>(this.self + <usize>(CTL_OFF + this.ctlHead * 4));
      this.ctlHead = (this.ctlHead + 1) & (CTL_QUEUE - 1);
      this.ctlCount--;
      const b = this.self + CTLBUF_OFF;
      store<u8>(b, <u8>(0x40 | ((v >> 16) << 4))); // version 1, type, TKL 0
      store<u8>(b + 1, 0); // 0.00 Empty (§4.1)
      store<u8>(b + 2, <u8>(v >> 8));
      store<u8>(b + 3, <u8>v);
      this.txPtr = b;
      return 4;
    }
    if (this.respPending) {
      this.respPending = 0;
      this.txPtr = this.self + <usize>this.respOff;
      return this.respLen;
    }
    for (let i = 0; i < RESP_HISTORY; i++) {
      const h = this.hist(i);
      if (load<u8>(h, 4)) {
        store<u8>(h, 0, 4);
        this.txPtr = h + 8;
        return <i32>load<u16>(h, 2);
      }
    }
    for (let i = 0; i < this.slotCount; i++) {
      const s = this.slot(i);
      if (s.state != S_FREE && (s.flags & F_PENDING)) {
        s.flags &= ~F_PENDING;
        if (s.state == S_NON) s.state = S_FREE; // bytes stay intact until the slot is reused
        this.txPtr = this.slotBuf(i);
        return s.len;
      }
    }
    return 0;
  }

  /** Earliest retransmission/timeout deadline (ms), -1 when nothing is pending. */
  nextDeadline(): i64 {
    let d: i64 = -1;
    for (let i = 0; i < this.slotCount; i++) {
      const s = this.slot(i);
      if ((s.state == S_CON || s.state == S_WAIT) && (d < 0 || s.deadline < d)) d = s.deadline;
    }
    return d;
  }

  /** Retransmissions with exponential back-off (§4.2) and transaction timeouts. */
  handleTimeout(now: i64): void {
    for (let i = 0; i < this.slotCount; i++) {
      const s = this.slot(i);
      if ((s.state != S_CON && s.state != S_WAIT) || s.deadline > now) continue;
      if (s.state == S_CON && s.retransmits < this.maxRetransmit) {
        s.retransmits++;
        s.timeout <<= 1;
        s.deadline = now + <i64>s.timeout; // back-off counted from this retransmission
        s.flags |= F_PENDING;
      } else {
        s.state = S_FREE;
        this.pushEvent(CoapEvent.Timeout, i, s.mid);
      }
    }
  }

  /** Abandons a transaction (no event); e.g. a cancelled block-wise transfer. */
  cancel(i: i32): void {
    if (<u32>i < <u32>this.slotCount) this.slot(i).state = S_FREE;
  }

  private findSlotByMid(mid: i32, wait: bool): i32 {
    for (let i = 0; i < this.slotCount; i++) {
      const s = this.slot(i);
      if (s.mid == mid && (s.state == S_CON || (wait && s.state == S_WAIT))) return i;
    }
    return -1;
  }

  /** Our outstanding request whose token the message carries (§5.3.2). */
  private findSlotByToken(m: CoapMessage): i32 {
    for (let i = 0; i < this.slotCount; i++) {
      const s = this.slot(i);
      if ((s.flags & F_CLIENT) && (s.state == S_CON || s.state == S_WAIT) && this.slotTkl(i) == m.tkl
          && coapBytesEqual(this.slotToken(i), m.token, m.tkl)) return i;
    }
    return -1;
  }

  private dedupFind(mid: i32, now: i64): i32 {
    for (let i = 0; i < this.dedupCount; i++) {
      const e = this.dedup(i);
      if (e.mid == mid && e.expiry > now) return i;
    }
    return -1;
  }

  /** Records a received CON/NON; a full table forgets the entry closest to expiry. */
  private dedupAdd(mid: i32, kind: i32, expiry: i64): i32 {
    let best = 0;
    for (let i = 1; i < this.dedupCount; i++) if (this.dedup(i).expiry < this.dedup(best).expiry) best = i;
    const e = this.dedup(best);
    e.mid = mid;
    e.kind = kind;
    e.expiry = expiry;
    return best;
  }

  /**
   * A received datagram. Returns 0, or the message format error (a CON with
   * a format error is rejected with a RST, §4.2; anything else is dropped).
   */
  handleDatagram(p: usize, len: i32, now: i64): i32 {
    const m = this.rx;
    this.rxAnswerable = 0;
    const err = coapParse(m, p, len);
    if (err) {
      if (err != CoapError.Version && m.type == CoapType.CON) this.queueCtl(CoapType.RST, m.mid);
      return err;
    }
    const t = m.type;
    if (t == CoapType.RST) {
      if (m.code != 0) return 0; // a RST must be Empty: ignore (§4.2)
      const i = this.findSlotByMid(m.mid, true);
      if (i >= 0) this.slot(i).state = S_FREE;
      this.pushEvent(CoapEvent.Reset, i, m.mid);
      return 0;
    }
    if (t == CoapType.ACK) {
      const i = this.findSlotByMid(m.mid, false);
      if (i < 0) return 0; // late or unknown ACK: silently ignored
      const s = this.slot(i);
      const client = (s.flags & F_CLIENT) != 0;
      if (m.code == 0) {
        if (client) {
          s.state = S_WAIT; // separate response follows (§5.2.2)
          s.deadline = now + <i64>this.responseTimeout;
        } else {
          s.state = S_FREE;
          this.pushEvent(CoapEvent.Acked, i, m.mid);
        }
        return 0;
      }
      // piggybacked response: must match the token too; a rejected ACK is ignored (§4.2, §5.4.1)
      if (!client || !m.isResponse() || m.badOption || this.findSlotByToken(m) != i) return 0;
      s.state = S_FREE;
      this.pushEvent(CoapEvent.Response, i, m.mid);
      return 0;
    }
    // CON or NON from the peer
    const con = t == CoapType.CON;
    const d = this.dedupFind(m.mid, now);
    if (d >= 0) { // duplicate (§4.5)
      if (con) {
        const k = this.dedup(d).kind;
        if (k >= D_ACK) this.queueCtl(k, m.mid);
        else if (k == D_RESPONSE) this.resendResponse(m.mid);
      }
      return 0;
    }
    if (m.code == 0) { // CoAP ping (CON) gets a RST; an Empty NON is ignored (§4.2, §4.3)
      if (con) this.queueCtl(CoapType.RST, m.mid);
      return 0;
    }
    const life = <i64>(con ? this.exchangeLifetime : this.nonLifetime);
    if (m.isRequest()) {
      this.rxDedup = this.dedupAdd(m.mid, D_SILENT, now + life);
      const bad = m.badOption;
      if (bad) {
        // §5.4.1: 4.02 for a CON; a NON is rejected (silently). §5.7.2: we are
        // no forward-proxy, so Proxy-Uri/Proxy-Scheme get 5.05.
        if (con) {
          this.rxAnswerable = 1;
          this.beginResponse(bad == CoapOption.PROXY_URI || bad == CoapOption.PROXY_SCHEME
            ? CoapCode.PROXYING_NOT_SUPPORTED : CoapCode.BAD_OPTION);
          this.send(now);
        }
        return 0;
      }
      this.rxAnswerable = 1;
      this.pushEvent(CoapEvent.Request, -1, m.mid);
      return 0;
    }
    // a separate (CON) or NON response
    const i = this.findSlotByToken(m);
    if (i < 0 || m.badOption) { // unexpected or rejected: RST for a CON (§4.2, §5.3.2)
      if (con) {
        this.queueCtl(CoapType.RST, m.mid);
        this.dedupAdd(m.mid, D_RST, now + life);
      }
      return 0;
    }
    if (con) this.queueCtl(CoapType.ACK, m.mid);
    this.dedupAdd(m.mid, con ? D_ACK : D_SILENT, now + life);
    this.slot(i).state = S_FREE;
    this.pushEvent(CoapEvent.Response, i, m.mid);
    return 0;
  }

  /** Drops an unsent write; a half-written replacement cancels that slot. */
  private abandon(): void {
    if (this.wReplace && this.wSlot >= 0) this.slot(this.wSlot).state = S_FREE;
    this.wSlot = -2;
    this.wReplace = 0;
  }

  /** The writer in an error state (every call on it is a no-op; send() returns err). */
  failWrite(err: i32): CoapWriter {
    this.abandon();
    const w = this.writer;
    w.err = err;
    w.pos = 0;
    w.cap = 0;
    return w;
  }

  /**
   * Client: starts a request (CON or NON) in slot 0 with a new message ID and
   * a random token. Add options and payload to the writer, then send(now).
   * writer.err = Busy while a request is outstanding (NSTART = 1).
   */
  beginRequest(type: i32, code: i32): CoapWriter {
    this.abandon();
    if (this.slot(0).state != S_FREE) return this.failWrite(CoapError.Busy);
    const tok = TMP;
    if (this.tokenLen > 0 && !random(tok, this.tokenLen)) return this.failWrite(CoapError.Rng);
    const w = this.writer;
    w.begin(this.slotBuf(0), this.msgCap, type & 1, code, this.newMid(), tok, this.tokenLen);
    this.wSlot = 0;
    return w;
  }

  /**
   * Server: answers the request in rx: piggybacked in the ACK of a CON, or a
   * NON response to a NON (§5.2). writer.err = NoRequest when there is none.
   */
  beginResponse(code: i32): CoapWriter {
    this.abandon();
    if (!this.rxAnswerable) return this.failWrite(CoapError.NoRequest);
    const m = this.rx;
    const con = m.type == CoapType.CON;
    const w = this.writer;
    this.keepResponse();
    w.begin(this.self + <usize>this.respOff, this.msgCap, con ? CoapType.ACK : CoapType.NON, code,
      con ? m.mid : this.newMid(), m.token, m.tkl);
    this.wSlot = -1;
    return w;
  }

  /** Server: acknowledges the CON request in rx now; answer later with beginSeparate (§5.2.2). */
  acceptSeparate(): i32 {
    if (!this.rxAnswerable) return CoapError.NoRequest;
    this.rxAnswerable = 0;
    const m = this.rx;
    if (m.type == CoapType.CON) {
      this.queueCtl(CoapType.ACK, m.mid);
      const e = this.dedup(this.rxDedup);
      if (e.mid == m.mid) e.kind = D_ACK;
    }
    return 0;
  }

  /**
   * Server: a separate response or a notification (type CON or NON) with the
   * given token, in a free server slot. replaceSlot >= 0 names an outstanding
   * CON of ours that this message supersedes: it keeps that slot's
   * retransmission counter and timeout (RFC 7641 §4.5.2). writer.err = Busy
   * when no slot is free.
   */
  beginSeparate(type: i32, code: i32, token: usize, tkl: i32, replaceSlot: i32): CoapWriter {
    this.abandon();
    let i = -1;
    if (<u32>replaceSlot < <u32>this.slotCount) {
      const s = this.slot(replaceSlot);
      if (s.state == S_CON && !(s.flags & F_CLIENT)) { i = replaceSlot; this.wReplace = 1; }
    }
    if (i < 0) {
      for (let k = this.slotCount > 1 ? 1 : 0; k < this.slotCount; k++) {
        if (this.slot(k).state == S_FREE) { i = k; break; }
      }
      if (i < 0) return this.failWrite(CoapError.Busy);
    }
    const w = this.writer;
    w.begin(this.slotBuf(i), this.msgCap, type & 1, code, this.newMid(), token, tkl);
    this.wSlot = i;
    return w;
  }

  /**
   * Queues the message begun with beginRequest/beginResponse/beginSeparate.
   * Returns the slot (>= 0; 0 for requests), 0 for a response, or an error.
   */
  send(now: i64): i32 {
    const w = this.writer;
    const n = w.finish();
    const i = this.wSlot;
    const replace = this.wReplace;
    this.wSlot = -2;
    this.wReplace = 0;
    if (n < 0) { if (replace) this.slot(i).state = S_FREE; return n; }
    if (i == -2) return CoapError.NoRequest;
    const buf = w.buf;
    const mid = (<i32>load<u8>(buf + 2) << 8) | <i32>load<u8>(buf + 3);
    if (i == -1) {
      this.respLen = n;
      this.respMid = mid;
      this.respPending = 1;
      this.rxAnswerable = 0;
      const e = this.dedup(this.rxDedup);
      if (this.rx.type == CoapType.CON && e.mid == mid) e.kind = D_RESPONSE;
      return 0;
    }
    const s = this.slot(i);
    s.len = n;
    s.mid = mid;
    s.flags = F_PENDING | (i == 0 && this.wSlotClient(buf) ? F_CLIENT : 0);
    if (((<i32>load<u8>(buf) >> 4) & 3) == CoapType.CON) {
      if (!replace) {
        s.retransmits = 0;
        s.timeout = this.initialTimeout();
        s.deadline = now + <i64>s.timeout;
      }
      s.state = S_CON;
    } else if (s.flags & F_CLIENT) {
      s.state = S_WAIT; // a NON request waits for its response
      s.deadline = now + <i64>this.responseTimeout;
    } else {
      s.state = S_NON;
    }
    return i;
  }

  /** Slot 0 holds a request when the code is a method code. */
  private wSlotClient(buf: usize): bool {
    const c = <i32>load<u8>(buf + 1);
    return c > 0 && c < 32;
  }
}

/**
 * Places an endpoint at ptr (coapEndpointSize(msgCap, slots, dedup) bytes,
 * 8-byte aligned) with RFC 7252 default parameters and a random first
 * message ID. Returns CoapError.Rng when the DRBG is unhealthy, BadArgument
 * for impossible sizes.
 */
export function coapEndpointInit(ptr: usize, msgCap: i32, slots: i32, dedup: i32): i32 {
  if (offsetof<CoapEndpoint>() > <usize>HDR || COAP_MESSAGE_SIZE > 48 || COAP_WRITER_SIZE > 24) unreachable();
  if (msgCap < 16 || msgCap > 0xffff || slots < 1 || slots > 16 || dedup < 1 || dedup > 64) return CoapError.BadArgument;
  memory.fill(ptr, 0, <usize>coapEndpointSize(msgCap, slots, dedup));
  const ep = changetype<CoapEndpoint>(ptr);
  ep.msgCap = msgCap;
  ep.slotCount = slots;
  ep.dedupCount = dedup;
  ep.respOff = DEDUP_OFF + dedup * 16;
  ep.histOff = ep.respOff + align8(msgCap);
  ep.slotOff = ep.histOff + RESP_HISTORY * HIST_STRIDE;
  ep.slotStride = SLOT_HDR + align8(msgCap);
  ep.tokenLen = 4;
  ep.wSlot = -2;
  ep.setTransmission(2000, 1500, 4);
  for (let i = 0; i < dedup; i++) changetype<DedupEntry>(ptr + <usize>(DEDUP_OFF + i * 16)).expiry = i64.MIN_VALUE;
  if (!random(TMP, 2)) return CoapError.Rng;
  ep.nextMid = <i32>bswap<u16>(load<u16>(TMP)); // §4.4: randomized start (big-endian bytes)
  return 0;
}
