import type { Secret } from "../config/secret.js";

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
  | { readonly bond: { readonly dev: string; readonly active_slave: string; readonly timeout: number } };

export type ActionKind = ActionSpec extends infer A ? (A extends unknown ? keyof A : never) : never;
