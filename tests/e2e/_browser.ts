/**
 * Headless Chromium for the web chat tests: the browser `deno task test`
 * found (or installed), launched with the flags this machine's closed
 * network needs, and a page that collects the errors it logs.
 *
 * @module
 */

import { type Browser, chromium, type Page } from "playwright-core";
import { findBrowser } from "../../scripts/browser.ts";

/** A launched browser, closed at the end of the scope. */
export interface TestBrowser extends AsyncDisposable {
  readonly browser: Browser;
  /** A new page; script errors and console errors go to `problems`. */
  page(): Promise<{ page: Page; problems: string[] }>;
}

/** Launches headless Chromium (`CHROME_PATH` or the usual places), with `extraArgs`. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<TestBrowser> {
  const executablePath = findBrowser();
  if (!executablePath) {
    throw new Error(
      "No Chromium or Chrome found: run the tests with `deno task test`, which installs one, or set CHROME_PATH",
    );
  }
  const browser = await chromium.launch({
    executablePath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
      ...extraArgs,
    ],
  });
  return {
    browser,
    async page() {
      const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(String(error)));
      page.on("console", (message) => {
        if (message.type() === "error") problems.push(message.text());
      });
      return { page, problems };
    },
    [Symbol.asyncDispose]: () => browser.close(),
  };
}
