import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import { internalQuery, mutation, query } from "./_generated/server";

// All messages, oldest first (the default `by_creation_time` order).
export const list = query({
  args: {},
  handler: async (ctx) => {
    return await ctx.db.query("messages").collect();
  },
});

export const send = mutation({
  args: { author: v.string(), body: v.string() },
  handler: async (ctx, { author, body }) => {
    return await ctx.db.insert("messages", { author, body });
  },
});

export const count = query({
  args: {},
  handler: async (ctx) => {
    return (await ctx.db.query("messages").collect()).length;
  },
});

// Not callable by clients; only with an admin key (`/api/function`, `npx convex run`).
export const internalCount = internalQuery({
  args: {},
  handler: async (ctx) => {
    return (await ctx.db.query("messages").collect()).length;
  },
});

// One page of messages, oldest first (what `usePaginatedQuery` subscribes to, page by page).
export const page = query({
  args: { paginationOpts: paginationOptsValidator },
  handler: async (ctx, { paginationOpts }) => {
    return await ctx.db.query("messages").paginate(paginationOpts);
  },
});

export const remove = mutation({
  args: { id: v.id("messages") },
  handler: async (ctx, { id }) => {
    await ctx.db.delete(id);
  },
});
