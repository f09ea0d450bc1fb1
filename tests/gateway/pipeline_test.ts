import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type Agent, AgentError, type AgentTurn } from "../../lib/agent/agent.ts";
import { type AuthorizeHook, createAuthorizer } from "../../lib/auth/authorizer.ts";
import { PairingStore } from "../../lib/auth/pairing.ts";
import { parseConfig } from "../../lib/config/schema.ts";
import { Outbox } from "../../lib/gateway/outbox.ts";
import { Pipeline } from "../../lib/gateway/pipeline.ts";
import type { MessageEvent } from "../../lib/platforms/event.ts";
import {
  openSqliteStateStore,
  type SqliteStateStore,
} from "../../lib/storage/sqlite/state_store.ts";
import { lineSink, Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { RecordingAdapter } from "../fakes/recording_adapter.ts";
import { tempDir } from "../_helpers.ts";

/** An agent whose turns wait at a gate after their first words, until released or aborted. */
class GatedAgent implements Agent {
  readonly provider = "test";
  readonly description = "gated test agent";
  readonly turns: { text: string; history: string[]; aborted: boolean }[] = [];
  readonly #gates: (() => void)[] = [];
  #credits = 0; // releases that came before their turn reached the gate
  readonly #started: (() => void)[] = [];
  autoRelease = false;
  /** An interrupted turn ends only when released too (as a slow agent does). */
  holdAborted = false;

  async *run(turn: AgentTurn): AsyncIterable<string> {
    const text = turn.history.at(-1)!.content;
    const record = {
      text,
      history: turn.history.map((m) => `${m.role}:${m.content}`),
      aborted: false,
    };
    this.turns.push(record);
    for (const wake of this.#started.splice(0)) wake();
    yield `answer to ${text}`;
    if (this.#credits > 0) {
      this.#credits--;
    } else if (!this.autoRelease && !turn.signal.aborted) {
      const gate = Promise.withResolvers<void>();
      this.#gates.push(gate.resolve);
      const aborted = new Promise<void>((resolve) =>
        turn.signal.addEventListener("abort", () => resolve(), { once: true })
      );
      await (this.holdAborted ? gate.promise : Promise.race([gate.promise, aborted]));
    }
    if (turn.signal.aborted) {
      record.aborted = true;
      return;
    }
    yield " (done)";
  }

  /** Lets the oldest waiting turn finish. */
  release(): void {
    const gate = this.#gates.shift();
    if (gate) gate();
    else this.#credits++;
  }

  /** Resolves once `count` turns have started. */
  async started(count: number): Promise<void> {
    while (this.turns.length < count) {
      await new Promise<void>((resolve) => this.#started.push(resolve));
    }
  }
}

const quiet = () =>
  new Logger({
    level: "error",
    sinks: Deno.env.get("TEST_LOG") ? [lineSink("human", console.error)] : [],
    masker: new SecretMasker(),
  });

let nextId = 1;
function message(text: string, user = "alice", at = new Date()): MessageEvent {
  return {
    messageId: `in-${nextId++}`,
    source: { platform: "test", chatType: "dm", chatId: user, userId: user },
    text,
    receivedAt: at.toISOString(),
  };
}

async function setup(
  store: SqliteStateStore,
  options: {
    busy?: "queue" | "interrupt";
    adapter?: RecordingAdapter;
    agent?: Agent;
    now?: () => Date;
    sessions?: Record<string, unknown>;
    authorize?: AuthorizeHook;
    authorizeTimeoutMs?: number;
  } = {},
) {
  const adapter = options.adapter ?? new RecordingAdapter();
  const agent = options.agent ?? new GatedAgent();
  const config = parseConfig({
    sessions: { busy_policy: options.busy ?? "interrupt", ...options.sessions },
  });
  const outbox = new Outbox({
    store,
    adapter: (platform) => platform === adapter.name ? adapter : undefined,
    isConnected: () => true,
    log: quiet(),
    onPartDone: (id) => void pipeline.partDone(id),
  });
  const pipeline = new Pipeline({
    store,
    outbox,
    config,
    agent,
    adapter: (platform) => platform === adapter.name ? adapter : undefined,
    log: quiet(),
    now: options.now,
    authorize: options.authorize,
    authorizeTimeoutMs: options.authorizeTimeoutMs,
  });
  await pipeline.load();
  return { pipeline, adapter, agent, outbox };
}

async function waitUntil(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !await check(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(await check(), "condition not reached in time");
}

function database(dir: string, now?: () => Date): SqliteStateStore {
  return openSqliteStateStore(`${dir}/state.db`, { now });
}

Deno.test("busy policy queue: three messages sent during a turn are answered in order", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const { pipeline, adapter } = await setup(db, { busy: "queue", agent });
  const first = message("one");
  await pipeline.accept(first);
  await agent.started(1);
  const later = [message("two"), message("three"), message("four")];
  for (const m of later) await pipeline.accept(m);
  for (let i = 1; i <= 4; i++) {
    await agent.started(i);
    agent.release();
  }
  await adapter.until(() => adapter.settledLog.length === 4);
  assert.deepEqual(agent.turns.map((t) => t.text), ["one", "two", "three", "four"]);
  for (const [i, m] of [first, ...later].entries()) {
    assert.deepEqual(adapter.repliesTo(m.messageId), [
      `answer to ${["one", "two", "three", "four"][i]} (done)`,
    ]);
  }
  assert.deepEqual(
    adapter.messages.filter((m) => m.final).map((m) => m.text),
    [
      "answer to one (done)",
      "answer to two (done)",
      "answer to three (done)",
      "answer to four (done)",
    ],
    "replies arrive in the order the messages were sent",
  );
  assert.ok(
    agent.turns[3]!.history.includes("assistant:answer to three (done)"),
    "history carries earlier answers",
  );
});

Deno.test("busy policy interrupt: a new message stops the running turn and only the newest is answered", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.holdAborted = true; // all three arrive while the first turn is still ending
  const { pipeline, adapter } = await setup(db, { busy: "interrupt", agent });
  const first = message("one");
  await pipeline.accept(first);
  await agent.started(1);
  const [two, three, four] = [message("two"), message("three"), message("four")];
  for (const m of [two!, three!, four!]) await pipeline.accept(m);
  // Routing is asynchronous: give the three time to join the lane behind the first turn.
  await new Promise((resolve) => setTimeout(resolve, 200));
  agent.release();
  await agent.started(2);
  agent.release();
  await adapter.until(() => adapter.settledLog.length === 4);
  assert.deepEqual(agent.turns.map((t) => [t.text, t.aborted]), [["one", true], ["four", false]]);
  assert.deepEqual(adapter.repliesTo(first.messageId), [
    "answer to one\n\n(interrupted by your newer message)",
  ]);
  assert.deepEqual(adapter.repliesTo(two!.messageId), []);
  assert.deepEqual(adapter.repliesTo(three!.messageId), []);
  assert.deepEqual(adapter.repliesTo(four!.messageId), ["answer to four (done)"]);
  const history = agent.turns[1]!.history;
  assert.ok(
    history.includes("user:two") && history.includes("user:three"),
    "superseded messages stay in the history",
  );
});

/**
 * The real authorization stage on a real pairing store (alice approved) whose
 * first lookup waits, as a slow disk makes it, until the lookup of
 * `second` is decided: the first of two messages is authorized last.
 */
async function slowFirstAuthorization(dir: string, second: MessageEvent): Promise<AuthorizeHook> {
  const slowDisk = Promise.withResolvers<void>();
  let stats = 0;
  const store = new PairingStore(`${dir}/pairing`, {
    stat: async (path) => {
      if (++stats === 1) await slowDisk.promise;
      return await Deno.stat(path);
    },
  });
  await store.approveUser("test", "alice");
  const auth = createAuthorizer({
    config: parseConfig({}),
    env: {},
    store,
    log: quiet(),
    idsFoldCase: () => true,
  });
  return async (event) => {
    const decision = await auth.authorize(event);
    assert.ok(decision.allow, "alice is approved");
    if (event.messageId === second.messageId) slowDisk.resolve();
    return decision;
  };
}

Deno.test("two messages of a session are answered in the order they came when the first one's authorization is slow", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const [one, two] = [message("one"), message("two")];
  const authorize = await slowFirstAuthorization(dir.path, two);
  const { pipeline, adapter } = await setup(db, { busy: "queue", agent, authorize });
  await pipeline.accept(one);
  await pipeline.accept(two);
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.deepEqual(agent.turns.map((t) => t.text), ["one", "two"]);
  assert.deepEqual(
    adapter.messages.filter((m) => m.final).map((m) => [m.replyTo, m.text]),
    [[one.messageId, "answer to one (done)"], [two.messageId, "answer to two (done)"]],
  );
});

Deno.test("under interrupt, the newer of two messages interrupts the older even when the older one's authorization is slow", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const [one, two] = [message("one"), message("two")];
  const authorize = await slowFirstAuthorization(dir.path, two);
  const { pipeline, adapter } = await setup(db, { busy: "interrupt", agent, authorize });
  await pipeline.accept(one);
  await pipeline.accept(two);
  await agent.started(2);
  agent.release();
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.deepEqual(agent.turns.map((t) => [t.text, t.aborted]), [["one", true], ["two", false]]);
  assert.deepEqual(adapter.repliesTo(two.messageId), ["answer to two (done)"]);
});

Deno.test("a refused message and one whose authorization fails hold up nothing after them", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const store = new PairingStore(`${dir.path}/pairing`);
  const auth = createAuthorizer({
    config: parseConfig({}),
    env: {},
    store,
    log: quiet(),
    idsFoldCase: () => true,
  });
  const [stranger, again, broken, approved] = [
    message("hi"),
    message("hello?"),
    message("anyone?"),
    message("now?"),
  ];
  const { pipeline, adapter } = await setup(db, {
    busy: "queue",
    agent,
    authorize: (event) => {
      if (event.messageId === broken.messageId) throw new Error("pairing folder unreadable");
      return auth.authorize(event);
    },
  });
  for (const m of [stranger, again, broken]) await pipeline.accept(m);
  await adapter.until(() => adapter.settledLog.length === 3);
  // A reply settles its message once delivered: the three may settle in any order.
  assert.deepEqual(
    Object.fromEntries(adapter.settledLog.map((s) => [s.messageId, s.outcome])),
    {
      [stranger.messageId]: "refused",
      [again.messageId]: "refused",
      [broken.messageId]: "internal error: Error: pairing folder unreadable",
    },
  );
  // Both are authorized at once: whichever asks first gets the code, the other nothing.
  const replies = [stranger, again].flatMap((m) => adapter.repliesTo(m.messageId));
  assert.equal(replies.length, 1);
  assert.match(replies[0]!, /pairing code/);
  await store.approveUser("test", "alice");
  await pipeline.accept(approved);
  await adapter.until(() => adapter.settledLog.length === 4);
  assert.deepEqual(agent.turns.map((t) => t.text), ["now?"]);
  assert.deepEqual(await pipeline.store.unfinishedInbound(), []);
});

Deno.test("an authorization that never ends fails after its time limit, and the session's next message is answered", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const [stuck, next] = [message("stuck"), message("next")];
  let unblock!: () => void;
  const never = new Promise<void>((resolve) => unblock = resolve);
  const { pipeline, adapter } = await setup(db, {
    busy: "queue",
    agent,
    authorizeTimeoutMs: 50,
    authorize: async (event) => {
      if (event.messageId === stuck.messageId) await never; // a lock nobody releases
      return { allow: true };
    },
  });
  try {
    await pipeline.accept(stuck);
    await pipeline.accept(next);
    await adapter.until(() => adapter.settledLog.length === 2);
    assert.deepEqual(agent.turns.map((t) => t.text), ["next"]);
    assert.match(
      adapter.settledLog.find((s) => s.messageId === stuck.messageId)!.outcome,
      /authorization took longer than 50 ms/,
    );
  } finally {
    unblock();
  }
});

Deno.test("a message that comes before its session's leftovers of a crash are replayed is answered after them", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const [left, next] = [message("left by a crash"), message("and this")];
  await db.acceptInbound(left, "agent:main:test:dm:alice"); // the gateway died after this
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline, adapter } = await setup(db, { busy: "queue", agent });
  await pipeline.accept(next); // its platform delivers before the replay was asked for
  assert.equal(pipeline.replay(() => true), 0, "already replayed");
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.deepEqual(agent.turns.map((t) => t.text), ["left by a crash", "and this"]);
});

Deno.test("/queue TEXT waits for the running turn even under interrupt", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const { pipeline, adapter } = await setup(db, { busy: "interrupt", agent });
  const first = message("one");
  await pipeline.accept(first);
  await agent.started(1);
  const queued = message("/queue and then this");
  await pipeline.accept(queued);
  agent.release();
  await agent.started(2);
  agent.release();
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.deepEqual(adapter.repliesTo(first.messageId), ["answer to one (done)"]);
  assert.deepEqual(adapter.repliesTo(queued.messageId), ["answer to and then this (done)"]);
});

Deno.test("a message id the platform repeats is answered once", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline, adapter } = await setup(db, { agent });
  const m = message("hello");
  assert.equal(await pipeline.accept(m), "accepted");
  assert.equal(await pipeline.accept(m), "duplicate");
  await adapter.until(() => adapter.settledLog.length === 1);
  assert.equal(agent.turns.length, 1);
  assert.deepEqual(adapter.repliesTo(m.messageId), ["answer to hello (done)"]);
});

Deno.test("/stop ends the running turn; /new starts a fresh session; /help and /whoami answer without the agent", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const { pipeline, adapter } = await setup(db, { agent });
  const first = message("long question");
  await pipeline.accept(first);
  await agent.started(1);
  const stop = message("/stop");
  await pipeline.accept(stop);
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.deepEqual(adapter.repliesTo(stop.messageId), ["Stopped."]);
  assert.deepEqual(adapter.repliesTo(first.messageId), ["answer to long question\n\n(stopped)"]);

  const before = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  const fresh = message("/new");
  await pipeline.accept(fresh);
  await adapter.until(() => adapter.settledLog.length === 3);
  // The old session ended; the new one holds only the /new exchange, which the agent never sees.
  const after = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  assert.notEqual(after.id, before.id);
  assert.ok(
    (await pipeline.store.sessionsOfKey("agent:main:test:dm:alice")).some((s) =>
      s.id === before.id
    ),
  );
  assert.deepEqual(await pipeline.store.history(after.id), []);
  assert.deepEqual(
    (await pipeline.store.history(after.id, { audience: "people" })).map((m) => [m.role, m.text]),
    [["user", "/new"], ["assistant", "Started a new session."]],
  );

  const help = message("/help");
  const whoami = message("/whoami");
  await pipeline.accept(help);
  await pipeline.accept(whoami);
  await adapter.until(() => adapter.settledLog.length === 5);
  assert.match(adapter.repliesTo(help.messageId)[0]!, /\/queue TEXT/);
  assert.match(adapter.repliesTo(whoami.messageId)[0]!, /User: alice\n.*\nTier: user/);
  assert.equal(agent.turns.length, 1, "commands never reach the agent");

  agent.autoRelease = true;
  const next = message("next question");
  await pipeline.accept(next);
  await adapter.until(() => adapter.settledLog.length === 6);
  assert.deepEqual(agent.turns[1]!.history, ["user:next question"], "nor their answers");
});

Deno.test("a long reply to a platform without edits is sent as final parts, no previews", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter("test", { streaming: "final", maxMessageLength: 20 });
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter, agent });
  const m = message("a fairly long question that needs parts");
  await pipeline.accept(m);
  await adapter.until(() => adapter.settledLog.length === 1);
  assert.ok(adapter.messages.length >= 3);
  assert.ok(adapter.messages.every((s) => s.final && s.edits === 0 && s.text.length <= 20));
  assert.equal(
    adapter.messages.map((s) => s.text).join(" "),
    "answer to a fairly long question that needs parts (done)",
  );
});

Deno.test("after a crash mid-turn the message is answered once, continuing the message already shown", async () => {
  await using dir = tempDir();
  const platform = new RecordingAdapter(); // the platform outlives the gateway
  const m = message("slow one");
  {
    using db = database(dir.path);
    const agent = new GatedAgent();
    const { pipeline } = await setup(db, { adapter: platform, agent });
    await pipeline.accept(m);
    await agent.started(1);
    await platform.until(() => platform.messages.length === 1); // a preview is on screen
    await waitUntil(async () =>
      (await pipeline.store.deliveredPart(`inbound:1#0`))?.state === "sending"
    );
    // The gateway dies here: the turn never finishes, nothing more is written.
  }
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter: platform, agent });
  assert.equal(pipeline.replay(() => true), 1);
  await platform.until(() => platform.settledLog.length === 1);
  assert.equal(platform.messages.length, 1, "the preview was finished by an edit, not sent again");
  assert.deepEqual(platform.repliesTo(m.messageId), ["answer to slow one (done)"]);
  const session = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  assert.deepEqual(
    (await pipeline.store.history(session.id)).map((x) => `${x.role}:${x.text}`),
    ["user:slow one", "assistant:answer to slow one (done)"],
    "the user message is stored once",
  );
  assert.equal(pipeline.replay(() => true), 0, "nothing is left to replay");
});

Deno.test("a reply stored before a crash is sent from its rows with the same key; the agent is not asked again", async () => {
  await using dir = tempDir();
  const platform = new RecordingAdapter("test", { streaming: "final" });
  platform.hangFinalSends = true; // it never acknowledges; then the gateway dies
  const m = message("answered");
  using db = database(dir.path);
  {
    const agent = new GatedAgent();
    agent.autoRelease = true;
    const { pipeline, outbox } = await setup(db, { adapter: platform, agent });
    await pipeline.accept(m);
    await waitUntil(() => platform.finalContexts.length === 1);
    outbox.stop();
  }
  platform.hangFinalSends = false;
  const agent = new GatedAgent();
  const { pipeline, outbox } = await setup(db, { adapter: platform, agent });
  assert.equal(pipeline.replay(() => true), 0, "the turn was complete: nothing to ask again");
  outbox.kick();
  await waitUntil(() => platform.finalContexts.length === 2);
  assert.deepEqual(
    platform.finalContexts.map((
      { text, context },
    ) => [text, context.idempotencyKey, context.attempt]),
    [
      ["answer to answered (done)", "inbound:1#0", 1],
      ["answer to answered (done)", "inbound:1#0", 2],
    ],
  );
  assert.equal(agent.turns.length, 0, "the model was not asked again");
  await waitUntil(async () => (await pipeline.store.openParts()).length === 0);
  const session = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  assert.deepEqual((await pipeline.store.history(session.id)).map((x) => x.text), [
    "answered",
    "answer to answered (done)",
  ]);
});

Deno.test("a message that failed three times suspends its session and tells the user", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const { pipeline, adapter } = await setup(db, { agent });
  const m = message("poison");
  await pipeline.accept(m);
  await agent.started(1);
  // Three gateways died on it (written as they would have, through another connection).
  using raw = new DatabaseSync(`${dir.path}/state.db`);
  raw.exec("UPDATE inbound_journal SET attempts = 3");
  // The same platform (it still holds what the first gateway showed), a new gateway.
  const next = await setup(db, { adapter, agent: new GatedAgent() });
  next.pipeline.replay(() => true);
  await adapter.until(() => adapter.settledLog.length === 1);
  assert.match(
    adapter.repliesTo(m.messageId)[0]!,
    /after 3 tries\. The conversation starts fresh now/,
  );
  assert.equal(
    (await next.pipeline.store.sessionsOfKey("agent:main:test:dm:alice"))[0]!.end_reason,
    "suspended",
  );
  agent.release();
});

Deno.test("a turn cut off by a drain resumes on the session's next message, if fresh", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const first = await setup(db, { agent });
  const cut = message("long task");
  await first.pipeline.accept(cut);
  await agent.started(1);
  assert.equal(await first.pipeline.interruptRunning(), 1);

  const resumedAgent = new GatedAgent();
  resumedAgent.autoRelease = true;
  const next = await setup(db, { agent: resumedAgent, adapter: first.adapter });
  assert.equal(next.pipeline.replay(() => true), 0, "interrupted turns wait for the next message");
  const wake = message("are you there?");
  await next.pipeline.accept(wake);
  await next.adapter.until(() => next.adapter.settledLog.length === 2);
  assert.equal(next.adapter.messages.length, 2, "the cut-off preview was finished, not repeated");
  assert.deepEqual(resumedAgent.turns.map((t) => t.text), ["long task", "are you there?"]);
  assert.deepEqual(next.adapter.repliesTo(cut.messageId), ["answer to long task (done)"]);
  agent.release();
});

Deno.test("unfinished messages older than the resume window are given up, not answered", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const first = await setup(db, { agent, busy: "queue" });
  await first.pipeline.accept(message("old", "bob", new Date(Date.now() - 2 * 3600_000)));
  await agent.started(1);
  const next = await setup(db, {});
  assert.equal(next.pipeline.replay(() => true), 0);
  assert.equal((await next.pipeline.store.unfinishedInbound()).length, 0);
  agent.release();
});

Deno.test("an idle session is reset on access and by the watcher", async () => {
  await using dir = tempDir();
  let now = new Date("2026-03-01T10:00:00");
  using db = database(dir.path, () => now);
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline, adapter } = await setup(db, {
    agent,
    now: () => now,
    sessions: { reset: { mode: "idle", idle_minutes: 30 } },
  });
  await pipeline.accept(message("first", "alice", now));
  await adapter.until(() => adapter.settledLog.length === 1);
  const firstSession = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  now = new Date("2026-03-01T10:45:00");
  await pipeline.accept(message("second", "alice", now));
  await adapter.until(() => adapter.settledLog.length === 2);
  const secondSession = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  assert.notEqual(secondSession.id, firstSession.id);
  assert.equal(
    (await pipeline.store.sessionsOfKey("agent:main:test:dm:alice"))[1]!.end_reason,
    "idle",
  );
  assert.deepEqual(agent.turns[1]!.history, ["user:second"], "the new session starts empty");
  now = new Date("2026-03-01T11:30:00");
  await waitUntil(() => pipeline.runningTurns === 0);
  assert.equal(await pipeline.sweepSessions(), 1);
  assert.equal(await pipeline.store.findOpenSession("agent:main:test:dm:alice"), undefined);
});

Deno.test("a preview the platform refuses never ends the turn nor reads as the agent's failure", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter();
  adapter.refusePreviews = true;
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter, agent });
  const m = message("hello");
  await pipeline.accept(m);
  await adapter.until(() => adapter.settledLog.length === 1);
  assert.ok(adapter.refusedPreviews > 0, "previews were tried and refused");
  assert.deepEqual(adapter.repliesTo(m.messageId), ["answer to hello (done)"]);
  assert.deepEqual(adapter.settledLog, [{ messageId: m.messageId, outcome: "replied" }]);
  const session = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  assert.deepEqual(
    (await pipeline.store.history(session.id)).map((row) => [row.role, row.text, row.kind]),
    [["user", "hello", "chat"], ["assistant", "answer to hello (done)", "chat"]],
  );
});

Deno.test("the note of a failed turn is shown to the user but never fed back to the model", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const seen: string[][] = [];
  let calls = 0;
  const agent: Agent = {
    provider: "test",
    description: "fails once",
    async *run(turn) {
      seen.push(turn.history.map((m) => `${m.role}:${m.content}`));
      if (calls++ === 0) throw new AgentError("the model is unavailable");
      yield "fine now";
    },
  };
  const { pipeline, adapter } = await setup(db, { agent });
  const first = message("first");
  await pipeline.accept(first);
  await adapter.until(() => adapter.settledLog.length === 1);
  const [note] = adapter.repliesTo(first.messageId);
  assert.match(
    note ?? "",
    /^⚠️ Sorry, I could not answer: the model is unavailable \(error id [0-9a-f]{6}\)\. The operator can look it up in the gateway log\.$/,
  );
  const second = message("second");
  await pipeline.accept(second);
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.deepEqual(seen[1], ["user:first", "user:second"]);
  const session = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  assert.deepEqual(
    (await pipeline.store.history(session.id, { audience: "people" })).map((row) => row.kind),
    ["chat", "note", "chat", "chat"],
  );
});

Deno.test("a platform that shows typing gets it while the agent thinks, and no longer once text comes", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter("test", {
    streaming: "edit",
    typing: true,
    maxMessageLength: 4096,
  });
  const agent: Agent = {
    provider: "test",
    description: "slow to start",
    async *run() {
      await new Promise((r) => setTimeout(r, 50));
      yield "thought about it";
    },
  };
  const { pipeline } = await setup(db, { adapter, agent });
  await pipeline.accept(message("hard question"));
  await adapter.until(() => adapter.settledLog.length === 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(adapter.timeline[0], "typing", "typing first");
  assert.ok(adapter.timeline.includes("message"));
  assert.ok(
    adapter.timeline.lastIndexOf("typing") < adapter.timeline.indexOf("message"),
    `no typing after the text: ${adapter.timeline.join(", ")}`,
  );
});

Deno.test("a platform that streams by draft sees the draft grow, then the reply as a new message", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter("test", { streaming: "draft", maxMessageLength: 4096 });
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter, agent });
  const m = message("draft me");
  await pipeline.accept(m);
  await adapter.until(() => adapter.settledLog.length === 1);
  assert.deepEqual(adapter.drafts.map((d) => d.text), [
    "answer to draft me",
    "answer to draft me (done)",
  ]);
  assert.deepEqual(adapter.messages.map((x) => [x.text, x.final, x.edits]), [
    ["answer to draft me (done)", true, 0],
  ]);
});

Deno.test("a platform that drafts in DMs only streams a DM as a draft and a group reply by edits", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter("test", {
    streaming: "edit",
    draftIn: ["dm"],
    maxMessageLength: 4096,
  });
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter, agent });
  await pipeline.accept(message("in a dm"));
  await adapter.until(() => adapter.settledLog.length === 1);
  assert.deepEqual(adapter.drafts.map((d) => d.text), [
    "answer to in a dm",
    "answer to in a dm (done)",
  ]);
  assert.deepEqual(adapter.messages.map((x) => [x.text, x.edits]), [[
    "answer to in a dm (done)",
    0,
  ]]);
  await pipeline.accept({
    ...message("in a group"),
    source: { platform: "test", chatType: "group", chatId: "room-1", userId: "alice" },
  });
  await adapter.until(() => adapter.settledLog.length === 2);
  assert.equal(adapter.drafts.length, 2, "no draft in the group");
  const group = adapter.messages.at(-1)!;
  assert.equal(group.text, "answer to in a group (done)");
  assert.ok(group.edits >= 1, "the group's preview message was edited into the reply");
});

Deno.test("the final edit tells the platform what the preview shows, so it can skip an edit that changes nothing", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter();
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter, agent });
  await pipeline.accept(message("same"));
  await adapter.until(() => adapter.settledLog.length === 1);
  const [final] = adapter.finalContexts;
  assert.equal(final!.text, "answer to same (done)");
  assert.equal(final!.context.shownText, "answer to same (done)", "the preview already showed it");
});

Deno.test("while an earlier reply's part waits for a retry, the next reply shows no preview in between", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const adapter = new RecordingAdapter("test", { streaming: "final", maxMessageLength: 4096 });
  adapter.failFinalSends = 1; // the first reply's first try breaks
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline } = await setup(db, { adapter, agent, busy: "queue" });
  const first = message("first");
  await pipeline.accept(first);
  await waitUntil(() => adapter.finalContexts.length === 1);
  // The platform now streams by edit: the second reply would show previews at once.
  Object.assign(adapter, { capabilities: { streaming: "edit", maxMessageLength: 4096 } });
  const second = message("second");
  await pipeline.accept(second);
  await adapter.until(() => adapter.settledLog.length === 2, 10_000);
  assert.deepEqual(
    adapter.messages.map((m) => [m.replyTo, m.text]),
    [
      [first.messageId, "answer to first (done)"],
      [second.messageId, "answer to second (done)"],
    ],
    "the first reply came first; no preview of the second slipped in before it",
  );
});

Deno.test("the history the agent gets from memory is the transcript's, in arrival order, after interrupts, supersedes, /stop and failures", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  agent.holdAborted = true;
  const { pipeline, adapter } = await setup(db, { busy: "interrupt", agent });
  const settled = (n: number) => adapter.until(() => adapter.settledLog.length === n);
  await pipeline.accept(message("one"));
  await agent.started(1);
  await pipeline.accept(message("two")); // interrupts one
  await pipeline.accept(message("three")); // supersedes two
  await new Promise((resolve) => setTimeout(resolve, 200)); // routed behind the first turn
  await pipeline.accept(message("/stop")); // drops three, stops one
  await settled(3);
  agent.release(); // one ends, cut off
  await settled(4);
  agent.holdAborted = false;
  agent.autoRelease = true;
  for (const text of ["five", "six"]) {
    await pipeline.accept(message(text));
    await settled(adapter.settledLog.length + 1);
  }
  const session = (await pipeline.store.findOpenSession("agent:main:test:dm:alice"))!;
  const transcript = (await pipeline.store.history(session.id)).map((m) => `${m.role}:${m.text}`);
  assert.deepEqual(transcript.slice(0, 2), ["user:one", "user:two"], "in the order they came");
  assert.deepEqual(agent.turns.at(-1)!.history, transcript.slice(0, -1), "memory = transcript");
});

Deno.test("the reset sweep reaches an idle session older than 10,000 newer ones", async () => {
  await using dir = tempDir();
  const now = new Date("2026-03-01T10:00:00Z");
  {
    // Written straight into state.db: 10,001 open sessions through the pipeline take minutes.
    const { openDatabase, transaction } = await import("../../lib/storage/sqlite/database.ts");
    const { STATE_MIGRATIONS } = await import("../../lib/storage/sqlite/migrations.ts");
    using raw = openDatabase(`${dir.path}/state.db`, STATE_MIGRATIONS);
    const insert = raw.prepare(
      `INSERT INTO sessions (key, platform, chat_type, chat_id, user_id, started_at, updated_at)
       VALUES (?, 'test', 'dm', ?, ?, ?, ?)`,
    );
    const fresh = new Date(now.getTime() - 60_000).toISOString();
    transaction(raw, () => {
      for (let i = 0; i < 10_000; i++) {
        insert.run(`agent:main:test:dm:u${i}`, `u${i}`, `u${i}`, fresh, fresh);
      }
      // The oldest by activity, and the last by id: behind every page of newer ones.
      const idle = new Date(now.getTime() - 2 * 3_600_000).toISOString();
      insert.run("agent:main:test:dm:old", "old", "old", idle, idle);
    });
  }
  using db = database(dir.path, () => now);
  const { pipeline } = await setup(db, {
    now: () => now,
    sessions: { reset: { mode: "idle", idle_minutes: 30 } },
  });
  let ended = 0;
  for (let sweep = 0; sweep < 3; sweep++) ended += await pipeline.sweepSessions();
  assert.equal(ended, 1);
  assert.equal(await pipeline.store.findOpenSession("agent:main:test:dm:old"), undefined);
  assert.ok(await pipeline.store.findOpenSession("agent:main:test:dm:u0"));
});

Deno.test("a turn whose answer was refused for a lost lease is answered once the lease is back here (adopt)", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  // The bot's lease is lost while the turn runs: its answer is refused once, as the fence does.
  let refuse = true;
  const completeTurn = db.completeTurn.bind(db);
  db.completeTurn = (entry, completion) => {
    if (!refuse) return completeTurn(entry, completion);
    refuse = false;
    return Promise.reject(Object.assign(new Error("lease gone"), { code: "lease_lost" }));
  };
  const agent = new GatedAgent();
  agent.autoRelease = true;
  const { pipeline, adapter, outbox } = await setup(db, { agent });
  const event = message("hello");
  await pipeline.accept(event);
  await waitUntil(() => agent.turns.length === 1 && pipeline.runningTurns === 0);
  assert.deepEqual(adapter.repliesTo(event.messageId), []);
  assert.equal(await pipeline.adopt("test"), 1, "taken on again when the lease is ours again");
  await waitUntil(() => adapter.repliesTo(event.messageId).length === 1);
  assert.deepEqual(adapter.repliesTo(event.messageId), ["answer to hello (done)"]);
  await outbox.stop();
});

Deno.test("relinquish ends the platform's running turn and drops its queue; adopt answers each once", async () => {
  await using dir = tempDir();
  using db = database(dir.path);
  const agent = new GatedAgent();
  const { pipeline, adapter, outbox } = await setup(db, { agent, busy: "queue" });
  const first = message("first");
  const second = message("second");
  await pipeline.accept(first);
  await agent.started(1);
  await pipeline.accept(second);
  await pipeline.relinquish("test");
  assert.equal(agent.turns[0]!.aborted, true, "the running turn ended");
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(agent.turns.length, 1, "the queued message did not start");
  assert.deepEqual(
    [...adapter.repliesTo(first.messageId), ...adapter.repliesTo(second.messageId)],
    [],
    "nothing was sent for the bot let go",
  );
  agent.autoRelease = true;
  assert.equal(await pipeline.adopt("test"), 2);
  await waitUntil(() =>
    adapter.repliesTo(first.messageId).length + adapter.repliesTo(second.messageId).length === 2
  );
  assert.deepEqual(adapter.repliesTo(first.messageId), ["answer to first (done)"]);
  assert.deepEqual(adapter.repliesTo(second.messageId), ["answer to second (done)"]);
  await outbox.stop();
});
