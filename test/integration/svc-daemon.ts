/**
 * The small daemon the process tests run (daemon-process, api-process, web-page): one TCP probe `svc-probe` to a
 * listener the test controls, a rule `svc-down`, a group `svc` of `primary` and `backup` (failback manual).
 */
import { join } from "node:path";

export const SVC_RULES = `rules:\n  - {name: svc-down, metric: probe.success, labels: {collector: svc-probe}, problem: "max over 3 samples == 0"}\n`;

/** The config, its `api:` block given whole (and `extra` lines at the end). */
export function svcConfig(
  dir: string,
  probePort: number,
  api: string,
  extra = "",
  stateDir = join(dir, "state"),
): string {
  return `state_dir: ${stateDir}
rules: [rules.yaml]
collectors:
  - {name: svc-probe, type: probe, interval: 100ms, timeout: 90ms, probe: {kind: tcp, target: "127.0.0.1:${probePort}"}}
groups:
  - name: svc
    members:
      - {name: primary, priority: 100, health: [svc-down], activate: []}
      - {name: backup, priority: 50, health: [], activate: []}
    failback: {mode: manual}
api: ${api}
${extra}`;
}
