// Live view: subscriptions re-run whenever the data they read changes.
const api = convex.anyApi;
const client = new convex.ConvexClient(window.NIMBUS.convexUrl);
const $ = (id) => document.getElementById(id);

client.onUpdate(api.messages.list, {}, (messages) => {
  $("messages").replaceChildren(
    ...messages.map((m) => {
      const li = document.createElement("li");
      li.textContent = `${m.author}: ${m.body}`;
      return li;
    }),
  );
});

client.onUpdate(api.heartbeat.latest, {}, (beat) => {
  $("heartbeat").textContent = beat ? new Date(beat.at).toLocaleTimeString() : "none yet";
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await client.mutation(api.messages.send, { author: $("author").value, body: $("body").value });
    $("body").value = "";
    $("error").textContent = "";
  } catch (err) {
    $("error").textContent = typeof err.data === "string" ? err.data : err.message;
  }
});

$("stats").addEventListener("click", async () => {
  const s = await client.action(api.actions.stats, {});
  $("stats-out").textContent = `${s.messages} messages, ${s.words} words`;
});
