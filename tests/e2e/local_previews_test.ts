import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { hermesPaths } from "../../lib/config/home.ts";
import { tempDir } from "../_helpers.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

async function ask(url: string, user: string, content: string): Promise<string> {
  const response = await fetch(new URL("v1/chat/completions", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, messages: [{ role: "user", content }] }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.choices[0].message.content;
}

Deno.test("an API reply nobody watches goes out whole, with no preview to record; a web chat watching the chat sees it grow", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);

  assert.equal(await ask(local.url, "solo", "alpha beta gamma delta"), "alpha beta gamma delta");
  {
    using db = new DatabaseSync(hermesPaths(home.path).stateDb, { readOnly: true });
    const parts = db.prepare("SELECT edit_of, state FROM outbox").all();
    assert.deepEqual(parts.map((p) => [p.edit_of, p.state]), [[null, "sent"]], "sent, not an edit");
    const previews = db.prepare("SELECT count(*) AS n FROM outbound_ledger").get()!;
    assert.equal(previews.n, 0, "no preview was shown, so none was recorded");
  }

  await using chat = new ChatClient(local.url, "watcher");
  await chat.ready();
  assert.equal(await ask(local.url, "watcher", "one two three four"), "one two three four");
  await chat.until("the final reply", (f) => f.type === "message" && f.final === true);
  const replies = chat.frames.filter((f) => f.type === "message" && f.to === "watcher");
  assert.ok(replies.some((f) => f.final === false), `previews first: ${JSON.stringify(replies)}`);
  const last = replies.at(-1)!;
  assert.equal(last.final, true);
  assert.equal(last.text, "one two three four");
});
