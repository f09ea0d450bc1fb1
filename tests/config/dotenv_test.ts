import assert from "node:assert/strict";
import { parseDotenv } from "../../lib/config/dotenv.ts";
import { ConfigError } from "../../lib/errors.ts";

const value = (text: string, key: string) => parseDotenv(text, "/h/.env").get(key)?.value;

Deno.test("parseDotenv() reads plain, quoted and exported values", () => {
  const text = [
    "# comment",
    "",
    "PLAIN=abc # trailing comment",
    "export EXPORTED=yes",
    'DOUBLE="two words # not a comment"',
    "SINGLE='raw \\n stays'",
    'ESCAPED="line1\\nline2"',
    "EMPTY=",
    "SPACED = padded ",
  ].join("\n");
  assert.equal(value(text, "PLAIN"), "abc");
  assert.equal(value(text, "EXPORTED"), "yes");
  assert.equal(value(text, "DOUBLE"), "two words # not a comment");
  assert.equal(value(text, "SINGLE"), "raw \\n stays");
  assert.equal(value(text, "ESCAPED"), "line1\nline2");
  assert.equal(value(text, "EMPTY"), "");
  assert.equal(value(text, "SPACED"), "padded");
});

Deno.test("parseDotenv() lets a later line win and records line numbers", () => {
  const vars = parseDotenv("A=1\r\nA=2\r\n", "/h/.env");
  assert.deepEqual(vars.get("A"), { value: "2", line: 2 });
});

Deno.test("parseDotenv() names file and line of a malformed line without echoing it", () => {
  assert.throws(() => parseDotenv("A=1\nsk-live-abcdef\n", "/h/.env"), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      'Cannot load config "/h/.env": line 2: expected KEY=value; fix or comment out that line',
    );
    return true;
  });
  assert.throws(() => parseDotenv('A="open\n', "/h/.env"), /line 1: the " quote is not closed/);
});
