// console: log lines in Convex's form (`natives.log(level, [formatted args])`). Loaded by the
// prelude the first time code touches `console`; receives the natives through
// `globalThis.__nimbus_console_env`.

const { natives } = globalThis.__nimbus_console_env;
delete globalThis.__nimbus_console_env;

const INSPECT_DEPTH_MAX = 4;
const INSPECT_ITEMS_MAX = 100;

function inspect(value, depth, seen) {
  switch (typeof value) {
    case "string":
      return `'${value.replace(/'/g, "\\'")}'`;
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
    case "symbol":
      return value.toString();
    case "function":
      return `[Function: ${value.name || "(anonymous)"}]`;
  }
  if (value === null) return "null";
  if (seen.includes(value)) return "[Circular]";
  if (value instanceof Error) {
    return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : `${value.name}: ${value.message}`;
  }
  if (depth > INSPECT_DEPTH_MAX) return Array.isArray(value) ? "[Array]" : "[Object]";
  const inner = seen.concat([value]);
  if (Array.isArray(value)) {
    const items = value.slice(0, INSPECT_ITEMS_MAX).map((v) => inspect(v, depth + 1, inner));
    if (value.length > INSPECT_ITEMS_MAX) items.push(`... ${value.length - INSPECT_ITEMS_MAX} more items`);
    return items.length === 0 ? "[]" : `[ ${items.join(", ")} ]`;
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${value.byteLength} }`;
  if (value instanceof Map) {
    const items = [...value].slice(0, INSPECT_ITEMS_MAX).map(([k, v]) => `${inspect(k, depth + 1, inner)} => ${inspect(v, depth + 1, inner)}`);
    return `Map(${value.size}) { ${items.join(", ")} }`;
  }
  if (value instanceof Set) {
    const items = [...value].slice(0, INSPECT_ITEMS_MAX).map((v) => inspect(v, depth + 1, inner));
    return `Set(${value.size}) { ${items.join(", ")} }`;
  }
  const keys = Object.keys(value);
  const items = keys.slice(0, INSPECT_ITEMS_MAX).map((k) => {
    const key = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : `'${k}'`;
    return `${key}: ${inspect(value[k], depth + 1, inner)}`;
  });
  if (keys.length > INSPECT_ITEMS_MAX) items.push(`... ${keys.length - INSPECT_ITEMS_MAX} more items`);
  return items.length === 0 ? "{}" : `{ ${items.join(", ")} }`;
}

function makeLogger(level) {
  return (...args) => {
    natives.log(level, args.map((a) => inspect(a, 0, [])));
  };
}

const timers = new Map();
const counts = new Map();
export const console = {
  log: makeLogger("LOG"),
  info: makeLogger("INFO"),
  warn: makeLogger("WARN"),
  error: makeLogger("ERROR"),
  debug: makeLogger("DEBUG"),
  trace: makeLogger("LOG"),
  time(label = "default") {
    timers.set(label, natives.perfNow());
  },
  timeLog(label = "default", ...rest) {
    const start = timers.get(label);
    if (start === undefined) return makeLogger("WARN")(`Timer '${label}' does not exist`);
    makeLogger("INFO")(`${label}: ${natives.perfNow() - start}ms`, ...rest);
  },
  timeEnd(label = "default") {
    const start = timers.get(label);
    if (start === undefined) return makeLogger("WARN")(`Timer '${label}' does not exist`);
    timers.delete(label);
    makeLogger("INFO")(`${label}: ${natives.perfNow() - start}ms`);
  },
  count(label = "default") {
    const n = (counts.get(label) || 0) + 1;
    counts.set(label, n);
    makeLogger("INFO")(`${label}: ${n}`);
  },
  assert(condition, ...rest) {
    if (!condition) makeLogger("ERROR")("Assertion failed", ...rest);
  },
};

// Per-invocation reset used by warm isolates: no timer or counter outlives its invocation.
export function reset() {
  timers.clear();
  counts.clear();
}
