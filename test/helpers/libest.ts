// Cisco libest estserver (EST-coaps, RFC 9148): built from ../shared/peers/libest
// by scripts/build-peers.sh into build/peers/libest (LIBEST_PREFIX overrides).
// A missing build skips loudly, or fails under REQUIRE_PEERS=1 (CI).
import { existsSync, mkdtempSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestContext } from "node:test";

const SHARED = resolve(process.env.SHARED_DIR ?? join(__dirname, "../../../shared"));
export const LIBEST_DIR = join(SHARED, "peers/libest");
export const LIBEST_PREFIX = resolve(process.env.LIBEST_PREFIX ?? join(__dirname, "../../build/peers/libest"));

export function haveLibest(): boolean {
  return existsSync(join(LIBEST_PREFIX, "bin/estserver"));
}

/** True when libest is built; otherwise skips loudly (fails under REQUIRE_PEERS=1). */
export function requireLibest(t: TestContext): boolean {
  if (haveLibest()) return true;
  const msg = `PEER MISSING: libest estserver not built at ${LIBEST_PREFIX}; run scripts/build-peers.sh (see .ci/run)`;
  if (process.env.REQUIRE_PEERS === "1") throw new Error(msg + " (REQUIRE_PEERS=1)");
  console.error(`\n*** ${msg} — SKIPPING ***\n`);
  t.skip(msg);
  return false;
}

/** A fresh libest test PKI (make-ca.sh): estCA/cacert.crt, client/bootstrap.crt|key, trustedcerts.crt. */
export function makeEstCa(dir = mkdtempSync(join(tmpdir(), "est-ca-"))): string {
  const r = spawnSync("bash", [join(LIBEST_DIR, "make-ca.sh"), dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`make-ca.sh failed: ${r.stderr}`);
  return dir;
}

export interface EstServer { pid: number; port: number; log: string; stop(): Promise<void>; }

/** Starts estserver on 127.0.0.1:port (UDP, EST-coaps) with the PKI in caDir. */
export async function startLibest(caDir: string, port: number, env: Record<string, string> = {}): Promise<EstServer> {
  const log = join(caDir, `est-${port}.log`);
  const r = spawnSync("bash", [join(LIBEST_DIR, "start.sh"), LIBEST_PREFIX, caDir, String(port), "coaps", log],
    { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`start.sh failed: ${r.stderr}`);
  const pid = Number(r.stdout.trim());
  await new Promise((res) => setTimeout(res, 500)); // estserver binds within a few hundred ms
  return {
    pid, port, log,
    async stop() {
      try { process.kill(pid, "SIGTERM"); } catch { return; }
      for (let i = 0; i < 40; i++) {
        try { process.kill(pid, 0); } catch { return; }
        await new Promise((res) => setTimeout(res, 100));
      }
      try { process.kill(pid, "SIGKILL"); } catch {}
    },
  };
}
