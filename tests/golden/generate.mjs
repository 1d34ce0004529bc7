// Generates tests/golden/values.json from the real `convex` npm package (pinned in
// package.json / package-lock.json), so the Rust value codec is checked against the reference
// implementation rather than against our reading of it.
//
// Usage (from the repository root):
//   npm ci --prefix tests/golden && node tests/golden/generate.mjs
//
// Output shape:
//   cases:    [{name, encoded, size}]  encoded = JSON.stringify(convexToJson(value)),
//                                      size = getConvexSize(value)
//   rejected: [{name, input, error}]   JSON texts that jsonToConvex throws on
//   ordered:  [encoded, ...]           distinct values sorted ascending by compareValues

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import {
  convexToJson,
  jsonToConvex,
  compareValues,
  getConvexSize,
} from "convex/values";

const bytes = (...items) => new Uint8Array(items).buffer;

const values = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["int64 zero", 0n],
  ["int64 one", 1n],
  ["int64 minus one", -1n],
  ["int64 max", 2n ** 63n - 1n],
  ["int64 min", -(2n ** 63n)],
  ["int64 256", 256n],
  ["int64 -256", -256n],
  ["int64 2^53+1", 2n ** 53n + 1n],
  ["float NaN", NaN],
  ["float +Infinity", Infinity],
  ["float -Infinity", -Infinity],
  ["float -0", -0],
  ["float 0", 0],
  ["float 1", 1],
  ["float -1", -1],
  ["float 1.5", 1.5],
  ["float 0.1+0.2", 0.1 + 0.2],
  ["float 1e308", 1e308],
  ["float max", Number.MAX_VALUE],
  ["float 5e-324", 5e-324],
  ["float min normal", 2.2250738585072014e-308],
  ["float 1e21", 1e21],
  ["float 1e20", 1e20],
  ["float 123456789012345680000", 123456789012345680000],
  ["float 1e-7", 1e-7],
  ["float 0.000001", 0.000001],
  ["float -1.2345e-100", -1.2345e-100],
  ["float 2^53", 2 ** 53],
  ["float 2^53+2", 2 ** 53 + 2],
  ["float 1/3", 1 / 3],
  ["string empty", ""],
  ["string ascii", "hello"],
  ["string unicode", "héllo wörld ✓ 日本語"],
  ["string emoji", "😀👍🏽👨‍👩‍👧"],
  ["string escapes", "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f"],
  ["string control chars", "\u0000\u0001\u001f\u007f"],
  ["string line separators", "\u2028\u2029"],
  ["string dollar", "$integer"],
  ["array empty", []],
  ["array mixed", [null, true, "x", 1n, 2.5, bytes(1, 2)]],
  ["array nested", [[[]], [[1n]], [[-0, NaN]]]],
  ["object empty", {}],
  ["object sorted keys", { b: 1, a: [null, true, "x"], c: undefined }],
  ["object keys needing sorting", { z: 1, Z: 2, _: 3, a: 4, A: 5, "0": 6, " ": 7, "~": 8 }],
  ["object empty key", { "": "empty" }],
  [
    "object integer-like keys",
    { 10: 1, 9: 2, "01": 3, "-1": 4, 4294967295: 5, 4294967294: 6, b: 7, "1.5": 8 },
  ],
  ["object nested", { outer: { inner: { deep: [1n, { x: bytes() }] } } }],
  ["object undefined field dropped", { kept: 1, dropped: undefined }],
  ["object special-looking keys", { integer: 1, bytes: 2, float: 3, "a$": 4 }],
];
for (let length = 0; length <= 7; length += 1) {
  values.push([
    `bytes length ${length}`,
    bytes(...Array.from({ length }, (_, i) => (i * 37 + 250) % 256)),
  ]);
}

const cases = values.map(([name, value]) => ({
  name,
  encoded: JSON.stringify(convexToJson(value)),
  size: getConvexSize(value),
}));

const rejectedInputs = [
  ["unknown dollar key", '{"$foo":1}'],
  ["dollar key nested", '{"a":{"b":[{"$foo":1}]}}'],
  ["float encoding 1.0", '{"$float":"AAAAAAAA8D8="}'],
  ["float encoding +0", '{"$float":"AAAAAAAAAAA="}'],
  ["float wrong length", '{"$float":"AAAA"}'],
  ["float not a string", '{"$float":1}'],
  ["integer wrong length", '{"$integer":"AQ=="}'],
  ["integer not a string", '{"$integer":1}'],
  ["bytes not a string", '{"$bytes":null}'],
  ["legacy set", '{"$set":[]}'],
  ["legacy map", '{"$map":[]}'],
  ["special key beside another key", '{"$bytes":"AQID","x":1}'],
  ["field name with control character", '{"a\\nb":1}'],
  ["field name with non-ascii", '{"é":1}'],
  ["field name too long", JSON.stringify({ ["x".repeat(1025)]: 1 })],
];
const rejected = rejectedInputs.map(([name, input]) => {
  try {
    jsonToConvex(JSON.parse(input));
  } catch (error) {
    return { name, input, error: String(error.message) };
  }
  throw new Error(`convex accepted "${name}" (${input}); it must not be listed as rejected`);
});

const orderable = values
  .map(([, value]) => value)
  .filter((value) => !(value !== null && typeof value === "object" && "dropped" in value));
const sorted = [...orderable].sort(compareValues);
const ordered = [];
for (const value of sorted) {
  const encoded = JSON.stringify(convexToJson(value));
  if (ordered[ordered.length - 1] !== encoded) ordered.push(encoded);
}

const output = { generator: "convex@1.48.0 convexToJson/jsonToConvex", cases, rejected, ordered };
const target = join(dirname(fileURLToPath(import.meta.url)), "values.json");
writeFileSync(target, JSON.stringify(output, null, 2) + "\n");
console.log(`wrote ${cases.length} cases, ${rejected.length} rejected, ${ordered.length} ordered to ${target}`);
