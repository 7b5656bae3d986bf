/**
 * JSON Schema of standby.yaml and of rule files, from the zod schema's input side: what users write
 * (`5s`, `3 samples`, conditions as strings), so editors (yaml-language-server) validate and complete it.
 * Use: `# yaml-language-server: $schema=/path/to/standby.schema.json` at the top of a file.
 */
import { z } from "zod";
import { configSchema, ruleFileSchema } from "./schema.js";

export type JsonSchema = Record<string, unknown>;

function toJson(schema: z.ZodType, id: string): JsonSchema {
  const json = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12", unrepresentable: "any" });
  return { ...json, $id: id };
}

/** The JSON Schema of standby.yaml. */
export function configJsonSchema(): JsonSchema {
  return toJson(configSchema, "https://standby.invalid/schema/standby.json");
}

/** The JSON Schema of a rule file (`rules: [...]`). */
export function rulesJsonSchema(): JsonSchema {
  return toJson(ruleFileSchema, "https://standby.invalid/schema/rules.json");
}
