import assert from "node:assert/strict";
import { sessionKey } from "../../../lib/sessions/key.ts";
import type { SessionSource } from "../../../lib/platforms/event.ts";
import { SessionStore } from "../../../lib/storage/sqlite/sessions.ts";
import { TranscriptStore } from "../../../lib/storage/sqlite/transcripts.ts";
import { openDatabase, transaction } from "../../../lib/storage/sqlite/database.ts";
import { SearchIndex } from "../../../lib/storage/sqlite/search_index.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import { tempDir } from "../../_helpers.ts";

Deno.test("session keys: per user in groups by default, the chat alone in DMs", () => {
  const group: SessionSource = {
    platform: "wecom",
    chatType: "group",
    chatId: "g1",
    userId: "alice",
  };
  assert.equal(sessionKey(group), "agent:main:wecom:group:g1:user:alice");
  assert.equal(sessionKey(group, { groupSessionsPerUser: false }), "agent:main:wecom:group:g1");
  assert.equal(
    sessionKey({ ...group, threadId: "t9" }),
    "agent:main:wecom:group:g1:thread:t9:user:alice",
  );
  assert.equal(
    sessionKey({ platform: "local", chatType: "dm", chatId: "local", userId: "local" }),
    "agent:main:local:dm:local",
  );
  assert.equal(
    sessionKey({ platform: "weixin", chatType: "dm", chatId: "wx:id" }),
    "agent:main:weixin:dm:wx%3Aid",
    "a colon inside an id cannot forge another key",
  );
});

async function withStore(
  run: (
    s: { sessions: SessionStore; transcripts: TranscriptStore; index: () => number },
  ) => void,
) {
  await using dir = tempDir();
  using db = openDatabase(`${dir.path}/state.db`, STATE_MIGRATIONS);
  const searchIndex = new SearchIndex(db);
  run({
    sessions: new SessionStore(db),
    transcripts: new TranscriptStore(db),
    index: () => transaction(db, () => searchIndex.catchUp(1_000)),
  });
}

Deno.test("one open session per key; a reset ends it and the next message opens a new one", () =>
  withStore(({ sessions, transcripts }) => {
    const source: SessionSource = { platform: "local", chatType: "dm", chatId: "ada" };
    const key = sessionKey(source);
    const first = sessions.open(key, source);
    assert.equal(sessions.open(key, source).id, first.id);
    transcripts.append({ sessionId: first.id, platform: "local", role: "user", text: "hi" });
    sessions.end(first.id, "/new");
    const second = sessions.open(key, source);
    assert.notEqual(second.id, first.id);
    assert.deepEqual(sessions.history(key).map((s) => [s.id, s.end_reason, s.message_count]), [
      [second.id, null, 0],
      [first.id, "/new", 1],
    ]);
    assert.deepEqual(sessions.list().map((s) => s.id), [second.id]);
  }));

Deno.test("search finds an English word, 3- and 2-character Chinese substrings, and a single character", () =>
  withStore(({ sessions, transcripts, index }) => {
    const source: SessionSource = { platform: "weixin", chatType: "dm", chatId: "wx1" };
    const session = sessions.open(sessionKey(source), source);
    const other: SessionSource = { platform: "local", chatType: "dm", chatId: "me" };
    const local = sessions.open(sessionKey(other), other);
    const add = (text: string, id = session.id, platform = "weixin") =>
      transcripts.append({ sessionId: id, platform, role: "user", text });
    const weather = add("今天天气很好，我们去公园散步吧");
    const deploy = add("The deployment finished without errors");
    add("明天可能下雨");
    const localHit = add("deployment notes for the local box", local.id, "local");
    assert.equal(index(), 4);

    const english = transcripts.search("deployment");
    assert.deepEqual(english.map((h) => h.id).sort(), [deploy, localHit].sort());
    assert.match(english.find((h) => h.id === deploy)!.snippet, /\[deployment\]/i);
    assert.deepEqual(transcripts.search("Deployment", { platform: "local" }).map((h) => h.id), [
      localHit,
    ]);

    const three = transcripts.search("去公园");
    assert.deepEqual(three.map((h) => h.id), [weather]);
    assert.match(three[0]!.snippet, /\[去公园\]/);

    const two = transcripts.search("天气");
    assert.deepEqual(two.map((h) => h.id), [weather]);
    assert.match(two[0]!.snippet, /\[天气\]/);
    assert.equal(two[0]!.session_key, "agent:main:weixin:dm:wx1");

    assert.deepEqual(transcripts.search("雨").map((h) => h.text), ["明天可能下雨"]);
    assert.deepEqual(
      transcripts.search("天气 公园").map((h) => h.id),
      [weather],
      "all terms must match",
    );
    assert.deepEqual(transcripts.search("天晴"), [], "a pair that does not occur finds nothing");
    assert.deepEqual(
      transcripts.search('"quoted" AND OR *'),
      [],
      "FTS syntax in a query is only text",
    );
  }));
