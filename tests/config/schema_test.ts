import assert from "node:assert/strict";
import { configJsonSchema } from "../../lib/config/schema.ts";

Deno.test("configJsonSchema() describes every section with defaults for editors", () => {
  const schema = configJsonSchema() as {
    type: string;
    properties: Record<
      string,
      { properties: Record<string, { default?: unknown; description?: string }> }
    >;
  };
  assert.equal(schema.type, "object");
  const drain = schema.properties.gateway!.properties.drain_timeout!;
  assert.equal(drain.default, 180);
  assert.match(drain.description ?? "", /in-flight/);
  assert.deepEqual(
    (schema.properties.logging!.properties.level as { enum?: string[] }).enum,
    ["debug", "info", "warn", "error"],
  );
});
