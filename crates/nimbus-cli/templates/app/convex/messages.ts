import { ConvexError, v } from "convex/values";
import { mutation, query } from "./_generated/server";

// The newest 50 messages, oldest first.
export const list = query({
  args: {},
  handler: async (ctx) => {
    const newest = await ctx.db.query("messages").order("desc").take(50);
    return newest.reverse();
  },
});

export const send = mutation({
  args: { author: v.string(), body: v.string() },
  handler: async (ctx, { author, body }) => {
    body = body.trim();
    if (body.length === 0 || body.length > 2000) {
      throw new ConvexError("A message has 1 to 2000 characters.");
    }
    return await ctx.db.insert("messages", { author: author.trim() || "Anonymous", body });
  },
});
