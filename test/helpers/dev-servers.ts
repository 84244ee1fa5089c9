// The development servers (server/index.ts) for one test file: NoSec and
// DTLS on free ports, started before its tests and closed after them, with
// the secure LwM2M Server's key log kept (tshark decrypts captures with it).
import { before, after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, type DevServers } from "../../server/index";

const CONFIG = join(__dirname, "..", "..", "server", "dev-config.json");

export interface DevServersFixture {
  /** Set in the file's `before` hook. */
  srv: DevServers;
  /** A temporary folder for the file (PKI, captures), removed after it. */
  dir: string;
  /** The secure LwM2M Server's NSS key log lines. */
  keyLog: string[];
}

export function useSecureDevServers(tmpPrefix: string): DevServersFixture {
  const fx = { keyLog: [] } as unknown as DevServersFixture;
  before(async () => {
    fx.dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    fx.srv = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: CONFIG, secure: { pkiDir: join(fx.dir, "pki"), est: false }, log: false });
    fx.srv.serverTransports.secure!.enableKeyLog((l) => fx.keyLog.push(l));
  });
  after(async () => {
    await fx.srv?.close();
    if (fx.dir) rmSync(fx.dir, { recursive: true, force: true });
  });
  return fx;
}
