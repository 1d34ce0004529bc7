import { httpRouter } from "convex/server";
import { httpAction } from "./_generated/server";

const http = httpRouter();

// GET <deployment url>/http/hello?name=you
http.route({
  path: "/hello",
  method: "GET",
  handler: httpAction(async (_ctx, request) => {
    const name = new URL(request.url).searchParams.get("name") ?? "world";
    return new Response(`Hello, ${name}!\n`, {
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
  }),
});

export default http;
