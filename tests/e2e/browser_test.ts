import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { ROOT, tempDir } from "../_helpers.ts";
import { startLocalGateway } from "./_local.ts";

/** Where the screenshot is kept for people to look at (CI prints the path). */
const ARTIFACT = `${ROOT}tests/artifacts/web_chat_hello.png`;
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

Deno.test("the web chat answers 'hello' with 'hello' from the echo agent in headless Chromium", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    await page.goto(local.url);
    await page.getByText("connected as local").waitFor();
    const input = page.locator("#input");
    await input.fill("/");
    await page.locator("#commands li", { hasText: "/whoami" }).waitFor();
    await input.fill("hello");
    await input.press("Enter");
    const reply = page.locator(".msg.assistant");
    await reply.filter({ hasText: /^hello$/ }).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator(".msg.user").last().textContent(), "hello");
    assert.deepEqual(await reply.allTextContents(), ["hello"]);
    await Deno.mkdir(`${ROOT}tests/artifacts`, { recursive: true });
    await page.screenshot({ path: ARTIFACT });

    // The conversation lives in the session: a reload shows it again.
    await page.reload();
    await page.locator(".msg.assistant", { hasText: "hello" }).waitFor();
    assert.deepEqual(await page.locator(".msg").allTextContents(), ["hello", "hello"]);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
  assert.ok((await Deno.stat(ARTIFACT)).size > 5_000, "the screenshot was written");
});
