// A Workers-style app for Nimbus: plain `fetch` handlers and a WebSocket echo.
//
//   GET /          → "Hello from Nimbus!"
//   GET /json?a=1  → a JSON object of 100 keys built from the query string
//   GET /count     → a streamed body: one line every 100 ms
//   POST /upper    → the request body, streamed back with ASCII letters upper-cased
//   GET /visit     → answers at once; `ctx.waitUntil` logs the visit afterwards
//   WebSocket      → echoes every message back
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/count") {
      let n = 0;
      const lines = new ReadableStream({
        async pull(controller) {
          if (n === 5) return controller.close();
          await sleep(100);
          controller.enqueue(`line ${++n}\n`);
        },
      });
      return new Response(lines, { headers: { "content-type": "text/plain" } });
    }
    if (url.pathname === "/upper" && request.body) {
      const reader = request.body.getReader();
      const upper = new ReadableStream({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          // Byte-wise (ASCII letters), so a character split across chunks stays intact.
          controller.enqueue(value.map((b) => (b >= 97 && b <= 122 ? b - 32 : b)));
        },
      });
      return new Response(upper);
    }
    if (url.pathname === "/visit") {
      ctx.waitUntil(sleep(200).then(() => console.log("visited", url.searchParams.get("who") ?? "someone")));
      return new Response("thanks\n");
    }
    if (url.pathname === "/json") {
      const out = {};
      for (let i = 0; i < 100; i++) out[`key${i}`] = url.searchParams.get("a") ?? i;
      return Response.json(out);
    }
    return new Response(`Hello from ${env.WHO ?? "Nimbus"}!`, { headers: { "content-type": "text/plain" } });
  },
  websocket: {
    message(ws, data) {
      ws.send(data);
    },
  },
};
