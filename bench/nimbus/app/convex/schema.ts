import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  items: defineTable({ channel: v.number(), body: v.string() }).index("by_channel", ["channel"]),
});
