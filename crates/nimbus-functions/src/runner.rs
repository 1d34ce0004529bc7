//! `FunctionRunner`: deploys apps and runs their functions.
//!
//! A query runs in a read-only transaction at the newest snapshot (or a given one) and returns
//! its read set for subscriptions. A mutation runs in a read-write transaction committed
//! through the engine's single mutation path; on an OCC conflict the whole function is re-run
//! (bounded). An action runs without a transaction and reaches data only through other
//! functions. Calls made *by* running functions skip admission (their caller already holds a
//! slot) and are bounded by a nesting depth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use nimbus_engine::{Database, Engine, ReadSet, TransactionMode};
use nimbus_runtime::{
    AdmissionCaps, CancelToken, EntryPoint, ExecutionMode, GrantFamily, InvocationAuth,
    InvocationOutcome, InvocationRequest, PoolKind, ReturnEncoding, RuntimeError, RuntimeExecutor,
    RuntimeGrants, RuntimePolicy, TenantId,
};
use nimbus_storage::TenantName;
use nimbus_values::Value;
use parking_lot::{Mutex, RwLock};
use serde_json::Value as Json;

use crate::analysis;
use crate::analysis_cache::AnalysisCache;
use crate::bridge::{BridgeMode, FunctionBridge, TxSlot};
use crate::deployment::{
    AppModules, DEPLOYMENT_META_KEY, Deployment, FunctionInfo, FunctionKind, Visibility,
};
use crate::error::{FailureKind, FunctionError};
use crate::fetch::{FetchPolicy, Fetcher};
use crate::http_action::{HttpRequest, HttpResponse};
use crate::http_body::HttpExchange;
use crate::journal::{JournalSlot, QueryJournal};
use crate::path::FunctionPath;
use crate::scheduler::{self, Clock, SystemClock};
use crate::validation::{validate_args, validate_returns};

/// Runner settings; every bound is named here.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Wall-clock limit of a query.
    pub query_timeout: Duration,
    /// Wall-clock limit of one mutation attempt.
    pub mutation_timeout: Duration,
    /// Wall-clock limit of an action or HTTP action.
    pub action_timeout: Duration,
    /// Heap per isolate.
    pub heap_mib: u32,
    /// Host calls one invocation may make.
    pub host_calls_max: u32,
    /// Per-tenant admission caps.
    pub admission: AdmissionCaps,
    /// Isolate pool for function calls.
    pub pool: PoolKind,
    /// Default outbound network policy for actions.
    pub fetch: FetchPolicy,
    /// How deep functions may call functions.
    pub nesting_depth_max: u32,
    /// Bound on an HTTP action's request or response body.
    pub http_body_bytes_max: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(10),
            mutation_timeout: Duration::from_secs(10),
            action_timeout: Duration::from_secs(600),
            heap_mib: 64,
            host_calls_max: 65_536,
            admission: AdmissionCaps {
                active_max: 4,
                queue_max: 1024,
                in_flight_max: 1028,
            },
            pool: PoolKind::Warm,
            fetch: FetchPolicy::default(),
            nesting_depth_max: 8,
            http_body_bytes_max: 20 * 1024 * 1024,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A client: only public functions.
    Public,
    /// The tenant's admin (deploy key): internal functions too.
    Admin,
    /// The platform (scheduler, crons): internal functions too.
    System,
    /// Another function (an action's `runQuery`…), at this nesting depth.
    Function {
        /// Nesting depth.
        depth: u32,
    },
}

/// One function call, as data.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// Tenant.
    pub tenant: TenantName,
    /// `module:function`.
    pub path: String,
    /// The arguments object.
    pub args: Value,
    /// Who calls.
    pub caller: Caller,
    /// End-user identity (JSON object), passed to the function as data.
    pub identity: Option<Json>,
    /// The kind the caller expects (`/api/query` expects a query), if any.
    pub expected_kind: Option<FunctionKind>,
}

/// What a successful call produced.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The returned value.
    pub value: Value,
    /// Console lines in Convex's `"[LEVEL] …"` form.
    pub log_lines: Vec<String>,
    /// The function's kind.
    pub kind: FunctionKind,
    /// Queries: the snapshot read at; mutations: the commit timestamp; actions: the newest
    /// snapshot when it finished.
    pub ts: u64,
    /// Queries: what they read (for subscriptions).
    pub read_set: Option<ReadSet>,
    /// Subscribed queries: the journal to send with the result and hand back on the next
    /// execution (`None`: empty).
    pub journal: Option<String>,
}

/// How a query runs: at which snapshot, and whether it keeps a journal (a subscription's
/// execution does; a one-off `/api/query` does not).
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryOptions {
    pub(crate) at_ts: Option<u64>,
    pub(crate) journal: Option<QueryJournal>,
}

/// Deploys apps and runs their functions.
#[derive(Clone)]
pub struct FunctionRunner {
    inner: Arc<RunnerInner>,
}

impl std::fmt::Debug for FunctionRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionRunner").finish_non_exhaustive()
    }
}

pub(crate) struct RunnerInner {
    pub(crate) engine: Arc<Engine>,
    pub(crate) executor: Arc<RuntimeExecutor>,
    pub(crate) config: RunnerConfig,
    pub(crate) fetcher: Fetcher,
    pub(crate) clock: Arc<dyn Clock>,
    deployments: RwLock<HashMap<TenantName, Arc<Deployment>>>,
    /// Recent analyses, reused by pushes of the same code.
    analyses: AnalysisCache,
    /// Per tenant, bumped after every successful deploy (live queries re-run on new code).
    deploy_epochs: parking_lot::Mutex<HashMap<TenantName, tokio::sync::watch::Sender<u64>>>,
    policies: HashMap<&'static str, Arc<RuntimePolicy>>,
    weak: Weak<RunnerInner>,
}

fn build_policy(
    config: &RunnerConfig,
    timeout: Duration,
    grants: RuntimeGrants,
) -> Arc<RuntimePolicy> {
    Arc::new(
        RuntimePolicy::builder()
            .grants(grants)
            .pool(config.pool)
            .heap_mib(config.heap_mib)
            .wall_timeout(timeout)
            .host_calls_max(config.host_calls_max)
            .admission(config.admission)
            .build()
            .expect("the runner's policies are valid"),
    )
}

impl FunctionRunner {
    /// A runner over `engine`, running code on `executor`.
    pub fn new(engine: Arc<Engine>, executor: Arc<RuntimeExecutor>, config: RunnerConfig) -> Self {
        Self::with_clock(engine, executor, config, Arc::new(SystemClock))
    }

    /// A runner whose scheduler reads time from `clock` (tests inject a manual clock).
    pub fn with_clock(
        engine: Arc<Engine>,
        executor: Arc<RuntimeExecutor>,
        config: RunnerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let base = RuntimeGrants::none()
            .with(GrantFamily::Database)
            .with(GrantFamily::Functions)
            .with(GrantFamily::Scheduler)
            .with(GrantFamily::Identity)
            .with(GrantFamily::Storage)
            .with(GrantFamily::Env);
        let mut policies = HashMap::new();
        policies.insert(
            "query",
            build_policy(&config, config.query_timeout, base.clone()),
        );
        policies.insert(
            "mutation",
            build_policy(&config, config.mutation_timeout, base.clone()),
        );
        policies.insert(
            "action",
            build_policy(
                &config,
                config.action_timeout,
                base.with(GrantFamily::Network),
            ),
        );
        let inner = Arc::new_cyclic(|weak| RunnerInner {
            engine,
            executor,
            fetcher: Fetcher::new(config.fetch.clone()),
            config,
            clock,
            deployments: RwLock::new(HashMap::new()),
            analyses: AnalysisCache::default(),
            deploy_epochs: parking_lot::Mutex::new(HashMap::new()),
            policies,
            weak: weak.clone(),
        });
        Self { inner }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// The executor.
    pub fn executor(&self) -> &Arc<RuntimeExecutor> {
        &self.inner.executor
    }

    /// Outbound network policies.
    pub fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    /// Analyses `modules` and, only if everything is valid, makes them the tenant's deployment:
    /// the schema is applied (existing documents validated, indexes backfilled), the deployment
    /// is stored, and crons are replaced in one transaction. On any error the previous
    /// deployment keeps serving.
    pub async fn deploy(
        &self,
        tenant: &TenantName,
        modules: AppModules,
        env: BTreeMap<String, String>,
    ) -> Result<Arc<Deployment>, FunctionError> {
        let inner = &self.inner;
        let deployment = analysis::analyze(
            &inner.executor,
            &inner.analyses,
            &TenantId::new(tenant.as_str()),
            &modules,
            env,
        )
        .await?;
        let db = inner.database(tenant).await?;
        if let Some(schema) = &deployment.schema {
            db.set_schema(schema)
                .await
                .map_err(|e| FunctionError::user(format!("Schema push failed: {e}")))?;
        }
        scheduler::prepare(&db)
            .await
            .map_err(FunctionError::from_engine)?;
        let bytes = serde_json::to_vec(&deployment.to_json())
            .map_err(|e| FunctionError::internal(e.to_string()))?;
        db.put_meta(DEPLOYMENT_META_KEY, Some(bytes))
            .await
            .map_err(FunctionError::from_engine)?;
        let deployment = Arc::new(deployment);
        inner
            .deployments
            .write()
            .insert(tenant.clone(), deployment.clone());
        scheduler::install_crons(&db, &deployment, inner.clock.now_ms()).await?;
        inner
            .deploy_epochs
            .lock()
            .entry(tenant.clone())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .send_modify(|n| *n += 1);
        Ok(deployment)
    }

    /// Changes after every successful deploy of the tenant (live queries re-run on new code).
    pub fn deployments_changed(&self, tenant: &TenantName) -> tokio::sync::watch::Receiver<u64> {
        self.inner
            .deploy_epochs
            .lock()
            .entry(tenant.clone())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    /// Analyses modules without deploying them (push protocol's `start_push`): every module
    /// loads, the schema parses. Returns what would be deployed.
    pub async fn analyze(
        &self,
        tenant: &TenantName,
        modules: &AppModules,
        env: BTreeMap<String, String>,
    ) -> Result<Deployment, FunctionError> {
        let deployment = analysis::analyze(
            &self.inner.executor,
            &self.inner.analyses,
            &TenantId::new(tenant.as_str()),
            modules,
            env,
        )
        .await?;
        if let Some(schema) = &deployment.schema {
            nimbus_engine::Schema::from_json(
                schema,
                nimbus_engine::EngineLimits::default().index_fields_max,
            )
            .map_err(|e| FunctionError::user(format!("Schema is invalid: {e}")))?;
        }
        Ok(deployment)
    }

    /// The tenant's active deployment, if any.
    pub async fn deployment(
        &self,
        tenant: &TenantName,
    ) -> Result<Option<Arc<Deployment>>, FunctionError> {
        self.inner.deployment(tenant).await
    }

    /// Runs a function.
    pub async fn call(&self, request: CallRequest) -> Result<CallOutcome, FunctionError> {
        self.inner.call(request).await
    }

    /// Runs a query at an earlier snapshot (`/api/query_at_ts`).
    pub async fn query_at(
        &self,
        request: CallRequest,
        ts: u64,
    ) -> Result<CallOutcome, FunctionError> {
        let options = QueryOptions {
            at_ts: Some(ts),
            journal: None,
        };
        self.inner.call_at(request, options).await
    }

    /// Runs one execution of a subscribed query at `ts`, following and recording its journal
    /// (the one the previous execution returned, or the client sent; `None`: empty). The
    /// outcome carries the journal for the next execution.
    pub async fn query_subscribed(
        &self,
        request: CallRequest,
        ts: u64,
        journal: Option<&str>,
    ) -> Result<CallOutcome, FunctionError> {
        let options = QueryOptions {
            at_ts: Some(ts),
            journal: Some(QueryJournal::decode(journal)?),
        };
        self.inner.call_at(request, options).await
    }

    /// Runs the tenant's HTTP action for `request`. `Ok(None)`: no route matches (the caller
    /// answers 404 without running any code).
    pub async fn http_action(
        &self,
        tenant: &TenantName,
        request: HttpRequest,
    ) -> Result<Option<HttpResponse>, FunctionError> {
        crate::http_action::run(&self.inner, tenant, request).await
    }

    /// Runs every scheduled job and cron due at the clock's current time; returns how many
    /// jobs ran. The background loop calls this; tests call it after moving a manual clock.
    pub async fn run_due_jobs(&self, tenant: &TenantName) -> Result<usize, FunctionError> {
        scheduler::run_due(&self.inner, tenant).await
    }

    /// Marks actions that were running when the process stopped as failed (they ran at most
    /// once and their outcome is unknown). Call once per tenant at startup.
    pub async fn recover_after_restart(&self, tenant: &TenantName) -> Result<usize, FunctionError> {
        let db = self.inner.database(tenant).await?;
        scheduler::fail_interrupted_actions(&db, self.inner.clock.now_ms())
            .await
            .map_err(FunctionError::from_engine)
    }

    /// Closes tenants unused for `idle` (see `Engine::close_idle`) and forgets their cached
    /// deployments; returns their names. The next call to one of them reopens it.
    pub async fn close_idle_tenants(&self, idle: Duration) -> Vec<TenantName> {
        let closed = self.inner.engine.close_idle(idle).await;
        if !closed.is_empty() {
            let mut deployments = self.inner.deployments.write();
            for tenant in &closed {
                deployments.remove(tenant);
            }
        }
        closed
    }

    /// When the next job or cron of the tenant is due (ms since the epoch), if any.
    pub async fn next_due_ms(&self, tenant: &TenantName) -> Result<Option<f64>, FunctionError> {
        let db = self.inner.database(tenant).await?;
        scheduler::next_due(&db)
            .await
            .map_err(FunctionError::from_engine)
    }
}

/// One invocation's context: what its bridge and its executor request are built from.
pub(crate) struct Invocation<'a> {
    pub(crate) db: &'a Database,
    pub(crate) deployment: &'a Arc<Deployment>,
    pub(crate) info: &'a FunctionInfo,
    pub(crate) mode: BridgeMode,
    pub(crate) identity: Option<Json>,
    pub(crate) depth: u32,
    pub(crate) entry: EntryPoint,
    /// The snapshot the invocation reads at (for queries and mutations: their transaction's).
    pub(crate) snapshot_ts: u64,
}

impl RunnerInner {
    pub(crate) async fn database(&self, tenant: &TenantName) -> Result<Database, FunctionError> {
        self.engine
            .database(tenant)
            .await
            .map_err(FunctionError::from_engine)
    }

    pub(crate) async fn deployment(
        &self,
        tenant: &TenantName,
    ) -> Result<Option<Arc<Deployment>>, FunctionError> {
        if let Some(deployment) = self.deployments.read().get(tenant) {
            return Ok(Some(deployment.clone()));
        }
        let db = self.database(tenant).await?;
        let Some(bytes) = db
            .get_meta(DEPLOYMENT_META_KEY)
            .await
            .map_err(FunctionError::from_engine)?
        else {
            return Ok(None);
        };
        let json: Json = serde_json::from_slice(&bytes)
            .map_err(|e| FunctionError::internal(format!("stored deployment is damaged: {e}")))?;
        let deployment = Arc::new(Deployment::from_json(&json)?);
        self.deployments
            .write()
            .insert(tenant.clone(), deployment.clone());
        Ok(Some(deployment))
    }

    fn policy(&self, kind: FunctionKind) -> Arc<RuntimePolicy> {
        let key = match kind {
            FunctionKind::Query => "query",
            FunctionKind::Mutation => "mutation",
            FunctionKind::Action | FunctionKind::HttpAction => "action",
        };
        self.policies[key].clone()
    }

    pub(crate) async fn call(&self, request: CallRequest) -> Result<CallOutcome, FunctionError> {
        self.call_at(request, QueryOptions::default()).await
    }

    /// Looks up and checks the function a request names.
    async fn resolve(
        &self,
        request: &CallRequest,
    ) -> Result<(Arc<Deployment>, FunctionInfo), FunctionError> {
        let not_found = || {
            FunctionError::not_found(format!(
                "Could not find public function for '{}'. Did you forget to run `npx convex dev` or `npx convex deploy`?",
                request.path
            ))
        };
        let deployment = self
            .deployment(&request.tenant)
            .await?
            .ok_or_else(not_found)?;
        let path = FunctionPath::parse(&request.path)?;
        let info = deployment.function(&path).cloned().ok_or_else(not_found)?;
        if info.visibility == Visibility::Internal && request.caller == Caller::Public {
            return Err(not_found());
        }
        if info.kind == FunctionKind::HttpAction {
            return Err(FunctionError::not_found(format!(
                "{} is an HTTP action; call it through its HTTP route",
                path
            )));
        }
        if let Some(expected) = request.expected_kind
            && expected != info.kind
        {
            return Err(FunctionError::user(format!(
                "Trying to execute {} as {}, but it is defined as {}.",
                path,
                kind_title(expected),
                kind_title(info.kind)
            )));
        }
        if let Caller::Function { depth } = request.caller
            && depth > self.config.nesting_depth_max
        {
            return Err(FunctionError::user(format!(
                "Function calls are nested more than {} deep; reduce the nesting",
                self.config.nesting_depth_max
            )));
        }
        Ok((deployment, info))
    }

    pub(crate) async fn call_at(
        &self,
        request: CallRequest,
        options: QueryOptions,
    ) -> Result<CallOutcome, FunctionError> {
        let (deployment, info) = self.resolve(&request).await?;
        let db = self.database(&request.tenant).await?;
        validate_args(&info, &request.args, &db.catalog())?;
        let depth = match request.caller {
            Caller::Function { depth } => depth,
            _ => 0,
        };
        let unqueued = matches!(request.caller, Caller::Function { .. });
        match info.kind {
            FunctionKind::Query => {
                self.run_query(&db, &deployment, &info, &request, depth, unqueued, options)
                    .await
            }
            FunctionKind::Mutation => {
                self.run_mutation(&db, &deployment, &info, &request, depth, unqueued)
                    .await
            }
            FunctionKind::Action => {
                self.run_action(&db, &deployment, &info, &request, depth, unqueued)
                    .await
            }
            FunctionKind::HttpAction => Err(FunctionError::internal(
                "HTTP actions are not called by path",
            )),
        }
    }

    /// Runs one invocation through the executor (`unqueued`: for nested calls, whose parent
    /// already holds the tenant's admission slot).
    pub(crate) async fn invoke(
        &self,
        invocation: Invocation<'_>,
        unqueued: bool,
    ) -> Result<InvocationOutcome, FunctionError> {
        let request = self.invocation_request(invocation, None);
        let result = if unqueued {
            self.executor.invoke_unqueued(request).await
        } else {
            self.executor.invoke(request).await
        };
        result.map_err(runtime_failure)
    }

    /// The executor request for one invocation; `http` is the exchange an HTTP action streams
    /// through.
    pub(crate) fn invocation_request(
        &self,
        invocation: Invocation<'_>,
        http: Option<Arc<HttpExchange>>,
    ) -> InvocationRequest {
        let Invocation {
            db,
            deployment,
            info,
            mode,
            identity,
            depth,
            entry,
            snapshot_ts,
        } = invocation;
        let request_id = format!("{:016x}", rand::random::<u64>());
        let execution = match mode {
            BridgeMode::Action => ExecutionMode::Action,
            _ => ExecutionMode::Deterministic {
                seed: rand::random(),
                now_ms: self.clock.now_ms(),
            },
        };
        let bridge = FunctionBridge::create(
            self.weak.clone(),
            db.clone(),
            deployment.clone(),
            mode,
            info.path.clone(),
            identity.clone(),
            request_id.clone(),
            depth,
            snapshot_ts,
            http,
        );
        InvocationRequest {
            tenant: TenantId::new(db.tenant().as_str()),
            bundle: deployment.bundle.clone(),
            policy: self.policy(info.kind),
            bridge: bridge as Arc<FunctionBridge>,
            entry,
            mode: execution,
            auth: match identity {
                Some(identity) => InvocationAuth::User {
                    identity_json: identity.to_string(),
                },
                None => InvocationAuth::Anonymous,
            },
            request_id,
            cancel: CancelToken::new(),
        }
    }

    pub(crate) fn call_entry(info: &FunctionInfo, method: &str, args: &Value) -> EntryPoint {
        let args_json = Json::Array(vec![args.to_json()]).to_string();
        let mut call_args = vec![args_json];
        if method == "invokeAction" {
            call_args.insert(0, "dummy_request_id".to_owned());
        }
        EntryPoint::Call {
            module: info.path.module.clone(),
            export_path: vec![info.path.export.clone(), method.to_owned()],
            args: call_args,
            returns: ReturnEncoding::JsonText,
        }
    }

    fn decode_result(outcome: &InvocationOutcome) -> Result<Value, FunctionError> {
        let json: Json = serde_json::from_str(&outcome.result_json)
            .map_err(|e| FunctionError::internal(format!("function returned invalid JSON: {e}")))?;
        Value::from_json(&json)
            .map_err(|e| FunctionError::user(format!("function returned an invalid value: {e}")))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call's context, passed along once"
    )]
    async fn run_query(
        &self,
        db: &Database,
        deployment: &Arc<Deployment>,
        info: &FunctionInfo,
        request: &CallRequest,
        depth: u32,
        unqueued: bool,
        options: QueryOptions,
    ) -> Result<CallOutcome, FunctionError> {
        let tx = match options.at_ts {
            Some(ts) => db.begin_at(ts).map_err(FunctionError::from_engine)?,
            None => db.begin(TransactionMode::ReadOnly),
        };
        let ts = tx.snapshot_ts();
        let slot: TxSlot = Arc::new(tokio::sync::Mutex::new(Some(tx)));
        let entry = Self::call_entry(info, "invokeQuery", &request.args);
        let journal: Option<JournalSlot> = options.journal.map(|j| Arc::new(Mutex::new(j)));
        let invoked = self
            .invoke(
                Invocation {
                    db,
                    deployment,
                    info,
                    mode: BridgeMode::Query {
                        tx: slot.clone(),
                        journal: journal.clone(),
                    },
                    identity: request.identity.clone(),
                    depth,
                    entry,
                    snapshot_ts: ts,
                },
                unqueued,
            )
            .await;
        let tx = slot.lock().await.take();
        let read_set = tx.map(|mut tx| tx.read_set().clone());
        // A query that threw (or hit a limit) stays reactive: its error carries what it read.
        let with_reads = |mut error: FunctionError| {
            if matches!(error.kind, FailureKind::User | FailureKind::Limit) {
                error.read_set = read_set.clone().map(Box::new);
            }
            error
        };
        let outcome = invoked.map_err(with_reads)?;
        let log_lines = log_lines(&outcome);
        let value = Self::decode_result(&outcome)
            .map_err(|e| with_reads(e.with_logs(log_lines.clone())))?;
        validate_returns(info, &value, &db.catalog())
            .map_err(|e| with_reads(e.with_logs(log_lines.clone())))?;
        let read_set =
            read_set.ok_or_else(|| FunctionError::internal("query transaction vanished"))?;
        Ok(CallOutcome {
            value,
            log_lines,
            kind: FunctionKind::Query,
            ts,
            read_set: Some(read_set),
            journal: journal.and_then(|journal| journal.lock().encode()),
        })
    }

    async fn run_mutation(
        &self,
        db: &Database,
        deployment: &Arc<Deployment>,
        info: &FunctionInfo,
        request: &CallRequest,
        depth: u32,
        unqueued: bool,
    ) -> Result<CallOutcome, FunctionError> {
        let mut retries = db.occ_retries();
        loop {
            let tx = db.begin(TransactionMode::ReadWrite);
            let snapshot = tx.snapshot_ts();
            let slot: TxSlot = Arc::new(tokio::sync::Mutex::new(Some(tx)));
            let entry = Self::call_entry(info, "invokeMutation", &request.args);
            let outcome = self
                .invoke(
                    Invocation {
                        db,
                        deployment,
                        info,
                        mode: BridgeMode::Mutation { tx: slot.clone() },
                        identity: request.identity.clone(),
                        depth,
                        entry,
                        snapshot_ts: snapshot,
                    },
                    unqueued,
                )
                .await?;
            let log_lines = log_lines(&outcome);
            let tx = slot
                .lock()
                .await
                .take()
                .ok_or_else(|| FunctionError::internal("mutation transaction vanished"))?;
            let value =
                Self::decode_result(&outcome).map_err(|e| e.with_logs(log_lines.clone()))?;
            validate_returns(info, &value, &db.catalog())
                .map_err(|e| e.with_logs(log_lines.clone()))?;
            match retries.after(db.commit(tx).await).await {
                Ok(Some(ts)) => {
                    return Ok(CallOutcome {
                        value,
                        log_lines,
                        kind: FunctionKind::Mutation,
                        ts,
                        read_set: None,
                        journal: None,
                    });
                }
                Ok(None) => {}
                Err(error) => return Err(FunctionError::from_engine(error).with_logs(log_lines)),
            }
        }
    }

    async fn run_action(
        &self,
        db: &Database,
        deployment: &Arc<Deployment>,
        info: &FunctionInfo,
        request: &CallRequest,
        depth: u32,
        unqueued: bool,
    ) -> Result<CallOutcome, FunctionError> {
        let entry = Self::call_entry(info, "invokeAction", &request.args);
        let outcome = self
            .invoke(
                Invocation {
                    db,
                    deployment,
                    info,
                    mode: BridgeMode::Action,
                    identity: request.identity.clone(),
                    depth,
                    entry,
                    snapshot_ts: db.snapshot_ts(),
                },
                unqueued,
            )
            .await?;
        let log_lines = log_lines(&outcome);
        let value = Self::decode_result(&outcome).map_err(|e| e.with_logs(log_lines.clone()))?;
        validate_returns(info, &value, &db.catalog())
            .map_err(|e| e.with_logs(log_lines.clone()))?;
        Ok(CallOutcome {
            value,
            log_lines,
            kind: FunctionKind::Action,
            ts: db.snapshot_ts(),
            read_set: None,
            journal: None,
        })
    }

    /// `ctx.runQuery` / `ctx.runMutation` from a query or mutation: the callee runs in the
    /// caller's transaction.
    pub(crate) async fn run_nested_in_transaction(
        &self,
        parent: &FunctionBridge,
        path: &FunctionPath,
        kind: FunctionKind,
        args: Value,
    ) -> Result<Value, FunctionError> {
        if parent.depth + 1 > self.config.nesting_depth_max {
            return Err(FunctionError::user(format!(
                "Function calls are nested more than {} deep; reduce the nesting",
                self.config.nesting_depth_max
            )));
        }
        let deployment = parent.deployment.clone();
        let info = deployment.function(path).cloned().ok_or_else(|| {
            FunctionError::not_found(format!("Could not find function for '{path}'."))
        })?;
        if info.kind != kind {
            return Err(FunctionError::user(format!(
                "Trying to execute {} as {}, but it is defined as {}.",
                path,
                kind_title(kind),
                kind_title(info.kind)
            )));
        }
        validate_args(&info, &args, &parent.db.catalog())?;
        // A nested mutation is a sub-transaction (as in Convex): it gets the caller's
        // transaction to itself — the caller's own syscalls, and its other nested calls, wait
        // on the caller's slot until it is done — and if it fails, exactly its writes are undone
        // and the caller, which may catch the error, carries on without them.
        let mut sub_transaction = None;
        let mode = match (&parent.mode, kind) {
            // A nested query is its own execution: it neither follows nor records the caller's
            // journal.
            (BridgeMode::Query { tx, .. } | BridgeMode::Mutation { tx }, FunctionKind::Query) => {
                BridgeMode::Query {
                    tx: tx.clone(),
                    journal: None,
                }
            }
            (BridgeMode::Mutation { tx }, FunctionKind::Mutation) => {
                let mut caller_slot = tx.clone().lock_owned().await;
                let transaction = caller_slot
                    .take()
                    .ok_or_else(|| FunctionError::internal("the caller's transaction vanished"))?;
                let savepoint = transaction.savepoint();
                let own: TxSlot = Arc::new(tokio::sync::Mutex::new(Some(transaction)));
                sub_transaction = Some((caller_slot, own.clone(), savepoint));
                BridgeMode::Mutation { tx: own }
            }
            _ => return Err(FunctionError::user("this nested call is not allowed here")),
        };
        let method = if kind == FunctionKind::Query {
            "invokeQuery"
        } else {
            "invokeMutation"
        };
        let entry = Self::call_entry(&info, method, &args);
        let result = async {
            let outcome = self
                .invoke(
                    Invocation {
                        db: &parent.db,
                        deployment: &deployment,
                        info: &info,
                        mode,
                        identity: parent.identity.clone(),
                        depth: parent.depth + 1,
                        entry,
                        snapshot_ts: parent.snapshot_ts,
                    },
                    true,
                )
                .await?;
            let value = Self::decode_result(&outcome)?;
            validate_returns(&info, &value, &parent.db.catalog())?;
            Ok(value)
        }
        .await;
        if let Some((mut caller_slot, own, savepoint)) = sub_transaction {
            let mut transaction = own.lock().await.take().ok_or_else(|| {
                FunctionError::internal("the nested mutation's transaction vanished")
            })?;
            if result.is_err() {
                transaction.rollback_to(savepoint);
            }
            *caller_slot = Some(transaction);
        }
        result
    }
}

fn kind_title(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Query => "Query",
        FunctionKind::Mutation => "Mutation",
        FunctionKind::Action => "Action",
        FunctionKind::HttpAction => "HttpAction",
    }
}

pub(crate) fn log_lines(outcome: &InvocationOutcome) -> Vec<String> {
    outcome.logs.iter().map(|l| l.to_convex_string()).collect()
}

pub(crate) fn runtime_failure(error: RuntimeError) -> FunctionError {
    let logs: Vec<String> = error.logs.iter().map(|l| l.to_convex_string()).collect();
    let mut failure = FunctionError::from_runtime(error);
    if failure.kind == FailureKind::Internal {
        tracing::warn!(message = %failure.message, "function failed inside the platform");
    }
    failure.log_lines = logs;
    failure
}
