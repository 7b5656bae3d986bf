/** A secret from the environment, from a file (systemd credentials), or inline (discouraged). */
export type Secret =
  | { readonly kind: "env"; readonly name: string }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "inline"; readonly value: string };
