import type { Secret } from "../config/secret.js";
import type { SnmpTarget } from "../snmp/target.js";

/** What an snmp_set varbind's value is sent as (net-snmp / snmpset types: i, u, c, t, a, o, s, x). */
export const SNMP_VALUE_TYPES = [
  "integer",
  "unsigned",
  "gauge",
  "counter",
  "timeticks",
  "ipaddress",
  "oid",
  "string",
  "hex",
] as const;
export type SnmpValueType = (typeof SNMP_VALUE_TYPES)[number];

/**
 * One varbind of an snmp_set, as validated: `oid` numeric without a leading dot; `value` a number for integer,
 * unsigned, gauge, counter and timeticks, and text otherwise (`hex`: lowercase hex digits, no separators).
 */
export interface SnmpVarbindSpec {
  readonly oid: string;
  readonly type: SnmpValueType;
  readonly value: number | string;
}

/** Actions, as validated from config. Each runs with a timeout (ms); argv arrays, never a shell unless asked. */
export type ActionSpec =
  | {
      readonly route: {
        readonly to: string;
        readonly via?: string;
        readonly dev?: string;
        readonly table?: string | number;
        readonly metric?: number;
        readonly timeout: number;
      };
    }
  | {
      readonly address: {
        readonly address: string;
        readonly dev: string;
        readonly state: "present" | "absent";
        readonly timeout: number;
      };
    }
  | {
      readonly exec: {
        readonly argv: readonly string[];
        /** A value may be a secret: resolved when the command runs, never shown in results. */
        readonly env: Readonly<Record<string, string | Secret>>;
        readonly shell: boolean;
        readonly timeout: number;
      };
    }
  | {
      readonly http: {
        readonly url: string;
        readonly method: string;
        readonly body?: string;
        readonly headers: Readonly<Record<string, string | Secret>>;
        readonly timeout: number;
      };
    }
  | { readonly bond: { readonly dev: string; readonly active_slave: string; readonly timeout: number } }
  | {
      readonly snmp_set: {
        readonly target: SnmpTarget;
        /** The varbinds of one SET request (`oid`/`type`/`value` in the config is a list of one). */
        readonly set: readonly SnmpVarbindSpec[];
        /** Read the OIDs back with a GET and compare (default true). */
        readonly verify: boolean;
        readonly timeout: number;
      };
    };

export type ActionKind = ActionSpec extends infer A ? (A extends unknown ? keyof A : never) : never;
