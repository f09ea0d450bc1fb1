import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { openDatabase } from "../../../lib/storage/sqlite/database.ts";
import { InboundJournal } from "../../../lib/storage/sqlite/journal.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import type { MessageEvent } from "../../../lib/platforms/event.ts";
import { tempDir } from "../../_helpers.ts";

function message(
  chatId: string,
  messageId: string,
  more: Partial<MessageEvent> = {},
): MessageEvent {
  return {
    messageId,
    source: { platform: "weixin", chatType: "group", chatId, userId: "u" },
    text: "hi",
    receivedAt: "2026-01-01T00:00:00Z",
    ...more,
  };
}

Deno.test("accept() keeps repeats apart per chat, and an id shaped like an edit's is no edit", async () => {
  await using dir = tempDir();
  using db = openDatabase(`${dir.path}/state.db`, STATE_MIGRATIONS);
  const journal = new InboundJournal(db);
  assert.ok(journal.accept(message("room1", "7"), "k1"));
  assert.ok(journal.accept(message("room2", "7"), "k2"), "the same id in another chat is news");
  assert.equal(journal.accept(message("room1", "7"), "k1"), undefined, "a repeat");

  const digest = createHash("sha256").update("x").digest("hex").slice(0, 16);
  assert.ok(journal.accept(message("room1", `8#edit:${digest}`, { text: "y" }), "k1"));
  assert.ok(
    journal.accept(message("room1", "8", { kind: "edit", text: "x" }), "k1"),
    "an edit of 8 to x is not the message whose id reads like one",
  );
  assert.equal(journal.accept(message("room1", "8", { kind: "edit", text: "x" }), "k1"), undefined);
  // ':' inside a part cannot move the line between chat and id.
  assert.ok(journal.accept(message("a:b", "c"), "k3"));
  assert.ok(journal.accept(message("a", "b:c"), "k4"));
});
