//! The scheduler: `runAfter`/`runAt`/`cancel` as documents of the `_scheduled_functions`
//! system table written in the scheduling mutation's own transaction, crons from `crons.js` as
//! documents of `_cron_jobs`, and the executor that runs what is due.
//!
//! Guarantees: a scheduled **mutation** runs exactly once — its writes and the job's transition
//! to `success` commit in one transaction, so a crash before that commit leaves the job pending
//! and a crash after it leaves it done. A scheduled **action** runs at most once — the job moves
//! to `inProgress` in its own commit before the action starts; an action interrupted by a
//! restart is marked `failed`, never re-run. Crons are replaced as a whole on each deploy.

mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_engine::{
    Database, EngineError, QuerySpec, RangeExpr, RangeOp, Transaction, TransactionMode,
};
use nimbus_storage::{Order, TenantName};
use nimbus_values::{DocumentId, Object, Value};
use parking_lot::Mutex;

pub use schedule::Schedule;

use crate::bridge::{BridgeMode, TxSlot};
use crate::deployment::{Deployment, FunctionKind};
use crate::error::FunctionError;
use crate::path::FunctionPath;
use crate::runner::{CallRequest, Caller, Invocation, RunnerInner};

/// The system table of scheduled jobs.
pub const SCHEDULED_FUNCTIONS_TABLE: &str = "_scheduled_functions";
/// The system table of cron jobs.
pub const CRON_JOBS_TABLE: &str = "_cron_jobs";
/// Jobs run per `run_due` round (the rest wait for the next round).
pub const JOBS_PER_ROUND_MAX: usize = 256;

const JOBS_INDEX: &str = "by_state_time";
const CRONS_INDEX: &str = "by_next_run";

/// Where the scheduler reads the time from.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: Mutex<f64>,
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: f64) -> Arc<Self> {
        Arc::new(Self {
            now_ms: Mutex::new(now_ms),
        })
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: f64) {
        *self.now_ms.lock() += ms;
    }

    /// Sets the clock.
    pub fn set_ms(&self, ms: f64) {
        *self.now_ms.lock() = ms;
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        *self.now_ms.lock()
    }
}

fn field(name: &str) -> Vec<String> {
    name.split('.').map(str::to_owned).collect()
}

/// Creates the system tables' indexes (idempotent).
pub(crate) async fn prepare(db: &Database) -> Result<(), EngineError> {
    db.ensure_index(
        SCHEDULED_FUNCTIONS_TABLE,
        JOBS_INDEX,
        vec![field("state.kind"), field("scheduledTime")],
    )
    .await?;
    db.ensure_index(CRON_JOBS_TABLE, CRONS_INDEX, vec![field("nextRun")])
        .await?;
    Ok(())
}

fn object(pairs: Vec<(&str, Value)>) -> Object {
    let mut object = Object::new();
    for (name, value) in pairs {
        object
            .insert(name, value)
            .expect("scheduler field names are valid");
    }
    object
}

fn state(kind: &str) -> Value {
    Value::Object(object(vec![("kind", Value::String(kind.into()))]))
}

/// Schedules `path` with `args` at `ts_ms`, inside `tx`; returns the job id.
pub(crate) async fn schedule_in(
    tx: &mut Transaction,
    path: &FunctionPath,
    ts_ms: f64,
    args: Value,
) -> Result<DocumentId, EngineError> {
    let job = object(vec![
        ("name", Value::String(path.canonical())),
        ("args", Value::Array(vec![args])),
        ("scheduledTime", Value::Float64(ts_ms)),
        ("state", state("pending")),
    ]);
    tx.insert(SCHEDULED_FUNCTIONS_TABLE, job).await
}

fn job_kind(document: &nimbus_engine::Document) -> Option<String> {
    match document.fields.get("state") {
        Some(Value::Object(state)) => match state.get("kind") {
            Some(Value::String(kind)) => Some(kind.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Cancels a pending (or running action) job inside `tx`; completed jobs are left alone.
pub(crate) async fn cancel_in(tx: &mut Transaction, id: DocumentId) -> Result<(), EngineError> {
    if tx.table_of(&id).as_deref() != Some(SCHEDULED_FUNCTIONS_TABLE) {
        return Err(EngineError::InvalidId(format!(
            "{} is not a scheduled function id",
            id.encode()
        )));
    }
    let Some(job) = tx.get(id).await? else {
        return Ok(());
    };
    if matches!(job_kind(&job).as_deref(), Some("pending" | "inProgress")) {
        finish(tx, id, state("canceled"), None).await?;
    }
    Ok(())
}

async fn finish(
    tx: &mut Transaction,
    id: DocumentId,
    new_state: Value,
    completed_ms: Option<f64>,
) -> Result<(), EngineError> {
    let mut changes = BTreeMap::new();
    changes.insert("state".to_owned(), Some(new_state));
    if let Some(ms) = completed_ms {
        changes.insert("completedTime".to_owned(), Some(Value::Float64(ms)));
    }
    tx.patch(id, changes).await.map(|_| ())
}

fn failed(message: &str) -> Value {
    Value::Object(object(vec![
        ("kind", Value::String("failed".into())),
        ("error", Value::String(message.into())),
    ]))
}

fn jobs_due(now_ms: f64) -> QuerySpec {
    QuerySpec::index(
        SCHEDULED_FUNCTIONS_TABLE,
        JOBS_INDEX,
        vec![
            RangeExpr {
                op: RangeOp::Eq,
                field: "state.kind".into(),
                value: Some(Value::String("pending".into())),
            },
            RangeExpr {
                op: RangeOp::Lte,
                field: "scheduledTime".into(),
                value: Some(Value::Float64(now_ms)),
            },
        ],
    )
    .limit(JOBS_PER_ROUND_MAX)
}

/// Replaces the tenant's crons with the deployment's, in one transaction.
pub(crate) async fn install_crons(
    db: &Database,
    deployment: &Deployment,
    now_ms: f64,
) -> Result<(), FunctionError> {
    let mut wanted = Vec::new();
    if let Some(crons) = deployment.crons.as_ref().and_then(|c| c.as_object()) {
        for (identifier, job) in crons {
            let schedule = Schedule::from_json(&job["schedule"], identifier)?;
            let next = schedule.next_after(now_ms).ok_or_else(|| {
                FunctionError::user(format!("Cron job \"{identifier}\" never runs"))
            })?;
            let args = job["args"]
                .as_array()
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or(serde_json::json!({}));
            let args = Value::from_json(&args).map_err(|e| {
                FunctionError::user(format!("Cron job \"{identifier}\": bad args: {e}"))
            })?;
            let schedule_value = Value::from_json(&job["schedule"])
                .map_err(|e| FunctionError::user(e.to_string()))?;
            wanted.push(object(vec![
                ("name", Value::String(identifier.clone())),
                (
                    "function",
                    Value::String(job["name"].as_str().unwrap_or_default().to_owned()),
                ),
                ("args", args),
                ("schedule", schedule_value),
                ("nextRun", Value::Float64(next)),
            ]));
        }
    }
    db.run_mutation_boxed(move |tx| {
        let wanted = wanted.clone();
        Box::pin(async move {
            for existing in tx.collect(&QuerySpec::table(CRON_JOBS_TABLE)).await? {
                tx.delete(existing.id).await?;
            }
            for cron in wanted {
                tx.insert(CRON_JOBS_TABLE, cron).await?;
            }
            Ok(())
        })
    })
    .await
    .map_err(FunctionError::from_engine)?;
    Ok(())
}

/// When the next pending job or cron is due.
pub(crate) async fn next_due(db: &Database) -> Result<Option<f64>, EngineError> {
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let job = tx
        .collect(
            &QuerySpec::index(
                SCHEDULED_FUNCTIONS_TABLE,
                JOBS_INDEX,
                vec![RangeExpr {
                    op: RangeOp::Eq,
                    field: "state.kind".into(),
                    value: Some(Value::String("pending".into())),
                }],
            )
            .limit(1),
        )
        .await
        .ok()
        .and_then(|docs| {
            docs.first()
                .and_then(|d| number(d.fields.get("scheduledTime")))
        });
    let cron = tx
        .collect(
            &QuerySpec::index(CRON_JOBS_TABLE, CRONS_INDEX, vec![])
                .order(Order::Asc)
                .limit(1),
        )
        .await
        .ok()
        .and_then(|docs| docs.first().and_then(|d| number(d.fields.get("nextRun"))));
    Ok(match (job, cron) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value {
        Some(Value::Float64(x)) => Some(*x),
        _ => None,
    }
}

/// Turns due crons into scheduled jobs (each cron's next run advanced in the same commit).
async fn enqueue_due_crons(db: &Database, now_ms: f64) -> Result<(), FunctionError> {
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let due = tx
        .collect(&QuerySpec::index(
            CRON_JOBS_TABLE,
            CRONS_INDEX,
            vec![RangeExpr {
                op: RangeOp::Lte,
                field: "nextRun".into(),
                value: Some(Value::Float64(now_ms)),
            }],
        ))
        .await
        .map_err(FunctionError::from_engine)?;
    for cron in due {
        let id = cron.id;
        db.run_mutation_boxed(move |tx| {
            Box::pin(async move {
                let Some(current) = tx.get(id).await? else {
                    return Ok(());
                };
                let Some(next_run) = number(current.fields.get("nextRun")) else {
                    return Ok(());
                };
                if next_run > now_ms {
                    return Ok(());
                }
                let identifier = match current.fields.get("name") {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                let schedule_json = current
                    .fields
                    .get("schedule")
                    .map(Value::to_json)
                    .unwrap_or_default();
                let schedule = Schedule::from_json(&schedule_json, &identifier)
                    .map_err(|e| EngineError::InvalidQuery(e.message))?;
                let function = match current.fields.get("function") {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                let path = FunctionPath::parse(&function)
                    .map_err(|e| EngineError::InvalidQuery(e.message))?;
                let args = current
                    .fields
                    .get("args")
                    .cloned()
                    .unwrap_or(Value::Object(Object::new()));
                schedule_in(tx, &path, next_run, args).await?;
                let following = schedule
                    .next_after(next_run.max(now_ms))
                    .unwrap_or(f64::MAX);
                tx.patch(
                    id,
                    BTreeMap::from([("nextRun".to_owned(), Some(Value::Float64(following)))]),
                )
                .await?;
                Ok(())
            })
        })
        .await
        .map_err(FunctionError::from_engine)?;
    }
    Ok(())
}

/// Runs every job (and cron) due now; returns how many jobs ran.
pub(crate) async fn run_due(
    inner: &RunnerInner,
    tenant: &TenantName,
) -> Result<usize, FunctionError> {
    let Some(deployment) = inner.deployment(tenant).await? else {
        return Ok(0);
    };
    let db = inner.database(tenant).await?;
    let now_ms = inner.clock.now_ms();
    enqueue_due_crons(&db, now_ms).await?;
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let due = tx
        .collect(&jobs_due(now_ms))
        .await
        .map_err(FunctionError::from_engine)?;
    let mut ran = 0;
    for job in due {
        if run_job(inner, &db, &deployment, job).await? {
            ran += 1;
        }
    }
    Ok(ran)
}

/// Runs one job; `false` if another executor got to it first or it was canceled meanwhile.
async fn run_job(
    inner: &RunnerInner,
    db: &Database,
    deployment: &Arc<Deployment>,
    job: nimbus_engine::Document,
) -> Result<bool, FunctionError> {
    let id = job.id;
    let name = match job.fields.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let args = match job.fields.get("args") {
        Some(Value::Array(items)) => items
            .first()
            .cloned()
            .unwrap_or(Value::Object(Object::new())),
        _ => Value::Object(Object::new()),
    };
    let kind = FunctionPath::parse(&name)
        .ok()
        .and_then(|p| deployment.function(&p).map(|f| f.kind));
    match kind {
        Some(FunctionKind::Mutation) => {
            run_mutation_job(inner, db, deployment, id, &name, args).await
        }
        Some(FunctionKind::Action) => run_action_job(inner, db, id, &name, args).await,
        _ => {
            let message = format!("Scheduled function {name} is not a deployed mutation or action");
            let now = inner.clock.now_ms();
            db.run_mutation_boxed(move |tx| {
                let message = message.clone();
                Box::pin(async move { finish(tx, id, failed(&message), Some(now)).await })
            })
            .await
            .map_err(FunctionError::from_engine)?;
            Ok(true)
        }
    }
}

async fn still_pending(tx: &mut Transaction, id: DocumentId) -> Result<bool, EngineError> {
    Ok(tx.get(id).await?.and_then(|j| job_kind(&j)).as_deref() == Some("pending"))
}

/// Runs a mutation job: the mutation's writes and the job's `success` commit together.
async fn run_mutation_job(
    inner: &RunnerInner,
    db: &Database,
    deployment: &Arc<Deployment>,
    id: DocumentId,
    name: &str,
    args: Value,
) -> Result<bool, FunctionError> {
    let path = FunctionPath::parse(name)?;
    let info = deployment
        .function(&path)
        .cloned()
        .ok_or_else(|| FunctionError::not_found(name.to_owned()))?;
    let mut retries = db.occ_retries();
    loop {
        let mut tx = db.begin(TransactionMode::ReadWrite);
        if !still_pending(&mut tx, id)
            .await
            .map_err(FunctionError::from_engine)?
        {
            return Ok(false);
        }
        let snapshot = tx.snapshot_ts();
        let slot: TxSlot = Arc::new(tokio::sync::Mutex::new(Some(tx)));
        let entry = RunnerInner::call_entry(&info, "invokeMutation", &args);
        let validation = crate::validation::validate_args(&info, &args, &db.catalog());
        let outcome = match validation {
            Ok(()) => {
                inner
                    .invoke(
                        Invocation {
                            db,
                            deployment,
                            info: &info,
                            mode: BridgeMode::Mutation { tx: slot.clone() },
                            identity: None,
                            depth: 0,
                            entry,
                            snapshot_ts: snapshot,
                        },
                        true,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        let now = inner.clock.now_ms();
        let mut tx = slot
            .lock()
            .await
            .take()
            .ok_or_else(|| FunctionError::internal("job transaction vanished"))?;
        match outcome {
            Ok(_) => {
                finish(&mut tx, id, state("success"), Some(now))
                    .await
                    .map_err(FunctionError::from_engine)?;
                match retries.after(db.commit(tx).await).await {
                    Ok(Some(_)) => return Ok(true),
                    Ok(None) => continue,
                    // Still pending: the next scheduler pass tries again.
                    Err(EngineError::Conflict { .. }) => return Ok(false),
                    Err(e) => return Err(FunctionError::from_engine(e)),
                }
            }
            Err(error) => {
                drop(tx);
                let message = error.message.clone();
                db.run_mutation_boxed(move |tx| {
                    let message = message.clone();
                    Box::pin(async move {
                        if still_pending(tx, id).await? {
                            finish(tx, id, failed(&message), Some(now)).await?;
                        }
                        Ok(())
                    })
                })
                .await
                .map_err(FunctionError::from_engine)?;
                return Ok(true);
            }
        }
    }
}

/// Runs an action job at most once: `inProgress` commits before the action starts.
async fn run_action_job(
    inner: &RunnerInner,
    db: &Database,
    id: DocumentId,
    name: &str,
    args: Value,
) -> Result<bool, FunctionError> {
    let (claimed, _) = db
        .run_mutation_boxed(move |tx| {
            Box::pin(async move {
                if !still_pending(tx, id).await? {
                    return Ok(false);
                }
                finish(tx, id, state("inProgress"), None).await?;
                Ok(true)
            })
        })
        .await
        .map_err(FunctionError::from_engine)?;
    if !claimed {
        return Ok(false);
    }
    let result = inner
        .call(CallRequest {
            tenant: db.tenant().clone(),
            path: name.to_owned(),
            args,
            caller: Caller::System,
            identity: None,
            expected_kind: Some(FunctionKind::Action),
        })
        .await;
    let now = inner.clock.now_ms();
    let final_state = match &result {
        Ok(_) => state("success"),
        Err(error) => failed(&error.message),
    };
    db.run_mutation_boxed(move |tx| {
        let final_state = final_state.clone();
        Box::pin(async move {
            // A job canceled while its action ran stays canceled.
            if tx.get(id).await?.and_then(|j| job_kind(&j)).as_deref() == Some("inProgress") {
                finish(tx, id, final_state, Some(now)).await?;
            }
            Ok(())
        })
    })
    .await
    .map_err(FunctionError::from_engine)?;
    Ok(true)
}

/// Marks jobs left `inProgress` by a previous process as failed (actions run at most once).
pub(crate) async fn fail_interrupted_actions(
    db: &Database,
    now_ms: f64,
) -> Result<usize, EngineError> {
    if db
        .catalog()
        .index_by_name(SCHEDULED_FUNCTIONS_TABLE, JOBS_INDEX)
        .is_none()
    {
        return Ok(0);
    }
    let mut tx = db.begin(TransactionMode::ReadOnly);
    let running = tx
        .collect(&QuerySpec::index(
            SCHEDULED_FUNCTIONS_TABLE,
            JOBS_INDEX,
            vec![RangeExpr {
                op: RangeOp::Eq,
                field: "state.kind".into(),
                value: Some(Value::String("inProgress".into())),
            }],
        ))
        .await?;
    let count = running.len();
    for job in running {
        let id = job.id;
        db.run_mutation_boxed(move |tx| {
            Box::pin(async move {
                if tx.get(id).await?.and_then(|j| job_kind(&j)).as_deref() == Some("inProgress") {
                    let message = "Transient error: the server restarted while this action was running; it was not retried";
                    finish(tx, id, failed(message), Some(now_ms)).await?;
                }
                Ok(())
            })
        })
        .await?;
    }
    Ok(count)
}
