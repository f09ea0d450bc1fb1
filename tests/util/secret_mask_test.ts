import assert from "node:assert/strict";
import { maskCredentials, SecretMasker } from "../../lib/util/secret_mask.ts";

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

Deno.test("maskCredentials() masks key- and token-shaped strings and keeps the words around them", () => {
  const cases: Array<[string, string]> = [
    ["Incorrect API key provided: sk-proj-Zx9QwErTy1234.", "Incorrect API key provided: sk-***."],
    ["anthropic sk-ant-api03-abcdefgh_ijk", "anthropic sk-***"],
    ["Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: Bearer ***"],
    ['{"api_key": "abcdef123456", "model": "m"}', '{"api_key": "***", "model": "m"}'],
    ["url?access_token=zzzzzzzz&x=1", "url?access_token=***&x=1"],
    ["AWS AKIAABCDEFGHIJKLMNOP here", "AWS *** here"],
    ["ghp_abcdefghijklmnopqrstuvwxyz123456", "***"],
    ["rate limit reached for gpt-4o, retry in 20s", "rate limit reached for gpt-4o, retry in 20s"],
  ];
  for (const [text, masked] of cases) assert.equal(maskCredentials(text), masked, text);
});
