import { internalMutation, query } from "./_generated/server";

// Called by the cron in crons.ts; not callable from clients.
export const record = internalMutation({
  args: {},
  handler: async (ctx) => {
    await ctx.db.insert("heartbeats", { at: Date.now() });
  },
});

export const latest = query({
  args: {},
  handler: async (ctx) => {
    return await ctx.db.query("heartbeats").order("desc").first();
  },
});
