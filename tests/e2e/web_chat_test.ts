import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page } from "playwright-core";
import { tempDir } from "../_helpers.ts";
import { launchBrowser } from "./_browser.ts";
import { startLocalGateway } from "./_local.ts";

/** Types `text` into the chat box and sends it. */
async function say(page: Page, text: string): Promise<void> {
  await page.locator("#input").fill(text);
  await page.locator("#input").press("Enter");
}

/** Each bubble as `who: text` (who is empty outside group rooms). */
async function bubbles(page: Page): Promise<string[]> {
  return await page.locator(".msg").evaluateAll((els) =>
    els.map((el) => {
      const who = el.querySelector(".who")?.textContent ?? "";
      return `${who}: ${el.querySelector(".body")?.textContent ?? ""}`;
    })
  );
}

Deno.test("two pages in one group room see each other's messages with names, also after a reload and for a late joiner", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const alice = await browser.page();
  const bob = await browser.page();
  await alice.page.goto(`${local.url}?user=alice&group=team`);
  await bob.page.goto(`${local.url}?user=bob&group=team`);
  await alice.page.getByText("connected as alice in team").waitFor();
  await bob.page.getByText("connected as bob in team").waitFor();

  await say(alice.page, "hi from alice");
  await bob.page.locator(".msg.assistant", { hasText: "hi from alice" }).waitFor();
  await say(bob.page, "hello from bob");
  await alice.page.locator(".msg.assistant", { hasText: "hello from bob" }).waitFor();
  const room = [
    "alice: hi from alice",
    "hermes → alice: hi from alice",
    "bob: hello from bob",
    "hermes → bob: hello from bob",
  ];
  assert.deepEqual(
    await bubbles(bob.page),
    room.map((line) => line.replace(/^bob:/, "you:")),
  );
  assert.deepEqual(
    await bubbles(alice.page),
    room.map((line) => line.replace(/^alice:/, "you:")),
  );

  // The room's shared history comes from state.db: a reload and a late joiner see it all.
  await bob.page.reload();
  await bob.page.locator(".msg.assistant", { hasText: "hello from bob" }).waitFor();
  assert.deepEqual(await bubbles(bob.page), room.map((line) => line.replace(/^bob:/, "you:")));
  const carol = await browser.page();
  await carol.page.goto(`${local.url}?user=carol&group=team`);
  await carol.page.locator(".msg.assistant", { hasText: "hello from bob" }).waitFor();
  assert.deepEqual(await bubbles(carol.page), room);
  assert.deepEqual([...alice.problems, ...bob.problems, ...carol.problems], []);
});

Deno.test("a 5,000-character streamed reply costs under 300 KB on the socket and arrives whole", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
  let received = 0;
  page.on("websocket", (ws) => {
    ws.on("framereceived", (frame) => {
      received += typeof frame.payload === "string"
        ? new TextEncoder().encode(frame.payload).length
        : frame.payload.length;
    });
  });
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  const text = "abcd ".repeat(999) + "abcde"; // the echo agent streams it in 1,000 words
  assert.equal(text.length, 5_000);
  const before = received;
  await say(page, text);
  const reply = page.locator(".msg.assistant:not(.streaming)");
  await reply.waitFor({ timeout: 20_000 });
  assert.equal(await reply.locator(".body").textContent(), text);
  const cost = received - before;
  assert.ok(cost < 300_000, `the reply cost ${cost} bytes on the socket`);
  assert.deepEqual(problems, []);
});

Deno.test("/help and its answer survive a reload, in order with the conversation", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  await say(page, "/help");
  await page.locator(".msg.assistant", { hasText: "/whoami" }).waitFor();
  await say(page, "after help");
  await page.locator(".msg.assistant", { hasText: "after help" }).waitFor();
  await page.reload();
  await page.locator(".msg.assistant", { hasText: "after help" }).waitFor();
  const shown = await bubbles(page);
  assert.equal(shown.length, 4);
  assert.equal(shown[0], ": /help");
  assert.match(shown[1]!, /^: Commands:/);
  assert.deepEqual(shown.slice(2), [": after help", ": after help"]);
  assert.deepEqual(problems, []);
});

Deno.test("replies render markdown (code, bold, italics, lists, links) and HTML in them never runs", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  await say(
    page,
    [
      "**bold** and _italics_ with `code`",
      "",
      "- one",
      "- two",
      "",
      "```",
      "let x = 1;",
      "```",
      "",
      "[docs](https://example.com/docs) [bad](javascript:alert(1))",
      '<img src=x onerror="alert(2)"> <script>alert(3)</script>',
    ].join("\n"),
  );
  const reply = page.locator(".msg.assistant .body");
  await reply.locator("li", { hasText: "two" }).waitFor();
  await page.locator(".msg.assistant:not(.streaming)").waitFor();
  assert.equal(await reply.locator("strong").textContent(), "bold");
  assert.equal(await reply.locator("em").textContent(), "italics");
  assert.equal(await reply.locator("p code").textContent(), "code");
  assert.equal(await reply.locator("pre code").textContent(), "let x = 1;\n");
  assert.equal(await reply.locator("li").count(), 2);
  const link = reply.locator("a");
  assert.equal(await link.count(), 1, "the javascript: link is not a link");
  assert.equal(await link.getAttribute("href"), "https://example.com/docs");
  assert.equal(await link.getAttribute("target"), "_blank");
  assert.match((await link.getAttribute("rel")) ?? "", /noopener/);
  assert.equal(await reply.locator("img, script").count(), 0);
  assert.match((await reply.textContent()) ?? "", /<img src=x onerror="alert\(2\)">/);
  await page.waitForTimeout(200); // a handler that ran would have opened its dialog by now
  assert.deepEqual(dialogs, []);
  assert.deepEqual(problems, []);
});

Deno.test("an over-long message is refused before it is shown as sent, naming the limit", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  const long = "x".repeat(100_001);
  await say(page, long);
  await page.getByText("Message not sent: it has 100,001 characters; the limit is 100,000")
    .waitFor();
  assert.equal(await page.locator(".msg").count(), 0, "nothing looks sent");
  assert.equal((await page.locator("#input").inputValue()).length, 100_001, "the text is kept");
  // 70 KB, the paste that used to fail, goes through.
  await say(page, "y".repeat(70_000));
  await page.locator(".msg.assistant:not(.streaming)").waitFor();
  assert.equal((await page.locator(".msg.assistant .body").textContent())?.length, 70_000);
  assert.deepEqual(problems, []);
});

Deno.test("a note shown before the history arrives is still there after it, and only then does it say connected", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
  // The gateway's first frame (ready, with the history) is held back until released.
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  await page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => server.send(message));
    let first = true;
    server.onMessage(async (message) => {
      if (first) {
        first = false;
        await released;
      }
      ws.send(message);
    });
  });
  await page.goto(local.url);
  await say(page, "x".repeat(100_001));
  const refused = page.getByText("Message not sent: it has 100,001 characters");
  await refused.waitFor();
  assert.doesNotMatch((await page.locator("#state").textContent()) ?? "", /connected as/);
  release();
  await page.getByText("connected as local").waitFor();
  assert.equal(await refused.count(), 1, "the history did not wipe the note");
  assert.deepEqual(problems, []);
});

Deno.test("a refused connection says why on the page instead of reconnecting forever", async () => {
  await using home = tempDir();
  await using browser = await launchBrowser();
  const { page } = await browser.page();
  {
    await using open = await startLocalGateway(home.path);
    await page.goto(`${open.url}?user=${encodeURIComponent("a:b")}`);
    await page.getByText(/^refused: Invalid user name: 1-128 characters without ':'/).waitFor();
    await page.getByText(/^Not connected: Invalid user name/).waitFor();
  }
  await using local = await startLocalGateway(home.path, { LOCAL_API_KEY: "sekrit" });

  // A key the page does not have: it asks; a wrong one is refused and said so, the right one works.
  const answers = ["wrong", "sekrit"];
  page.on("dialog", (dialog) => void dialog.accept(answers.shift()));
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  assert.deepEqual(answers, [], "asked twice: once with no key, once after the wrong one");
});

/** A valid 1×1 PNG. */
const PIXEL = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

Deno.test("a picked image shows in the bubble, is kept with the message and shows again after a reload; other files are downloads", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  await page.locator("#file").setInputFiles([
    { name: "pixel.png", mimeType: "image/png", buffer: Buffer.from(PIXEL) },
    {
      name: "notes.html",
      mimeType: "text/html",
      buffer: Buffer.from("<script>alert(1)</script>"),
    },
  ]);
  await page.locator("#chips .chip", { hasText: "notes.html" }).waitFor();
  await say(page, "look at these");
  await page.locator(".msg.assistant", { hasText: "look at these" }).waitFor();
  await page.reload();
  await page.locator(".msg.assistant", { hasText: "look at these" }).waitFor();
  const image = page.locator(".msg.user .files img");
  await image.waitFor();
  await page.waitForFunction(() => {
    const img = (globalThis as unknown as {
      document: { querySelector(s: string): { complete: boolean; naturalWidth: number } | null };
    }).document.querySelector(".msg.user .files img");
    return img !== null && img.complete && img.naturalWidth === 1;
  });
  assert.match((await image.getAttribute("src")) ?? "", /\/media\/[0-9a-f]{64}\.png$/);
  const link = page.locator(".msg.user .files a");
  assert.match((await link.textContent()) ?? "", /notes\.html/);
  // What a user sent is never served as a page: the HTML file is plain text, and a download.
  const served = await fetch(new URL((await link.getAttribute("href"))!, local.url));
  assert.equal(served.headers.get("content-type"), "text/plain");
  assert.equal(served.headers.get("content-disposition"), "attachment");
  assert.equal(await served.text(), "<script>alert(1)</script>");
  assert.equal((await fetch(new URL("media/..%2Fstate.db", local.url))).status, 404);
  assert.deepEqual(problems, []);
});
