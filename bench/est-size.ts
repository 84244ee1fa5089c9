// `npx tsx bench/est-size.ts`: only the est.size rows of bench/est.ts (code EST adds, per layer).
import { sizeRows } from "./est";

for (const r of sizeRows((s) => console.log(s))) console.log(`${r.id}: ${r.ours?.text} (${r.status})`);
