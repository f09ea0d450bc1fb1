/**
 * The web chat page served at `GET /`: one self-contained HTML document (no
 * build step, no CDN). It talks to `/ws`, renders replies as they stream,
 * shows the session's history on load and the `/` commands while typing.
 *
 * @module
 */

/** The page's HTML. */
export const CHAT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hermes</title>
<style>
  :root { color-scheme: light dark; --bg: #f6f7f9; --panel: #fff; --text: #1d2127; --muted: #6b7280;
    --me: #2563eb; --me-text: #fff; --bot: #eef0f3; --border: #dfe3e8; }
  @media (prefers-color-scheme: dark) { :root { --bg: #15171a; --panel: #1d2024; --text: #e7e9ec;
    --muted: #9aa1ab; --me: #3b82f6; --bot: #262a30; --border: #30353c; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg);
    color: var(--text); height: 100vh; display: flex; flex-direction: column; }
  header { padding: 12px 20px; border-bottom: 1px solid var(--border); background: var(--panel);
    display: flex; align-items: baseline; gap: 12px; }
  header h1 { font-size: 17px; margin: 0; }
  #state { color: var(--muted); font-size: 13px; }
  main { flex: 1; overflow-y: auto; padding: 20px; display: flex; flex-direction: column; gap: 10px; }
  .msg { max-width: min(720px, 85%); padding: 9px 13px; border-radius: 14px; white-space: pre-wrap;
    overflow-wrap: anywhere; }
  .user { align-self: flex-end; background: var(--me); color: var(--me-text); border-bottom-right-radius: 4px; }
  .assistant { align-self: flex-start; background: var(--bot); border-bottom-left-radius: 4px; }
  .assistant.streaming::after { content: "\\258d"; opacity: .6; }
  .note { align-self: center; color: var(--muted); font-size: 13px; }
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
</style>
</head>
<body>
<header><h1>hermes</h1><span id="state">connecting…</span></header>
<main id="log" aria-live="polite"></main>
<footer>
  <ul id="commands" hidden></ul>
  <form id="form">
    <textarea id="input" rows="1" placeholder="Message (type / for commands)" autofocus></textarea>
    <button id="send" type="submit">Send</button>
  </form>
</footer>
<script>
(() => {
  const log = document.getElementById("log");
  const input = document.getElementById("input");
  const form = document.getElementById("form");
  const state = document.getElementById("state");
  const menu = document.getElementById("commands");
  const params = new URLSearchParams(location.search);
  const user = params.get("user") || "local";
  const group = params.get("group");
  let commands = [];
  let socket;
  let retry = 500;
  const bubbles = new Map();
  const unsent = [];

  function add(role, text, id) {
    const el = document.createElement("div");
    el.className = "msg " + role;
    el.textContent = text;
    if (id) { el.dataset.id = id; bubbles.set(id, el); }
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.appendChild(el);
    if (atBottom || role === "user") log.scrollTop = log.scrollHeight;
    return el;
  }

  function connect() {
    const token = localStorage.getItem("hermes-token") || "";
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("user", user);
    if (group) url.searchParams.set("group", group);
    if (token) url.searchParams.set("token", token);
    socket = new WebSocket(url);
    socket.onopen = () => { retry = 500; state.textContent = "connected as " + user + (group ? " in " + group : ""); };
    socket.onmessage = (e) => {
      const frame = JSON.parse(e.data);
      if (frame.type === "ready") {
        commands = frame.commands || [];
        if (!log.children.length) for (const m of frame.history || []) add(m.role, m.text);
        while (unsent.length) socket.send(unsent.shift());
      } else if (frame.type === "message") {
        const el = bubbles.get(frame.id) || add("assistant", "", frame.id);
        el.textContent = frame.text;
        el.classList.toggle("streaming", !frame.final);
        if (log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
      } else if (frame.type === "error") {
        add("note", frame.error);
      }
    };
    socket.onclose = (e) => {
      state.textContent = "reconnecting…";
      if (e.code === 1006 && !localStorage.getItem("hermes-token") && location.hostname !== "127.0.0.1" && location.hostname !== "localhost") {
        const t = prompt("API key (LOCAL_API_KEY)");
        if (t) localStorage.setItem("hermes-token", t);
      }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 8000);
    };
  }

  function send(text) {
    const id = crypto.randomUUID();
    add("user", text);
    const frame = JSON.stringify({ type: "message", id, text });
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame); else unsent.push(frame);
  }

  function showCommands() {
    const text = input.value;
    if (!text.startsWith("/") || text.includes(" ")) { menu.hidden = true; return; }
    const matches = commands.filter((c) => ("/" + c.name).startsWith(text));
    menu.replaceChildren(...matches.map((c) => {
      const li = document.createElement("li");
      const b = document.createElement("b");
      b.textContent = "/" + c.name;
      const s = document.createElement("span");
      s.textContent = c.summary;
      li.append(b, s);
      li.onclick = () => { input.value = "/" + c.name + (c.name === "queue" ? " " : ""); menu.hidden = true; input.focus(); };
      return li;
    }));
    menu.hidden = matches.length === 0;
  }

  form.onsubmit = (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    menu.hidden = true;
    input.style.height = "";
    send(text);
  };
  input.onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    if (e.key === "Escape") menu.hidden = true;
  };
  input.oninput = () => {
    input.style.height = "";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
    showCommands();
  };
  connect();
})();
</script>
</body>
</html>
`;
