// The chat page: one live query (`messages:list`) and one mutation (`messages:send`).
// `window.NIMBUS` comes from /_nimbus/config.js, the global `convex` from /_nimbus/convex.js.
"use strict";

const api = convex.anyApi;
const client = new convex.ConvexClient(window.NIMBUS.convexUrl);

const $ = (id) => document.getElementById(id);
const list = $("messages");
const form = $("composer");
const authorInput = $("author");
const bodyInput = $("body");
const sendButton = $("send");
const errorBox = $("error");
const status = $("status");

authorInput.value = localStorage.getItem("nimbus-chat-author") || "";
(authorInput.value ? bodyInput : authorInput).focus();

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function timeOf(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function render(messages) {
  const me = authorInput.value.trim();
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  list.replaceChildren(
    ...messages.map((m) => {
      const li = document.createElement("li");
      li.className = "message" + (me && m.author === me ? " message--mine" : "");
      li.dataset.id = m._id;
      const meta = document.createElement("div");
      meta.className = "message__meta";
      const author = document.createElement("span");
      author.className = "message__author";
      author.textContent = m.author;
      const time = document.createElement("time");
      time.className = "message__time";
      time.dateTime = new Date(m._creationTime).toISOString();
      time.textContent = timeOf(m._creationTime);
      meta.append(author, time);
      const body = document.createElement("div");
      body.className = "message__body";
      body.textContent = m.body;
      li.append(meta, body);
      return li;
    }),
  );
  if (messages.length === 0) {
    const empty = document.createElement("li");
    empty.className = "messages__empty";
    empty.textContent = "No messages yet. Say hello!";
    list.append(empty);
  }
  if (nearBottom || messages.length <= 1) list.scrollTop = list.scrollHeight;
  list.dataset.state = "loaded";
}

client.onUpdate(api.messages.list, {}, render, (err) => showError(`Could not load messages: ${err.message}`));

client.subscribeToConnectionState((state) => {
  const up = state.isWebSocketConnected;
  status.className = "status " + (up ? "status--live" : "status--connecting");
  status.textContent = up ? "live" : "connecting";
  status.title = up ? "Connected" : "Connecting…";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const author = authorInput.value.trim();
  const body = bodyInput.value;
  if (!author) {
    authorInput.focus();
    return;
  }
  localStorage.setItem("nimbus-chat-author", author);
  sendButton.disabled = true;
  try {
    await client.mutation(api.messages.send, { author, body });
    bodyInput.value = "";
    showError("");
  } catch (err) {
    // A ConvexError thrown by the mutation carries its message in `err.data`.
    showError(typeof err.data === "string" ? err.data : err.message);
  } finally {
    sendButton.disabled = false;
    bodyInput.focus();
  }
});
