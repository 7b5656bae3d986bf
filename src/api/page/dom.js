// The status page's DOM and text helpers (src/api/README.md, "The status page"): everything the daemon sends goes
// into the page as text (textContent, text nodes), never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = String(v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null && c !== false && c !== "") e.append(c);
  return e;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");
export function clock(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function span(s) {
  if (s < 90) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m}m`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h}h` : `${Math.round(h / 24)}d`;
}
function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  return s < 0 ? `in ${span(-s)}` : `${span(s)} ago`;
}
export const when = (ms) =>
  el("time", { datetime: new Date(ms).toISOString(), title: clock(ms), text: `${clock(ms)} (${ago(ms)})` });
export const labelText = (labels) => {
  const l = Object.entries(labels ?? {});
  return l.length ? `{${l.map(([k, v]) => `${k}=${v}`).join(", ")}}` : "";
};
export const flag = (cls, text) => el("span", { class: `flag ${cls}`, "data-flag": cls, text });

export function subject(e) {
  if (e.from !== undefined && e.to !== undefined) return `${e.group}: ${e.from} → ${e.to}`;
  if (e.kind === "action")
    return `${e.group}/${e.member} ${e.action} ${e.phase} ${e.ok ? "ok" : "FAILED"} (${e.duration_ms} ms)`;
  if (e.kind === "health") return `${e.group}/${e.member} ${e.state}`;
  if (e.group !== undefined && e.member !== undefined) return `${e.group}/${e.member}`;
  if (e.group !== undefined) return e.group;
  if (e.kind === "rule") return `${e.rule}${labelText(e.labels)} ${e.prev} → ${e.state}`;
  if (e.kind === "collector") return `${e.collector} ${e.target} ${e.state}`;
  return "";
}

export function eventItem(e) {
  return el(
    "li",
    { class: `event kind-${e.kind}`, "data-kind": e.kind, "data-ts": e.ts, "data-group": e.group },
    el("time", { datetime: new Date(e.ts).toISOString(), text: clock(e.ts).slice(11) }),
    el("span", { class: "kind", text: e.kind }),
    el(
      "span",
      { class: "text" },
      el("span", { class: "subject", text: subject(e) }),
      e.dry_run ? flag("dry-run", "dry run") : "",
      " ",
      el("span", { class: "reason", text: e.reason }),
      e.by ? " " : "",
      e.by
        ? el("span", {
            class: "by",
            "data-by": e.by,
            text: `by ${e.by}${e.who ? ` (${e.who})` : ""}${e.operator_reason ? `: “${e.operator_reason}”` : ""}`,
          })
        : "",
    ),
  );
}
