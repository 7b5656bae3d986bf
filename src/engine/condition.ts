import { parseSpan } from "../util/duration.js";
import { AGG_FNS, type AggFn, COMPARE_OPS, type CompareOp, type Condition, STATE_VALUES } from "./types.js";

export interface ConditionError {
  readonly message: string;
  /** Character offset in the condition text where the problem starts. */
  readonly offset: number;
}

export type ConditionResult = { ok: true; condition: Condition } | { ok: false; error: ConditionError };

const STATE_WORDS = Object.keys(STATE_VALUES).join(" ");
const FORM = "expected `[FN over WINDOW] OP VALUE`, e.g. `max over 3 samples == 0` or `in [failed, absent]`";

function fail(message: string, offset: number): ConditionResult {
  return { ok: false, error: { message, offset } };
}

function parseValue(word: string): number | undefined {
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(word)) return Number(word);
  return STATE_VALUES[word];
}

/**
 * Parses `[FN over WINDOW] OP VALUE` where FN is one of AGG_FNS, WINDOW a duration or `N samples`,
 * OP a comparison or `in [v, ...]`, VALUE a number or a state word.
 */
export function parseCondition(text: string): ConditionResult {
  const src = text;
  let pos = 0;
  const skipWs = () => {
    while (pos < src.length && /\s/.test(src[pos]!)) pos++;
  };
  skipWs();
  if (pos >= src.length) return fail(`empty condition; ${FORM}`, 0);

  let fn: AggFn = "last";
  let window: Condition["window"];
  const fnMatch = /^([a-z][a-z0-9]*)\b/.exec(src.slice(pos));
  if (fnMatch && fnMatch[1] !== "in") {
    const word = fnMatch[1]!;
    if (!(AGG_FNS as readonly string[]).includes(word)) {
      return fail(`unknown function "${word}"; expected one of: ${AGG_FNS.join(", ")}`, pos);
    }
    fn = word as AggFn;
    pos += word.length;
    skipWs();
    const overMatch = /^over\b/.exec(src.slice(pos));
    if (overMatch) {
      pos += 4;
      skipWs();
      const winStart = pos;
      const winMatch = /^(\d+\s*samples?|[0-9][0-9a-z.]*)/.exec(src.slice(pos));
      const span = winMatch ? parseSpan(winMatch[1]!) : undefined;
      if (!winMatch || !span) {
        return fail(
          "expected a window after `over`: a duration (`30s`, `5m`) or a count (`10 samples`)",
          winStart,
        );
      }
      if (span.kind === "time" && span.ms <= 0) return fail("window must be longer than 0", winStart);
      window = span;
      pos += winMatch[1]!.length;
      skipWs();
    } else if (fn !== "last") {
      return fail(`\`${fn}\` needs a window: \`${fn} over 30s\` or \`${fn} over 10 samples\``, pos);
    }
  }

  const opStart = pos;
  if (/^in\b/.test(src.slice(pos))) {
    pos += 2;
    skipWs();
    if (src[pos] !== "[") return fail("expected `[` after `in`, e.g. `in [failed, absent]`", pos);
    const close = src.indexOf("]", pos);
    if (close < 0) return fail("missing `]` to close the list", src.length);
    const values: number[] = [];
    let itemPos = pos + 1;
    for (const raw of src.slice(pos + 1, close).split(",")) {
      const item = raw.trim();
      const at = itemPos + raw.indexOf(item);
      itemPos += raw.length + 1;
      if (item === "") return fail("empty item in list", at);
      const v = parseValue(item);
      if (v === undefined) return fail(`"${item}" is not a number or a state word (${STATE_WORDS})`, at);
      values.push(v);
    }
    pos = close + 1;
    skipWs();
    if (pos < src.length) return fail(`unexpected \`${src.slice(pos).trimEnd()}\` after the list`, pos);
    return {
      ok: true,
      condition: { text: text.trim(), fn, ...(window ? { window } : {}), op: "in", values },
    };
  }

  const op = COMPARE_OPS.find((o) => src.startsWith(o, pos));
  if (!op) {
    const rest = src.slice(pos);
    return fail(
      rest === ""
        ? `missing comparison; ${FORM}`
        : `expected an operator (> >= < <= == != in) but found "${rest.split(/\s/)[0]}"`,
      opStart,
    );
  }
  pos += op.length;
  skipWs();
  const valStart = pos;
  const valMatch = /^\S+/.exec(src.slice(pos));
  if (!valMatch)
    return fail(`missing value after \`${op}\`; expected a number or a state word (${STATE_WORDS})`, pos);
  const value = parseValue(valMatch[0]);
  if (value === undefined) {
    return fail(`"${valMatch[0]}" is not a number or a state word (${STATE_WORDS})`, valStart);
  }
  pos += valMatch[0].length;
  skipWs();
  if (pos < src.length) return fail(`unexpected \`${src.slice(pos).trimEnd()}\` after the value`, pos);
  return {
    ok: true,
    condition: { text: text.trim(), fn, ...(window ? { window } : {}), op: op as CompareOp, value },
  };
}
