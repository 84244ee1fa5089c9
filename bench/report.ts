// Rows of the bench report: one figure of ours, the peer's figure for the
// same thing measured in the same run (when there is a peer), the budget
// from /work/shared/DESIGN.md "Budgets", and the verdict. build/bench.json
// holds the rows as data; printTable() renders them for people.

export type Status =
  | "pass" // within the budget
  | "over" // measured, over the budget
  | "info" // measured, no budget applies to this figure
  | "peer missing" // our figure measured; the peer program is not installed
  | "not yet measured" // cannot be measured yet: `note` says what it needs
  | "error"; // the measurement failed: `note` has the reason

export interface Figure {
  /** The number the budget is checked against (bytes, ms, ratio, ...); null when absent. */
  value: number | null;
  /** How people read it, e.g. "525 B / 6 dg". */
  text: string;
  /** Everything else measured for this figure (per-direction counts, samples, ...). */
  detail?: Record<string, unknown>;
}

export interface Budget {
  /** Upper bound on Figure.value (and on datagrams when set). */
  max: number;
  maxDatagrams?: number;
  text: string;
  /** A stretch goal reported next to the verdict (not part of pass/over). */
  stretch?: number;
}

export interface Row {
  /** Stable key for scripts, e.g. "dtls.full.PskCcm8". */
  id: string;
  section: string;
  metric: string;
  unit: string;
  ours: Figure | null;
  peer: (Figure & { name: string }) | null;
  budget: Budget | null;
  status: Status;
  note?: string;
}

export const na: Figure = { value: null, text: "—" };

/** pass/over against a budget (and a datagram cap when both are given). */
export function verdict(value: number | null, budget: Budget | null, datagrams?: number): Status {
  if (value === null || Number.isNaN(value)) return "error";
  if (!budget) return "info";
  if (value > budget.max) return "over";
  if (budget.maxDatagrams !== undefined && datagrams !== undefined && datagrams > budget.maxDatagrams) return "over";
  return "pass";
}

export const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
export const bytesText = (n: number) => (n >= 4096 ? `${n} B (${kib(n)})` : `${n} B`);

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** The table for people: section headers, one line per row, notes under it. */
export function printTable(input: Row[], out: (s: string) => void = console.log): void {
  // sections in order of first appearance, rows in their order within a section
  const order = [...new Set(input.map((r) => r.section))];
  const rows = order.flatMap((s) => input.filter((r) => r.section === s));
  const cols = ["metric", "ours", "peer", "budget", "status"] as const;
  const cells = rows.map((r) => ({
    metric: r.metric,
    ours: r.ours?.text ?? "—",
    peer: r.peer ? `${r.peer.text}${r.peer.value !== null || r.peer.text !== "—" ? ` (${r.peer.name})` : ""}` : "—",
    budget: r.budget?.text ?? "—",
    status: r.status,
  }));
  const header = { metric: "metric", ours: "ours", peer: "peer (same run)", budget: "budget", status: "status" };
  const w: Record<string, number> = {};
  for (const c of cols) w[c] = Math.min(c === "metric" ? 52 : 40, Math.max(header[c].length, ...cells.map((x) => x[c].length)));
  const line = (x: Record<string, string>) => cols.map((c) => pad(x[c], w[c])).join("  ").trimEnd();
  let section = "";
  out(line(header));
  out(cols.map((c) => "-".repeat(w[c])).join("  "));
  rows.forEach((r, i) => {
    if (r.section !== section) {
      section = r.section;
      out(`\n[${section}]`);
    }
    out(line(cells[i]));
    if (r.note) out(`    ${r.note}`);
  });
  const count = (s: Status) => rows.filter((r) => r.status === s).length;
  out(`\n${rows.length} rows: ${count("pass")} pass, ${count("over")} over, ${count("info")} info, ` +
    `${count("peer missing")} peer missing, ${count("not yet measured")} not yet measured, ${count("error")} error`);
}
