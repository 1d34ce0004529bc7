// A Workers-style app for Nimbus: plain `fetch` handlers and a WebSocket echo.
//
//   GET /          → "Hello from Nimbus!"
//   GET /json?a=1  → a JSON object of 100 keys built from the query string
//   WebSocket      → echoes every message back
export default {
  fetch(request, env) {
    const url = new URL(request.url);
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
