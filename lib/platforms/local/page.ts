/**
 * The web chat served at `GET /`: one HTML document, its script
 * (`/chat.js`, see `chat_script.ts`) and the markdown renderer it uses
 * (`/markdown-it.js`, markdown-it's browser build, embedded at build time:
 * no CDN, no network). The Content-Security-Policy lets only these scripts
 * run and no page load anything from elsewhere, so text the agent writes
 * can never run script in the page.
 *
 * @module
 */

import markdownItBrowser from "markdown-it/browser" with { type: "text" };

export { CHAT_SCRIPT } from "./chat_script.ts";

/** markdown-it's ES module build, without its source-map comment (the map is not served). */
export const MARKDOWN_SCRIPT: string = markdownItBrowser.replace(
  /\n\/\/# sourceMappingURL=.*\s*$/,
  "\n",
);

/** Headers of every part of the web chat. */
export const CHAT_PAGE_HEADERS: Readonly<Record<string, string>> = {
  "cache-control": "no-store",
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** The page's HTML. */
export const CHAT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hermes</title>
<style>
  :root { color-scheme: light dark; --bg: #f6f7f9; --panel: #fff; --text: #1d2127; --muted: #6b7280;
    --me: #2563eb; --me-text: #fff; --bot: #eef0f3; --border: #dfe3e8; --code: rgba(127,127,127,.14);
    --danger: #b42318; }
  @media (prefers-color-scheme: dark) { :root { --bg: #15171a; --panel: #1d2024; --text: #e7e9ec;
    --muted: #9aa1ab; --me: #3b82f6; --bot: #262a30; --border: #30353c; --danger: #f97066; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg);
    color: var(--text); height: 100vh; display: flex; flex-direction: column; }
  header { padding: 12px 20px; border-bottom: 1px solid var(--border); background: var(--panel);
    display: flex; align-items: baseline; gap: 12px; }
  header h1 { font-size: 17px; margin: 0; }
  #state { color: var(--muted); font-size: 13px; }
  #state.refused { color: var(--danger); }
  main { flex: 1; overflow-y: auto; padding: 20px; display: flex; flex-direction: column; gap: 10px; }
  .msg { max-width: min(720px, 85%); padding: 9px 13px; border-radius: 14px; overflow-wrap: anywhere; }
  .msg .who { display: block; font-size: 12px; font-weight: 600; opacity: .75; margin-bottom: 2px; }
  .msg.user .body { white-space: pre-wrap; }
  .user { align-self: flex-end; background: var(--me); color: var(--me-text); border-bottom-right-radius: 4px; }
  .user.other { align-self: flex-start; background: var(--panel); color: var(--text);
    border: 1px solid var(--border); border-bottom-left-radius: 4px; border-bottom-right-radius: 14px; }
  .assistant { align-self: flex-start; background: var(--bot); border-bottom-left-radius: 4px; }
  .assistant.streaming .body::after { content: "\\258d"; opacity: .6; }
  .assistant .body > :first-child { margin-top: 0; }
  .assistant .body > :last-child { margin-bottom: 0; }
  .assistant p, .assistant ul, .assistant ol, .assistant pre { margin: 0 0 .6em; }
  .assistant ul, .assistant ol { padding-left: 1.4em; }
  .assistant code { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
    background: var(--code); padding: 1px 4px; border-radius: 4px; }
  .assistant pre { background: var(--code); padding: 8px 10px; border-radius: 8px; overflow-x: auto; }
  .assistant pre code { background: none; padding: 0; }
  .assistant a { color: inherit; }
  .note { align-self: center; color: var(--muted); font-size: 13px; text-align: center; }
  .note.error { color: var(--danger); }
  footer { padding: 12px 20px 18px; background: var(--panel); border-top: 1px solid var(--border); position: relative; }
  form { display: flex; gap: 8px; }
  textarea { flex: 1; resize: none; font: inherit; padding: 9px 12px; border-radius: 10px;
    border: 1px solid var(--border); background: var(--bg); color: var(--text); max-height: 160px; }
  button { font: inherit; padding: 0 18px; border: 0; border-radius: 10px; background: var(--me);
    color: var(--me-text); cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  #commands { position: absolute; bottom: 100%; left: 20px; right: 20px; margin: 0 0 6px; padding: 6px 0;
    list-style: none; background: var(--panel); border: 1px solid var(--border); border-radius: 10px; }
  #commands li { padding: 4px 14px; cursor: pointer; }
  #commands li b { margin-right: 8px; }
  #commands li span { color: var(--muted); }
  #commands[hidden] { display: none; }
  #attach { align-self: center; cursor: pointer; color: var(--muted); padding: 0 4px; display: flex; }
  #chips { display: flex; gap: 6px; flex-wrap: wrap; margin: 0 0 8px; }
  #chips[hidden] { display: none; }
  .chip { font-size: 13px; padding: 2px 8px; border: 1px solid var(--border); border-radius: 10px; }
  .chip button { background: none; color: var(--muted); padding: 0 0 0 6px; }
  .files { display: flex; flex-direction: column; align-items: flex-start; gap: 6px; margin-top: 6px; }
  .files img { max-width: 260px; max-height: 200px; border-radius: 8px; display: block; }
  .files a { color: inherit; }
</style>
<script type="module" src="chat.js"></script>
</head>
<body>
<header><h1>hermes</h1><span id="state">connecting…</span></header>
<main id="log" aria-live="polite"></main>
<footer>
  <ul id="commands" hidden></ul>
  <div id="chips" hidden></div>
  <form id="form">
    <label id="attach" title="Attach files (or paste them)" aria-label="Attach files"><svg width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21.4 11.6 12.2 20.8a5.5 5.5 0 0 1-7.8-7.8l9.2-9.2a3.7 3.7 0 0 1 5.2 5.2l-9.2 9.2a1.8 1.8 0 0 1-2.6-2.6l8.5-8.5"/></svg><input id="file" type="file" multiple hidden></label>
    <textarea id="input" rows="1" placeholder="Message (type / for commands)" autofocus></textarea>
    <button id="send" type="submit">Send</button>
  </form>
</footer>
</body>
</html>
`;
