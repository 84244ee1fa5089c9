// `npx tsx bench/est-ram.ts`: only the est.ram.enrolment figure of bench/est.ts
// (probe build + one enrolment at libest), for iterating on the RAM budget.
import { firmwareLayout } from "./ram";
import { enrolRun } from "./est";

async function main() {
  const layout = await firmwareLayout((s) => console.log(s));
  const r = await enrolRun(layout);
  const used = layout.heapBase + r.heap;
  console.log(JSON.stringify({ used, heapBase: layout.heapBase, heap: r.heap, memory: r.memory, budget: 65536 - 4096, wire: r.wire.bytes, ms: Math.round(r.ms) }));
}
main().catch((e) => { console.error(e); process.exit(1); });
