import { ConvexError, v } from "convex/values";
import { mutation, query } from "./_generated/server";

const MAX_BODY = 2000;
const MAX_AUTHOR = 64;

// The newest 100 messages, oldest first (so the page can append at the bottom).
export const list = query({
  args: {},
  handler: async (ctx) => {
    const newest = await ctx.db.query("messages").order("desc").take(100);
    return newest.reverse();
  },
});

export const send = mutation({
  args: { author: v.string(), body: v.string() },
  handler: async (ctx, args) => {
    const body = args.body.trim();
    if (body.length === 0) {
      throw new ConvexError("Message is empty.");
    }
    if (body.length > MAX_BODY) {
      throw new ConvexError(`Message is too long (max ${MAX_BODY} characters).`);
    }
    const author = args.author.trim().slice(0, MAX_AUTHOR) || "Anonymous";
    return await ctx.db.insert("messages", { author, body });
  },
});
