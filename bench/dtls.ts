// DTLS handshake rows: bytes and datagrams (UDP payload, both directions) of
// a full handshake with the cookie exchange and of an abbreviated one
// (session-ID resumption), for our client (build/test/dtls.wasm driven by
// test/helpers/dtls-harness.ts) and for `openssl s_client -dtls1_2` with the
// same suite against the same `openssl s_server -dtls1_2 -listen -no_ticket`
// in the same run, both counted by the same relay (bench/relay.ts); then the
// handshake time of both, interleaved A B A B, medians and their ratio.
// Mutual RFC 7250 raw public keys against a fresh `gnutls-serv --udp` per
// handshake, with `gnutls-cli --udp` as the peer client.
// "Our client ↔ our server": the same client paired in memory with the DTLS
// server role (build/test/dtls_server.wasm, the code the development servers
// run), both sides ours, as the DESIGN budgets were set (tinydtls ↔ tinydtls).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UdpRelay, parseRecords, handshakeSpan, type HandshakeSpan, type DatagramLog } from "./relay";
import { type Row, type Figure, type Budget, verdict, median } from "./report";
import { havePeer } from "../test/helpers/peers";
import { startOpensslServer, type PeerProcess } from "../test/helpers/openssl-peer";
import { startGnutlsServer, GnutlsPriority, p256Files } from "../test/helpers/gnutls-peer";
import { DtlsClient, DtlsServer, Suite, OpensslCipher, CertificateType, ConnState, privateScalar, pairHandshake,
  type ClientOptions, type ServerOptions } from "../test/helpers/dtls-harness";
import { Pki, type Issued } from "../test/helpers/certs";

const PSK = Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex");
/** OpenSSL's default PSK identity; the same for both clients. */
const IDENTITY = "Client_identity";

export const BUDGET = {
  fullPskCcm8: { max: 472, maxDatagrams: 6, text: "≤ 472 B in ≤ 6 dg" } as Budget,
  abbreviated: { max: 350, text: "≤ 350 B" } as Budget,
  mutualX509: { max: 1700, text: "≤ 1700 B (373 B certs)" } as Budget,
  /** The size of each of the two certificates the X.509 budget assumes. */
  x509CertificateBytes: 373,
  mutualRpk: { max: 1000, text: "≤ 1000 B" } as Budget,
  timeRatio: { max: 3, text: "≤ 3× s_client" } as Budget,
};

type SuiteKey = "PskCcm8" | "PskCbc" | "EcdhePskCbc" | "EcdsaCcm8" | "EcdsaCbc";
const SUITES: SuiteKey[] = ["PskCcm8", "PskCbc", "EcdhePskCbc", "EcdsaCcm8", "EcdsaCbc"];

export interface DtlsBenchOptions {
  /** Timed handshakes per client and suite (default 15). */
  rounds: number;
  /** Untimed handshakes per client before timing (JIT warm-up). */
  warmup: number;
  log: (s: string) => void;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `re` has matched `n` times in the peer's output. */
async function waitCount(p: PeerProcess, re: RegExp, n: number, ms = 4000): Promise<void> {
  const t0 = Date.now();
  while ((p.output.match(new RegExp(re.source, "g"))?.length ?? 0) < n) {
    if (p.exited !== null) throw new Error(`${p.commandLine} exited (${p.exited}):\n${p.output.slice(-800)}`);
    if (Date.now() - t0 > ms) throw new Error(`peer did not print ${re} ${n} times within ${ms} ms:\n${p.output.slice(-800)}`);
    await wait(5);
  }
}

/** "525 B / 6 dg"; with `cookie`, also the part after the cookie exchange; flags a retransmission. */
const spanText = (s: HandshakeSpan, cookie = false) =>
  `${s.bytes} B / ${s.datagrams} dg` +
  (cookie && s.afterCookie ? ` (${s.afterCookie.bytes} B / ${s.afterCookie.datagrams} after HVR)` : "") +
  (s.retransmissions ? ` RETRANSMITTED×${s.retransmissions}` : "");
const spanFigure = (s: HandshakeSpan & { attempts?: number }, cookie = false): Figure => ({
  value: s.bytes, text: spanText(s, cookie),
  detail: {
    bytes: s.bytes, datagrams: s.datagrams, clientBytes: s.c2sBytes, clientDatagrams: s.c2sDatagrams,
    serverBytes: s.s2cBytes, serverDatagrams: s.s2cDatagrams, cookieExchange: s.cookie, afterCookie: s.afterCookie,
    abbreviated: s.abbreviated, retransmissions: s.retransmissions, attempts: s.attempts ?? 1, ms: s.ms,
  },
});

/** A peer client process (openssl s_client, gnutls-cli): started, its handshake seen at the relay, then stdin closed. */
class PeerClient {
  output = "";
  exited: number | null = null;
  private exit: Promise<void>;
  readonly proc: ChildProcess;
  constructor(cmd: string, args: string[]) {
    this.proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d) => { this.output += d.toString("latin1"); });
    this.proc.stderr!.on("data", (d) => { this.output += d.toString("latin1"); });
    this.proc.stdin!.on("error", () => {});
    this.exit = new Promise((res) => this.proc.on("exit", (code) => { this.exited = code ?? -1; res(); }));
  }
  /** EOF on stdin: the client sends close_notify and exits; killed if it does not. */
  async close(ms = 3000): Promise<void> {
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill("SIGKILL"), ms);
    await this.exit;
    clearTimeout(t);
  }
}

/** One handshake at the relay: start(), wait for both Finished, then close() the client cleanly. */
async function measure(relay: UdpRelay, start: () => Promise<void> | void, close: () => Promise<void>, ms = 10000): Promise<HandshakeSpan> {
  relay.reset();
  const started = Promise.resolve().then(start);
  let span: HandshakeSpan;
  try {
    // a client that fails (rejects) ends the wait at once
    span = await Promise.race([relay.waitHandshake(ms), started.then(() => new Promise<never>(() => {}))]);
    await started;
  } finally {
    await close();
  }
  return span;
}

/** Runs a handshake measurement again (up to `tries` times) while a flight was retransmitted in it:
 *  a loss or a timer firing on a busy machine would inflate the byte count. */
async function clean(f: () => Promise<HandshakeSpan>, tries = 3): Promise<HandshakeSpan & { attempts: number }> {
  let span!: HandshakeSpan;
  for (let i = 1; i <= tries; i++) {
    span = await f();
    if (span.retransmissions === 0) return { ...span, attempts: i };
  }
  return { ...span, attempts: tries };
}

/** Our client's handshake over UDP; rejects when it ends in anything but Established. */
async function handshake(c: DtlsClient, port: number): Promise<void> {
  await c.udpHandshake(port);
  if (c.state !== ConnState.Established) throw new Error(`our client: ${c.describe()}`);
}

interface SuiteSetup {
  key: SuiteKey;
  serverArgs: string[];
  clientArgs: string[];
  ours: ClientOptions;
  note: string;
}

function suiteSetup(key: SuiteKey, pki: () => Pki): SuiteSetup {
  const cipher = OpensslCipher[key];
  if (key === "PskCcm8" || key === "PskCbc" || key === "EcdhePskCbc") {
    return {
      key,
      serverArgs: ["-psk", PSK.toString("hex"), "-psk_identity", IDENTITY, "-nocert", "-cipher", cipher],
      clientArgs: ["-psk", PSK.toString("hex"), "-psk_identity", IDENTITY, "-cipher", cipher],
      ours: { suites: Suite[key], psk: { identity: IDENTITY, key: PSK }, timers: null },
      note: `PSK identity "${IDENTITY}" (${IDENTITY.length} B), 16-byte key`,
    };
  }
  const p = pki();
  const root = p.root(`bench-root-${key}`);
  const srv = p.issue(`bench-server-${key}`, root, { san: "DNS:server.example.com,IP:127.0.0.1" });
  const cli = p.issue(`bench-client-${key}`, root, { subject: "/CN=urn:imei:490154203237518" });
  return {
    key,
    serverArgs: ["-cert", srv.certFile, "-key", srv.keyFile, "-CAfile", root.certFile, "-Verify", "1", "-verify_return_error",
      "-cipher", cipher, "-sigalgs", "ECDSA+SHA256"],
    clientArgs: ["-cert", cli.certFile, "-key", cli.keyFile, "-CAfile", root.certFile, "-cipher", cipher],
    ours: {
      suites: Suite[key], certificateType: CertificateType.X509,
      identity: { privateKey: privateScalar(readFileSync(cli.keyFile, "utf8")) },
      ownCertificates: [cli.der],
      trust: { key: root.der, usage: 2, host: "server.example.com" },
      buffers: { handshake: 2048, flight: 1024, ticket: 256 },
      timers: null,
    },
    note: `mutual X.509 (openssl s_server -Verify 1), P-256 leaf certificates of ${srv.der.length} B (server) and ${cli.der.length} B (client) made by openssl ca, one CA, ECDSA-SHA256`,
  };
}

interface SuiteResult {
  setup: SuiteSetup;
  ours: { full?: HandshakeSpan; abbr?: HandshakeSpan; times: number[]; harnessCount?: { bytes: number; datagrams: number }; resumed?: boolean };
  peer: { full?: HandshakeSpan; abbr?: HandshakeSpan; times: number[] };
  error?: string;
}

async function benchSuite(setup: SuiteSetup, o: DtlsBenchOptions, sessFile: string): Promise<SuiteResult> {
  const res: SuiteResult = { setup, ours: { times: [] }, peer: { times: [] } };
  const srv = await startOpensslServer([...setup.serverArgs, "-listen", "-no_ticket"]);
  const relay = await new UdpRelay(srv.port).start();
  let done = 0; // connections s_server has finished ("DONE")
  const serverDone = async () => { done++; await waitCount(srv, /\bDONE\b/, done); };
  const ours = new DtlsClient().configure(setup.ours, true);
  let counted = { bytes: 0, datagrams: 0 };
  const oursOnce = async (): Promise<HandshakeSpan> => {
    const span = await measure(relay, () => handshake(ours, relay.port), async () => {
      const w = ours.wireStats(); // the harness's own count, before close_notify
      counted = { bytes: w.totalBytes, datagrams: w.totalDatagrams };
      if (ours.state !== ConnState.Established) throw new Error(`our client: ${ours.describe()}`);
      await ours.udpClose();
    });
    await serverDone();
    return span;
  };
  const peerOnce = async (extra: string[]): Promise<HandshakeSpan> => {
    let pc: PeerClient | undefined;
    const span = await measure(relay, () => {
      pc = new PeerClient("openssl", ["s_client", "-dtls1_2", "-connect", `127.0.0.1:${relay.port}`, "-brief", ...setup.clientArgs, ...extra]);
    }, async () => { await pc?.close(); });
    await serverDone();
    return span;
  };
  try {
    // full handshake (the cookie exchange is s_server -listen's), then a resumption of that session
    res.ours.full = await clean(async () => {
      ours.x.sessionClear(); // a retry must be a full handshake again
      ours.reset();
      return oursOnce();
    });
    res.ours.harnessCount = counted;
    res.ours.abbr = await clean(async () => {
      ours.reset();
      const span = await oursOnce();
      res.ours.resumed = ours.resumed;
      return span;
    });
    res.peer.full = await clean(() => peerOnce(["-sess_out", sessFile]));
    res.peer.abbr = await clean(() => peerOnce(["-sess_in", sessFile]));
    // timing: fresh full handshakes (no session), interleaved A B A B
    const timed = new DtlsClient().configure(setup.ours, false);
    const oursFull = async () => {
      timed.reset();
      const span = await measure(relay, () => handshake(timed, relay.port), async () => {
        if (timed.state !== ConnState.Established) throw new Error(`our client: ${timed.describe()}`);
        await timed.udpClose();
      });
      await serverDone();
      return span;
    };
    for (let i = 0; i < o.warmup; i++) { await oursFull(); await peerOnce([]); }
    for (let i = 0; i < o.rounds; i++) {
      const a = await oursFull();
      const b = await peerOnce([]);
      if (a.cookie && b.cookie && !a.retransmissions && !b.retransmissions) { res.ours.times.push(a.ms); res.peer.times.push(b.ms); }
    }
  } catch (e) {
    res.error = (e as Error).message.split("\n").slice(0, 3).join(" | ");
  } finally {
    await relay.stop();
    await srv.stop();
  }
  return res;
}

function suiteRows(r: SuiteResult, rounds: number, warmup: number): Row[] {
  const k = r.setup.key;
  const name = OpensslCipher[k];
  const x509 = k === "EcdsaCcm8" || k === "EcdsaCbc";
  const fullBudget = k === "PskCcm8" ? BUDGET.fullPskCcm8 : x509 ? BUDGET.mutualX509 : null;
  const rows: Row[] = [];
  const err = (id: string, metric: string, unit: string, budget: Budget | null): Row =>
    ({ id, section: "DTLS handshake vs openssl s_client", metric, unit, ours: null, peer: null, budget, status: "error", note: r.error });
  const peerFig = (s?: HandshakeSpan, cookie = false) => (s ? { ...spanFigure(s, cookie), name: "s_client" } : null);

  const full = r.ours.full;
  if (!full) rows.push(err(`dtls.full.${k}`, `${name} full + cookie`, "B", fullBudget));
  else {
    const hc = r.ours.harnessCount;
    const agree = hc && hc.bytes === full.bytes && hc.datagrams === full.datagrams;
    rows.push({
      id: `dtls.full.${k}`, section: "DTLS handshake vs openssl s_client", metric: `${name} full + cookie${x509 ? ", mutual X.509" : ""}`, unit: "B",
      ours: spanFigure(full), peer: peerFig(r.peer.full), budget: fullBudget,
      status: full.cookie ? verdict(full.bytes, fullBudget, full.datagrams) : "error",
      note: [full.cookie ? "" : "no HelloVerifyRequest seen", agree ? "" : `MISMATCH: the harness counted ${hc?.bytes} B / ${hc?.datagrams} dg`, r.setup.note].filter(Boolean).join("; "),
    });
  }
  const abbr = r.ours.abbr;
  if (!abbr) rows.push(err(`dtls.abbreviated.${k}`, `${name} abbreviated (session ID)`, "B", BUDGET.abbreviated));
  else {
    rows.push({
      id: `dtls.abbreviated.${k}`, section: "DTLS handshake vs openssl s_client", metric: `${name} abbreviated (session ID) + cookie`, unit: "B",
      ours: spanFigure(abbr, true), peer: peerFig(r.peer.abbr, true), budget: BUDGET.abbreviated,
      status: abbr.abbreviated && r.ours.resumed ? verdict(abbr.bytes, BUDGET.abbreviated) : "error",
      note: !(abbr.abbreviated && r.ours.resumed) ? "our client did not resume"
        : "s_server -listen asks for a cookie on resumption too; the verdict is on the whole figure, the part after the HelloVerifyRequest is in brackets" +
          (r.peer.abbr && !r.peer.abbr.abbreviated ? "; s_client did NOT resume" : ""),
    });
  }
  const mo = median(r.ours.times), mp = median(r.peer.times);
  if (r.ours.times.length === 0) rows.push(err(`dtls.time.${k}`, `${name} full handshake time ratio`, "x", BUDGET.timeRatio));
  else {
    const ratio = mo / mp;
    rows.push({
      id: `dtls.time.${k}`, section: "DTLS handshake time vs openssl s_client", metric: `${name} full handshake, median of ${r.ours.times.length}`, unit: "x",
      ours: { value: ratio, text: `${mo.toFixed(2)} ms = ${ratio.toFixed(2)}×`, detail: { medianMs: mo, samplesMs: r.ours.times, ratio } },
      peer: { name: "s_client", value: mp, text: `${mp.toFixed(2)} ms`, detail: { medianMs: mp, samplesMs: r.peer.times } },
      budget: BUDGET.timeRatio, status: verdict(ratio, BUDGET.timeRatio),
      note: [`interleaved ours / s_client × ${rounds} after ${warmup} untimed each; ClientHello → second Finished at the relay`,
        r.ours.times.length < rounds ? `${rounds - r.ours.times.length} pairs left out (a retransmission or no cookie exchange)` : "", r.error ?? ""].filter(Boolean).join("; "),
    });
  }
  return rows;
}

// ---- mutual RPK against gnutls-serv ---------------------------------------------------
async function rpkRows(dir: string): Promise<Row[]> {
  const section = "DTLS handshake vs gnutls-cli";
  const id = "dtls.full.RpkCcm8";
  const metric = "ECDHE-ECDSA-AES128-CCM8 full + cookie, mutual RPK";
  if (!havePeer("gnutls-serv")) {
    return [{ id, section, metric, unit: "B", ours: null, peer: null, budget: BUDGET.mutualRpk, status: "peer missing",
      note: "gnutls-serv is not installed (apt-get install gnutls-bin)" }];
  }
  const server = p256Files(join(dir, "rpk-srv"));
  const device = p256Files(join(dir, "rpk-dev"));
  const serverArgs = ["--rawpkkeyfile", server.keyFile, "--rawpkfile", server.pubFile, "--require-client-cert", "--priority", GnutlsPriority.RpkCcm8];
  /** A fresh gnutls-serv per handshake (its DTLS state does not survive a client going away). */
  const once = async (client: (port: number) => { start: () => Promise<void> | void; close: () => Promise<void> }): Promise<HandshakeSpan> => {
    const srv = await startGnutlsServer(serverArgs);
    const relay = await new UdpRelay(srv.port).start();
    try {
      const c = client(relay.port);
      return await measure(relay, c.start, c.close);
    } finally {
      await relay.stop();
      await srv.stop();
    }
  };
  let ours: HandshakeSpan | undefined, peer: HandshakeSpan | undefined, error: string | undefined;
  try {
    ours = await clean(() => once((port) => {
      const c = new DtlsClient().configure({
        suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey,
        identity: { privateKey: privateScalar(device.keyPem) }, serverKey: server.spki, timers: null,
      });
      return {
        start: () => handshake(c, port),
        close: async () => {
          if (c.state !== ConnState.Established) throw new Error(`our client: ${c.describe()}`);
          await c.udpClose();
        },
      };
    }));
    if (havePeer("gnutls-cli")) {
      peer = await clean(() => once((port) => {
        let pc: PeerClient | undefined;
        return {
          start: () => { pc = new PeerClient("gnutls-cli", ["--udp", "-p", String(port), "127.0.0.1", "--priority", GnutlsPriority.RpkCcm8,
            "--rawpkkeyfile", device.keyFile, "--rawpkfile", device.pubFile, "--insecure"]); },
          close: async () => { await pc?.close(); },
        };
      }));
    }
  } catch (e) {
    error = (e as Error).message.split("\n").slice(0, 3).join(" | ");
  }
  const row: Row = {
    id, section, metric, unit: "B",
    ours: ours ? spanFigure(ours) : null,
    peer: peer ? { ...spanFigure(peer), name: "gnutls-cli" } : havePeer("gnutls-cli") ? null : { name: "gnutls-cli", value: null, text: "peer missing" },
    budget: BUDGET.mutualRpk,
    status: ours ? verdict(ours.bytes, BUDGET.mutualRpk) : "error",
    note: error ?? "both clients against a fresh gnutls-serv --udp --require-client-cert per handshake, P-256 raw public keys (RFC 7250)",
  };
  return [row];
}

// ---- our client ↔ our server (both sides ours, in memory) -------------------------------
const SELF = "DTLS handshake, our client ↔ our server";
/** The development servers' DtlsTransport settings (server/transport.ts) that bear on the bytes:
 *  with a session cache the ServerHello carries a 32-byte session ID (what resumption needs). */
const DEV_SERVER: ServerOptions = { suites: Suite.All, mtu: 1280, sessionCache: 64, peerCertificateCapacity: 2048, timers: null };

interface SelfPair {
  span: HandshakeSpan;
  /** Every datagram of the exchange (pairHandshake runs until both sides are quiet). */
  log: { dir: "c2s" | "s2c"; d: Uint8Array }[];
  client: DtlsClient;
  resumed: boolean;
  ms: number;
}

/** One handshake of our client with our server, datagrams handed over in memory (no loss, no timers). */
function selfHandshake(c: DtlsClient, s: DtlsServer, key = "10.0.0.1:5684"): SelfPair {
  const t0 = performance.now();
  const log = pairHandshake(c, s, { key });
  const ms = performance.now() - t0;
  const p = s.peer(key);
  if (c.state !== ConnState.Established) throw new Error(`our client: ${c.describe()}; ${s.describe(p)}`);
  if (!p || s.state(p) !== ConnState.Established) throw new Error(`our server: ${s.describe(p)}; client ${c.describe()}`);
  // the relay's record parser decides extent, cookie exchange, abbreviation and retransmissions as for the UDP rows
  const dl: DatagramLog[] = log.map((x) => ({ t: 0n, dir: x.dir, len: x.d.length, records: parseRecords(x.d) }));
  const span = handshakeSpan(dl);
  if (!span.complete) throw new Error(`no complete handshake in ${log.length} datagrams`);
  return { span, log, client: c, resumed: c.resumed && s.resumed(p), ms };
}

/** "513 B / 6 dg (client 273 B / 3 dg + server 240 B / 3 dg)". */
const selfText = (s: HandshakeSpan) =>
  `${spanText(s)} (client ${s.c2sBytes} B / ${s.c2sDatagrams} dg + server ${s.s2cBytes} B / ${s.s2cDatagrams} dg)`;

/** The exchange holds exactly the handshake, and the client's own count agrees with the log. */
function selfChecks(r: SelfPair): string[] {
  const out: string[] = [];
  const w = r.client.wireStats();
  if (w.totalBytes !== r.span.bytes || w.totalDatagrams !== r.span.datagrams) {
    out.push(`MISMATCH: the client counted ${w.totalBytes} B / ${w.totalDatagrams} dg, the handshake span is ${r.span.bytes} B / ${r.span.datagrams} dg`);
  }
  if (r.log.length !== r.span.datagrams) out.push(`${r.log.length - r.span.datagrams} datagram(s) after the second Finished not counted`);
  return out;
}

/** Times `needle` occurs in the datagrams of one direction. */
function occurrences(log: SelfPair["log"], dir: "c2s" | "s2c", needle: Uint8Array): number {
  let n = 0;
  for (const x of log) {
    if (x.dir !== dir) continue;
    const b = Buffer.from(x.d.buffer, x.d.byteOffset, x.d.length);
    for (let i = b.indexOf(needle); i >= 0; i = b.indexOf(needle, i + 1)) n++;
  }
  return n;
}

interface SelfFull {
  id: string;
  metric: string;
  budget: Budget | null;
  /** A fresh client and a server with `server` options merged over the case's own. */
  pair(server: ServerOptions): { c: DtlsClient; s: DtlsServer };
  note: string;
  /** X.509: the certificates, to normalise the figure to the budget's certificate size. */
  certs?: { server: Issued; client: Issued; ca: Issued };
}

/** A full handshake row: the development servers' configuration (verdict), and the same without a session cache (note). */
function selfFullRow(k: SelfFull): Row {
  const withCache = (() => { const { c, s } = k.pair(DEV_SERVER); return selfHandshake(c, s); })();
  const noCache = (() => { const { c, s } = k.pair({ ...DEV_SERVER, sessionCache: 0 }); return selfHandshake(c, s); })();
  const r = withCache;
  const notes = [...selfChecks(r), ...selfChecks(noCache).map((x) => `without a session cache: ${x}`)];
  if (!r.span.cookie) notes.push("no HelloVerifyRequest seen");
  notes.push(k.note);
  const detail: Record<string, unknown> = { ...spanFigure(r.span).detail, inMemoryMs: r.ms, withoutSessionCache: spanFigure(noCache.span).detail };
  let judged = r.span.bytes;
  let text = selfText(r.span);
  let checksOk = r.span.cookie;
  let noCacheJudged = noCache.span.bytes;
  if (k.certs) {
    // each leaf crosses the wire once (checked); a 373-byte certificate changes no other length field's size
    const { server, client, ca } = k.certs;
    const want = BUDGET.x509CertificateBytes;
    const sent = { server: occurrences(r.log, "s2c", server.der), client: occurrences(r.log, "c2s", client.der), ca: occurrences(r.log, "s2c", ca.der) + occurrences(r.log, "c2s", ca.der) };
    const onceEach = sent.server === 1 && sent.client === 1 && sent.ca === 0;
    if (!onceEach) notes.push(`certificates on the wire: server leaf ×${sent.server}, client leaf ×${sent.client}, CA ×${sent.ca} (expected 1, 1, 0)`);
    checksOk &&= onceEach;
    const delta = (want - server.der.length) + (want - client.der.length);
    const normalised = r.span.bytes + delta;
    // the verdict never gains from certificates smaller than the budget's: the figure normalised up when they
    // are smaller; the measured figure (the s_server row's rule) when they are larger
    judged = delta > 0 ? normalised : r.span.bytes;
    noCacheJudged = delta > 0 ? noCache.span.bytes + delta : noCache.span.bytes;
    text += `; ${normalised} B with ${want} B certs`;
    notes.push(`P-256 leaf certificates made by openssl ca (test/helpers/certs.ts): ${server.der.length} B (server) and ${client.der.length} B (client), ` +
      `${delta >= 0 ? "smaller" : "larger"} than the budget's ${want} B; each leaf crosses once, so with ${want}-byte certificates the figure is ` +
      `${r.span.bytes} ${delta >= 0 ? "+" : "−"} ${Math.abs(delta)} = ${normalised} B. The verdict is on ${delta > 0 ? `the normalised ${normalised} B (smaller certificates earn no credit; the measured ${r.span.bytes} B would be ${verdict(r.span.bytes, k.budget)})`
        : `the measured ${r.span.bytes} B (as in the s_server row; the normalised ${normalised} B would be ${verdict(normalised, k.budget)})`}`);
    notes.push(`certificates as small as openssl makes them: CA "CN=CA", leaves "CN=srv" / "CN=dev1", no SAN (the client matches the server's CN, RFC 6125 6.4.4), ` +
      `one extension each (basicConstraints; openssl ca makes v1 without any, and v3 is required), no key identifiers, the helper's 20-byte random serial; CA ${ca.der.length} B (not sent); certificate usage 2`);
    Object.assign(detail, { certificateBytes: { server: server.der.length, client: client.der.length, ca: ca.der.length }, certificatesOnWire: sent,
      normalisedTo: want, normalisedBytes: normalised, judgedBytes: judged });
  }
  const status = checksOk ? verdict(judged, k.budget, k.budget?.maxDatagrams !== undefined ? r.span.datagrams : undefined) : "error";
  notes.push(`server as the development servers run it (session cache on: a 32-byte session ID in the ServerHello); ` +
    `without a session cache (no resumption possible): ${noCache.span.bytes} B / ${noCache.span.datagrams} dg` +
    (k.certs ? ` (${noCacheJudged} B with ${BUDGET.x509CertificateBytes} B certs)` : "") +
    (k.budget ? `, would be ${verdict(noCacheJudged, k.budget, k.budget.maxDatagrams !== undefined ? noCache.span.datagrams : undefined)}` : ""));
  return {
    id: k.id, section: SELF, metric: k.metric, unit: "B",
    ours: { value: judged, text, detail }, peer: null, budget: k.budget, status, note: notes.filter(Boolean).join("; "),
  };
}

function selfFullCases(dir: string, pki: () => Pki): (() => SelfFull)[] {
  const lookup = { lookup: (id: Uint8Array) => (Buffer.from(id).toString("utf8") === IDENTITY ? PSK : undefined) };
  const psk = { identity: IDENTITY, key: PSK };
  const pskNote = `PSK identity "${IDENTITY}" (${IDENTITY.length} B, as in the s_server rows), 16-byte key, looked up by the server (no hint)`;
  return [
    () => ({
      id: "dtls.self.full.PskCcm8", metric: "PSK-AES128-CCM8 full + cookie", budget: BUDGET.fullPskCcm8, note: pskNote,
      pair: (so) => ({ c: new DtlsClient().configure({ suites: Suite.PskCcm8, psk, timers: null }), s: new DtlsServer().configure({ ...so, psk: lookup }) }),
    }),
    () => ({
      id: "dtls.self.full.EcdhePskCbc", metric: "ECDHE-PSK-AES128-CBC-SHA256 full + cookie", budget: null, note: pskNote,
      pair: (so) => ({ c: new DtlsClient().configure({ suites: Suite.EcdhePskCbc, psk, timers: null }), s: new DtlsServer().configure({ ...so, psk: lookup }) }),
    }),
    () => {
      const sk = p256Files(join(dir, "self-rpk-srv")), ck = p256Files(join(dir, "self-rpk-dev"));
      return {
        id: "dtls.self.full.RpkCcm8", metric: "ECDHE-ECDSA-AES128-CCM8 full + cookie, mutual RPK", budget: BUDGET.mutualRpk,
        note: `P-256 raw public keys both ways (RFC 7250, SPKI ${ck.spki.length} B); the server requires the client's key`,
        pair: (so) => ({
          c: new DtlsClient().configure({ suites: Suite.EcdsaCcm8, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(ck.keyPem) }, serverKey: sk.spki, timers: null }),
          s: new DtlsServer().configure({ ...so, certificateType: CertificateType.RawPublicKey, identity: { privateKey: privateScalar(sk.keyPem) }, clientKey: ck.spki }),
        }),
      };
    },
    () => {
      if (!havePeer("openssl")) throw new PeerMissing("the certificates are made with the openssl CLI, which is not installed (apt-get install openssl)");
      const p = pki();
      const noKeyIds = "\nsubjectKeyIdentifier = none\nauthorityKeyIdentifier = none"; // openssl 3 adds both by default
      const ca = p.root("self-root", { subject: "/CN=CA", ext: "basicConstraints = critical, CA:TRUE" + noKeyIds });
      const server = p.issue("self-server", ca, { subject: "/CN=srv", ext: "basicConstraints = CA:FALSE" + noKeyIds });
      const client = p.issue("self-client", ca, { subject: "/CN=dev1", ext: "basicConstraints = CA:FALSE" + noKeyIds });
      return {
        id: "dtls.self.full.EcdsaCcm8", metric: "ECDHE-ECDSA-AES128-CCM8 full + cookie, mutual X.509", budget: BUDGET.mutualX509, note: "",
        certs: { server, client, ca },
        pair: (so) => ({
          c: new DtlsClient().configure({
            suites: Suite.EcdsaCcm8, certificateType: CertificateType.X509,
            identity: { privateKey: privateScalar(readFileSync(client.keyFile, "utf8")) }, ownCertificates: [client.der],
            trust: { key: ca.der, usage: 2, host: "srv" }, buffers: { handshake: 2048, flight: 1024, ticket: 256 }, timers: null,
          }),
          s: new DtlsServer().configure({
            ...so, certificateType: CertificateType.X509,
            identity: { privateKey: privateScalar(readFileSync(server.keyFile, "utf8")) }, ownCertificates: [server.der], trustAnchors: [ca.der],
          }),
        }),
      };
    },
  ];
}

/** Resumption by session ID from the server's cache, after a full handshake that made the session. */
function selfAbbreviatedRow(): Row {
  const budget = BUDGET.abbreviated;
  const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: IDENTITY, key: PSK }, timers: null }, true);
  const s = new DtlsServer().configure({ ...DEV_SERVER, psk: { lookup: (id: Uint8Array) => (Buffer.from(id).toString("utf8") === IDENTITY ? PSK : undefined) } });
  selfHandshake(c, s);
  c.reset();
  const r = selfHandshake(c, s, "10.0.0.1:5685"); // a new source port, as after a device reboot
  const ok = r.span.abbreviated && r.resumed;
  return {
    id: "dtls.self.abbreviated.PskCcm8", section: SELF, metric: "PSK-AES128-CCM8 abbreviated (session ID)", unit: "B",
    ours: { ...spanFigure(r.span, r.span.cookie), text: selfText(r.span), detail: { ...spanFigure(r.span).detail, inMemoryMs: r.ms } },
    peer: null, budget, status: ok ? verdict(r.span.bytes, budget) : "error",
    note: [...selfChecks(r), ok ? "" : "NOT resumed on both sides",
      r.span.cookie ? "with a cookie exchange" : "no cookie exchange: our server resumes a session its cache knows at once (RFC 6347 4.2.1), unlike s_server -listen (rows below)",
      "the session of the full PSK-CCM8 handshake, from the server's session cache (64 entries, as the development servers)"].filter(Boolean).join("; "),
  };
}

class PeerMissing extends Error {}

async function selfRows(dir: string, pki: () => Pki, log: (s: string) => void): Promise<Row[]> {
  log("dtls: our client ↔ our server (in memory)");
  const rows: Row[] = [];
  const missing = !existsSync(join(__dirname, "..", "build/test/dtls_server.wasm"));
  const fail = (id: string, metric: string, budget: Budget | null, status: Row["status"], note: string): Row =>
    ({ id, section: SELF, metric, unit: "B", ours: null, peer: null, budget, status, note });
  const meta = [
    ["dtls.self.full.PskCcm8", "PSK-AES128-CCM8 full + cookie", BUDGET.fullPskCcm8],
    ["dtls.self.full.EcdhePskCbc", "ECDHE-PSK-AES128-CBC-SHA256 full + cookie", null],
    ["dtls.self.full.RpkCcm8", "ECDHE-ECDSA-AES128-CCM8 full + cookie, mutual RPK", BUDGET.mutualRpk],
    ["dtls.self.full.EcdsaCcm8", "ECDHE-ECDSA-AES128-CCM8 full + cookie, mutual X.509", BUDGET.mutualX509],
  ] as const;
  const cases = selfFullCases(dir, pki);
  for (let i = 0; i < cases.length; i++) {
    const [id, metric, budget] = meta[i];
    if (missing) { rows.push(fail(id, metric, budget, "error", "build/test/dtls_server.wasm missing (node scripts/build.mjs tests)")); continue; }
    try {
      rows.push(selfFullRow(cases[i]()));
    } catch (e) {
      rows.push(fail(id, metric, budget, e instanceof PeerMissing ? "peer missing" : "error", (e as Error).message.split("\n").slice(0, 2).join(" | ")));
    }
    if (i === 0) { // the abbreviated row right under the full PSK-CCM8 row
      const [aid, am] = ["dtls.self.abbreviated.PskCcm8", "PSK-AES128-CCM8 abbreviated (session ID)"];
      if (missing) rows.push(fail(aid, am, BUDGET.abbreviated, "error", "build/test/dtls_server.wasm missing (node scripts/build.mjs tests)"));
      else {
        try { rows.push(selfAbbreviatedRow()); } catch (e) { rows.push(fail(aid, am, BUDGET.abbreviated, "error", (e as Error).message.split("\n").slice(0, 2).join(" | "))); }
      }
    }
  }
  return rows;
}

export async function dtlsRows(o: DtlsBenchOptions): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-bench-dtls-"));
  let pki: Pki | undefined;
  const rows: Row[] = [];
  try {
    if (!existsSync(join(__dirname, "..", "build/test/dtls.wasm"))) throw new Error("build/test/dtls.wasm missing (node scripts/build.mjs tests --only dtls)");
    rows.push(...(await selfRows(dir, () => (pki ??= new Pki()), o.log)));
    const haveOpenssl = havePeer("openssl");
    for (const key of SUITES) {
      const name = OpensslCipher[key];
      if (!haveOpenssl) {
        const x509 = key === "EcdsaCcm8" || key === "EcdsaCbc";
        const budgets: Record<string, Budget | null> = {
          full: key === "PskCcm8" ? BUDGET.fullPskCcm8 : x509 ? BUDGET.mutualX509 : null, abbreviated: BUDGET.abbreviated, time: BUDGET.timeRatio,
        };
        for (const [kind, m] of [["full", "full + cookie"], ["abbreviated", "abbreviated (session ID)"], ["time", "full handshake time ratio"]]) {
          rows.push({ id: `dtls.${kind}.${key}`, section: kind === "time" ? "DTLS handshake time vs openssl s_client" : "DTLS handshake vs openssl s_client",
            metric: `${name} ${m}`, unit: kind === "time" ? "x" : "B", ours: null, peer: { name: "s_client", value: null, text: "peer missing" },
            budget: budgets[kind], status: "peer missing", note: "openssl is not installed: no s_server to measure against (apt-get install openssl)" });
        }
        continue;
      }
      o.log(`dtls: ${name} (${o.rounds} timed rounds each)`);
      let setup: SuiteSetup;
      try {
        setup = suiteSetup(key, () => (pki ??= new Pki()));
      } catch (e) {
        rows.push({ id: `dtls.full.${key}`, section: "DTLS handshake vs openssl s_client", metric: `${name} full + cookie`, unit: "B",
          ours: null, peer: null, budget: null, status: "error", note: `setup: ${(e as Error).message.split("\n")[0]}` });
        continue;
      }
      const r = await benchSuite(setup, o, join(dir, `${key}.sess`));
      rows.push(...suiteRows(r, o.rounds, o.warmup));
    }
    o.log("dtls: mutual RPK against gnutls-serv");
    rows.push(...(await rpkRows(dir)));
  } finally {
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
