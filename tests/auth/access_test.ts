import assert from "node:assert/strict";
import { decideAccess } from "../../lib/auth/access_decision.ts";
import {
  checkOpenPolicies,
  type PlatformAccess,
  platformAccess,
} from "../../lib/auth/access_settings.ts";
import { Allowlist, normaliseId } from "../../lib/auth/allowlist.ts";
import { allowedCommands, tierOf } from "../../lib/auth/slash_access.ts";
import { hermesPaths } from "../../lib/config/home.ts";
import { loadConfig } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { SessionSource } from "../../lib/platforms/event.ts";
import { idsFoldCase } from "../../lib/platforms/registry.ts";
import { tempDir } from "../_helpers.ts";
// The built-in platforms bring their sections (`local:`), as in the CLI and the gateway.
import "../../lib/platforms/builtin.ts";

/** The access rules of `platform` from a real config.yaml and environment. */
async function accessFrom(
  yaml: string,
  env: Record<string, string> = {},
  platform = "local",
): Promise<PlatformAccess> {
  await using home = tempDir();
  await Deno.writeTextFile(`${home.path}/config.yaml`, yaml);
  const { config } = await loadConfig({ paths: hermesPaths(home.path), env });
  return platformAccess(config, env, platform, { idsFoldCase: idsFoldCase(platform) });
}

const dm = (user: string, platform = "local"): SessionSource => ({
  platform,
  chatType: "dm",
  chatId: user,
  userId: user,
});
const inGroup = (group: string, user: string, platform = "local"): SessionSource => ({
  platform,
  chatType: "group",
  chatId: group,
  userId: user,
});
const nobodyPaired = () => Promise.resolve(false);

async function verdict(access: PlatformAccess, source: SessionSource, paired = nobodyPaired) {
  return (await decideAccess(access, source, paired)).kind;
}

Deno.test("entries are normalised: platform and user/group prefixes, case where ids fold it, '*'", () => {
  assert.equal(normaliseId(" Local:User:Alice ", "local", false), "Alice");
  assert.equal(normaliseId(" Local:User:Alice ", "local", true), "alice");
  assert.equal(normaliseId("group:Team-1", "wecom", true), "team-1");
  assert.equal(normaliseId("wecom:bob", "local", true), "wecom:bob"); // another platform's entry
  const entries = ["ALICE", "local:bob", "user:carol", ""];
  const folding = new Allowlist(entries, "local", { foldCase: true });
  assert.deepEqual(["alice", "Bob", "CAROL", "dave"].map((u) => folding.has(u)), [
    true,
    true,
    true,
    false,
  ]);
  const exact = new Allowlist(entries, "local", { foldCase: false });
  assert.deepEqual(["ALICE", "alice", "bob", "Bob", "carol"].map((u) => exact.has(u)), [
    true,
    false,
    true,
    false,
    true,
  ]);
  assert.equal(folding.has(undefined), false);
  const everyone = new Allowlist(["*"], "local", { foldCase: false });
  assert.ok(everyone.has("anyone") && everyone.everyone);
});

Deno.test("built-in platforms declare whether their ids fold case; an undeclared one folds, as before", () => {
  assert.deepEqual(
    ["wecom", "telegram", "weixin", "local", "myplugin"].map(idsFoldCase),
    [true, true, false, false, true],
  );
});

Deno.test("dm_policy allowlist: allow_from users and paired users only", async () => {
  const access = await accessFrom("local:\n  dm_policy: allowlist\n  allow_from: [user-1]\n");
  assert.equal(await verdict(access, dm("user-1")), "allow");
  assert.equal(await verdict(access, dm("user-2")), "deny");
  assert.equal(await verdict(access, dm("user-2"), () => Promise.resolve(true)), "allow");
});

Deno.test("env <PLATFORM>_DM_POLICY and _ALLOWED_USERS set the policy and the list", async () => {
  const access = await accessFrom("", {
    LOCAL_DM_POLICY: "allowlist",
    LOCAL_ALLOWED_USERS: "user-1, user-2",
  });
  assert.equal(access.dmPolicy, "allowlist");
  assert.equal(await verdict(access, dm("user-1")), "allow");
  assert.equal(await verdict(access, dm("user-2")), "allow");
  assert.equal(await verdict(access, dm("stranger")), "deny");
});

Deno.test("the environment wins over config.yaml for allow_from (hermes' layering)", async () => {
  const access = await accessFrom("local:\n  dm_policy: allowlist\n  allow_from: [cfg-user]\n", {
    LOCAL_ALLOWED_USERS: "env-user",
  });
  assert.equal(await verdict(access, dm("env-user")), "allow");
  assert.equal(await verdict(access, dm("cfg-user")), "deny");
});

Deno.test("dm_policy pairing: strangers are offered a code, known users pass, disabled refuses all", async () => {
  const pairing = await accessFrom("local:\n  dm_policy: pairing\n  allow_from: [ann]\n");
  assert.equal(await verdict(pairing, dm("ann")), "allow");
  assert.deepEqual(await decideAccess(pairing, dm("Zed"), nobodyPaired), {
    kind: "pair",
    userId: "Zed",
  });
  const disabled = await accessFrom("local:\n  dm_policy: disabled\n  allow_from: [ann]\n");
  assert.equal(await verdict(disabled, dm("ann")), "deny");
});

Deno.test("group_policy allowlist with a per-group allow_from", async () => {
  const access = await accessFrom(
    "local:\n  group_policy: allowlist\n  group_allow_from: [group-1]\n  groups:\n    group-1:\n      allow_from: [user-1]\n",
  );
  assert.equal(await verdict(access, inGroup("group-1", "user-1")), "allow");
  assert.equal(await verdict(access, inGroup("group-1", "user-2")), "deny");
  assert.equal(await verdict(access, inGroup("group-2", "user-1")), "deny");
});

Deno.test("group_policy pairing without a group allowlist refuses strangers' group messages", async () => {
  const access = await accessFrom("local:\n  group_policy: pairing\n");
  assert.equal(await verdict(access, inGroup("g", "stranger")), "deny");
  assert.equal(await verdict(access, inGroup("g", "paired"), () => Promise.resolve(true)), "allow");
});

Deno.test("defaults: local is open; other platforms pair in DMs and allowlist groups", async () => {
  const local = await accessFrom("");
  assert.deepEqual([local.dmPolicy, local.groupPolicy], ["open", "open"]);
  const plugin = await accessFrom("platforms:\n  chat:\n    greeting: hi\n", {}, "chat");
  assert.deepEqual([plugin.dmPolicy, plugin.groupPolicy], ["pairing", "allowlist"]);
  assert.equal(await verdict(plugin, inGroup("g", "u")), "deny");
  const allowAll = await accessFrom("", { CHAT_ALLOW_ALL_USERS: "true" }, "chat");
  assert.deepEqual([allowAll.dmPolicy, allowAll.groupPolicy], ["open", "open"]);
  const gatewayWide = await accessFrom("", { GATEWAY_ALLOW_ALL_USERS: "yes" }, "chat");
  assert.equal(gatewayWide.dmPolicy, "open");
});

Deno.test("open policies off this machine need an allow-all flag", async () => {
  const open = await accessFrom("platforms:\n  chat:\n    group_policy: open\n", {}, "chat");
  assert.throws(
    () => checkOpenPolicies(open),
    (error) =>
      error instanceof ConfigError && error.exitCode === 78 &&
      /platforms\.chat\.group_policy is "open".*set CHAT_ALLOW_ALL_USERS=true/.test(error.message),
  );
  const confirmed = await accessFrom(
    "platforms:\n  chat:\n    dm_policy: open\n    allow_all_users: true\n",
    {},
    "chat",
  );
  checkOpenPolicies(confirmed);
  checkOpenPolicies(await accessFrom("local:\n  dm_policy: open\n"));
});

Deno.test("invalid access settings name the key", async () => {
  await assert.rejects(
    () => accessFrom("local:\n  dm_policy: everyone\n"),
    /local\.dm_policy/,
  );
  await assert.rejects(
    () => accessFrom("platforms:\n  chat:\n    user_commands: [reboot]\n", {}, "chat"),
    /platforms\.chat\.user_commands\.0/,
  );
});

Deno.test("tiers: admins run everything; users get /help, /whoami and user_commands, per group too", async () => {
  const access = await accessFrom(
    "local:\n  admin_from: [root]\n  user_commands: [status, new]\n  groups:\n    team:\n      user_commands: [status]\n",
  );
  assert.equal(tierOf(access, dm("root")), "admin");
  assert.equal(tierOf(access, dm("bob")), "user");
  assert.ok(allowedCommands(access, inGroup("team", "root")).has("reset"));
  assert.deepEqual([...allowedCommands(access, dm("bob"))].sort(), [
    "help",
    "new",
    "status",
    "whoami",
  ]);
  assert.deepEqual([...allowedCommands(access, inGroup("team", "bob"))].sort(), [
    "help",
    "status",
    "whoami",
  ]);
  // Admins are allowed users even where only listed users may write.
  const strict = await accessFrom("local:\n  dm_policy: allowlist\n  admin_from: [root]\n");
  assert.equal(await verdict(strict, dm("root")), "allow");
});
