import assert from "node:assert/strict";
import { runHermes } from "../_helpers.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { startWeixinGateway, waitForSent } from "./_weixin.ts";

Deno.test("Weixin ids are case-sensitive: allow_from Alice@im.wechat does not let alice@im.wechat in", async () => {
  await using setup = await startWeixinGateway({
    env: { WEIXIN_DM_POLICY: "allowlist", WEIXIN_ALLOWED_USERS: "Alice@im.wechat" },
  });
  const { ilink, gateway } = setup;
  ilink.inbound({ from: "alice@im.wechat", text: "not on the list" });
  await waitFor(
    "the refusal of alice@im.wechat",
    () => /message refused.*alice@im\.wechat/.test(gateway.stderr()),
  );
  ilink.inbound({ from: "Alice@im.wechat", text: "on the list" });
  await waitForSent(ilink, "on the list");
  assert.deepEqual(ilink.sent.map((s) => [s.msg.to_user_id, s.text]), [
    ["Alice@im.wechat", "on the list"],
  ]);
});

Deno.test("Weixin ids are case-sensitive: a user approved by `hermes pair approve --user` is not their other-case twin", async () => {
  await using setup = await startWeixinGateway({ env: { WEIXIN_DM_POLICY: "pairing" } });
  const { ilink, home, env } = setup;
  const approve = await runHermes(["pair", "approve", "--user", "weixin:Bob@im.wechat"], {
    home,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${home}/locks` },
  });
  assert.equal(approve.code, 0, approve.stderr);
  ilink.inbound({ from: "bob@im.wechat", text: "let me in" });
  await waitFor(
    "a pairing code for bob@im.wechat",
    () =>
      ilink.sent.some((s) => s.msg.to_user_id === "bob@im.wechat" && /pairing code/.test(s.text)),
  );
  ilink.inbound({ from: "Bob@im.wechat", text: "approved" });
  await waitForSent(ilink, "approved");
  assert.ok(
    !ilink.sent.some((s) => s.text === "let me in"),
    "bob@im.wechat never reached the agent",
  );
});
