//! `Isolate`: one QuickJS runtime + context bound to one (tenant, bundle), with its limits
//! installed, and the code that runs one invocation in it.
//!
//! Each isolate owns its own QuickJS `Runtime`, because the heap limit is per runtime: one
//! tenant's allocation can never count against, or exhaust, another's. An isolate that was
//! stopped by a limit (deadline, cancellation, budget, heap, stack) is *poisoned* and is never
//! reused: the code may have been cut off at any instruction.

mod allocator;
mod blocker;
mod driver;
mod env_natives;
mod host_natives;
mod loader;
mod state;
mod web_natives;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rquickjs::context::intrinsic;
use rquickjs::function::Args;
use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Function, Module, Object, Persistent, Runtime, Value};

pub use blocker::Blocker;
pub use state::{LOG_LINE_BYTES_MAX, LOG_LINES_MAX, TIMERS_PENDING_MAX};

use crate::bundle::{BundleHash, RuntimeBundle, VerifiedBundle};
use crate::bytecode::BytecodeCache;
use crate::error::{ErrorCode, RuntimeError};
use crate::host::HostCallContext;
use crate::invocation::{
    EntryPoint, InvocationOutcome, InvocationRequest, ReturnEncoding, TenantId,
};
use crate::isolate::driver::{DriveEnv, js_error, settle};
use crate::isolate::loader::{BundleLoader, BundleResolver, MODULE_PREFIX, SharedLoaderSource};
use crate::isolate::state::{Interrupt, InvocationState, SharedState};
use crate::policy::RuntimeLimits;
use crate::watchdog::Watchdog;

const PRELUDE_SOURCE: &str = include_str!("prelude.js");
const PRELUDE_NAME: &str = "nimbus:prelude";

/// Prelude bytecode, compiled by the first isolate of the process.
static PRELUDE_BYTECODE: OnceLock<Vec<u8>> = OnceLock::new();

/// One of the runtime's own modules that the prelude evaluates on first use
/// (`natives.loadBuiltin(name)`), so that isolates which never need it never hold it.
struct LazyBuiltin {
    name: &'static str,
    source: &'static str,
    /// Compiled by the first isolate of the process that needs it.
    bytecode: OnceLock<Vec<u8>>,
}

/// The lazily evaluated modules: the web classes, the request entries (HTTP actions, fetch
/// apps, their WebSockets) and `console`.
static LAZY_BUILTINS: [LazyBuiltin; 3] = [
    LazyBuiltin {
        name: "web",
        source: include_str!("web.js"),
        bytecode: OnceLock::new(),
    },
    LazyBuiltin {
        name: "entries",
        source: include_str!("entries.js"),
        bytecode: OnceLock::new(),
    },
    LazyBuiltin {
        name: "console",
        source: include_str!("console.js"),
        bytecode: OnceLock::new(),
    },
];

/// The engine's built-ins every isolate gets: all of QuickJS's but `WeakRef` /
/// `FinalizationRegistry` and `performance` (the prelude defines its own, deterministic ones)
/// and `DOMException` (nothing here throws one). Each left out saves memory in every isolate.
type Intrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::Proxy,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
);

/// Memory an isolate's QuickJS runtime holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsolateMemory {
    /// Bytes allocated by the runtime's allocator.
    pub malloc_bytes: u64,
    /// Bytes QuickJS counts as in use.
    pub used_bytes: u64,
    /// Live JS objects.
    pub objects: u64,
}

/// One QuickJS runtime + context, bound to one tenant and bundle.
pub struct Isolate {
    // Field order is drop order: JS handles must go before the context, the context before
    // the runtime.
    namespaces: HashMap<String, Persistent<Object<'static>>>,
    reset: Option<Persistent<Function<'static>>>,
    /// The prelude's `entry(kind, app, requestJson, extra)`.
    entry: Option<Persistent<Function<'static>>>,
    context: Context,
    runtime: Runtime,
    state: SharedState,
    loader_source: SharedLoaderSource,
    interrupt: Arc<Interrupt>,
    tenant: TenantId,
    bundle_hash: BundleHash,
    limits: RuntimeLimits,
    poisoned: bool,
    /// Live heap bytes, kept by the allocator.
    heap_used: Arc<std::sync::atomic::AtomicUsize>,
    invocations: u64,
    scripts: u64,
}

impl Drop for Isolate {
    fn drop(&mut self) {
        // An invocation cut short (a panic unwinding through `invoke`) leaves host-call
        // resolvers and timer callbacks in the shared state, which outlives the runtime in
        // field order. QuickJS asserts that a runtime it frees holds no live objects, so
        // release them first.
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.pending_calls.clear();
            state.timers.clear();
        }
    }
}

impl std::fmt::Debug for Isolate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolate")
            .field("tenant", &self.tenant)
            .field("bundle", &self.bundle_hash)
            .field("invocations", &self.invocations)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl Isolate {
    /// Creates an isolate for `bundle` (verified first) under `limits`.
    pub fn new(
        tenant: TenantId,
        bundle: &RuntimeBundle,
        limits: &RuntimeLimits,
        cache: BytecodeCache,
    ) -> Result<Self, RuntimeError> {
        let verified = bundle.verify()?;
        Self::with_verified(tenant, bundle, verified, limits, cache)
    }

    pub(crate) fn with_verified(
        tenant: TenantId,
        bundle: &RuntimeBundle,
        verified: VerifiedBundle,
        limits: &RuntimeLimits,
        cache: BytecodeCache,
    ) -> Result<Self, RuntimeError> {
        let interrupt = Arc::new(Interrupt::default());
        let heap_used = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let allocator = allocator::LimitedAllocator::new(
            limits.heap_bytes(),
            interrupt.clone(),
            heap_used.clone(),
        );
        let runtime = Runtime::new_with_alloc(allocator).map_err(engine_error)?;
        runtime.set_max_stack_size(limits.stack_bytes_max);
        let handler_flag = interrupt.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || handler_flag.should_stop())));
        let loader_source: SharedLoaderSource = Rc::new(RefCell::new(Some(loader::LoaderSource {
            bundle: bundle.clone(),
            module_hashes: verified.module_hashes,
            cache,
            scripts: BTreeMap::new(),
        })));
        runtime.set_loader(
            BundleResolver,
            BundleLoader {
                source: loader_source.clone(),
            },
        );
        let context = Context::builder()
            .with::<Intrinsics>()
            .build(&runtime)
            .map_err(engine_error)?;
        let state: SharedState = Rc::new(RefCell::new(InvocationState::idle()));
        let (reset, entry) = context
            .with(|ctx| install_globals(&ctx, &state, &interrupt))
            .map_err(|e| RuntimeError::internal(format!("installing isolate globals: {e}")))?;
        Ok(Self {
            namespaces: HashMap::new(),
            reset: Some(reset),
            entry: Some(entry),
            context,
            runtime,
            state,
            loader_source,
            interrupt,
            tenant,
            bundle_hash: bundle.expected_hash(),
            limits: limits.clone(),
            poisoned: false,
            heap_used,
            invocations: 0,
            scripts: 0,
        })
    }

    /// The tenant this isolate belongs to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The bundle this isolate runs.
    pub fn bundle_hash(&self) -> BundleHash {
        self.bundle_hash
    }

    /// Whether the isolate may serve another invocation.
    pub fn is_reusable(&self) -> bool {
        !self.poisoned
    }

    /// The limits the isolate was built under.
    pub fn limits(&self) -> &RuntimeLimits {
        &self.limits
    }

    /// Invocations served so far.
    pub fn invocations(&self) -> u64 {
        self.invocations
    }

    /// Current memory use.
    pub fn memory(&self) -> IsolateMemory {
        let usage = self.runtime.memory_usage();
        IsolateMemory {
            malloc_bytes: usage.malloc_size as u64,
            used_bytes: usage.memory_used_size as u64,
            objects: usage.obj_count as u64,
        }
    }

    /// Runs one invocation. The bundle is re-verified first; a mismatch runs nothing.
    pub fn invoke(
        &mut self,
        request: &InvocationRequest,
        blocker: &Blocker,
        watchdog: &Watchdog,
    ) -> Result<InvocationOutcome, RuntimeError> {
        request.bundle.verify()?;
        self.invoke_verified(request, blocker, watchdog)
    }

    /// Runs one invocation whose bundle the caller has just verified.
    pub(crate) fn invoke_verified(
        &mut self,
        request: &InvocationRequest,
        blocker: &Blocker,
        watchdog: &Watchdog,
    ) -> Result<InvocationOutcome, RuntimeError> {
        if request.bundle.expected_hash() != self.bundle_hash || request.tenant != self.tenant {
            return Err(RuntimeError::internal(
                "isolate was offered an invocation of another tenant or bundle",
            ));
        }
        if self.poisoned {
            return Err(RuntimeError::internal(
                "poisoned isolate offered an invocation",
            ));
        }
        let started = Instant::now();
        let limits = request.policy.limits().clone();
        let host_ctx = Arc::new(HostCallContext {
            tenant: request.tenant.clone(),
            request_id: request.request_id.clone(),
            auth: request.auth.clone(),
            grants: request.policy.grants().clone(),
        });
        self.state.borrow_mut().begin(
            request.mode,
            (request.bridge.clone(), host_ctx),
            request.policy.grants().clone(),
            limits.host_calls_max,
        );
        self.interrupt.arm(request.cancel.clone());
        let deadline = started + limits.wall_timeout;
        let arm = {
            let interrupt = self.interrupt.clone();
            move |at: Instant| {
                let flag = interrupt.clone();
                watchdog.arm(at, move || flag.trip(state::InterruptReason::Deadline))
            }
        };
        let guard = std::cell::RefCell::new(Some(arm(deadline)));
        let rearm = |at: Instant| {
            *guard.borrow_mut() = Some(arm(at));
        };
        let per_turn = matches!(request.entry, EntryPoint::WebSocket { .. });
        let env = DriveEnv {
            state: &self.state,
            interrupt: &self.interrupt,
            blocker,
            deadline: std::cell::Cell::new(deadline),
            per_turn,
            rearm: &rearm,
            cancel: &request.cancel,
            limits: &limits,
            heap_bytes: limits.heap_bytes(),
        };
        let result = {
            let namespaces = &mut self.namespaces;
            let reset = &self.reset;
            let entry = &self.entry;
            let loader_source = &self.loader_source;
            let scripts = &mut self.scripts;
            self.context.with(|ctx| {
                if let Some(reset) = reset {
                    let reset = reset.clone().restore(&ctx).map_err(engine_error)?;
                    reset
                        .call::<_, ()>(())
                        .map_err(|e| js_error(&ctx, e, &env))?;
                }
                match &request.entry {
                    EntryPoint::Call {
                        module,
                        export_path,
                        args,
                        returns,
                    } => {
                        let namespace = import_namespace(&ctx, namespaces, module, &env)?;
                        call_export(&ctx, namespace, module, export_path, args, *returns, &env)
                    }
                    EntryPoint::Fetch {
                        module,
                        request_json,
                        env_json: extra,
                    }
                    | EntryPoint::WebSocket {
                        module,
                        request_json,
                        env_json: extra,
                    }
                    | EntryPoint::HttpAction {
                        module,
                        request_json,
                        route: extra,
                    } => {
                        // Each hands the module's default export, the request and one more
                        // string (env, or the route) to an entry of entries.js: `fetchEntry`
                        // for a request, `websocketEntry` for a connection, `httpActionEntry`
                        // for an HTTP action.
                        let kind = match request.entry {
                            EntryPoint::Fetch { .. } => "fetchEntry",
                            EntryPoint::WebSocket { .. } => "websocketEntry",
                            _ => "httpActionEntry",
                        };
                        let namespace = import_namespace(&ctx, namespaces, module, &env)?;
                        let app: Value = namespace
                            .get("default")
                            .map_err(|e| js_error(&ctx, e, &env))?;
                        let Some(entry) = entry else {
                            return Err(RuntimeError::internal("prelude entry missing"));
                        };
                        let entry = entry.clone().restore(&ctx).map_err(engine_error)?;
                        let returned: Value = entry
                            .call((kind, app, request_json.as_str(), extra.as_str()))
                            .map_err(|e| js_error(&ctx, e, &env))?;
                        let settled = settle(&ctx, returned, &env)?;
                        encode_result(&ctx, settled, ReturnEncoding::JsonText, &env)
                    }
                    EntryPoint::Script { source } => {
                        *scripts += 1;
                        let name = format!("{MODULE_PREFIX}__nimbus_script_{}.js", *scripts);
                        if let Some(src) = loader_source.borrow_mut().as_mut() {
                            src.scripts.insert(name.clone(), source.clone());
                        }
                        let result = run_script(&ctx, &name, &env);
                        if let Some(src) = loader_source.borrow_mut().as_mut() {
                            src.scripts.remove(&name);
                        }
                        result
                    }
                }
            })
        };
        drop(guard);
        self.interrupt.disarm();
        self.invocations += 1;
        let (logs, host_calls) = {
            let mut st = self.state.borrow_mut();
            let logs = std::mem::take(&mut st.logs);
            let host_calls = st.host_calls;
            *st = InvocationState::idle();
            (logs, host_calls)
        };
        let heap_used = self.heap_used.load(std::sync::atomic::Ordering::Relaxed);
        if result.is_err() || heap_used > limits.heap_bytes() / 10 * 9 {
            self.poison_if_needed(result.as_ref().err(), heap_used);
        }
        let result = result.map_err(|mut error| {
            error.logs = logs.clone();
            error
        });
        result.map(|result_json| InvocationOutcome {
            result_json,
            logs,
            host_calls,
            elapsed: started.elapsed(),
            isolate_reused: self.invocations > 1,
        })
    }

    fn poison_if_needed(&mut self, error: Option<&RuntimeError>, heap_used: usize) {
        let near_heap_limit = heap_used > self.limits.heap_bytes() / 10 * 9;
        let stopped_by_limit = error.is_some_and(|e| {
            matches!(
                e.code,
                ErrorCode::Timeout
                    | ErrorCode::Cancelled
                    | ErrorCode::HostCallBudget
                    | ErrorCode::OutOfMemory
                    | ErrorCode::StackOverflow
                    | ErrorCode::Internal
                    | ErrorCode::ModuleLoad
                    | ErrorCode::NeverResolves
            )
        });
        if near_heap_limit || stopped_by_limit {
            self.poisoned = true;
        }
    }
}

/// The prelude's exports the host calls: `reset` and `entry`.
type PreludeExports = (Persistent<Function<'static>>, Persistent<Function<'static>>);

/// Installs natives and evaluates the prelude; returns the prelude's `reset` export.
fn install_globals<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    interrupt: &Arc<Interrupt>,
) -> rquickjs::Result<PreludeExports> {
    let natives = Object::new(ctx.clone())?;
    host_natives::install(ctx, &natives, state, interrupt)?;
    env_natives::install(ctx, &natives, state)?;
    web_natives::install(ctx, &natives)?;
    natives.set(
        "loadBuiltin",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String| -> rquickjs::Result<Object<'js>> {
                let Some(builtin) = LAZY_BUILTINS.iter().find(|b| b.name == name) else {
                    return Err(rquickjs::Exception::throw_internal(
                        &ctx,
                        &format!("no built-in module {name}"),
                    ));
                };
                let module = builtin_module(
                    &ctx,
                    &format!("nimbus:{name}"),
                    builtin.source,
                    &builtin.bytecode,
                )?;
                let (module, promise) = module.eval()?;
                promise.finish::<()>()?;
                module.namespace()
            },
        )?,
    )?;
    ctx.globals().set("__nimbus_natives", natives)?;
    let module = builtin_module(ctx, PRELUDE_NAME, PRELUDE_SOURCE, &PRELUDE_BYTECODE)?;
    let (module, promise) = module.eval()?;
    while ctx.execute_pending_job() {}
    promise.finish::<()>()?;
    let reset: Function = module.get("reset")?;
    let entry: Function = module.get("entry")?;
    Ok((Persistent::save(ctx, reset), Persistent::save(ctx, entry)))
}

/// Declares one of the runtime's own modules, from bytecode compiled once per process.
fn builtin_module<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    source: &str,
    bytecode: &OnceLock<Vec<u8>>,
) -> rquickjs::Result<Module<'js, rquickjs::module::Declared>> {
    if let Some(bytes) = bytecode.get() {
        // SAFETY: the bytecode was written by `Module::write` in this process, from source
        // compiled into the binary.
        return unsafe { Module::load(ctx.clone(), bytes) };
    }
    let module = Module::declare(ctx.clone(), name, source)?;
    // Without line tables and source text: every isolate holds this code, and a frame inside
    // the runtime's own modules needs no line number to be understood.
    let options = WriteOptions {
        strip_debug: true,
        strip_source: true,
        ..WriteOptions::default()
    };
    if let Ok(bytes) = module.write(options) {
        let _ = bytecode.set(bytes);
    }
    Ok(module)
}

/// Imports a bundle module (evaluating its top-level code once per isolate) and returns its
/// namespace.
fn import_namespace<'js>(
    ctx: &Ctx<'js>,
    namespaces: &mut HashMap<String, Persistent<Object<'static>>>,
    module: &str,
    env: &DriveEnv<'_>,
) -> Result<Object<'js>, RuntimeError> {
    let path = crate::bundle::normalize_path(module);
    if let Some(ns) = namespaces.get(&path) {
        return ns.clone().restore(ctx).map_err(engine_error);
    }
    let name = format!("{MODULE_PREFIX}{path}");
    let promise =
        Module::import(ctx, name.as_str()).map_err(|e| module_error(ctx, e, env, &path))?;
    let value = settle(ctx, promise.into_value(), env).map_err(|e| as_module_error(e, &path))?;
    let Some(namespace) = value.into_object() else {
        return Err(RuntimeError::internal(format!(
            "importing '{path}' yielded no namespace"
        )));
    };
    namespaces.insert(path, Persistent::save(ctx, namespace.clone()));
    Ok(namespace)
}

fn module_error(ctx: &Ctx<'_>, e: rquickjs::Error, env: &DriveEnv<'_>, path: &str) -> RuntimeError {
    as_module_error(js_error(ctx, e, env), path)
}

fn as_module_error(mut error: RuntimeError, path: &str) -> RuntimeError {
    if error.code == ErrorCode::JsException {
        error.code = ErrorCode::ModuleLoad;
        let location = error.stack.as_deref().map(|s| s.trim()).unwrap_or("");
        error.message = format!(
            "failed to load module '{path}': {}{}{}",
            error.message,
            if location.is_empty() { "" } else { "\n" },
            location
        );
    }
    error
}

fn call_export<'js>(
    ctx: &Ctx<'js>,
    namespace: Object<'js>,
    module: &str,
    export_path: &[String],
    args: &[String],
    returns: ReturnEncoding,
    env: &DriveEnv<'_>,
) -> Result<String, RuntimeError> {
    let not_found = |what: &str| {
        RuntimeError::new(
            ErrorCode::EntryPointNotFound,
            format!(
                "module '{module}' has no {what} '{}'",
                export_path.join(".")
            ),
        )
    };
    let mut this = namespace.clone();
    let mut current: Value<'js> = namespace.into_value();
    for key in export_path {
        let Some(object) = current.as_object().cloned() else {
            return Err(not_found("export"));
        };
        let next: Value<'js> = object
            .get(key.as_str())
            .map_err(|e| js_error(ctx, e, env))?;
        if next.is_undefined() {
            return Err(not_found("export"));
        }
        this = object;
        current = next;
    }
    let Some(function) = current.as_function().cloned() else {
        return Err(not_found("function"));
    };
    let mut call_args = Args::new(ctx.clone(), args.len());
    call_args.this(this).map_err(engine_error)?;
    for arg in args {
        call_args.push_arg(arg.as_str()).map_err(engine_error)?;
    }
    let returned: Value<'js> = function
        .call_arg(call_args)
        .map_err(|e| js_error(ctx, e, env))?;
    let settled = settle(ctx, returned, env)?;
    encode_result(ctx, settled, returns, env)
}

fn run_script(ctx: &Ctx<'_>, name: &str, env: &DriveEnv<'_>) -> Result<String, RuntimeError> {
    let promise = Module::import(ctx, name).map_err(|e| js_error(ctx, e, env))?;
    let namespace = settle(ctx, promise.into_value(), env)?;
    let Some(namespace) = namespace.into_object() else {
        return Err(RuntimeError::internal("script import yielded no namespace"));
    };
    let function: Function = namespace.get("default").map_err(|_| {
        RuntimeError::new(
            ErrorCode::EntryPointNotFound,
            "script has no default export function",
        )
    })?;
    let returned: Value = function.call(()).map_err(|e| js_error(ctx, e, env))?;
    let settled = settle(ctx, returned, env)?;
    encode_result(ctx, settled, ReturnEncoding::Value, env)
}

fn encode_result<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    returns: ReturnEncoding,
    env: &DriveEnv<'_>,
) -> Result<String, RuntimeError> {
    if returns == ReturnEncoding::JsonText
        && let Some(text) = value.as_string()
    {
        return text.to_string().map_err(engine_error);
    }
    match ctx
        .json_stringify(value)
        .map_err(|e| js_error(ctx, e, env))?
    {
        Some(text) => text.to_string().map_err(engine_error),
        None => Ok("null".to_owned()),
    }
}

fn engine_error(error: rquickjs::Error) -> RuntimeError {
    RuntimeError::internal(format!("engine error: {error}"))
}
