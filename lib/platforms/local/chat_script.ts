/**
 * The web chat's script (`/chat.js`): talks to `/ws`, shows the chat's
 * history on load (every member's messages in a group room, with names),
 * renders replies as markdown while they stream (deltas are appended to the
 * text so far), lists the `/` commands while typing, refuses an over-long
 * message before it is shown as sent, and says why a connection was refused.
 *
 * Replies are rendered by markdown-it with raw HTML off (so HTML the agent
 * writes is shown as text) and links opened in a new tab without a referrer.
 *
 * @module
 */

/** The script's source (an ES module; plain JavaScript, no build step). */
export const CHAT_SCRIPT = String.raw`import markdownit from "./markdown-it.js";

const md = markdownit({ html: false, linkify: true, breaks: true });
const renderLink = md.renderer.rules.link_open ||
  ((tokens, i, options, env, self) => self.renderToken(tokens, i, options));
md.renderer.rules.link_open = (tokens, i, options, env, self) => {
  tokens[i].attrSet("target", "_blank");
  tokens[i].attrSet("rel", "noopener noreferrer");
  return renderLink(tokens, i, options, env, self);
};

const log = document.getElementById("log");
const input = document.getElementById("input");
const form = document.getElementById("form");
const state = document.getElementById("state");
const menu = document.getElementById("commands");
const chips = document.getElementById("chips");
const picker = document.getElementById("file");
const params = new URLSearchParams(location.search);
const user = params.get("user") || "local";
const group = params.get("group");
let commands = [];
let maxChars = 100000;
let maxFiles = 4;
let picked = []; // files chosen or pasted for the next message: { name, data (a data URL) }
let socket;
let ready = false;
let retry = 500;
let stopped = false;
const replies = new Map(); // reply id -> { el, body, raw }
const unsent = [];
const notesSinceConnect = []; // shown before the history arrived: drawn again after it
const pending = new Set();
let frame = 0;

function nearBottom(slack) {
  return log.scrollHeight - log.scrollTop - log.clientHeight < slack;
}

function mediaUrl(file) {
  const url = new URL("media/" + encodeURIComponent(file), location.href);
  const token = localStorage.getItem("hermes-token");
  if (token) url.searchParams.set("token", token);
  return url.toString();
}

/** Shows the files of a message in its bubble: images inline, the rest as downloads. */
function showFiles(el, files) {
  if (!files || !files.length) return;
  const box = document.createElement("div");
  box.className = "files";
  for (const f of files) {
    const src = f.data || mediaUrl(f.file);
    if (f.kind === "image") {
      const img = document.createElement("img");
      img.src = src;
      img.alt = f.name || "image";
      box.appendChild(img);
    } else {
      const link = document.createElement("a");
      link.href = src;
      link.download = f.name || "file";
      link.textContent = "Download " + (f.name || "file") + (f.size ? " (" + f.size.toLocaleString("en") + " bytes)" : "");
      box.appendChild(link);
    }
  }
  el.appendChild(box);
}

/** Adds a message bubble: role user or assistant; who is shown in group rooms. */
function bubble(role, text, who, mine, files) {
  const el = document.createElement("div");
  el.className = "msg " + role + (role === "user" && !mine ? " other" : "");
  if (who) {
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    el.appendChild(label);
  }
  const body = document.createElement("div");
  body.className = "body";
  el.appendChild(body);
  if (role === "assistant") renderInto(body, text);
  else body.textContent = text;
  showFiles(el, files);
  const atBottom = nearBottom(40);
  log.appendChild(el);
  if (atBottom || mine) log.scrollTop = log.scrollHeight;
  return { el, body, raw: text };
}

function note(text, error) {
  const el = document.createElement("div");
  el.className = "note" + (error ? " error" : "");
  el.textContent = text;
  log.appendChild(el);
  log.scrollTop = log.scrollHeight;
  if (!ready) notesSinceConnect.push(el);
}

function renderInto(body, raw) {
  body.innerHTML = md.render(raw).trim();
}

/** Renders the replies that changed, at most once per animation frame. */
function scheduleRender(reply) {
  pending.add(reply);
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const follow = nearBottom(120);
    for (const r of pending) renderInto(r.body, r.raw);
    pending.clear();
    if (follow) log.scrollTop = log.scrollHeight;
  });
}

function whoOf(sender, role, to) {
  if (!group) return "";
  if (role === "assistant") return to ? "hermes → " + to : "hermes";
  return sender === user ? "you" : (sender || "?");
}

function showHistory(history) {
  log.replaceChildren();
  replies.clear();
  for (const m of history || []) {
    bubble(m.role === "assistant" ? "assistant" : "user", m.text, whoOf(m.sender, m.role, m.to),
      m.role !== "assistant" && m.sender === user, m.attachments);
  }
  log.append(...notesSinceConnect.splice(0));
  log.scrollTop = log.scrollHeight;
}

function onReply(f) {
  let reply = replies.get(f.id);
  if (!reply) {
    reply = bubble("assistant", "", whoOf(null, "assistant", f.to), false);
    replies.set(f.id, reply);
  }
  if (typeof f.text === "string") reply.raw = f.text;
  else if (typeof f.append === "string") reply.raw += f.append;
  reply.el.classList.toggle("streaming", !f.final);
  if (f.final) {
    pending.delete(reply);
    renderInto(reply.body, reply.raw);
    replies.delete(f.id);
    if (nearBottom(120)) log.scrollTop = log.scrollHeight;
  } else {
    scheduleRender(reply);
  }
}

function socketUrl(protocol) {
  const url = new URL("ws", location.href);
  url.protocol = protocol;
  url.searchParams.set("user", user);
  if (group) url.searchParams.set("group", group);
  const token = localStorage.getItem("hermes-token");
  if (token) url.searchParams.set("token", token);
  return url;
}

/** Asks the socket's URL with a plain GET why the upgrade failed; true when it was refused. */
async function explainRefusal() {
  let response;
  try {
    response = await fetch(socketUrl(location.protocol), { cache: "no-store" });
  } catch {
    return false; // the gateway is not reachable: keep trying
  }
  if (response.status === 426) return false; // it would have upgraded: a network hiccup
  let message = "HTTP " + response.status;
  try {
    message = (await response.json()).error.message || message;
  } catch {
    // not JSON
  }
  state.textContent = "refused: " + message;
  state.className = "refused";
  if (response.status === 401) {
    const token = prompt(message + "\n\nAPI key (LOCAL_API_KEY):");
    if (token) {
      localStorage.setItem("hermes-token", token);
      return false;
    }
    localStorage.removeItem("hermes-token");
  }
  note("Not connected: " + message, true);
  stopped = true;
  return true;
}

function connect() {
  ready = false;
  socket = new WebSocket(socketUrl(location.protocol === "https:" ? "wss:" : "ws:"));
  socket.onopen = () => {
    retry = 500;
  };
  socket.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === "ready") {
      ready = true;
      state.className = "";
      state.textContent = "connected as " + user + (group ? " in " + group : "");
      commands = f.commands || [];
      if (f.limits && f.limits.max_message_chars) maxChars = f.limits.max_message_chars;
      if (f.limits && f.limits.max_files) maxFiles = f.limits.max_files;
      showHistory(f.history);
      // Messages typed while disconnected: shown again after the history, then sent.
      for (const m of unsent) bubble("user", m.text, group ? "you" : "", true, m.files);
      while (unsent.length) socket.send(unsent.shift().data);
    } else if (f.type === "message") {
      onReply(f);
    } else if (f.type === "user_message") {
      bubble("user", f.text, whoOf(f.sender, "user"), f.sender === user, f.attachments);
    } else if (f.type === "error") {
      note(f.error, true);
    }
  };
  socket.onclose = async () => {
    const neverReady = !ready;
    state.className = "";
    state.textContent = "reconnecting…";
    if (neverReady && await explainRefusal()) return;
    if (stopped) return;
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 8000);
  };
}

function send(text) {
  if (text.length > maxChars) {
    note("Message not sent: it has " + text.length.toLocaleString("en") +
      " characters; the limit is " + maxChars.toLocaleString("en"), true);
    return false;
  }
  const id = crypto.randomUUID();
  const files = picked.map((f) => ({ kind: f.data.startsWith("data:image/") ? "image" : "file", name: f.name, data: f.data }));
  bubble("user", text, group ? "you" : "", true, files);
  const attachments = picked.map((f) => ({ name: f.name, data: f.data }));
  const data = JSON.stringify(attachments.length ? { type: "message", id, text, attachments } : { type: "message", id, text });
  if (socket && socket.readyState === WebSocket.OPEN && ready) socket.send(data);
  else unsent.push({ text, data, files });
  picked = [];
  showPicked();
  return true;
}

function showPicked() {
  chips.replaceChildren(...picked.map((f, i) => {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = f.name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.title = "Remove";
    remove.onclick = () => { picked.splice(i, 1); showPicked(); };
    chip.appendChild(remove);
    return chip;
  }));
  chips.hidden = picked.length === 0;
}

/** Adds files to the next message (read as data URLs). */
function pick(fileList) {
  for (const file of fileList) {
    if (picked.length >= maxFiles) {
      note("At most " + maxFiles + " files a message", true);
      break;
    }
    const reader = new FileReader();
    reader.onload = () => { picked.push({ name: file.name, data: reader.result }); showPicked(); };
    reader.readAsDataURL(file);
  }
}

function showCommands() {
  const text = input.value;
  if (!text.startsWith("/") || text.includes(" ")) {
    menu.hidden = true;
    return;
  }
  const matches = commands.filter((c) => ("/" + c.name).startsWith(text));
  menu.replaceChildren(...matches.map((c) => {
    const li = document.createElement("li");
    const b = document.createElement("b");
    b.textContent = "/" + c.name;
    const s = document.createElement("span");
    s.textContent = c.summary;
    li.append(b, s);
    li.onclick = () => {
      input.value = "/" + c.name + (c.name === "queue" ? " " : "");
      menu.hidden = true;
      input.focus();
    };
    return li;
  }));
  menu.hidden = matches.length === 0;
}

form.onsubmit = (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if ((!text && picked.length === 0) || stopped) return;
  if (!send(text)) return; // kept in the box to shorten
  input.value = "";
  menu.hidden = true;
  input.style.height = "";
};
input.onkeydown = (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    form.requestSubmit();
  }
  if (e.key === "Escape") menu.hidden = true;
};
picker.onchange = () => { pick(picker.files); picker.value = ""; };
input.onpaste = (e) => {
  if (e.clipboardData && e.clipboardData.files.length) {
    e.preventDefault();
    pick(e.clipboardData.files);
  }
};
input.oninput = () => {
  input.style.height = "";
  input.style.height = Math.min(input.scrollHeight, 160) + "px";
  showCommands();
};
connect();
`;
