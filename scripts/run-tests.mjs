// Runs every test/*.test.ts with node's test runner (Node 20 has no --test globs).
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
const only = process.argv.slice(2);
const files = only.length ? only : readdirSync("test").filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/${f}`);
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
