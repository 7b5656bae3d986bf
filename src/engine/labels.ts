import type { Labels } from "./types.js";

/** A label matcher: exact value, or a `*` glob compiled to a RegExp. */
export type GlobMatcher =
  | { readonly key: string; readonly exact: string }
  | { readonly key: string; readonly re: RegExp };

export function compileMatchers(labels: Labels): GlobMatcher[] {
  return Object.entries(labels).map(([key, value]) =>
    value.includes("*")
      ? { key, re: new RegExp(`^${value.split("*").map(escapeRe).join(".*")}$`) }
      : { key, exact: value },
  );
}

export function labelsMatch(matchers: readonly GlobMatcher[], labels: Labels): boolean {
  for (const m of matchers) {
    const v = labels[m.key];
    if (v === undefined) return false;
    if ("exact" in m ? v !== m.exact : !m.re.test(v)) return false;
  }
  return true;
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}
