// `npx lwm2m-wasm server`: starts the development Bootstrap-Server and LwM2M
// Server, prints every event, and takes device-management commands on stdin.
import readline from "node:readline";
import path from "node:path";
import { startDevServers, DevServers, formatEntries, formatValue } from "./index";
import { LwM2MResponse, ObservationHandle } from "./lwm2m-server";
import { LwM2MValue, objlnk, formatLinkFormat, FormatName } from "./formats";
import { toText } from "./coap";

export const DEFAULT_CONFIG = path.join(__dirname, "dev-config.json");

const USAGE = `usage: lwm2m-wasm server [--config FILE] [--bootstrap-port N] [--server-port N] [--address A] [--no-repl]
  --config FILE        bootstrap configuration (JSON keyed by endpoint name; default server/dev-config.json)
  --bootstrap-port N   UDP port of the Bootstrap-Server (default 5783)
  --server-port N      UDP port of the LwM2M Server (default 5683)
  --address A          address to bind (default 127.0.0.1)
  --no-repl            do not read commands from stdin`;

export const COMMANDS = `commands:
  list                                  registrations
  read EP PATH [tlv|senml-json|senml-cbor|text|opaque]
  write EP PATH VALUE [--update] [--format F]   VALUE: 12, 1.5, true, "text", 0xHEX, objlnk:3:0
  exec EP PATH [ARGS]
  create EP /OID [ID] RID=VALUE ...
  delete EP PATH
  discover EP PATH
  attr EP PATH pmin=N pmax=N gt=X lt=X st=X   (NAME= alone removes one)
  observe EP PATH [FORMAT]              prints notifications; 'cancel N' stops observation N
  cancel N
  bootstrap EP HOST:PORT                server-initiated bootstrap
  help | quit`;

interface CliArgs { config: string; bootstrapPort: number; serverPort: number; address: string; repl: boolean }

export function parseArgs(argv: string[]): CliArgs {
  const a: CliArgs = { config: DEFAULT_CONFIG, bootstrapPort: 5783, serverPort: 5683, address: "127.0.0.1", repl: true };
  for (let i = 0; i < argv.length; i++) {
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value\n${USAGE}`); return argv[++i]; };
    switch (argv[i]) {
      case "--config": a.config = v(); break;
      case "--bootstrap-port": a.bootstrapPort = Number(v()); break;
      case "--server-port": a.serverPort = Number(v()); break;
      case "--address": a.address = v(); break;
      case "--no-repl": a.repl = false; break;
      case "-h": case "--help": throw new Error(USAGE);
      default: throw new Error(`unknown argument '${argv[i]}'\n${USAGE}`);
    }
  }
  return a;
}

/** Command-line value: 12, -3, 1.5, true/false, "quoted text", 0xHEX (bytes), objlnk:3:0, other words as text. */
export function parseValue(s: string): LwM2MValue {
  if (/^-?\d+$/.test(s)) { const b = BigInt(s); return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b; }
  if (/^-?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (s === "true" || s === "false") return s === "true";
  if (/^0x([0-9a-fA-F]{2})*$/.test(s)) return new Uint8Array(Buffer.from(s.slice(2), "hex"));
  const m = /^objlnk:(\d+):(\d+)$/.exec(s);
  if (m) return objlnk(Number(m[1]), Number(m[2]));
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1);
  return s;
}

/** Splits a command line into words; double quotes keep spaces (and stay on the word). */
export function words(line: string): string[] {
  return line.match(/"[^"]*"|\S+/g) ?? [];
}

export function describeResponse(r: LwM2MResponse): string {
  let s = r.code;
  if (r.location) s += ` location ${r.location}`;
  if (r.content) s += ` ${formatEntries(r.content)}`;
  else if (r.links) s += ` ${formatLinkFormat(r.links)}`;
  else if (r.decodeError) s += ` (undecodable: ${r.decodeError})`;
  else if (r.payload.length) s += ` ${toText(r.payload)}`;
  return s;
}

/** Runs one command line against the servers; returns the text to print. */
export async function runCommand(dev: DevServers, line: string, observations: Map<number, ObservationHandle>, print: (s: string) => void): Promise<string> {
  const w = words(line.trim());
  if (w.length === 0) return "";
  const [cmd, ep, p] = w;
  const need = (n: number) => { if (w.length < n) throw new Error(`'${cmd}' needs more arguments (help lists them)`); };
  const s = dev.server;
  switch (cmd) {
    case "help": return COMMANDS;
    case "list":
      return s.registrations.map((r) => `${r.endpoint} /rd/${r.id} lt=${r.lifetime} b=${r.binding} ${r.peerKey} ${formatLinkFormat(r.objectLinks)}`).join("\n") || "(no registrations)";
    case "read": need(3); return describeResponse(await s.read(ep, p, { format: w[3] as FormatName | undefined }));
    case "write": {
      need(4);
      const update = w.includes("--update");
      const fi = w.indexOf("--format");
      const format = fi > 0 ? (w[fi + 1] as FormatName) : undefined;
      return describeResponse(await s.write(ep, p, parseValue(w[3]), { mode: update ? "update" : "replace", format }));
    }
    case "exec": need(3); return describeResponse(await s.execute(ep, p, w.slice(3).join(" ") || undefined));
    case "create": {
      need(3);
      let rest = w.slice(3);
      let id: number | undefined;
      if (rest[0] && /^\d+$/.test(rest[0])) { id = Number(rest[0]); rest = rest.slice(1); }
      const resources: Record<number, LwM2MValue> = {};
      for (const kv of rest) {
        const m = /^(\d+)=(.*)$/.exec(kv);
        if (!m) throw new Error(`'${kv}' is not RID=VALUE`);
        resources[Number(m[1])] = parseValue(m[2]);
      }
      return describeResponse(await s.create(ep, p, { id, resources }));
    }
    case "delete": need(3); return describeResponse(await s.delete(ep, p));
    case "discover": need(3); return describeResponse(await s.discover(ep, p));
    case "attr": {
      need(4);
      const attrs: Record<string, number | null> = {};
      for (const kv of w.slice(3)) {
        const m = /^(pmin|pmax|gt|lt|st|epmin|epmax)=(.*)$/.exec(kv);
        if (!m) throw new Error(`'${kv}' is not an attribute (pmin pmax gt lt st epmin epmax)`);
        attrs[m[1]] = m[2] === "" ? null : Number(m[2]);
      }
      return describeResponse(await s.writeAttributes(ep, p, attrs));
    }
    case "observe": {
      need(3);
      const h = await s.observe(ep, p, undefined, { format: w[3] as FormatName | undefined });
      if (!h.established) return `${describeResponse(h.response)} (not observed)`;
      const n = (Math.max(0, ...observations.keys()) + 1);
      observations.set(n, h);
      return `observation ${n}: ${describeResponse(h.response)}`;
    }
    case "cancel": {
      need(2);
      const h = observations.get(Number(ep));
      if (!h) throw new Error(`no observation ${ep}`);
      observations.delete(Number(ep));
      const r = await h.cancel();
      return `observation ${ep} cancelled${r ? `: ${describeResponse(r)}` : ""}`;
    }
    case "bootstrap": {
      need(3);
      print(`[bootstrap] ${ep}: server-initiated bootstrap of ${p}`);
      const r = await dev.bootstrap.bootstrap(ep, p);
      return r.ok ? `bootstrap of ${ep} finished` : `bootstrap of ${ep}: ${r.error ?? `refused (${r.code})`}`;
    }
    default: throw new Error(`unknown command '${cmd}' (help lists them)`);
  }
}

export async function runServerCli(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<DevServers> {
  const args = parseArgs(argv);
  const dev = await startDevServers({ config: args.config, bootstrapPort: args.bootstrapPort, serverPort: args.serverPort, address: args.address, log: out });
  const stop = async () => { await dev.close(); process.exit(0); };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
  if (args.repl) {
    out(`type 'help' for commands`);
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    const observations = new Map<number, ObservationHandle>();
    rl.on("line", (line) => {
      if (line.trim() === "quit" || line.trim() === "exit") { rl.close(); void stop(); return; }
      runCommand(dev, line, observations, out).then((r) => { if (r) out(r); }, (e) => out(`error: ${(e as Error).message}`));
    });
  }
  return dev;
}

if (require.main === module) {
  runServerCli(process.argv.slice(2)).catch((e) => { console.error((e as Error).message); process.exit(2); });
}

export { formatValue };
