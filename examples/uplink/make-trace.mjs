// Writes trace.jsonl: two gateways probed every 100 ms for 90 s. gw-a goes dark from 10 s to 20 s, answers
// again, flickers once at 35 s (a relapse during the hold), and is stable after that.
import { writeFileSync } from "node:fs";

const t0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const lines = [];
for (let ms = 0; ms <= 90_000; ms += 100) {
  const aDown = (ms >= 10_000 && ms < 20_000) || (ms >= 35_000 && ms < 35_400);
  lines.push(
    JSON.stringify({
      ts: t0 + ms,
      metric: "probe.success",
      labels: { collector: "gw-a" },
      value: aDown ? 0 : 1,
    }),
  );
  lines.push(
    JSON.stringify({ ts: t0 + ms + 3, metric: "probe.success", labels: { collector: "gw-b" }, value: 1 }),
  );
}
writeFileSync(new URL("trace.jsonl", import.meta.url), `${lines.join("\n")}\n`);
