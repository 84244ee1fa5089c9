// `npm run bench` (= node scripts/build.mjs all && tsx bench/run.ts):
// size, RAM, DTLS handshakes next to OpenSSL's / GnuTLS's clients measured
// in the same run, and the LwM2M client's rows. Writes build/bench.json (for
// scripts) and prints a table (for people). How to read it: docs/bench.md.
//
//   tsx bench/run.ts [--only size,ram,dtls,lwm2m,est,sleep,fleet,lossy] [--rounds 15] [--warmup 2] [--cycles 10000]
//                    [--psk-cycle-seconds 30] [--fleet-counts 1000,10000] [--fleet-rate 200]
//                    [--fleet-mix-count 1000] [--fleet-mix-seconds 60]
//                    [--lossy-seeds 10] [--lossy-drop 0.3] [--lossy-limit-seconds 400]
//                    (each also as BENCH_<NAME> in the environment; "lossy" runs in real time, about as long as its slowest seed)
//
// Performance and size are measured here, never by timed tests. A missing
// peer program marks its rows "peer missing"; a failed measurement marks
// its rows "error"; neither fails the run. The exit code is 0 unless the
// bench itself crashed (budgets over are reported, not enforced here).
import { execFileSync } from "node:child_process";
import { writeFileSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { type Row, printTable } from "./report";
import { sizeRows } from "./size";
import { ramRows, type FirmwareLayout } from "./ram";
import { dtlsRows } from "./dtls";
import { lwm2mRows, profilePskSessionRows } from "./lwm2m";
import { fleetRows } from "./fleet";
import { lossyRows } from "./lossy";
import { estRows } from "./est";
import { sleepRows } from "./sleep";

const ROOT = join(__dirname, "..");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : process.env[`BENCH_${name.toUpperCase().replace(/-/g, "_")}`] ?? fallback;
}

function version(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0].trim();
  } catch {
    return null;
  }
}

async function main() {
  const only = new Set(arg("only", "size,ram,dtls,lwm2m,est,sleep,fleet,lossy").split(","));
  const fleetCounts = arg("fleet-counts", "1000,10000").split(",").map(Number).filter((n) => n > 0);
  const fleetRate = Number(arg("fleet-rate", "200"));
  const fleetMix = { count: Number(arg("fleet-mix-count", String(fleetCounts[0] ?? 1000))), durationS: Number(arg("fleet-mix-seconds", "60")) };
  const rounds = Number(arg("rounds", "15"));
  const warmup = Number(arg("warmup", "2"));
  const cycleCount = Number(arg("cycles", "10000"));
  const pskCycleSeconds = Number(arg("psk-cycle-seconds", "30"));
  const started = Date.now();
  const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${s}\n`);
  const rows: Row[] = [];
  const guard = async (what: string, f: () => Promise<Row[]>) => {
    try {
      rows.push(...(await f()));
    } catch (e) {
      rows.push({ id: `${what}.crashed`, section: what, metric: `${what} rows`, unit: "", ours: null, peer: null, budget: null,
        status: "error", note: `the ${what} part crashed: ${(e as Error).stack?.split("\n").slice(0, 2).join(" ")}` });
    }
  };

  if (only.has("size")) await guard("size", () => sizeRows(log));
  let layout: FirmwareLayout | null = null;
  const profileLayouts: FirmwareLayout[] = []; // the build profiles other than `full` (profiles.json)
  if (only.has("ram") || only.has("lwm2m") || only.has("est")) {
    await guard("RAM", async () => {
      const r = await ramRows(log, profileLayouts);
      layout = r.layout;
      return only.has("ram") ? r.rows : [];
    });
  }
  if (only.has("dtls")) await guard("DTLS", () => dtlsRows({ rounds, warmup, log }));
  if (only.has("lwm2m")) await guard("LwM2M", () => lwm2mRows(layout, { cycles: cycleCount, pskCycleSeconds, log }));
  if (only.has("lwm2m")) for (const L of profileLayouts) await guard("LwM2M", () => profilePskSessionRows(L, { cycles: cycleCount, pskCycleSeconds, log }));
  if (only.has("est")) await guard("EST", () => estRows(layout, log));
  if (only.has("fleet")) await guard("Fleet", () => fleetRows({ counts: fleetCounts, rate: fleetRate, timeoutS: 900, log, mix: fleetMix.count > 0 ? fleetMix : undefined }));
  if (only.has("lossy")) {
    await guard("Lossy network", () => lossyRows({ seeds: Number(arg("lossy-seeds", "10")), drop: Number(arg("lossy-drop", "0.3")), limitS: Number(arg("lossy-limit-seconds", "400")), log }));
  }
  if (only.has("sleep")) await guard("sleep", () => sleepRows({ rounds, log }));

  const report = {
    generatedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    environment: {
      node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
      openssl: version("openssl", ["version"]), gnutls: version("gnutls-serv", ["--version"]),
      commit: version("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]),
    },
    options: { only: [...only], rounds, warmup, cycles: cycleCount, pskCycleSeconds, fleetCounts, fleetRate, fleetMix },
    summary: Object.fromEntries(["pass", "over", "info", "peer missing", "not yet measured", "error"].map((s) => [s, rows.filter((r) => r.status === s).length])),
    rows,
  };
  mkdirSync(join(ROOT, "build"), { recursive: true });
  writeFileSync(join(ROOT, "build/bench.json"), JSON.stringify(report, null, 2) + "\n");
  console.log(`\nlwm2m-wasm bench — ${report.generatedAt}, ${report.environment.commit ?? "?"}, node ${process.version}, ` +
    `${report.environment.openssl ?? "openssl missing"}, ${report.environment.gnutls ?? "gnutls missing"}, ${report.environment.cpus} CPUs\n`);
  printTable(rows);
  console.log(`\nwritten build/bench.json in ${(report.durationMs / 1000).toFixed(1)} s (how to read it: docs/bench.md)`);
  // a peer's socket or timer left behind by a failed measurement must not keep the bench running
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
