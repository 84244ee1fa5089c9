// `npx tsx bench/est-ram.ts`: only the RAM figures of bench/est.ts (probe build; one enrolment
// at libest, and 3 renewals at the development servers' RA after bootstrap over DTLS-PSK),
// for iterating on the RAM budget.
import { firmwareLayout } from "./ram";
import { enrolRun, renewalHeap } from "./est";

async function main() {
  const layout = await firmwareLayout((s) => console.log(s));
  const r = await enrolRun(layout);
  console.log(JSON.stringify({ enrolment: layout.heapBase + r.heap, heapBase: layout.heapBase, heap: r.heap, memory: r.memory, budget: 65536 - 4096, wire: r.wire.bytes, ms: Math.round(r.ms) }));
  const n = await renewalHeap(layout, 3, (s) => console.log(s));
  console.log(JSON.stringify({ renewals: layout.heapBase + Math.max(...n.heaps), heaps: n.heaps, memory: n.memory }));
}
main().catch((e) => { console.error(e); process.exit(1); });
