/**
 * What `hermes weixin login` shows: the QR code drawn in the terminal and a
 * line for each state of the login as it changes.
 *
 * The code is drawn with half blocks (`▀ ▄ █`, one character is one module
 * wide and two tall) in black on an explicit white background, with a
 * one-module white border: it scans the same on light and dark themes, and
 * keeps those colours with NO_COLOR too, since on a dark theme a code
 * without them comes out inverted, which phones do not read.
 *
 * @module
 */

import type { LoginEvent } from "./login.ts";

/** A colour sequence (SGR), the escape character included. */
// deno-lint-ignore no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** The one call hermes makes to `npm:qrcode` (the package ships no types). */
interface QrcodeModule {
  toString(
    text: string,
    options: { type: "terminal"; small: boolean; errorCorrectionLevel?: "L" | "M" | "Q" | "H" },
  ): Promise<string>;
}

/**
 * The QR code of `text` as terminal lines (ANSI colours and half blocks),
 * ending in a newline. 2 + the code's module count columns wide: 39 for a
 * 70-character URL.
 *
 * @example
 * ```ts
 * const picture = await renderTerminalQr("https://liteapp.weixin.qq.com/q/qr-1?qrcode=qr-1&bot_type=3");
 * console.log(picture);
 * ```
 */
export async function renderTerminalQr(text: string): Promise<string> {
  // Loaded here: only a login on a terminal draws a code.
  const qrcode = (await import("qrcode")).default as QrcodeModule;
  const picture = await qrcode.toString(text, { type: "terminal", small: true });
  // It ends in a colour setup and a reset after the last newline: drop that
  // empty line (every row already ends with a reset).
  const rows = picture.split("\n");
  if (rows.at(-1)!.replace(SGR, "") === "") rows.pop();
  return `${rows.join("\n")}\n`;
}

const SCANNED = "Scanned: confirm the login in WeChat on your phone";

/** What {@linkcode loginReporter} needs. */
export interface LoginReporterOptions {
  /** Draw the code and keep a status line open for dots (a terminal), or print plain lines. */
  readonly terminal: boolean;
  /** Draws a code; default {@linkcode renderTerminalQr}. */
  readonly renderQr?: (text: string) => Promise<string>;
}

/** Turns login events into text. */
export interface LoginReporter {
  /** Writes what an event changes; pass it as `qrLogin`'s `onEvent`. */
  readonly onEvent: (event: LoginEvent) => Promise<void>;
  /** Ends an open status line (call it before printing anything else). */
  end(): void;
}

/**
 * Text for each login event, written through `write`: a line per change of
 * state, so a log stays short. On a terminal it draws the code above its
 * URL, and "Waiting for the scan" gets a dot per poll; elsewhere it prints
 * the URL only.
 *
 * @example
 * ```ts
 * const reporter = loginReporter((text) => Deno.stdout.writeSync(new TextEncoder().encode(text)), {
 *   terminal: Deno.stdout.isTerminal(),
 * });
 * await reporter.onEvent({ type: "qrcode", url: "https://liteapp.weixin.qq.com/q/qr-1", refresh: 0 });
 * await reporter.onEvent({ type: "wait" });
 * reporter.end();
 * ```
 */
export function loginReporter(
  write: (text: string) => void,
  options: LoginReporterOptions,
): LoginReporter {
  const renderQr = options.renderQr ?? renderTerminalQr;
  let open = false;
  /** The state line shown last; a repeat of it is a dot on a terminal and nothing elsewhere. */
  let shown: string | undefined;
  let failing = false;
  const end = () => {
    if (open) write("\n");
    open = false;
  };
  const line = (text: string) => {
    end();
    write(`${text}\n`);
  };
  /** A state's line, once per change; on a terminal "waiting" stays open for a dot per poll. */
  const state = (key: string, text: string) => {
    failing = false;
    if (shown === key) {
      if (open) write(".");
      return;
    }
    shown = key;
    end();
    if (options.terminal && key === "wait") {
      write(text);
      open = true;
    } else {
      write(`${text}\n`);
    }
  };
  const onEvent = async (event: LoginEvent) => {
    switch (event.type) {
      case "qrcode": {
        shown = undefined;
        if (!options.terminal) {
          return line(
            `${
              event.refresh === 0 ? "Scan the" : "Scan the new"
            } QR code of this URL with WeChat to log the bot in: ${event.url}`,
          );
        }
        const picture = await renderQr(event.url);
        end();
        write(
          `${
            event.refresh === 0 ? "Scan this QR code" : "Scan the new QR code"
          } with WeChat on your phone to log the bot in:\n\n${picture}Its URL: ${event.url}\n`,
        );
        return;
      }
      case "wait":
        return state("wait", "Waiting for the scan");
      case "scanned":
        return state("scanned", SCANNED);
      case "redirect":
        state("scanned", SCANNED);
        return line(`iLink moved the login to ${event.host}`);
      case "expired":
        shown = undefined;
        if (event.count <= event.max) {
          line(`The QR code expired: getting a new one (${event.count} of ${event.max})`);
        } else {
          end();
        }
        return;
      case "poll_failed":
        if (!failing) line(`No answer from iLink (${event.error.message}): trying again`);
        failing = true;
        shown = undefined;
        return;
      case "unknown_status":
        return state(
          `status ${event.status}`,
          `iLink answered the status "${event.status}", which hermes does not know: waiting on`,
        );
    }
  };
  return { onEvent, end };
}
