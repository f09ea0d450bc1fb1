import assert from "node:assert/strict";
import { createAuthorizer } from "../../lib/auth/authorizer.ts";
import { PairingStore } from "../../lib/auth/pairing.ts";
import { parseConfig } from "../../lib/config/schema.ts";
import type { MessageEvent } from "../../lib/platforms/event.ts";
import { Logger, type LogRecord } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { runHermes, tempDir } from "../_helpers.ts";

/**
 * Two platforms alike but for what they declare of their ids: `wxlike`'s
 * are case-sensitive opaque strings (as Weixin's), `wxfold`'s ignore case.
 */
const idsFoldCase = (platform: string) => platform === "wxfold";

function setup(dir: string, settings: Record<string, unknown>) {
  const records: LogRecord[] = [];
  const log = new Logger({
    level: "info",
    sinks: [{ format: "json", write: (_line, record) => void records.push(record) }],
    masker: new SecretMasker(),
  });
  const store = new PairingStore(`${dir}/platforms/pairing`, { log, idsFoldCase });
  const config = parseConfig({ platforms: { wxlike: settings, wxfold: settings } });
  const auth = createAuthorizer({ config, env: {}, store, log, idsFoldCase });
  const admits = async (platform: string, user: string) =>
    (await auth.authorize(dm(platform, user))).allow;
  return { store, auth, admits, records };
}

const dm = (platform: string, user: string): MessageEvent => ({
  messageId: crypto.randomUUID(),
  source: { platform, chatType: "dm", chatId: user, userId: user },
  text: "hi",
  receivedAt: "2026-12-02T10:00:00.000Z",
});

Deno.test("allow_from of Alice admits alice only where the platform declares ids that fold case", async () => {
  await using dir = tempDir();
  const { admits } = setup(dir.path, { dm_policy: "allowlist", allow_from: ["Alice"] });
  assert.equal(await admits("wxlike", "Alice"), true);
  assert.equal(await admits("wxlike", "alice"), false);
  assert.equal(await admits("wxfold", "Alice"), true);
  assert.equal(await admits("wxfold", "alice"), true);
});

Deno.test("admin_from and a group's allow_from compare as the platform declares", async () => {
  await using dir = tempDir();
  const { admits } = setup(dir.path, { dm_policy: "allowlist", admin_from: ["user:Alice"] });
  assert.equal(await admits("wxlike", "alice"), false);
  assert.equal(await admits("wxfold", "alice"), true);
  const { auth } = setup(dir.path, {
    group_policy: "allowlist",
    group_allow_from: ["Room@chatroom"],
    groups: { "Room@chatroom": { allow_from: ["Alice"] } },
  });
  const inGroup = async (platform: string, chat: string, user: string) =>
    (await auth.authorize({
      ...dm(platform, user),
      source: { platform, chatType: "group", chatId: chat, userId: user },
    })).allow;
  assert.equal(await inGroup("wxlike", "Room@chatroom", "Alice"), true);
  assert.equal(await inGroup("wxlike", "room@chatroom", "Alice"), false);
  assert.equal(await inGroup("wxlike", "Room@chatroom", "alice"), false);
  assert.equal(await inGroup("wxfold", "room@chatroom", "alice"), true);
});

Deno.test("an approval of Alice admits alice only where the platform declares ids that fold case", async () => {
  await using dir = tempDir();
  const { store, admits, records } = setup(dir.path, { dm_policy: "pairing" });
  for (const platform of ["wxlike", "wxfold"]) await store.approveUser(platform, "Alice");
  assert.equal(await admits("wxlike", "Alice"), true);
  assert.equal(await admits("wxlike", "alice"), false);
  assert.equal(await admits("wxfold", "Alice"), true);
  assert.equal(await admits("wxfold", "alice"), true);
  // The near miss is logged once, with the command that approves the sender.
  assert.equal(await admits("wxlike", "alice"), false);
  const warned = records.filter((r) => r.msg.includes("only in case"));
  assert.equal(warned.length, 1);
  assert.match(String(warned[0]!.fields.hint), /hermes pair approve --user wxlike:alice/);
  // Revoking by another case takes the folding platform's approval away, not the exact one's.
  assert.equal(await store.revoke("wxlike", "alice"), undefined);
  assert.equal(await store.revoke("wxfold", "alice"), "Alice");
  assert.equal(await admits("wxfold", "Alice"), false);
  assert.equal(await admits("wxlike", "Alice"), true);
  // Where ids fold case, one revoke takes every stored spelling of the user away.
  await Deno.writeTextFile(
    `${store.dir}/wxfold-approved.json`,
    JSON.stringify({ Bob: { approved_at: 1 }, bob: { approved_at: 1 } }),
  );
  assert.equal(await store.revoke("wxfold", "Bob"), "Bob");
  assert.equal(await admits("wxfold", "bob"), false);
});

Deno.test("approvals stored by older versions, in whatever case, keep working where ids fold case", async () => {
  await using dir = tempDir();
  const { store, admits } = setup(dir.path, { dm_policy: "allowlist" });
  await Deno.mkdir(store.dir, { recursive: true });
  const file = JSON.stringify({
    alice: { approved_at: 1 },
    "o9cq8AbC@im.wechat": { approved_at: 1 },
  });
  for (const platform of ["wxlike", "wxfold"]) {
    await Deno.writeTextFile(`${store.dir}/${platform}-approved.json`, file);
  }
  assert.equal(await admits("wxfold", "Alice"), true);
  assert.equal(await admits("wxfold", "O9CQ8abc@im.wechat"), true);
  assert.equal(await admits("wxlike", "o9cq8AbC@im.wechat"), true);
  assert.equal(await admits("wxlike", "o9cq8abc@im.wechat"), false);
  assert.equal(await admits("wxlike", "Alice"), false);
});

Deno.test("a user approved or revoked by `hermes pair` in another process is seen at the next message", async () => {
  await using home = tempDir();
  const { admits } = setup(home.path, { dm_policy: "allowlist" });
  // A store that already indexed the (empty) file, as a running gateway has.
  assert.equal(await admits("wxlike", "Bob@im.wechat"), false);
  const approve = await runHermes(["pair", "approve", "--user", "wxlike:Bob@im.wechat"], {
    home: home.path,
  });
  assert.equal(approve.code, 0, approve.stderr);
  assert.equal(await admits("wxlike", "Bob@im.wechat"), true);
  assert.equal(await admits("wxlike", "bob@im.wechat"), false);
  const revoke = await runHermes(["pair", "revoke", "wxlike", "Bob@im.wechat"], {
    home: home.path,
  });
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal(await admits("wxlike", "Bob@im.wechat"), false);
});
