/**
 * Finds the Chromium or Chrome the browser tests drive: `CHROME_PATH` when
 * set, else the usual Linux and macOS places.
 *
 * @module
 */

/** Where Chromium and Chrome usually live, most likely first. */
export const BROWSER_PATHS: readonly string[] = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
  "/snap/bin/chromium",
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  "/Applications/Chromium.app/Contents/MacOS/Chromium",
];

/**
 * The browser to launch, or undefined when there is none. A `CHROME_PATH`
 * that names no file is returned as it is, so the launch error names it.
 *
 * @example
 * ```ts
 * findBrowser({ CHROME_PATH: "/opt/chrome/chrome" }); // "/opt/chrome/chrome"
 * ```
 */
export function findBrowser(
  env: Readonly<Record<string, string | undefined>> = Deno.env.toObject(),
): string | undefined {
  if (env.CHROME_PATH) return env.CHROME_PATH;
  return BROWSER_PATHS.find(isFile);
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
