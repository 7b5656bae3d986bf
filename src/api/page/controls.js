// The status page's operator controls: failover, failback, pin, unpin, freeze, unfreeze, each a POST to
// /v1/groups/GROUP/COMMAND with Content-Type: application/json and Authorization: Bearer TOKEN. The token is asked
// for once (a password field in a dialog) and kept in this tab's sessionStorage only, never in a URL or a cookie;
// a 401 forgets it and asks again.
import { $, el, subject } from "./dom.js";

const TOKEN_KEY = "standby.token";

export function tokenState() {
  const has = sessionStorage.getItem(TOKEN_KEY) !== null;
  const forget = el("button", { type: "button", id: "forget-token", text: "forget it" });
  forget.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenState();
  });
  $("token-state").replaceChildren(
    has ? "API token: kept for this tab " : "API token: not given yet (asked at the first command)",
    has ? forget : "",
  );
}

let asking;
/** The token from the dialog ("" when cancelled); one dialog at a time. */
function askToken(why) {
  if (asking) return asking;
  const d = $("token-dialog");
  const input = $("token-input");
  $("token-why").textContent = why ?? "";
  input.value = "";
  d.returnValue = "";
  asking = new Promise((resolve) => {
    d.addEventListener(
      "close",
      () => {
        asking = undefined;
        resolve(d.returnValue === "ok" ? input.value.trim() : "");
      },
      { once: true },
    );
  });
  d.showModal();
  input.focus();
  return asking;
}

function describe(r, j, cmd) {
  if (r.ok) {
    const what = (j.events ?? []).map((e) => `${e.kind} ${subject(e)}`.trim()).join("; ");
    return ["ok", `${cmd}: done${what ? ` — ${what}` : " (nothing to change)"}`];
  }
  if (r.status === 409) return ["error", `refused (409): ${j.error ?? "the group refused"}`];
  if (r.status === 429)
    return [
      "error",
      `too many calls (429): ${j.error ?? ""} retry in ${r.headers.get("retry-after") ?? "60"} s`,
    ];
  return ["error", `${cmd} failed (${r.status}): ${j.error ?? r.statusText}`];
}

async function command(group, cmd, body, out, done) {
  const show = (cls, text) => {
    out.className = `result ${cls}`;
    out.textContent = text;
  };
  show("busy", `${cmd}…`);
  let refused;
  for (;;) {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      token = await askToken(refused);
      if (!token) return show("error", `${refused ? `${refused}. ` : ""}${cmd} not sent: no token given`);
      sessionStorage.setItem(TOKEN_KEY, token);
      tokenState();
    }
    let r;
    try {
      r = await fetch(`/v1/groups/${encodeURIComponent(group)}/${cmd}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      return show("error", `${cmd}: the daemon did not answer (${err.message})`);
    }
    const j = await r.json().catch(() => ({}));
    if (r.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      tokenState();
      refused = `refused (401): ${j.error ?? "missing or wrong token"}`;
      show("error", refused);
      continue;
    }
    show(...describe(r, j, cmd));
    done();
    return;
  }
}

/** A group's controls; `done` runs after each answered command (the page reads the status again). */
export function makeControls(group, done) {
  const member = el("select", { name: "member", "aria-label": "member" });
  const dur = el("input", { name: "for", placeholder: "e.g. 30m; empty: until undone", size: 26 });
  const reason = el("input", { name: "reason", placeholder: "reason (optional, logged)", size: 24 });
  const force = el("input", { type: "checkbox", name: "force" });
  const out = el("p", { class: "result", role: "status" });
  const opt = () => ({
    ...(dur.value.trim() ? { for: dur.value.trim() } : {}),
    ...(reason.value.trim() ? { reason: reason.value.trim() } : {}),
  });
  const why = () => (reason.value.trim() ? { reason: reason.value.trim() } : {});
  const button = (cmd, label, body) => {
    const b = el("button", { type: "button", "data-cmd": cmd, text: label });
    b.addEventListener("click", () => command(group, cmd, body(), out, done));
    return b;
  };
  const root = el(
    "fieldset",
    { class: "controls" },
    el("legend", { text: "operator" }),
    el("label", {}, "member ", member),
    el("label", {}, "for ", dur),
    el("label", {}, "reason ", reason),
    el("label", { title: "pin a member although it is unhealthy or unknown" }, force, " force"),
    el(
      "div",
      { class: "buttons" },
      button("failover", "failover to member", () => ({ member: member.value, ...opt() })),
      button("failback", "failback", why),
      button("pin", "pin member", () => {
        const f = force.checked;
        force.checked = false; // one pin at a time: an unhealthy member is never pinned by a leftover tick
        return { member: member.value, ...opt(), ...(f ? { force: true } : {}) };
      }),
      button("unpin", "unpin", why),
      button("freeze", "freeze", why),
      button("unfreeze", "unfreeze", why),
    ),
    out,
  );
  let names = "";
  const setMembers = (list) => {
    if (list.join("\n") === names) return;
    names = list.join("\n");
    const keep = member.value;
    member.replaceChildren(...list.map((n) => el("option", { value: n, text: n })));
    if (list.includes(keep)) member.value = keep;
  };
  return { root, setMembers };
}
