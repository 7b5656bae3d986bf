// standby's status page (src/api/README.md, "The status page"). Plain JavaScript, no framework, no build step:
// it reads GET /v1/status (on each event, debounced, and every 5 s) and the live stream GET /v1/events?follow=1,
// and posts the operator commands with the API token the user types in, kept in this tab's sessionStorage only
// (never in a URL or a cookie). Everything the daemon sends goes into the page as text, never as HTML.
import { makeControls, tokenState } from "./controls.js";
import { $, clock, el, eventItem, flag, labelText, when } from "./dom.js";

const MAX_EVENTS = 200;
const QUIET_KINDS = new Set(["rule", "health", "action", "collector"]);

/** group name → its card: {root, info, controls} (the controls stay, so what the user typed stays). */
const cards = new Map();
/** The events shown, newest first, and their keys (the stream sends its backlog again when it reconnects). */
let events = [];
const seen = new Set();
const problems = new Map();

function setProblem(key, text) {
  if (text) problems.set(key, text);
  else problems.delete(key);
  const b = $("banner");
  b.textContent = [...problems.values()].join(" · ");
  b.hidden = problems.size === 0;
}

// ---- status ---------------------------------------------------------------------------------------------------

function render(s) {
  $("host").textContent = s.host;
  document.title = `standby ${s.host}`;
  $("meta").replaceChildren(
    `started ${clock(s.started_at)} · config ${s.config} · `,
    el("span", { class: "muted", text: `updated ${clock(s.now)}` }),
    s.dry_run ? flag("dry-run", "dry run: decides, acts on nothing") : "",
  );
  const r = s.last_reload;
  $("reload").replaceChildren(
    r
      ? el(
          "p",
          { class: r.ok ? "ok" : "error", "data-reload": r.ok ? "applied" : "refused" },
          `${r.ok ? "applied" : "refused (the previous config stays in force)"} `,
          when(r.ts),
          el("br"),
          r.message,
        )
      : el("p", { class: "muted", text: "none since the start" }),
  );
  renderSinks(s.sinks ?? {});
  $("warnings-section").hidden = !s.warnings?.length;
  $("warnings").replaceChildren(...(s.warnings ?? []).map((w) => el("li", { text: w })));
  const list = $("groups");
  const names = new Set(s.groups.map((g) => g.name));
  for (const ch of [...list.children]) if (!ch.matches("article.group")) ch.remove();
  for (const [name, c] of cards)
    if (!names.has(name)) {
      c.root.remove();
      cards.delete(name);
    }
  s.groups.forEach((g, i) => {
    let c = cards.get(g.name);
    if (!c) cards.set(g.name, (c = card(g.name)));
    if (list.children[i] !== c.root) list.insertBefore(c.root, list.children[i] ?? null);
    fill(c, g, s.rules ?? []);
  });
  if (s.groups.length === 0) list.replaceChildren(el("p", { class: "muted", text: "no groups configured" }));
}

function renderSinks(sinks) {
  const i = sinks.influx;
  if (!i) {
    $("sinks").replaceChildren(
      el("p", { class: "muted", text: "metrics.prom and the event log only (no influx sink)" }),
    );
    return;
  }
  $("sinks").replaceChildren(
    el(
      "dl",
      { "data-sink": "influx", class: i.failing ? "error" : "" },
      el("dt", { text: "influx" }),
      el("dd", { text: `${i.url} / ${i.database}: ${i.failing ? "FAILING" : "ok"}` }),
      el("dt", { text: "queue" }),
      el("dd", { text: `${i.queue_points} in memory, ${i.spool_points} spooled (${i.spool_bytes} bytes)` }),
      el("dt", { text: "points" }),
      el("dd", { text: `${i.written} written, ${i.retried} retried, ${i.dropped} dropped` }),
      i.last_error ? el("dt", { text: "last error" }) : "",
      i.last_error ? el("dd", {}, i.last_error, " ", i.last_error_at ? when(i.last_error_at) : "") : "",
    ),
  );
}

function card(name) {
  const info = el("div", { class: "info" });
  const controls = makeControls(name, () => refreshSoon(0));
  const root = el(
    "article",
    { class: "group", "data-group": name },
    el("h2", { text: name }),
    info,
    controls.root,
  );
  return { root, info, controls };
}

function matches(ref, inst) {
  if (inst.rule !== ref.rule) return false;
  for (const [k, v] of Object.entries(ref.labels ?? {})) {
    const got = inst.labels?.[k];
    if (got === undefined) return false;
    const re = new RegExp(
      `^${v
        .split("*")
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    );
    if (!re.test(got)) return false;
  }
  return true;
}

function rulesOf(member, rules) {
  const refs = member.rules ?? [];
  if (refs.length === 0) return el("span", { class: "muted", text: "no health rules: always healthy" });
  return el(
    "ul",
    { class: "rules" },
    ...refs.flatMap((ref) => {
      const found = rules.filter((r) => matches(ref, r));
      if (found.length === 0)
        return [
          el("li", { class: "state-unknown", text: `${ref.rule}${labelText(ref.labels)}: no data yet` }),
        ];
      return found.map((r) =>
        el(
          "li",
          { class: `state-${r.state}`, "data-rule": r.rule },
          el("b", { text: `${r.rule}${labelText(r.labels)}` }),
          ` ${r.state}`,
          " — ",
          r.reason,
        ),
      );
    }),
  );
}

/** A shared group (fleet mode): its leader, the fencing token, this instance's role, the observers' votes. */
function fleetLine(f) {
  const votes = f.votes.map((v) => `${v.member} ${v.verdict} (${v.reason})`).join("; ");
  return el(
    "p",
    { class: "fleet", "data-fleet-role": f.role },
    `shared: leader ${f.leader ?? "none"}${f.fence ? ` (fencing token ${f.fence})` : ""}; this instance: ${f.role}; quorum ${f.quorum}`,
    votes ? el("br") : "",
    votes ? `votes: ${votes}` : "",
  );
}

function fill(c, g, rules) {
  const flags = [];
  if (g.frozen)
    flags.push(
      flag("frozen", `frozen: ${g.frozen.reason}${g.frozen.until ? ` until ${clock(g.frozen.until)}` : ""}`),
    );
  if (g.pin)
    flags.push(
      flag(
        "pinned",
        `pinned to ${g.pin.member}${g.pin.until ? ` until ${clock(g.pin.until)}` : ""}${g.pin.by === "failover" ? " (failover)" : ""}`,
      ),
    );
  if (g.switching) flags.push(flag("switching", "switching"));
  const rows = g.members.map((m) =>
    el(
      "tr",
      { "data-member": m.name, class: m.name === g.active ? "active" : "" },
      el(
        "td",
        {},
        el("b", { text: m.name }),
        m.name === g.active ? el("span", { class: "mark", text: " active" }) : "",
      ),
      el("td", { class: "num", text: m.priority }),
      el("td", { class: `health health-${m.health}`, text: m.health }),
      el("td", { class: "reason", text: m.reason }),
      el("td", {}, m.healthy_since !== undefined ? when(m.healthy_since) : "—"),
      el("td", {}, rulesOf(m, rules)),
    ),
  );
  c.info.replaceChildren(
    el(
      "p",
      { class: "summary" },
      "active: ",
      el("b", { class: "active-member", "data-active": g.active, text: g.active }),
      " since ",
      when(g.since),
      ` · failback ${g.failback}, hold ${Math.round(g.hold_ms / 1000)} s `,
      ...flags,
    ),
    g.waiting ? el("p", { class: "waiting", "data-flag": "waiting", text: `waiting: ${g.waiting}` }) : "",
    g.fleet ? fleetLine(g.fleet) : "",
    el(
      "table",
      { class: "members" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["member", "priority", "health", "reason", "healthy since", "rules"].map((h) =>
            el("th", { text: h }),
          ),
        ),
      ),
      el("tbody", {}, ...rows),
    ),
  );
  c.controls.setMembers(g.members.map((m) => m.name));
}

let refreshTimer;
let refreshing = false;
function refreshSoon(ms = 100) {
  if (refreshTimer === undefined) refreshTimer = setTimeout(refresh, ms);
}
async function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = undefined;
  if (refreshing) return refreshSoon(200);
  refreshing = true;
  try {
    const r = await fetch("/v1/status", { cache: "no-store", credentials: "omit" });
    if (!r.ok) throw new Error(`${r.status} ${(await r.json().catch(() => ({}))).error ?? r.statusText}`);
    render(await r.json());
    setProblem("status");
  } catch (err) {
    setProblem("status", `cannot read the status: ${err.message}`);
  } finally {
    refreshing = false;
  }
}

// ---- events ---------------------------------------------------------------------------------------------------
let eventsTimer;
function addEvent(e) {
  const key = JSON.stringify(e);
  if (seen.has(key)) return false;
  seen.add(key);
  events.push(e);
  events.sort((a, b) => b.ts - a.ts);
  if (events.length > MAX_EVENTS) {
    events = events.slice(0, MAX_EVENTS);
    if (seen.size > 4 * MAX_EVENTS) {
      seen.clear();
      for (const x of events) seen.add(JSON.stringify(x));
    }
  }
  if (eventsTimer === undefined) eventsTimer = setTimeout(renderEvents, 0);
  return true;
}

function renderEvents() {
  eventsTimer = undefined;
  const quiet = $("quiet").checked;
  const shown = events.filter((e) => !quiet || !QUIET_KINDS.has(e.kind));
  $("events").replaceChildren(
    ...(shown.length ? shown.map(eventItem) : [el("li", { class: "muted", text: "no events yet" })]),
  );
}

let source;
function follow() {
  source = new EventSource(`/v1/events?follow=1&limit=${MAX_EVENTS}`);
  source.onopen = () => {
    setProblem("stream");
    refreshSoon();
  };
  source.onmessage = (m) => {
    let e;
    try {
      e = JSON.parse(m.data);
    } catch {
      return;
    }
    if (addEvent(e)) refreshSoon();
  };
  source.onerror = () => {
    setProblem("stream", "connection lost: the live event stream dropped; reconnecting…");
    // The browser reconnects by itself, except after an answer that is not a stream (a 503, a restart's 404).
    if (source.readyState === EventSource.CLOSED) setTimeout(follow, 5000);
  };
}

// ---- start ----------------------------------------------------------------------------------------------------

$("quiet").addEventListener("change", renderEvents);
tokenState();
renderEvents();
refresh();
follow();
setInterval(refresh, 5000);
