import { action } from "./_generated/server";
import { api } from "./_generated/api";

type Stats = { messages: number; words: number; perAuthor: Record<string, number> };

// Actions may call queries and mutations (each in its own transaction) and do
// non-deterministic work. This one only computes: messages and words per author.
// (The return type is spelled out: `api` refers back to this module.)
export const stats = action({
  args: {},
  handler: async (ctx): Promise<Stats> => {
    const messages = await ctx.runQuery(api.messages.list, {});
    const perAuthor: Record<string, number> = {};
    let words = 0;
    for (const m of messages) {
      perAuthor[m.author] = (perAuthor[m.author] ?? 0) + 1;
      words += m.body.split(/\s+/).filter(Boolean).length;
    }
    return { messages: messages.length, words, perAuthor };
  },
});
