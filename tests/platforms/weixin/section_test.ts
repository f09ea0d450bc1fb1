import assert from "node:assert/strict";
import { hermesPaths } from "../../../lib/config/home.ts";
import { loadConfig } from "../../../lib/config/load.ts";
import "../../../lib/platforms/builtin.ts";
import { weixinSettings } from "../../../lib/platforms/weixin/section.ts";
import { tempDir } from "../../_helpers.ts";

async function settingsFrom(env: Record<string, string>) {
  await using dir = tempDir();
  const loaded = await loadConfig({ paths: hermesPaths(dir.path), env });
  return weixinSettings(loaded.config as unknown as Record<string, unknown>);
}

Deno.test("text batch delays from the environment apply; an invalid or negative one means the default", async () => {
  const set = await settingsFrom({
    WEIXIN_TEXT_BATCH_DELAY_SECONDS: "0.5",
    WEIXIN_TEXT_BATCH_SPLIT_DELAY_SECONDS: "0",
  });
  assert.equal(set.text_batch_delay_seconds, 0.5);
  assert.equal(set.text_batch_split_delay_seconds, 0);
  const bad = await settingsFrom({
    WEIXIN_TEXT_BATCH_DELAY_SECONDS: "not-a-number",
    WEIXIN_TEXT_BATCH_SPLIT_DELAY_SECONDS: "-4",
  });
  assert.equal(bad.text_batch_delay_seconds, 3);
  assert.equal(bad.text_batch_split_delay_seconds, 5);
});

Deno.test("groups are off by default; DMs pair; plain text and the reference's send settings", async () => {
  const set = await settingsFrom({ WEIXIN_ACCOUNT_ID: "b@im.bot", WEIXIN_PLAIN_TEXT: "0" });
  assert.equal(set.group_policy, "disabled");
  assert.equal(set.dm_policy, undefined, "pairing, from the shared access rules");
  assert.equal(set.plain_text, false);
  assert.equal(set.send_chunk_delay_seconds, 1.5);
  assert.equal(set.send_chunk_retries, 4);
  assert.equal(set.rate_limit_circuit_threshold, 1);
});
