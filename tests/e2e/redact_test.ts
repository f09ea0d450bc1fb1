/**
 * PII redaction end to end: the provider sees hashed ids, the user still
 * gets the reply, and hermes' own records keep the real ids.
 */
import assert from "node:assert/strict";
import { IdRedactor } from "../../lib/auth/redact.ts";
import { hermesPaths } from "../../lib/config/home.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

Deno.test("with redact_pii the agent sees a stable 12-hex hash instead of user ids; replies still reach the user", async () => {
  await using provider = startFakeOpenAI();
  await using home = tempDir();
  const env = {
    HERMES_MODEL: "fake-model",
    OPENAI_BASE_URL: provider.baseUrl,
    HERMES_REDACT_PII: "true",
  };
  const users: unknown[] = [];
  {
    await using local = await startLocalGateway(home.path, env);
    await using alice = new ChatClient(local.url, "alice");
    await using bob = new ChatClient(local.url, "bob");
    await alice.ready();
    await bob.ready();
    assert.equal(await alice.ask("a1", "hello there"), "hello there");
    assert.equal(await alice.ask("a2", "again"), "again");
    assert.equal(await bob.ask("b1", "me too"), "me too");
  }
  {
    await using local = await startLocalGateway(home.path, env);
    await using alice = new ChatClient(local.url, "alice");
    await alice.ready();
    assert.equal(await alice.ask("a3", "after a restart"), "after a restart");
  }
  users.push(...provider.requests.map((r) => r.user));
  for (const user of users) assert.match(String(user), /^[0-9a-f]{12}$/);
  assert.equal(users[0], users[1]);
  assert.equal(users[0], users[3]); // stable across restarts
  assert.notEqual(users[0], users[2]);
  assert.ok(!JSON.stringify(provider.requests).includes("alice"));
  const key = await Deno.stat(hermesPaths(home.path).redactionKey);
  assert.equal(key.mode! & 0o777, 0o600);

  // Routing and storage keep the real ids.
  const sessions = await runHermes(["sessions", "list", "--json"], { home: home.path });
  const keys = JSON.parse(sessions.stdout).map((s: { key: string }) => s.key).sort();
  assert.deepEqual(keys, ["agent:main:local:dm:alice", "agent:main:local:dm:bob"]);
});

Deno.test("the redactor hashes chat, thread and user ids, not the platform or chat type", () => {
  const redactor = new IdRedactor("ab".repeat(32));
  const source = redactor.source({
    platform: "wecom",
    chatType: "group",
    chatId: "group-1",
    threadId: "t-9",
    userId: "alice",
  });
  assert.equal(source.platform, "wecom");
  assert.equal(source.chatType, "group");
  for (const id of [source.chatId, source.threadId, source.userId]) {
    assert.match(String(id), /^[0-9a-f]{12}$/);
  }
  assert.equal(source.userId, redactor.hash("wecom", "alice"));
  assert.notEqual(redactor.hash("wecom", "alice"), redactor.hash("local", "alice"));
  assert.notEqual(
    redactor.hash("wecom", "alice"),
    new IdRedactor("cd".repeat(32)).hash("wecom", "alice"),
  );
});
