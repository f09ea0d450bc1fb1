import assert from "node:assert/strict";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

Deno.test("SecretMasker masks every occurrence, raw and JSON-escaped", () => {
  const masker = new SecretMasker(['pa"ss\\word', "tok-123456"]);
  assert.equal(masker.mask("a tok-123456 b tok-123456"), "a *** b ***");
  assert.equal(masker.mask(JSON.stringify({ p: 'pa"ss\\word' })), '{"p":"***"}');
});

Deno.test("SecretMasker masks the longer of two overlapping secrets whole", () => {
  const masker = new SecretMasker(["abcd", "abcdefgh"]);
  assert.equal(masker.mask("x abcdefgh y abcd"), "x *** y ***");
});

Deno.test("SecretMasker ignores values too short to be secrets", () => {
  const masker = new SecretMasker(["1", "ab"]);
  assert.equal(masker.mask("1 ab"), "1 ab");
});
