// Runs the command line (bin/lwm2m-wasm.js) as a user would, in a child
// process: its exit code and everything it printed (stdout and stderr).
import { spawn } from "node:child_process";
import { join } from "node:path";

export const CLI = join(__dirname, "..", "..", "bin", "lwm2m-wasm.js");

export async function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, out };
}
