/** `standby schema [--rules]`: the JSON Schema of standby.yaml (or of a rule file), for editors. */
import { configJsonSchema, rulesJsonSchema } from "../../config/jsonschema.js";
import type { Io } from "../io.js";

export interface SchemaOptions {
  /** The schema of a rule file instead of standby.yaml. */
  readonly rules?: boolean;
}

export function runSchema(opts: SchemaOptions, io: Io): number {
  const schema = opts.rules ? rulesJsonSchema() : configJsonSchema();
  io.out(JSON.stringify(schema, null, 2));
  return 0;
}
