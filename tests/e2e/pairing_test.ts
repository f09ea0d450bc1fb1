/**
 * Pairing end to end: a real gateway subprocess with `local.dm_policy:
 * pairing`, WebSocket users, and `hermes pair` run as separate processes.
 */
import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

const CONFIG = `
local:
  dm_policy: pairing
  group_policy: open
  admin_from: [root]
  groups:
    team:
      user_commands: [status]
`;

async function pairingHome() {
  const home = tempDir();
  await Deno.writeTextFile(`${home.path}/config.yaml`, CONFIG);
  return home;
}

function codeIn(text: string | undefined): string {
  const match = /pairing code: `([A-Z2-9]{8})`/.exec(text ?? "");
  assert.ok(match, `no pairing code in ${JSON.stringify(text)}`);
  return match[1]!;
}

Deno.test("a stranger gets a code, the owner approves it, the user is told and then talks to the agent", async () => {
  await using home = await pairingHome();
  await using local = await startLocalGateway(home.path);
  await using alice = new ChatClient(local.url, "alice");
  await alice.ready();

  const answer = await alice.ask("m1", "hello");
  const code = codeIn(answer);
  assert.match(answer!, new RegExp(`hermes pair approve ${code}`));

  // The raw pending file never holds the code; every pairing file is 0600.
  const dir = hermesPaths(home.path).pairingDir;
  const pending = await Deno.readTextFile(`${dir}/local-pending.json`);
  assert.ok(!pending.includes(code), pending);
  assert.match(pending, /"user_id": "alice"/);

  const approved = await runHermes(["pair", "approve", code.toLowerCase()], { home: home.path });
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /Approved: alice on local can now use the bot/);
  assert.match(approved.stdout, /They were told on local/);
  await alice.until(
    "the approval notice",
    (f) => f.type === "message" && f.text === "You're approved: you can now talk to the bot.",
  );

  assert.equal(await alice.ask("m2", "hello again"), "hello again");
  for await (const item of Deno.readDir(dir)) {
    if (!item.name.endsWith(".json")) continue;
    assert.equal((await Deno.stat(`${dir}/${item.name}`)).mode! & 0o777, 0o600, item.name);
  }
  const list = await runHermes(["pair", "list", "--json"], { home: home.path });
  const rows = JSON.parse(list.stdout);
  assert.deepEqual(rows.pending, []);
  assert.deepEqual(rows.approved.map((u: { user_id: string }) => u.user_id), ["alice"]);

  // A stranger on the OpenAI-compatible API gets the code as the completion.
  const response = await fetch(new URL("v1/chat/completions", local.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "hermes",
      user: "erin",
      messages: [{ role: "user", content: "hi" }],
    }),
  });
  const completion = await response.json();
  codeIn(completion.choices[0].message.content);
});

Deno.test("5 wrong codes lock approvals (exit 4 with minutes left), also for a valid code", async () => {
  await using home = await pairingHome();
  await using local = await startLocalGateway(home.path);
  await using bob = new ChatClient(local.url, "bob");
  await bob.ready();
  const code = codeIn(await bob.ask("m1", "hi"));

  for (let i = 1; i <= 5; i++) {
    const wrong = await runHermes(["pair", "approve", "ZZZZZZZZ"], { home: home.path });
    assert.equal(wrong.code, 1, `attempt ${i}: ${wrong.stderr}`);
    assert.match(wrong.stderr, /Code 'ZZZZZZZZ' not found or expired \(searched: local\)/);
    if (i === 5) assert.match(wrong.stderr, /locked for 60 more minute/);
  }
  const refused = await runHermes(["pair", "approve", "local", code], { home: home.path });
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /Approvals for local are locked for 60 more minute\(s\)/);
  const withoutPlatform = await runHermes(["pair", "approve", code], { home: home.path });
  assert.equal(withoutPlatform.code, 4);
  // Bob is still a stranger.
  assert.equal(await bob.ask("m2", "still there?"), undefined);
  // The operator's way out: approve by request id.
  const list = JSON.parse(
    (await runHermes(["pair", "list", "--json"], { home: home.path })).stdout,
  );
  assert.equal(list.lockouts[0].platform, "local");
  const byId = await runHermes(
    ["pair", "approve", "--request-id", list.pending[0].request_id],
    { home: home.path },
  );
  assert.equal(byId.code, 0, byId.stderr);
  assert.equal(await bob.ask("m3", "now?"), "now?");
});

Deno.test("a 4th pending request gets 'too many requests'; asking twice gives one code", async () => {
  await using home = await pairingHome();
  await using local = await startLocalGateway(home.path);
  const codes: string[] = [];
  for (const user of ["c1", "c2", "c3"]) {
    await using client = new ChatClient(local.url, user);
    await client.ready();
    codes.push(codeIn(await client.ask("m1", "hello")));
  }
  assert.equal(new Set(codes).size, 3);
  await using fourth = new ChatClient(local.url, "c4");
  await fourth.ready();
  assert.equal(
    await fourth.ask("m1", "hello"),
    "Too many pairing requests right now. Please try again later.",
  );
  assert.equal(await fourth.ask("m2", "hello?"), undefined); // and then nothing for 10 minutes

  await using first = new ChatClient(local.url, "c1");
  await first.ready();
  assert.equal(await first.ask("m2", "my code again?"), undefined);
  const pending = JSON.parse(
    (await runHermes(["pair", "list", "--json"], { home: home.path })).stdout,
  )
    .pending as { user_id: string }[];
  assert.deepEqual(pending.map((r) => r.user_id).sort(), ["c1", "c2", "c3"]);
});

Deno.test("revoke takes access away at once from a running gateway", async () => {
  await using home = await pairingHome();
  await using local = await startLocalGateway(home.path);
  const approve = await runHermes(["pair", "approve", "--user", "local:dana"], { home: home.path });
  assert.equal(approve.code, 0, approve.stderr);
  await using dana = new ChatClient(local.url, "dana");
  await dana.ready();
  assert.equal(await dana.ask("m1", "am I in?"), "am I in?");

  const revoked = await runHermes(["pair", "revoke", "local", "dana"], { home: home.path });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked access for user dana on local/);
  // Dana is a stranger again: the message gets a pairing code, not the agent.
  codeIn(await dana.ask("m2", "and now?"));

  const again = await runHermes(["pair", "revoke", "local", "dana"], { home: home.path });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not found in the approved list/);
});

Deno.test("slash-command tiers: a non-admin's /reset in a group is refused; an admin's runs", async () => {
  await using home = await pairingHome();
  await using local = await startLocalGateway(home.path);
  await using bob = new ChatClient(local.url, "bob", "team");
  await using root = new ChatClient(local.url, "root", "team");
  await bob.ready();
  await root.ready();

  assert.equal(await bob.ask("m1", "hello team"), "hello team"); // group_policy open
  assert.equal(
    await bob.ask("m2", "/reset"),
    "Sorry, /reset is for admins only in this group (your tier: user). /help lists the commands you can use.",
  );
  assert.match((await bob.ask("m3", "/whoami"))!, /User: bob\nChat: group team\nTier: user/);
  const help = (await bob.ask("m4", "/help"))!;
  assert.match(help, /\/status/);
  assert.doesNotMatch(help, /\/reset|\/new|\/stop/);
  assert.match((await bob.ask("m5", "/status"))!, /Session: /);

  assert.match((await root.ask("r1", "/whoami"))!, /Tier: admin/);
  assert.equal(await root.ask("r2", "/reset"), "Started a new session.");
  // The root user is an admin, so also allowed in a DM without pairing.
  await using rootDm = new ChatClient(local.url, "root");
  await rootDm.ready();
  assert.equal(await rootDm.ask("d1", "direct"), "direct");
});

Deno.test("revoke says when the configuration still lets the user in", async () => {
  await using home = tempDir();
  await Deno.writeTextFile(`${home.path}/config.yaml`, "local:\n  allow_from: [gus]\n");
  await runHermes(["pair", "approve", "--user", "local:gus"], { home: home.path });
  const revoked = await runHermes(["pair", "revoke", "LOCAL", "gus"], { home: home.path });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked access for user gus on local/);
  assert.match(revoked.stdout, /gus is also in local\.allow_from, which still lets them in/);
});
