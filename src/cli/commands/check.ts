/** `standby check`: validates the config and its rule files (or only the rule files named), without running. */
import { type ConfigError, formatError, loadConfig, loadRuleFiles } from "../../config/load.js";
import { type Io, plural } from "../io.js";

export const DEFAULT_CONFIG = "/etc/standby/standby.yaml";

export interface CheckOptions {
  /** The config file; default /etc/standby/standby.yaml when no rule file is named. */
  readonly config?: string;
  /** Rule files to check on their own (like `promtool check rules`). */
  readonly files?: readonly string[];
}

/**
 * Prints every error (one `FILE:LINE:COL: ...` line each, nothing else) to stderr and returns 1, or the warnings
 * (`FILE:LINE:COL: warning: ...`) to stderr, a summary line to stdout, and 0.
 */
export async function runCheck(opts: CheckOptions, io: Io): Promise<number> {
  const files = opts.files ?? [];
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const summaries: string[] = [];

  if (files.length > 0) {
    const r = await loadRuleFiles(files);
    if (r.ok)
      summaries.push(`rules OK: ${plural(r.rules.length, "rule")} in ${plural(r.files.length, "file")}`);
    else errors.push(...r.errors);
  }
  if (files.length === 0 || opts.config !== undefined) {
    const r = await loadConfig(opts.config ?? DEFAULT_CONFIG);
    if (r.ok) {
      warnings.push(...(r.warnings ?? []));
      const c = r.config;
      summaries.push(
        `config OK: ${plural(c.rules.length, "rule")} in ${plural(c.ruleFiles.length, "file")}, ` +
          `${plural(c.groups.length, "group")}, ${plural(c.collectors.length, "collector")}` +
          (c.cluster
            ? `; fleet member "${c.cluster.name}" of ${c.cluster.etcd.length} etcd endpoint(s), ${plural(
                c.groups.filter((g) => g.scope === "shared").length,
                "shared group",
              )}`
            : ""),
      );
    } else errors.push(...r.errors);
  }

  if (errors.length > 0) {
    for (const e of errors) io.err(formatError(e));
    return 1;
  }
  // Warnings (`FILE:LINE:COL: warning: ...`) do not fail the check.
  for (const w of warnings) io.err(formatError(w));
  for (const s of summaries) io.out(s);
  return 0;
}
