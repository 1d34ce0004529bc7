// The workload every runtime serves, byte for byte the same answers:
//   /hello                    → "hello world" (text/plain)
//   /json?k0=v0&…&k99=v99     → one pass over the query's pairs into an object of 100 keys,
//                               `value + ":" + index`, as JSON (application/json)
// Each runtime wraps `handle(request)` in its own server (see run.py).
function handle(request) {
  const url = new URL(request.url);
  if (url.pathname === "/json") {
    const out = {};
    let index = 0;
    for (const [key, value] of url.searchParams) out[key] = value + ":" + index++;
    return new Response(JSON.stringify(out), { headers: { "content-type": "application/json" } });
  }
  return new Response("hello world", { headers: { "content-type": "text/plain" } });
}
