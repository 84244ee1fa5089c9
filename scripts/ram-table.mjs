// Writes the RAM table of docs/architecture.md (between the ram-table markers)
// from build/bench.json (`npx tsx bench/run.ts --only ram,lwm2m,est`): the
// figures are the bench's, never typed by hand.
//   node scripts/ram-table.mjs [--check]   (--check: exit 1 when the doc differs)
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readProfiles } from "./profiles.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const DOC = join(root, "docs/architecture.md");
const BEGIN = "<!-- ram-table:begin (scripts/ram-table.mjs from build/bench.json; do not edit by hand) -->";
const END = "<!-- ram-table:end -->";

const bench = JSON.parse(readFileSync(join(root, "build/bench.json"), "utf8"));
const row = (id) => bench.rows.find((r) => r.id === id);
const fmt = (n) => n.toLocaleString("en-US");
/** A row's figure with its verdict: against `limit` (this table's budget column) when given, else the row's own. */
function cell(id, limit) {
  const r = row(id);
  if (!r || !r.ours) return r ? `— (${r.status})` : "—";
  const d = r.ours.detail ?? {};
  const heap = d.heap ?? null;
  const status = limit ? (r.ours.value <= limit ? "pass" : "over") : r.status;
  const own = limit && r.status !== status ? ` (its own budget, ${r.budget?.text ?? r.budget}: ${r.status === "pass" ? "ok" : r.status})` : "";
  return `${fmt(r.ours.value)} B${heap !== null ? ` (heap ${fmt(heap)})` : ""}${status === "over" ? " **over**" : status === "pass" ? " ok" : ""}${own}`;
}
const budget = (n) => (n ? `≤ ${fmt(n)} B` : "—");

const profiles = readProfiles().profiles;
const lines = [
  BEGIN,
  `Measured ${bench.generatedAt} at ${bench.environment?.commit ?? "?"} (linear memory used = static \`__heap_base\` + heap high-water).`,
  "",
  "| profile | static | after boot | DTLS-PSK session | X.509 session | EST enrolment | budget PSK / certificate |",
  "|---|---|---|---|---|---|---|",
];
for (const [name, p] of Object.entries(profiles)) {
  const full = name === "full";
  const boot = row(full ? "ram.boot" : `ram.boot.${name}`);
  const staticB = full ? row("ram.static")?.ours?.value : boot?.ours?.detail?.heapBase;
  lines.push(`| \`${name}\` | ${staticB !== undefined ? `${fmt(staticB)} B` : "—"} | ${cell(full ? "ram.boot" : `ram.boot.${name}`)} | ` +
    `${cell(full ? "ram.session.psk" : `ram.session.psk.${name}`)} | ${full ? cell("ram.session.certificates") : "not built"} | ` +
    `${full ? cell("est.ram.enrolment", p.budgets?.ramCertificateBytes) : "not built"} | ${budget(p.budgets?.ramPskBytes)} / ${budget(p.budgets?.ramCertificateBytes)} |`);
}
lines.push(END);
const table = lines.join("\n");

const doc = readFileSync(DOC, "utf8");
const a = doc.indexOf(BEGIN), b = doc.indexOf(END);
if (a < 0 || b < 0) throw new Error(`docs/architecture.md has no ram-table markers`);
const next = doc.slice(0, a) + table + doc.slice(b + END.length);
if (process.argv.includes("--check")) {
  if (next !== doc) { console.error("docs/architecture.md's RAM table differs from build/bench.json"); process.exit(1); }
} else {
  writeFileSync(DOC, next);
  console.log(table);
}
