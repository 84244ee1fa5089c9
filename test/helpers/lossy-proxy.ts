// A lossy UDP proxy on loopback for tests and the bench: clients talk to
// 127.0.0.1:<port>, the proxy forwards to the target through one upstream
// socket per client, and on the way (both directions) drops, duplicates and
// holds back (reorders) datagrams by a seeded PRNG. Each direction has its
// own PRNG stream, so the fate of the n-th datagram in one direction does not
// depend on the traffic in the other. Bounded: at most `maxHeld` datagrams
// are held back at a time (beyond that they pass at once), and a datagram is
// duplicated at most once.
import dgram from "node:dgram";

export interface LossyOptions {
  seed: number;
  /** Probability (0..1) that a datagram is dropped, each direction. */
  drop: number;
  /** Probability that a datagram that got through is sent twice. */
  duplicate?: number;
  /** Probability that a datagram is held back for `delayMs` (later ones overtake it). */
  reorder?: { probability: number; delayMs: number };
  maxHeld?: number;
}

export interface DirectionStats { received: number; dropped: number; duplicated: number; delayed: number; forwarded: number }

/** mulberry32: small, seedable, good enough to pick fates. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class LossyProxy {
  private front!: dgram.Socket;
  private upstream = new Map<string, dgram.Socket>();
  private held = new Set<NodeJS.Timeout>();
  private closed = false;
  readonly stats = { up: blank(), down: blank() };
  private readonly rnd: { up: () => number; down: () => number };
  port = 0;
  /** Where datagrams go; may be set after start (the target's port may be known later). */
  target: { address: string; port: number } | null = null;

  constructor(private readonly opts: LossyOptions) {
    this.rnd = { up: prng(opts.seed), down: prng(opts.seed ^ 0x5bd1e995) };
  }

  static async start(opts: LossyOptions, target: { address: string; port: number } | null = null): Promise<LossyProxy> {
    const p = new LossyProxy(opts);
    p.target = target;
    await p.bind();
    return p;
  }

  private async bind() {
    const s = dgram.createSocket("udp4");
    this.front = s;
    await new Promise<void>((res, rej) => { s.once("error", rej); s.bind(0, "127.0.0.1", () => { s.off("error", rej); res(); }); });
    s.on("error", () => {});
    this.port = s.address().port;
    s.on("message", (msg, rinfo) => {
      if (!this.target) return;
      const key = `${rinfo.address}:${rinfo.port}`;
      let up = this.upstream.get(key);
      if (!up) {
        const u = dgram.createSocket("udp4");
        up = u;
        this.upstream.set(key, u);
        u.on("error", () => {});
        u.on("message", (m) => this.pass("down", m, (d) => this.front.send(d, rinfo.port, rinfo.address)));
        u.bind(0, "127.0.0.1");
      }
      const sock = up;
      this.pass("up", msg, (d) => { if (this.target) sock.send(d, this.target.port, this.target.address); });
    });
  }

  private pass(dir: "up" | "down", d: Buffer, out: (d: Buffer) => void) {
    if (this.closed) return;
    const st = this.stats[dir], r = this.rnd[dir], o = this.opts;
    st.received++;
    // three draws per datagram, always, so each datagram's fate depends only on its index
    const dropDraw = r(), dupDraw = r(), delayDraw = r();
    if (dropDraw < o.drop) { st.dropped++; return; }
    const copies = dupDraw < (o.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) st.duplicated++;
    const send = () => { if (!this.closed) for (let i = 0; i < copies; i++) { st.forwarded++; out(d); } };
    if (o.reorder && delayDraw < o.reorder.probability && this.held.size < (o.maxHeld ?? 64)) {
      st.delayed++;
      const t = setTimeout(() => { this.held.delete(t); send(); }, o.reorder.delayMs);
      this.held.add(t);
    } else send();
  }

  async close() {
    this.closed = true;
    for (const t of this.held) clearTimeout(t);
    this.held.clear();
    for (const u of this.upstream.values()) u.close();
    this.upstream.clear();
    await new Promise<void>((res) => this.front.close(() => res()));
  }
}

function blank(): DirectionStats { return { received: 0, dropped: 0, duplicated: 0, delayed: 0, forwarded: 0 }; }

// ---- bootstrap + Register over DTLS-PSK through two lossy proxies ----

import { readFileSync } from "node:fs";
import { startDevServers } from "../../server/index";
import { Device, type ClientEvent } from "../../host-shim/node/device";
import { DEV_CONFIG_FILE } from "../../server/index";

export interface LossyRun {
  seed: number;
  /** ms from provisioning to the LwM2M Server's 'registered' (null: not within the limit). */
  ms: number | null;
  bootstrapRequests: number;
  handshakes: number;
  bootstrapFailures: number;
  stats: { bootstrap: LossyProxy["stats"]; server: LossyProxy["stats"] };
  /** The device's log lines with their time (ms since provisioning). */
  log: string[];
}

/**
 * The npm start flow (endpoint lwm2m-wasm-demo of server/dev-config.json):
 * client-initiated bootstrap over DTLS-PSK, then Register over DTLS-PSK, with
 * the device's default timers; every datagram both ways through a LossyProxy
 * (the Bootstrap-Server's and the LwM2M Server's, each with its own seed
 * stream). Real time on loopback.
 */
export async function lossyBootstrapRun(o: LossyOptions & { limitMs: number; pkiDir?: string }): Promise<LossyRun> {
  const bsProxy = await LossyProxy.start({ ...o, seed: o.seed });
  const srvProxy = await LossyProxy.start({ ...o, seed: o.seed * 7919 + 1 });
  const all = JSON.parse(readFileSync(DEV_CONFIG_FILE, "utf8"));
  const ep = "lwm2m-wasm-demo";
  const cfg = structuredClone(all[ep]);
  cfg.security[0].uri = `coaps://127.0.0.1:${srvProxy.port}`; // the LwM2M Server behind its proxy
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: { [ep]: cfg }, log: false, secure: o.pkiDir ? { pkiDir: o.pkiDir } : {} });
  bsProxy.target = dev.bootstrapAddress && { address: "127.0.0.1", port: Number(new URL(dev.secureBootstrapUri!.replace("coaps", "http")).port) };
  srvProxy.target = { address: "127.0.0.1", port: Number(new URL(dev.secureServerUri!.replace("coaps", "http")).port) };
  const d = new Device();
  const t0 = Date.now();
  const log: string[] = [];
  d.on("log", (l: { text: string }) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${l.text}`));
  let bootstrapRequests = 0, bootstrapFailures = 0;
  d.on("event", (e: ClientEvent) => { if (e.name === "bootstrapRequested") bootstrapRequests++; if (e.name === "bootstrapFailed") bootstrapFailures++; });
  let ms: number | null = null;
  try {
    d.start();
    const registered = new Promise<void>((res) => dev.server.once("registered", () => res()));
    const psk = all[ep].bootstrapCredentials;
    d.provision({ endpoint: ep, bootstrap: { uri: `coaps://127.0.0.1:${bsProxy.port}`, securityMode: "psk", pskIdentity: psk.pskIdentity, pskKey: psk.pskKey } });
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([registered.then(() => true), new Promise<boolean>((res) => { timer = setTimeout(() => res(false), o.limitMs); })]);
    clearTimeout(timer);
    if (done) ms = Date.now() - t0;
  } finally {
    d.stop();
    await dev.close();
    await bsProxy.close();
    await srvProxy.close();
  }
  return {
    seed: o.seed, ms, bootstrapRequests, bootstrapFailures,
    handshakes: log.filter((l) => /DTLS: handshake with/.test(l)).length,
    stats: { bootstrap: bsProxy.stats, server: srvProxy.stats }, log,
  };
}
