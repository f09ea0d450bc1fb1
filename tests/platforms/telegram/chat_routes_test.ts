import assert from "node:assert/strict";
import { ChatRoutes, MAX_CHAT_ROUTES } from "../../../lib/platforms/telegram/chat_routes.ts";
import { tempDir } from "../../_helpers.ts";

Deno.test("past 10,000 migrations and blocked chats, the oldest are forgotten", async () => {
  assert.equal(MAX_CHAT_ROUTES, 10_000);
  const routes = ChatRoutes.inMemory();
  for (let i = 0; i <= MAX_CHAT_ROUTES; i++) {
    await routes.migrate(`-${i}`, `-100${i}`);
    await routes.setBlocked(`${i}`, true);
  }
  assert.equal(routes.target("-0"), "-0", "the oldest migration went");
  assert.equal(routes.target("-1"), "-1001");
  assert.equal(routes.target(`-${MAX_CHAT_ROUTES}`), `-100${MAX_CHAT_ROUTES}`);
  assert.equal(routes.blocked.length, MAX_CHAT_ROUTES);
  assert.equal(routes.blocked.includes("0"), false);
  assert.equal(routes.blocked.at(-1), `${MAX_CHAT_ROUTES}`);
});

Deno.test("an over-long chats.json is read bounded and saved bounded", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/chats.json`;
  const count = MAX_CHAT_ROUTES + 5;
  const migrated = Object.fromEntries([...Array(count).keys()].map((i) => [`-${i}`, `-100${i}`]));
  const blocked = [...Array(count).keys()].map(String);
  await Deno.writeTextFile(path, JSON.stringify({ migrated, blocked }));
  const routes = await ChatRoutes.load(dir.path);
  assert.equal(routes.blocked.length, MAX_CHAT_ROUTES);
  await routes.migrate("-new", "-100new");
  const saved = JSON.parse(await Deno.readTextFile(path));
  assert.equal(Object.keys(saved.migrated).length, MAX_CHAT_ROUTES);
  assert.equal(saved.migrated["-new"], "-100new");
  assert.equal(saved.migrated["-5"], undefined, "the oldest went");
  assert.equal(saved.blocked.length, MAX_CHAT_ROUTES);
});

Deno.test("a migration in use is kept past the cap: a supergroup that still talks keeps its group's sessions", async () => {
  const routes = ChatRoutes.inMemory();
  for (let i = 0; i < MAX_CHAT_ROUTES; i++) await routes.migrate(`-${i}`, `-100${i}`);
  assert.equal(routes.origin("-1000"), "-0", "the oldest one's supergroup talks");
  await routes.migrate("-new", "-100new");
  assert.equal(routes.origin("-1000"), "-0", "kept: it was used");
  assert.equal(routes.origin("-1001"), "-1001", "the least recently used went instead");
  assert.equal(routes.target("-1"), "-1");
});
