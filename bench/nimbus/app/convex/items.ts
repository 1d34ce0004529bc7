import { v } from "convex/values";
import { mutation, query } from "./_generated/server";

// Point read: the /api/query workload.
export const get = query({
  args: { id: v.id("items") },
  handler: async (ctx, { id }) => await ctx.db.get(id),
});

// One insert per call: the /api/mutation workload.
export const insert = mutation({
  args: { channel: v.number(), body: v.string() },
  handler: async (ctx, args) => await ctx.db.insert("items", args),
});

// The newest item of one channel: what each subscription watches, so a commit to channel k
// invalidates exactly the subscriptions on k.
export const latest = query({
  args: { channel: v.number() },
  handler: async (ctx, { channel }) =>
    await ctx.db
      .query("items")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .order("desc")
      .first(),
});

// A query that burns CPU for about `rounds` × 1 µs: the noisy neighbour's workload.
export const spin = query({
  args: { rounds: v.number() },
  handler: async (_ctx, { rounds }) => {
    let x = 0;
    for (let i = 0; i < rounds * 20; i++) x = (x * 31 + i) % 1000003;
    return x;
  },
});

// How many items one channel holds, one page per call (pass the returned cursor back until
// isDone): api.py checks that every insert the server acknowledged is stored.
export const countPage = query({
  args: { channel: v.number(), cursor: v.union(v.string(), v.null()) },
  handler: async (ctx, { channel, cursor }) => {
    const page = await ctx.db
      .query("items")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .paginate({ numItems: 8000, cursor });
    return { count: page.page.length, cursor: page.continueCursor, isDone: page.isDone };
  },
});
