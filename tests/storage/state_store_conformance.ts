/**
 * What every StateStore implementation must do, as tests: run
 * {@linkcode stateStoreConformance} with a way to open the implementation
 * on a fresh folder (SQLite, or a database the folder stands for:
 * PostgreSQL) and each behaviour is
 * checked against it, restarts (a close and a reopen) included.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { MessageEvent, SessionSource } from "../../lib/platforms/event.ts";
import type { Expiry, StateStore } from "../../lib/storage/state_store.ts";
import { tempDir } from "../_helpers.ts";

/** Opens the implementation under test in `dir` (the same `dir` reopens the same state). */
export type OpenStore = (dir: string, now: () => Date) => StateStore | Promise<StateStore>;

const NEVER: Expiry = () => undefined;
const DEADLINE = "2026-06-02T10:00:00.000Z";

/** A store on a fresh folder, with a clock the test moves; closed at the end of the scope. */
async function fresh(open: OpenStore) {
  const dir = tempDir();
  let now = new Date("2026-06-01T10:00:00Z");
  const clock = () => now;
  let store = await open(dir.path, clock);
  return {
    get store() {
      return store;
    },
    advance(ms: number) {
      now = new Date(now.getTime() + ms);
    },
    /** Closes and reopens the store: what a restart sees. */
    async reopen() {
      await store.close();
      store = await open(dir.path, clock);
      return store;
    },
    async [Symbol.asyncDispose]() {
      await store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

let counter = 0;
function event(text: string, source: Partial<SessionSource> = {}): MessageEvent {
  return {
    messageId: `m-${++counter}`,
    source: { platform: "test", chatType: "dm", chatId: "alice", userId: "alice", ...source },
    text,
    receivedAt: new Date("2026-06-01T10:00:00Z").toISOString(),
  };
}

/** Registers the conformance tests for one implementation. */
export function stateStoreConformance(name: string, open: OpenStore): void {
  const test = (what: string, fn: () => Promise<void>) => Deno.test(`${name}: ${what}`, fn);

  test("an accepted message is journaled once and survives a restart", async () => {
    await using s = await fresh(open);
    const e = event("hello");
    const entry = await s.store.acceptInbound(e, "k1");
    assert.ok(entry);
    assert.deepEqual(entry.event, e);
    assert.equal(await s.store.acceptInbound(e, "k1"), undefined, "a repeat is refused");
    const after = await s.reopen();
    assert.deepEqual((await after.unfinishedInbound()).map((x) => x.event.text), ["hello"]);
    assert.equal(await after.acceptInbound(e, "k1"), undefined, "also after the restart");
  });

  test("the ids joined into a message are repeats afterwards, across a restart, and never replayed", async () => {
    await using s = await fresh(open);
    const album = { ...event("three pictures"), joinedIds: ["album-2", "album-3"] };
    assert.ok(await s.store.acceptInbound(album, "k1"));
    const piece = (id: string) => ({ ...event(""), messageId: id });
    assert.equal(await s.store.acceptInbound(piece("album-2"), "k1"), undefined);
    const after = await s.reopen();
    assert.equal(await after.acceptInbound(piece("album-3"), "k1"), undefined);
    assert.deepEqual((await after.unfinishedInbound()).map((x) => x.event.text), [
      "three pictures",
    ]);
    assert.ok(await after.acceptInbound(piece("album-4"), "k1"), "a piece not joined is new");
    const late = { ...event("album-0 and album-4"), joinedIds: ["album-4"] };
    assert.equal(
      await after.acceptInbound(late, "k1"),
      undefined,
      "a message joining one that was answered is a repeat (its pieces go alone)",
    );
    assert.ok(await after.acceptInbound({ ...late, joinedIds: [] }, "k1"), "its head alone is new");
  });

  test("an edit of a message is a message of its own; the same edit twice is a repeat", async () => {
    await using s = await fresh(open);
    const original = event("meet at 5");
    assert.ok(await s.store.acceptInbound(original, "k1"));
    const edited = { ...original, kind: "edit" as const, text: "meet at 6" };
    assert.ok(await s.store.acceptInbound(edited, "k1"), "the edit is accepted");
    assert.equal(await s.store.acceptInbound({ ...edited }, "k1"), undefined, "its repeat is not");
    assert.ok(await s.store.acceptInbound({ ...edited, text: "meet at 7" }, "k1"));
    assert.deepEqual(
      (await s.store.unfinishedInbound()).map((e) => [e.event.kind ?? "message", e.event.text]),
      [
        ["message", "meet at 5"],
        ["edit", "meet at 6"],
        ["edit", "meet at 7"],
      ],
    );
  });

  test("finished and interrupted entries are not unfinished; interrupted ones wait per session", async () => {
    await using s = await fresh(open);
    const a = (await s.store.acceptInbound(event("a"), "k1"))!;
    const b = (await s.store.acceptInbound(event("b"), "k1"))!;
    const c = (await s.store.acceptInbound(event("c"), "k2"))!;
    await s.store.finishInbound(a.id, "done", "replied");
    await s.store.markInterrupted([b.id]);
    assert.deepEqual((await s.store.unfinishedInbound()).map((x) => x.id), [c.id]);
    assert.deepEqual((await s.store.interruptedInbound("k1")).map((x) => x.id), [b.id]);
    assert.deepEqual(await s.store.interruptedInbound("k2"), []);
    await s.store.markInterrupted([a.id]);
    assert.deepEqual(
      (await s.store.interruptedInbound("k1")).map((x) => x.id),
      [b.id],
      "a finished entry is never marked interrupted",
    );
  });

  test("an entry's id is never given again, even after every old entry was pruned", async () => {
    await using s = await fresh(open);
    const old = (await s.store.acceptInbound(event("long ago"), "k1"))!;
    await s.store.answer(old, {
      parts: [{ text: "a" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "x",
    });
    await s.store.prune(new Date("2027-01-01T00:00:00Z"));
    const next = (await s.store.acceptInbound(event("today"), "k1"))!;
    assert.ok(next.id > old.id, `${next.id} after ${old.id}`);
    await s.store.answer(next, {
      parts: [{ text: "b" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "x",
    });
    assert.deepEqual((await s.store.partsOf(next.id)).map((p) => p.text), ["b"]);
  });

  test("attempts are counted durably", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("poison"), "k1"))!;
    assert.equal(await s.store.countAttempt(entry.id), 1);
    assert.equal(await s.store.countAttempt(entry.id), 2);
    const after = await s.reopen();
    assert.equal(await after.countAttempt(entry.id), 3);
  });

  test("beginTurn opens the session and stores the user's text once, however often it is begun", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("what time is it?"), "k1"))!;
    const first = await s.store.beginTurn(entry, { expired: NEVER, text: "what time is it?" });
    const again = await s.store.beginTurn(entry, { expired: NEVER, text: "what time is it?" });
    assert.equal(again.id, first.id);
    const history = await s.store.history(first.id);
    assert.deepEqual(history.map((m) => [m.role, m.sender, m.text]), [
      ["user", "alice", "what time is it?"],
    ]);
    assert.equal((await s.store.findOpenSession("k1"))?.message_count, 1);
  });

  test("an expired session is ended with its reason and a new one opened", async () => {
    await using s = await fresh(open);
    const one = (await s.store.acceptInbound(event("one"), "k1"))!;
    const old = await s.store.beginTurn(one, { expired: NEVER, text: "one" });
    const two = (await s.store.acceptInbound(event("two"), "k1"))!;
    const fresh_ = await s.store.beginTurn(two, { expired: () => "idle", text: "two" });
    assert.notEqual(fresh_.id, old.id);
    const sessions = await s.store.sessionsOfKey("k1");
    assert.deepEqual(sessions.map((x) => [x.id, x.end_reason]), [
      [fresh_.id, null],
      [old.id, "idle"],
    ]);
    assert.deepEqual((await s.store.history(fresh_.id)).map((m) => m.text), ["two"]);
  });

  test("completeTurn stores the reply and finishes the entry in one unit", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("hi"), "k1"))!;
    const session = await s.store.beginTurn(entry, { expired: NEVER, text: "hi" });
    s.advance(5_000);
    await s.store.completeTurn(entry, {
      sessionId: session.id,
      parts: [],
      deadline: DEADLINE,
      reply: { text: "hello!", kind: "chat" },
      state: "done",
      outcome: "replied",
    });
    assert.deepEqual(await s.store.unfinishedInbound(), []);
    assert.deepEqual((await s.store.history(session.id)).map((m) => [m.role, m.text]), [
      ["user", "hi"],
      ["assistant", "hello!"],
    ]);
    assert.equal(
      (await s.store.findOpenSession("k1"))?.updated_at,
      "2026-06-01T10:00:05.000Z",
      "the session is touched",
    );
  });

  test("commands and notes are for people: the agent's history leaves them out", async () => {
    await using s = await fresh(open);
    const help = (await s.store.acceptInbound(event("/help"), "k1"))!;
    await s.store.answer(help, {
      parts: [{ text: "Commands: ..." }],
      deadline: DEADLINE,
      state: "done",
      outcome: "command",
      exchange: { expired: NEVER },
    });
    const ask = (await s.store.acceptInbound(event("ask"), "k1"))!;
    const session = await s.store.beginTurn(ask, { expired: NEVER, text: "ask" });
    await s.store.completeTurn(ask, {
      sessionId: session.id,
      parts: [],
      deadline: DEADLINE,
      reply: { text: "⚠️ Sorry, I could not answer", kind: "note" },
      state: "failed",
      outcome: "failed",
    });
    assert.deepEqual((await s.store.history(session.id)).map((m) => m.text), ["ask"]);
    assert.deepEqual(
      (await s.store.history(session.id, { audience: "people" })).map((m) => [m.kind, m.text]),
      [
        ["command", "/help"],
        ["command", "Commands: ..."],
        ["chat", "ask"],
        ["note", "⚠️ Sorry, I could not answer"],
      ],
    );
  });

  test("a superseded message is kept in the transcript and finished", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("never mind"), "k1"))!;
    await s.store.supersede(entry, { expired: NEVER });
    const session = (await s.store.findOpenSession("k1"))!;
    assert.deepEqual((await s.store.history(session.id)).map((m) => m.text), ["never mind"]);
    assert.deepEqual(await s.store.unfinishedInbound(), []);
  });

  test("a group's history gathers every member's session in order, naming whom answers went to", async () => {
    await using s = await fresh(open);
    const room = { chatType: "group" as const, chatId: "team" };
    for (const [user, text] of [["alice", "hi all"], ["bob", "hello"]]) {
      const entry = (await s.store.acceptInbound(
        event(text!, { ...room, userId: user }),
        `k:${user}`,
      ))!;
      const session = await s.store.beginTurn(entry, { expired: NEVER, text: text! });
      await s.store.completeTurn(entry, {
        sessionId: session.id,
        parts: [],
        deadline: DEADLINE,
        reply: { text: `re: ${text}`, kind: "chat" },
        state: "done",
        outcome: "replied",
      });
    }
    const other = (await s.store.acceptInbound(event("elsewhere"), "k:dm"))!;
    await s.store.beginTurn(other, { expired: NEVER, text: "elsewhere" });
    const history = await s.store.chatHistory({ platform: "test", ...room }, 10);
    assert.deepEqual(history.map((m) => [m.role, m.sender, m.session_user, m.text]), [
      ["user", "alice", "alice", "hi all"],
      ["assistant", null, "alice", "re: hi all"],
      ["user", "bob", "bob", "hello"],
      ["assistant", null, "bob", "re: hello"],
    ]);
    assert.deepEqual(
      (await s.store.chatHistory({ platform: "test", ...room }, 1)).map((m) => m.text),
      ["re: hello"],
      "the newest when limited",
    );
  });

  test("search finds words and CJK text across sessions", async () => {
    await using s = await fresh(open);
    for (const text of ["the quarterly weather report", "今天天气很好"]) {
      const entry = (await s.store.acceptInbound(event(text), `k:${text}`))!;
      await s.store.beginTurn(entry, { expired: NEVER, text });
    }
    assert.deepEqual((await s.store.search("weather")).map((h) => h.session_key), [
      "k:the quarterly weather report",
    ]);
    assert.deepEqual((await s.store.search("天气")).map((h) => h.snippet), ["今天[天气]很好"]);
    assert.deepEqual(await s.store.search("weather", { platform: "other" }), []);
  });

  test("sessions are listed most recent first; ended ones only when asked", async () => {
    await using s = await fresh(open);
    for (const key of ["k1", "k2"]) {
      const entry = (await s.store.acceptInbound(event(key), key))!;
      await s.store.beginTurn(entry, { expired: NEVER, text: key });
      s.advance(1_000);
    }
    const k1 = (await s.store.findOpenSession("k1"))!;
    await s.store.endSession(k1.id, "reset");
    assert.deepEqual((await s.store.listSessions()).map((x) => x.key), ["k2"]);
    assert.deepEqual((await s.store.listSessions({ includeEnded: true })).map((x) => x.key), [
      "k2",
      "k1",
    ]);
    assert.equal(await s.store.findOpenSession("k1"), undefined);
  });

  test("a delivered part stays delivered; a shown one keeps its platform id", async () => {
    await using s = await fresh(open);
    const part = { platform: "test", chat: "alice", text: "Hel", messageId: "p-1" };
    assert.equal(await s.store.deliveredPart("inbound:1#0"), undefined);
    await s.store.recordPart("inbound:1#0", { ...part, state: "sending" });
    assert.deepEqual(await s.store.deliveredPart("inbound:1#0"), {
      key: "inbound:1#0",
      state: "sending",
      platformMessageId: "p-1",
    });
    await s.store.recordPart("inbound:1#0", { ...part, text: "Hello", state: "sent" });
    await s.store.recordPart("inbound:1#0", { ...part, state: "sending" });
    const after = await s.reopen();
    assert.equal((await after.deliveredPart("inbound:1#0"))?.state, "sent");
  });

  test("a completed turn's parts are queued in order, each with a key that never changes; the first try of the first is counted with them", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("long question"), "k1"))!;
    const session = await s.store.beginTurn(entry, { expired: NEVER, text: "long question" });
    await s.store.completeTurn(entry, {
      sessionId: session.id,
      reply: { text: "part one part two", kind: "chat" },
      parts: [{ text: "part one", editOf: "preview-1" }, { text: "part two", format: "markdown" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "replied",
    });
    const open_ = await s.store.openParts();
    assert.deepEqual(
      open_.map((p) => [p.part, p.text, p.idempotencyKey, p.editOf, p.format, p.state, p.replyTo]),
      [
        [
          0,
          "part one",
          `inbound:${entry.id}#0`,
          "preview-1",
          "plain",
          "sending",
          entry.event.messageId,
        ],
        [1, "part two", `inbound:${entry.id}#1`, null, "markdown", "queued", entry.event.messageId],
      ],
    );
    assert.deepEqual(open_.map((p) => p.attempts), [1, 0]);
    assert.deepEqual(
      await s.store.outboxCounts(),
      { queued: 2, sending: 0, deferred: 0, failed: 0, undeliverable: 0 },
      "not under way until the outbox takes it",
    );
    assert.equal(await s.store.startSending(open_[0]!.id), 1, "its first try, already counted");
    assert.deepEqual(
      await s.store.outboxCounts(),
      { queued: 1, sending: 1, deferred: 0, failed: 0, undeliverable: 0 },
      "under way once taken",
    );
    assert.equal(await s.store.startSending(open_[1]!.id), 1);
    assert.deepEqual(open_[0]!.target, entry.event.source);
    assert.equal(open_[0]!.deadline, DEADLINE);
    assert.deepEqual(await s.store.unfinishedInbound(), [], "the entry is done: the rows carry it");
    assert.deepEqual((await s.store.partsOf(entry.id)).map((p) => p.part), [0, 1]);
  });

  test("a first try counted with the reply counts as a try after a restart: the next is the second", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("hi"), "k1"))!;
    const session = await s.store.beginTurn(entry, { expired: NEVER, text: "hi" });
    await s.store.completeTurn(entry, {
      sessionId: session.id,
      reply: { text: "hello", kind: "chat" },
      parts: [{ text: "hello" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "replied",
    });
    const [part] = await s.store.openParts();
    const after = await s.reopen(); // killed before or during the send: it may have gone out
    assert.equal(await after.startSending(part!.id), 2);
  });

  test("a counted first try is handed out once: a try begun again without an outcome is a new one", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("hi"), "k1"))!;
    const session = await s.store.beginTurn(entry, { expired: NEVER, text: "hi" });
    await s.store.completeTurn(entry, {
      sessionId: session.id,
      parts: [{ text: "hello" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "replied",
    });
    const [part] = await s.store.openParts();
    assert.equal(await s.store.startSending(part!.id), 1);
    assert.equal(
      await s.store.startSending(part!.id),
      2,
      "the first may have reached the platform",
    );
  });

  test("outbox counts: a try begun again is one part sending, not two; another chat's claimed part stays queued", async () => {
    await using s = await fresh(open);
    for (const chatId of ["ada", "bob"]) {
      const entry = (await s.store.acceptInbound(event(`hi ${chatId}`, { chatId }), chatId))!;
      await s.store.answer(entry, {
        parts: [{ text: `hello ${chatId}` }],
        deadline: DEADLINE,
        state: "done",
        outcome: "x",
      });
    }
    const [ada] = await s.store.openParts();
    assert.equal(await s.store.startSending(ada!.id), 1);
    assert.equal(await s.store.startSending(ada!.id), 2);
    assert.deepEqual(await s.store.outboxCounts(), {
      queued: 1,
      sending: 1,
      deferred: 0,
      failed: 0,
      undeliverable: 0,
    });
  });

  test("a reply whose chat still waits on an earlier part counts no try before its turn", async () => {
    await using s = await fresh(open);
    const first = (await s.store.acceptInbound(event("one"), "k1"))!;
    await s.store.answer(first, {
      parts: [{ text: "1" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "x",
    });
    const second = (await s.store.acceptInbound(event("two"), "k1"))!;
    await s.store.answer(second, {
      parts: [{ text: "2" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "x",
    });
    assert.deepEqual((await s.store.openParts()).map((p) => [p.text, p.state, p.attempts]), [
      ["1", "sending", 1],
      ["2", "queued", 0],
    ]);
  });

  test("a part moves through sending, failed, sent; tries are counted across restarts", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("hi"), "k1"))!;
    await s.store.answer(entry, {
      parts: [{ text: "hello" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "command",
    });
    const [part] = await s.store.openParts();
    assert.equal(await s.store.startSending(part!.id), 1);
    await s.store.partFailed(part!.id, {
      code: "429",
      message: "Too Many Requests",
      notBefore: "2026-06-01T10:00:03.000Z",
    });
    let after = await s.reopen();
    const failed = (await after.openParts())[0]!;
    assert.deepEqual([failed.state, failed.lastCode, failed.notBefore, failed.attempts], [
      "failed",
      "429",
      "2026-06-01T10:00:03.000Z",
      1,
    ]);
    assert.equal(await after.startSending(part!.id), 2);
    after = await s.reopen(); // killed while sending: the part is still open, as `sending`
    assert.equal((await after.openParts())[0]!.state, "sending");
    await after.partSent(part!.id, "platform-9");
    assert.deepEqual(await after.openParts(), []);
    const sent = (await after.partsOf(entry.id))[0]!;
    assert.deepEqual([sent.state, sent.platformMessageId, sent.attempts], [
      "sent",
      "platform-9",
      2,
    ]);
    assert.deepEqual(await after.outboxCounts(), {
      queued: 0,
      sending: 0,
      deferred: 0,
      failed: 0,
      undeliverable: 0,
    });
  });

  test("a part deferred until the chat's next message is queued again by its next admitted one, with its reply context", async () => {
    await using s = await fresh(open);
    const group = { chatType: "group" as const, chatId: "team" };
    const first = (await s.store.acceptInbound(
      { ...event("hi", group), replyContext: { req_id: "r-1" } },
      "k1",
    ))!;
    assert.equal(await s.store.replyContext(JSON.stringify(["test", "team", ""])), undefined);
    await s.store.admitInbound(first);
    await s.store.answer(first, {
      parts: [{ text: "hello" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "command",
    });
    const [part] = await s.store.openParts();
    assert.deepEqual(await s.store.replyContext(part!.chatKey), { req_id: "r-1" });
    assert.deepEqual(await s.store.inboundReplyContext(first.id), { req_id: "r-1" });
    await s.store.startSending(part!.id);
    await s.store.partDeferred(part!.id, { until: "next_inbound", reason: "600039" });
    assert.deepEqual(
      (await s.store.openParts()).map((p) => [p.state, p.waitingForInbound]),
      [["deferred", true]],
    );
    const elsewhere = (await s.store.acceptInbound(
      { ...event("elsewhere"), replyContext: { req_id: "dm" } },
      "k2",
    ))!;
    await s.store.admitInbound(elsewhere);
    assert.equal(
      (await s.store.openParts())[0]!.state,
      "deferred",
      "another chat does not wake it",
    );
    const refused = (await s.store.acceptInbound(
      { ...event("a stranger", group), replyContext: { req_id: "r-stranger" } },
      "k3",
    ))!;
    assert.equal((await s.store.openParts())[0]!.state, "deferred", "journaled is not admitted");
    assert.deepEqual(await s.store.replyContext(part!.chatKey), { req_id: "r-1" });
    assert.deepEqual(await s.store.inboundReplyContext(refused.id), { req_id: "r-stranger" });
    const again = (await s.store.acceptInbound(
      {
        ...event("again", group),
        replyContext: { req_id: "r-2" },
        receivedAt: "2026-06-01T10:05:00.000Z",
      },
      "k1",
    ))!;
    await s.store.admitInbound(again);
    const woken = (await s.store.openParts())[0]!;
    assert.deepEqual([woken.state, woken.waitingForInbound], ["queued", false]);
    assert.deepEqual(await s.store.replyContext(part!.chatKey), { req_id: "r-2" });
    assert.equal((await s.store.outboxCounts()).queued, 1);
    await s.store.admitInbound(first); // a replay of the older message
    assert.deepEqual(
      await s.store.replyContext(part!.chatKey),
      { req_id: "r-2" },
      "an older message does not take the newer one's place",
    );
  });

  test("an undeliverable part is counted and no longer open", async () => {
    await using s = await fresh(open);
    const entry = (await s.store.acceptInbound(event("hi"), "k1"))!;
    await s.store.answer(entry, {
      parts: [{ text: "a" }, { text: "b" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "command",
    });
    const [a] = await s.store.openParts();
    await s.store.partUndeliverable(a!.id, { code: "403", message: "bot was blocked" });
    assert.deepEqual((await s.store.openParts()).map((p) => p.text), ["b"]);
    const counts = await s.store.outboxCounts();
    assert.deepEqual([counts.undeliverable, counts.queued], [1, 1]);
    assert.equal((await s.store.partsOf(entry.id))[0]!.lastError, "bot was blocked");
  });

  test("an operator's message is queued as parts of its own: never replayed, answered or transcribed", async () => {
    await using s = await fresh(open);
    const target: SessionSource = { platform: "test", chatType: "group", chatId: "team:1" };
    const parts = await s.store.enqueueMessage(
      target,
      [{ text: "heads up" }, { text: "part two", format: "markdown" }],
      { deadline: DEADLINE, origin: "hermes send" },
    );
    const id = parts[0]!.inboundId;
    assert.deepEqual(
      parts.map((p) => [p.inboundId, p.part, p.text, p.format, p.idempotencyKey, p.state]),
      [
        [id, 0, "heads up", "plain", `inbound:${id}#0`, "queued"],
        [id, 1, "part two", "markdown", `inbound:${id}#1`, "queued"],
      ],
    );
    assert.deepEqual(parts[0]!.target, target);
    assert.deepEqual([parts[0]!.replyTo, parts[0]!.deadline], [null, DEADLINE]);
    const after = await s.reopen();
    assert.deepEqual((await after.openParts()).map((p) => p.id), parts.map((p) => p.id));
    assert.deepEqual(await after.unfinishedInbound(), [], "nothing to replay at start");
    assert.deepEqual(await after.listSessions({ includeEnded: true }), [], "no session opened");
    assert.deepEqual(await after.chatHistory(target, 10), [], "no transcript row");
    assert.equal(
      await after.knownChat("test", "team:1"),
      undefined,
      "it tells nothing of the chat",
    );
    assert.equal((await after.outboxCounts()).queued, 2);
    const next = (await after.acceptInbound(event("hi", { chatId: "team:1" }), "k1"))!;
    assert.ok(next.id > id, "journal ids go on after it");
  });

  test("an operator's message deferred until the chat's next message is woken by it and goes first", async () => {
    await using s = await fresh(open);
    const [part] = await s.store.enqueueMessage(
      { platform: "test", chatType: "dm", chatId: "alice", userId: "alice" },
      [{ text: "heads up" }],
      { deadline: DEADLINE, origin: "hermes send" },
    );
    await s.store.startSending(part!.id);
    await s.store.partDeferred(part!.id, { until: "next_inbound", reason: "no context" });
    await s.store.enqueueMessage(
      { platform: "test", chatType: "dm", chatId: "alice" },
      [{ text: "another" }],
      { deadline: DEADLINE, origin: "hermes send" },
    );
    assert.equal(
      (await s.store.openParts())[0]!.state,
      "deferred",
      "a message of the operator's wakes nothing",
    );
    const entry = (await s.store.acceptInbound(
      { ...event("hello"), source: { platform: "test", chatType: "group", chatId: "alice" } },
      "k1",
    ))!;
    await s.store.admitInbound(entry);
    await s.store.answer(entry, {
      parts: [{ text: "reply" }],
      deadline: DEADLINE,
      state: "done",
      outcome: "replied",
    });
    const next = (await s.store.nextPart(part!.chatKey))!;
    assert.deepEqual([next.id, next.state, next.waitingForInbound], [part!.id, "queued", false]);
    assert.deepEqual((await s.store.openParts()).map((p) => p.text), [
      "heads up",
      "another",
      "reply",
    ]);
  });

  test("knownChat() is the chat's newest inbound source, else its newest session", async () => {
    await using s = await fresh(open);
    assert.equal(await s.store.knownChat("test", "team"), undefined);
    const room = { chatType: "group" as const, chatId: "team", threadId: "t-1" };
    const first = (await s.store.acceptInbound(event("a", { ...room, userId: "bob" }), "k1"))!;
    await s.store.beginTurn(first, { expired: NEVER, text: "a" });
    await s.store.finishInbound(first.id, "done", "replied");
    s.advance(1_000);
    await s.store.acceptInbound(event("b", { ...room, threadId: "t-2", userId: "carol" }), "k2");
    await s.store.acceptInbound(event("c", { chatId: "other" }), "k3");
    await s.store.enqueueMessage({ platform: "test", chatType: "dm", chatId: "team" }, [{
      text: "a guess",
    }], { deadline: DEADLINE, origin: "hermes send" });
    assert.deepEqual(await s.store.knownChat("test", "team"), {
      platform: "test",
      chatType: "group",
      chatId: "team",
      threadId: "t-2",
      userId: "carol",
    });
    assert.equal(await s.store.knownChat("other-platform", "team"), undefined);
    const pending = await s.store.unfinishedInbound();
    for (const entry of pending) await s.store.finishInbound(entry.id, "done", "replied");
    await s.store.prune(new Date("2027-01-01T00:00:00Z"));
    assert.deepEqual(
      await s.store.knownChat("test", "team"),
      { platform: "test", chatType: "group", chatId: "team", threadId: "t-1", userId: "bob" },
      "after the journal is pruned, the session tells",
    );
  });

  test("prune forgets old finished entries, never unfinished ones", async () => {
    await using s = await fresh(open);
    const done = (await s.store.acceptInbound(event("done"), "k1"))!;
    await s.store.finishInbound(done.id, "done", "replied");
    const waiting = (await s.store.acceptInbound(event("waiting"), "k1"))!;
    await s.store.prune(new Date("2026-06-02T00:00:00Z"));
    assert.deepEqual((await s.store.unfinishedInbound()).map((x) => x.id), [waiting.id]);
    const repeat = { ...done.event };
    assert.ok(
      await s.store.acceptInbound(repeat, "k1"),
      "a pruned message's id is forgotten with it",
    );
  });

  test("pruneSessions removes ended sessions past the cutoff with their messages (a search no longer finds them); the sweep pages every open session", async () => {
    await using s = await fresh(open);
    const talk = async (user: string, text: string) => {
      const entry =
        (await s.store.acceptInbound(event(text, { chatId: user, userId: user }), `k-${user}`))!;
      const session = await s.store.beginTurn(entry, { expired: NEVER, text });
      await s.store.completeTurn(entry, {
        sessionId: session.id,
        parts: [],
        deadline: DEADLINE,
        reply: { text: `re: ${text}`, kind: "chat" },
        state: "done",
        outcome: "replied",
      });
      return session;
    };
    const old = await talk("ada", "ancient walrus");
    await s.store.endSession(old.id, "idle");
    const open1 = await talk("bob", "open walrus");
    s.advance(30 * 86_400_000);
    const recent = await talk("cy", "recent walrus");
    await s.store.endSession(recent.id, "idle");
    const open2 = await talk("di", "another walrus");
    const cutoff = new Date("2026-06-15T00:00:00Z");

    const expired = await s.store.expiredSessions(cutoff);
    assert.deepEqual(expired.sessions.map((x) => x.id), [old.id]);
    assert.equal(expired.messages, 2);
    assert.deepEqual(await s.store.pruneSessions(cutoff), { sessions: 1, messages: 2 });
    const found = (await s.store.search("walrus")).map((hit) => hit.text);
    assert.ok(!found.some((text) => text.includes("ancient")), JSON.stringify(found));
    assert.ok(found.some((text) => text.includes("recent")));
    assert.deepEqual(await s.store.sessionsOfKey("k-ada"), []);
    assert.deepEqual(await s.store.pruneSessions(cutoff), { sessions: 0, messages: 0 });

    const page1 = await s.store.openSessionsAfter(0, 1);
    const page2 = await s.store.openSessionsAfter(page1[0]!.id, 1);
    const page3 = await s.store.openSessionsAfter(page2[0]!.id, 1);
    assert.deepEqual([...page1, ...page2].map((x) => x.id), [open1.id, open2.id]);
    assert.deepEqual(page3, []);

    assert.equal(await s.store.lastMaintenance("session_prune"), undefined);
    await s.store.recordMaintenance("session_prune", cutoff);
    await s.reopen();
    assert.equal(await s.store.lastMaintenance("session_prune"), cutoff.toISOString());
  });

  test("prune forgets what prunable counted: finished entries and those a drain cut off", async () => {
    await using s = await fresh(open);
    const done = (await s.store.acceptInbound(event("done"), "k1"))!;
    await s.store.finishInbound(done.id, "done", "replied");
    const cut = (await s.store.acceptInbound(event("cut off"), "k2"))!;
    await s.store.markInterrupted([cut.id]);
    await s.store.acceptInbound(event("still waiting"), "k3"); // never pruned, on any backend
    const cutoff = new Date("2026-06-02T00:00:00Z");
    assert.deepEqual(await s.store.prunable(cutoff), { journal: 2, ledger: 0, outbox: 0 });
    assert.deepEqual(await s.store.prune(cutoff), { journal: 2, ledger: 0, outbox: 0 });
    assert.deepEqual(await s.store.prunable(cutoff), { journal: 0, ledger: 0, outbox: 0 });
  });
}
