import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { hermesPaths } from "../../lib/config/home.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { testEnv, waitFor } from "../gateway/_gateway.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

/** 38 clients alone in their session, and 12 that share 4 sessions (3 each). */
const CLIENTS = 50;
const SHARED_SESSIONS = 4;
const PER_SHARED_SESSION = 3;
const ALONE = CLIENTS - SHARED_SESSIONS * PER_SHARED_SESSION;

/** One request of the burst. */
interface Sent {
  readonly client: number;
  readonly user: string;
  /** Unique in the burst; the echo agent answers with it. */
  readonly text: string;
}

/** A request answered 200 with a complete body. */
interface Answered extends Sent {
  readonly reply: string;
  /** The inbound message's id: the response id `chatcmpl-<hex>` names `api-<uuid>`. */
  readonly messageId: string;
}

/** A transcript message as `hermes sessions show --json` prints it. */
interface Shown {
  readonly role: string;
  readonly text: string;
  readonly created_at: string;
}

function userOf(client: number): string {
  return client < ALONE ? `alone-${client}` : `shared-${(client - ALONE) % SHARED_SESSIONS}`;
}

function messageIdOf(completionId: string): string {
  const hex = completionId.replace(/^chatcmpl-/, "");
  assert.match(hex, /^[0-9a-f]{32}$/, `a completion id names its message: ${completionId}`);
  return `api-${hex.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5")}`;
}

/**
 * What state.db holds about delivery, read-only: every outbox row (the
 * message it answers, its state, how many sends were started) and every
 * accepted message with its journal state. No command shows these (a reply
 * sent twice to the local platform leaves no other trace once its sockets
 * are gone); the transcript itself is read with the CLI.
 */
function delivery(home: string) {
  using db = new DatabaseSync(hermesPaths(home).stateDb, { readOnly: true });
  const parts = db.prepare("SELECT reply_to, text, state, attempts FROM outbox ORDER BY id")
    .all() as { reply_to: string; text: string; state: string; attempts: number }[];
  const journal = db.prepare(
    `SELECT json_extract(event, '$.messageId') AS messageId, json_extract(event, '$.text') AS text,
       state FROM inbound_journal`,
  ).all() as { messageId: string; text: string; state: string }[];
  return { parts, journal };
}

/** `hermes sessions show KEY --json`, every message. */
async function transcript(home: string, key: string): Promise<Shown[]> {
  const shown = await runHermes(["sessions", "show", key, "--limit", "1000000", "--json"], {
    home,
    env: testEnv(home),
  });
  assert.equal(shown.code, 0, shown.stderr);
  return JSON.parse(shown.stdout).messages;
}

/** `work` over `items`, `width` at a time. */
async function inParallel<T, R>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  }));
  return results;
}

Deno.test("kill -9 during a 50-client burst: every request answered 200 has its message and reply in the transcript after restart, and nothing is answered twice", async () => {
  await using home = tempDir();
  // Queue: the clients that share a session are each answered in turn. No reset policy:
  // a run across the daily reset hour would split a session in two.
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    "sessions:\n  busy_policy: queue\n  reset:\n    mode: none\n",
  );
  // At a random moment, once at least a few hundred are answered (about 700 a second here).
  const killAfter = 300 + Math.floor(Math.random() * 1200);
  const seen = `(killed after ${killAfter} answers)`;
  const answered: Answered[] = [];
  const inFlight = new Set<Sent>();
  const refused: string[] = [];
  let inFlightAtKill = 0;
  let late = 0;
  let killed = false;
  {
    await using first = await startLocalGateway(home.path);
    const endpoint = new URL("v1/chat/completions", first.url);
    const client = async (c: number) => {
      const user = userOf(c);
      for (let i = 0; !killed; i++) {
        const sent: Sent = { client: c, user, text: `burst c${c} m${i} from ${user}` };
        inFlight.add(sent);
        let status: number;
        let body: string;
        try {
          const response = await fetch(endpoint, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ messages: [{ role: "user", content: sent.text }], user }),
          });
          status = response.status;
          body = await response.text();
        } catch (error) {
          // Cut off by the kill, the request may or may not have been accepted.
          if (!killed) refused.push(`"${sent.text}" failed: ${error}`);
          return;
        }
        if (status !== 200) {
          inFlight.delete(sent);
          if (!killed) refused.push(`${status} for "${sent.text}": ${body}`);
          continue;
        }
        const completion = JSON.parse(body);
        answered.push({
          ...sent,
          reply: completion.choices[0].message.content,
          messageId: messageIdOf(completion.id),
        });
        inFlight.delete(sent);
        if (killed) late++; // sent before the gateway died, read after the signal
        if (answered.length >= killAfter && !killed) {
          killed = true;
          inFlightAtKill = inFlight.size;
          first.gateway.child.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    assert.equal(await first.gateway.exited, 137, first.gateway.stderr());
  }
  assert.deepEqual(refused, [], "no request was refused or cut off before the kill");
  assert.ok(
    inFlightAtKill >= CLIENTS / 2,
    `the kill came mid-burst: ${inFlightAtKill} requests in flight ${seen}`,
  );
  for (const a of answered) assert.equal(a.reply, a.text, `the reply to "${a.text}" is its own`);

  const restartedAt = new Date();
  await using second = await startLocalGateway(home.path);
  const users = [...new Set(Array.from({ length: CLIENTS }, (_, c) => userOf(c)))];
  // Every chat watched from the restart on: replies of replayed messages are delivered here
  // (those delivered before a socket joined are not seen, so this can only find too many).
  await using watchers = new AsyncDisposableStack();
  const chats = await Promise.all(users.map(async (user) => {
    const chat = watchers.use(new ChatClient(second.url, user));
    await chat.ready();
    return chat;
  }));
  await waitFor("every replayed message answered and delivered", () => {
    const now = delivery(home.path);
    return now.journal.every((j) => j.state === "done" || j.state === "failed") &&
      now.parts.every((p) => p.state === "sent" || p.state === "undeliverable");
  }, 30_000);
  const after = delivery(home.path);

  // The transcript, as `hermes sessions` shows it: one session per chat.
  const listed = await runHermes(["sessions", "list", "--all", "--limit", "1000", "--json"], {
    home: home.path,
    env: testEnv(home.path),
  });
  assert.equal(listed.code, 0, listed.stderr);
  const keys = (JSON.parse(listed.stdout) as { key: string }[]).map((s) => s.key).sort();
  assert.deepEqual(keys, users.map((u) => `agent:main:local:dm:${u}`).sort());
  const transcripts = new Map(
    (await inParallel(keys, 4, async (key) => [key, await transcript(home.path, key)] as const))
      .map(([key, messages]) => [key.split(":").pop()!, messages]),
  );

  const byText = new Map<string, Sent>();
  for (const s of [...answered, ...inFlight]) byText.set(s.text, s);
  for (const [user, messages] of transcripts) {
    // One turn at a time per session: each message is followed by its own reply.
    for (let i = 0; i < messages.length; i += 2) {
      const [asked, reply] = [messages[i]!, messages[i + 1]];
      assert.equal(
        asked.role,
        "user",
        `${user}'s message ${i} is a user's, not a second ${asked.role} "${asked.text}" ${seen}`,
      );
      assert.equal(byText.get(asked.text)?.user, user, `"${asked.text}" was sent by ${user}`);
      assert.deepEqual(
        [reply?.role, reply?.text],
        ["assistant", asked.text],
        `"${asked.text}" is answered once, right after it ${seen}`,
      );
    }
    const texts = messages.filter((m) => m.role === "user").map((m) => m.text);
    assert.equal(new Set(texts).size, texts.length, `no message stored twice in ${user}'s chat`);
    // A client's messages are answered in the order it sent them.
    for (let c = 0; c < CLIENTS; c++) {
      if (userOf(c) !== user) continue;
      const order = texts.filter((t) => byText.get(t)?.client === c)
        .map((t) => Number(/ m(\d+) /.exec(t)![1]));
      assert.deepEqual(order, [...order].sort((a, b) => a - b), `client ${c}'s messages in order`);
    }
  }

  for (const a of answered) {
    const messages = transcripts.get(a.user)!;
    const stored = messages.filter((m) => m.text === a.text);
    assert.deepEqual(
      stored.map((m) => m.role),
      ["user", "assistant"],
      `"${a.text}" (answered 200 before the kill) is in the transcript with its reply ${seen}`,
    );
    assert.ok(
      new Date(stored[1]!.created_at) < restartedAt,
      `the reply to "${a.text}" is the one given before the kill, not a second answer ${seen}`,
    );
    const parts = after.parts.filter((p) => p.reply_to === a.messageId);
    assert.deepEqual(
      parts.map((p) => [p.text, p.state, p.attempts]),
      [[a.text, "sent", 1]],
      `the reply to "${a.text}" is one part, sent once, never again after the restart ${seen}`,
    );
  }

  // Requests cut off by the kill may or may not have been accepted; one accepted is answered once.
  const journal = Map.groupBy(after.journal, (j) => j.text);
  for (const a of answered) {
    assert.deepEqual(
      journal.get(a.text)?.map((j) => [j.messageId, j.state]),
      [[a.messageId, "done"]],
      `"${a.text}" accepted once and finished`,
    );
  }
  let replayed = 0;
  for (const s of inFlight) {
    const stored = transcripts.get(s.user)!.filter((m) => m.text === s.text).map((m) => m.role);
    const entries = journal.get(s.text) ?? [];
    assert.deepEqual(
      stored,
      entries.length ? ["user", "assistant"] : [],
      `"${s.text}" (in flight at the kill, ${entries.length} accepted) is answered once if accepted ${seen}`,
    );
    if (entries.length === 0) continue;
    replayed++;
    assert.deepEqual(entries.map((j) => j.state), ["done"], `"${s.text}" accepted once, finished`);
    const parts = after.parts.filter((p) => p.reply_to === entries[0]!.messageId);
    assert.deepEqual(
      parts.map((p) => [p.text, p.state]),
      [[s.text, "sent"]],
      `the reply to "${s.text}" is one part, sent`,
    );
    // A second try only when the first was cut off before it was recorded as sent.
    assert.ok(parts[0]!.attempts <= 2, `the reply to "${s.text}" sent ${parts[0]!.attempts} times`);
  }

  // Nothing else was accepted or answered: one journal entry and one reply part per message.
  assert.equal(after.journal.length, answered.length + replayed);
  assert.equal(after.parts.length, answered.length + replayed);

  const finals = chats.flatMap((chat) =>
    chat.frames.filter((f) => f.type === "message" && f.final === true).map((f) => f.text)
  );
  assert.equal(new Set(finals).size, finals.length, `no reply shown twice after the restart`);
  const answeredTexts = new Set(answered.map((a) => a.text));
  for (const text of finals) {
    assert.ok(!answeredTexts.has(text as string), `"${text}" was answered before the kill`);
  }
  console.log(
    `${answered.length} answered 200 before the kill (${late} read after the signal), ` +
      `${inFlightAtKill} in flight; ` +
      `${replayed} of them had been accepted and are answered once (${finals.length} seen live)`,
  );
});
