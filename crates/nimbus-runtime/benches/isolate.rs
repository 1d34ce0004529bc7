//! Isolate benchmarks: fresh vs warm invocation of a tiny handler and of a ~100 KB bundle,
//! compiling from source vs loading cached bytecode, and memory per live isolate.
//!
//! Run with `cargo bench -p nimbus-runtime --bench isolate`; prints a markdown table. Figures
//! are medians over many iterations in one process; compare them with each other (ratios), not
//! across machines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_runtime::{
    Blocker, BytecodeCache, CancelToken, EntryPoint, ExecutionMode, InvocationAuth,
    InvocationRequest, Isolate, NoHost, ReturnEncoding, RuntimeBundle, RuntimePolicy, TenantId,
    Watchdog,
};

const TINY: &str =
    "export function handler(args) { return JSON.stringify({ ok: true, n: args.length }); }";

/// A synthetic ~100 KB module shaped like bundled library code: many small functions, classes
/// and object literals, with one exported handler.
fn big_module() -> String {
    let mut src = String::new();
    let mut i = 0;
    while src.len() < 100 * 1024 {
        src.push_str(&format!(
            "function helper{i}(a, b) {{ const o = {{ id: {i}, name: 'h{i}', tags: ['x', 'y', 'z'] }}; \
             if (a > b) {{ return a * {i} + o.tags.length; }} for (let k = 0; k < 3; k++) {{ b += k; }} \
             return String(a + b) + o.name; }}\n\
             class Model{i} {{ constructor(v) {{ this.v = v; }} get value() {{ return helper{i}(this.v, {i}); }} }}\n"
        ));
        i += 1;
    }
    src.push_str(&format!(
        "export function handler(args) {{ return JSON.stringify({{ ok: true, v: new Model{}(1).value }}); }}\n",
        i - 1
    ));
    src
}

fn request(bundle: &RuntimeBundle, policy: &Arc<RuntimePolicy>) -> InvocationRequest {
    InvocationRequest {
        tenant: TenantId::new("bench"),
        bundle: bundle.clone(),
        policy: policy.clone(),
        bridge: Arc::new(NoHost),
        entry: EntryPoint::Call {
            module: "main.js".into(),
            export_path: vec!["handler".into()],
            args: vec!["[{}]".into()],
            returns: ReturnEncoding::JsonText,
        },
        mode: ExecutionMode::Deterministic {
            seed: 1,
            now_ms: 0.0,
        },
        auth: InvocationAuth::System,
        request_id: "bench".into(),
        cancel: CancelToken::new(),
    }
}

struct Env {
    blocker: Blocker,
    watchdog: Watchdog,
    policy: Arc<RuntimePolicy>,
}

fn median_and_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let p50 = samples[samples.len() / 2];
    let p99 = samples[(samples.len() * 99 / 100).min(samples.len() - 1)];
    (p50, p99)
}

fn fresh(
    env: &Env,
    bundle: &RuntimeBundle,
    cache: &BytecodeCache,
    iterations: usize,
) -> (Duration, Duration) {
    let req = request(bundle, &env.policy);
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let mut isolate = Isolate::new(
            req.tenant.clone(),
            bundle,
            env.policy.limits(),
            cache.clone(),
        )
        .unwrap();
        isolate.invoke(&req, &env.blocker, &env.watchdog).unwrap();
        drop(isolate);
        samples.push(start.elapsed());
    }
    median_and_p99(samples)
}

fn fresh_from_source(env: &Env, bundle: &RuntimeBundle, iterations: usize) -> (Duration, Duration) {
    let req = request(bundle, &env.policy);
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        // A new cache per call: every module is compiled from source.
        let cache = BytecodeCache::default();
        let start = Instant::now();
        let mut isolate =
            Isolate::new(req.tenant.clone(), bundle, env.policy.limits(), cache).unwrap();
        isolate.invoke(&req, &env.blocker, &env.watchdog).unwrap();
        drop(isolate);
        samples.push(start.elapsed());
    }
    median_and_p99(samples)
}

fn warm(env: &Env, bundle: &RuntimeBundle, iterations: usize) -> (Duration, Duration) {
    let req = request(bundle, &env.policy);
    let mut isolate = Isolate::new(
        req.tenant.clone(),
        bundle,
        env.policy.limits(),
        BytecodeCache::default(),
    )
    .unwrap();
    isolate.invoke(&req, &env.blocker, &env.watchdog).unwrap();
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        isolate.invoke(&req, &env.blocker, &env.watchdog).unwrap();
        samples.push(start.elapsed());
    }
    median_and_p99(samples)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Memory per idle pooled isolate (tiny bundle, one invocation served): RSS delta and QuickJS's
/// own accounting, averaged over `count` live isolates.
fn memory_per_isolate(env: &Env, bundle: &RuntimeBundle, count: usize) -> (u64, u64) {
    let req = request(bundle, &env.policy);
    let cache = BytecodeCache::default();
    // Warm the cache and the allocator first so they are not counted.
    let mut warmup = Isolate::new(
        req.tenant.clone(),
        bundle,
        env.policy.limits(),
        cache.clone(),
    )
    .unwrap();
    warmup.invoke(&req, &env.blocker, &env.watchdog).unwrap();
    let before = rss_bytes();
    let mut live = Vec::with_capacity(count);
    for _ in 0..count {
        let mut isolate = Isolate::new(
            req.tenant.clone(),
            bundle,
            env.policy.limits(),
            cache.clone(),
        )
        .unwrap();
        isolate.invoke(&req, &env.blocker, &env.watchdog).unwrap();
        live.push(isolate);
    }
    let after = rss_bytes();
    let quickjs: u64 = live.iter().map(|i| i.memory().malloc_bytes).sum();
    (
        (after.saturating_sub(before)) / count as u64,
        quickjs / count as u64,
    )
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let env = Env {
        blocker: Blocker::own(),
        watchdog: Watchdog::start(),
        policy: Arc::new(RuntimePolicy::builder().build().unwrap()),
    };
    let tiny = RuntimeBundle::from_sources([("main.js", TINY)]);
    let big_source = big_module();
    let big = RuntimeBundle::from_sources([("main.js", big_source.as_str())]);
    let cache = BytecodeCache::default();
    let quick = std::env::var("NIMBUS_BENCH_QUICK").is_ok();
    let n = if quick { 200 } else { 2000 };
    let n_big = if quick { 20 } else { 200 };

    let rows = [
        (
            "fresh isolate, tiny handler (bytecode cached)",
            fresh(&env, &tiny, &cache, n),
        ),
        ("warm isolate, tiny handler", warm(&env, &tiny, n * 5)),
        (
            "fresh isolate, 100 KB bundle, from source",
            fresh_from_source(&env, &big, n_big),
        ),
        (
            "fresh isolate, 100 KB bundle, from bytecode",
            fresh(&env, &big, &cache, n_big),
        ),
        ("warm isolate, 100 KB bundle", warm(&env, &big, n * 5)),
    ];
    println!("## nimbus-runtime isolate benchmark\n");
    println!(
        "bundle sizes: tiny {} B, big {} B\n",
        tiny.source_bytes(),
        big.source_bytes()
    );
    println!("| workload | p50 | p99 |");
    println!("|---|---|---|");
    for (name, (p50, p99)) in rows {
        println!("| {name} | {} | {} |", us(p50), us(p99));
    }
    let (rss, quickjs) = memory_per_isolate(&env, &tiny, if quick { 100 } else { 500 });
    println!("\n| memory per idle pooled isolate (tiny bundle) | bytes |");
    println!("|---|---|");
    println!("| RSS delta per isolate | {} KiB |", rss / 1024);
    println!("| QuickJS heap per isolate | {} KiB |", quickjs / 1024);
}
