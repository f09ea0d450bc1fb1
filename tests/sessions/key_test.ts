import assert from "node:assert/strict";
import { parseSessionKey, sessionKey } from "../../lib/sessions/key.ts";
import type { SessionSource } from "../../lib/platforms/event.ts";

Deno.test("sessionKey() names the thread and the user, so no two sources share a key", () => {
  const colonChat: SessionSource = {
    platform: "wecom",
    chatType: "group",
    chatId: "a:b",
    userId: "c",
  };
  const threaded: SessionSource = {
    platform: "wecom",
    chatType: "group",
    chatId: "a",
    threadId: "b",
    userId: "c",
  };
  assert.notEqual(sessionKey(colonChat), sessionKey(threaded));
  assert.equal(sessionKey(colonChat), "agent:main:wecom:group:a%3Ab:user:c");
  assert.equal(sessionKey(threaded), "agent:main:wecom:group:a:thread:b:user:c");
  // A thread alone and a user alone were both agent:main:wecom:group:a:b.
  assert.notEqual(
    sessionKey({ platform: "wecom", chatType: "group", chatId: "a", threadId: "b" }),
    sessionKey({ platform: "wecom", chatType: "group", chatId: "a", userId: "b" }),
  );
  // An id that holds the escape was read as the one it escapes: both were wx%3Aid.
  assert.notEqual(
    sessionKey({ platform: "weixin", chatType: "dm", chatId: "wx:id" }),
    sessionKey({ platform: "weixin", chatType: "dm", chatId: "wx%3Aid" }),
  );
});

Deno.test("sessionKey() keeps the readable prefix and the chat alone in DMs", () => {
  assert.equal(
    sessionKey({ platform: "local", chatType: "dm", chatId: "alice", userId: "alice" }),
    "agent:main:local:dm:alice",
  );
  const group: SessionSource = { platform: "wecom", chatType: "group", chatId: "g1", userId: "u" };
  assert.equal(sessionKey(group, { groupSessionsPerUser: false }), "agent:main:wecom:group:g1");
});

Deno.test("parseSessionKey() reads back every part sessionKey() wrote", async (t) => {
  const sources: SessionSource[] = [
    { platform: "wecom", chatType: "group", chatId: "a:b", userId: "c" },
    { platform: "wecom", chatType: "group", chatId: "a", threadId: "b", userId: "c" },
    { platform: "telegram", chatType: "group", chatId: "-100", threadId: "user" },
    { platform: "weixin", chatType: "dm", chatId: "wx%3Aid" },
    { platform: "weixin", chatType: "group", chatId: "%25:%", userId: "thread" },
  ];
  for (const source of sources) {
    await t.step(sessionKey(source), () => {
      const { platform, chatType, chatId, threadId, userId } = source;
      assert.deepEqual(parseSessionKey(sessionKey(source)), {
        platform,
        chatType,
        chatId,
        ...(threadId ? { threadId } : {}),
        ...(userId && chatType !== "dm" ? { userId } : {}),
      });
    });
  }
  assert.equal(parseSessionKey("agent:main:local:dm"), undefined);
  assert.equal(parseSessionKey("agent:main:local:dm:a:b"), undefined, "a schema 10 key");
});
