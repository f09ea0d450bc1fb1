import assert from "node:assert/strict";
import { ROOT, tempDir } from "../_helpers.ts";
import { launchBrowser } from "./_browser.ts";
import { startLocalGateway } from "./_local.ts";

/** Where the screenshot is kept for people to look at (CI prints the path). */
const ARTIFACT = `${ROOT}tests/artifacts/web_chat_hello.png`;

Deno.test("the web chat answers 'hello' with 'hello' from the echo agent in headless Chromium", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  await using browser = await launchBrowser();
  const { page, problems } = await browser.page();
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
  assert.ok((await Deno.stat(ARTIFACT)).size > 5_000, "the screenshot was written");
});
