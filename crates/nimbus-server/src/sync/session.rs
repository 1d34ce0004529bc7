//! One sync socket: the per-connection state machine of the Convex sync protocol.
//!
//! The loop reads client messages, runs mutations one at a time in arrival order (actions
//! concurrently), and whenever something changed — the query set, the identity, a committed
//! mutation, or a commit into a subscribed query's read set (the engine says which) —
//! re-runs exactly the affected queries at one snapshot and sends one `Transition` whose
//! `startVersion` is the previous `endVersion`. Outbound messages go through a bounded queue:
//! a client that does not read is disconnected with a clear close reason instead of growing
//! memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use convex_sync_types::types::ErrorPayload;
use convex_sync_types::{
    AuthenticationToken, ClientMessage, LogLinesMessage, QueryId, QuerySetModification,
    SessionRequestSeqNumber, StateModification, StateVersion, Timestamp, UdfPath,
};
use futures::{SinkExt, StreamExt};
use nimbus_engine::ReadSet;
use nimbus_functions::{CallRequest, FailureKind, FunctionKind};
use nimbus_values::Value;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::auth::{Credentials, admin_credentials, normalize_identity};
use crate::state::AppState;
use crate::sync::dedupe::{Begin, MutationOutcome};
use crate::tenants::Admission;

type ServerMessage = convex_sync_types::ServerMessage<Json>;

/// Close code for protocol errors.
const CLOSE_POLICY: u16 = 1008;
/// Close code for server-side trouble (the client reconnects).
const CLOSE_INTERNAL: u16 = 1011;

struct Subscribed {
    udf_path: String,
    args: Value,
    /// Hash of the last value, log lines and journal sent, to skip unchanged results.
    last_hash: Option<[u8; 32]>,
    /// The query journal (pinned pagination boundaries): sent with each result, handed back
    /// to the next execution. Starts as what the client sent with `Add` (after a reconnect).
    journal: Option<String>,
    dirty: bool,
    /// What the last run read, and the snapshot it read at: an update at a newer snapshot
    /// re-runs the query if a commit in between wrote into it, whether or not its watcher
    /// has fired yet.
    read: Option<(ReadSet, u64)>,
    watcher: Option<JoinHandle<()>>,
}

enum Completed {
    Mutation(SessionRequestSeqNumber, MutationOutcome),
    Action(SessionRequestSeqNumber, MutationOutcome),
}

struct MutationJob {
    /// The client's session id (de-duplication key with `request_id`).
    session_id: Option<String>,
    request_id: SessionRequestSeqNumber,
    udf_path: String,
    args: Value,
    credentials: Credentials,
}

struct Session {
    state: Arc<AppState>,
    admission: Admission,
    outbound: mpsc::Sender<Message>,
    session_id: Option<String>,
    credentials: Credentials,
    identity_version: u32,
    query_set_version: u32,
    current: StateVersion,
    queries: BTreeMap<u32, Subscribed>,
    pending_removes: Vec<u32>,
    needs_update: bool,
    client_clock_skew: Option<i64>,
    invalidations: mpsc::UnboundedSender<u32>,
    completions: mpsc::Sender<Completed>,
    mutations: mpsc::Sender<MutationJob>,
    last_sent: Instant,
}

/// Why the loop stops.
enum Stop {
    ClientGone,
    Close(u16, String),
}

fn text(message: ServerMessage) -> Message {
    Message::Text(Json::from(message).to_string().into())
}

fn parse_udf_path(path: &UdfPath) -> String {
    path.clone().canonicalize().to_string()
}

fn parse_args(args: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(args).map_err(|e| format!("invalid args: {e}"))?;
    let object = match json {
        Json::Array(mut items) if items.len() == 1 => items.remove(0),
        Json::Array(items) if items.is_empty() => Json::Object(Default::default()),
        other => other,
    };
    match Value::from_json(&object).map_err(|e| e.to_string())? {
        value @ Value::Object(_) => Ok(value),
        _ => Err("function arguments must be an object".into()),
    }
}

fn error_payload(message: String, data: Option<Json>) -> ErrorPayload<Json> {
    match data {
        Some(data) => ErrorPayload::ErrorData { message, data },
        None => ErrorPayload::Message(message),
    }
}

fn outcome_of(
    result: Result<nimbus_functions::CallOutcome, nimbus_functions::FunctionError>,
) -> MutationOutcome {
    match result {
        Ok(outcome) => MutationOutcome {
            result: Ok(outcome.value.to_json()),
            ts: Some(outcome.ts),
            log_lines: outcome.log_lines,
        },
        Err(error) => MutationOutcome {
            result: Err((
                error.message.clone(),
                error.data.as_ref().map(Value::to_json),
            )),
            ts: None,
            log_lines: error.log_lines,
        },
    }
}

fn hash_result(value: &str, log_lines: &[String], journal: Option<&str>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(value.as_bytes());
    for line in log_lines {
        hasher.update([0]);
        hasher.update(line.as_bytes());
    }
    hasher.update([1]);
    hasher.update(journal.unwrap_or_default().as_bytes());
    hasher.finalize().into()
}

/// Runs one socket until it closes.
pub(crate) async fn run(socket: WebSocket, state: Arc<AppState>, admission: Admission) {
    state.metrics.websockets.inc();
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut outbound_rx) = mpsc::channel::<Message>(state.config.ws_outbound_queue_max);
    let (close_tx, mut close_rx) = mpsc::channel::<(u16, String)>(1);
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                Some((code, reason)) = close_rx.recv() => {
                    // Deliver what is already queued (an AuthError, a FatalError) before the
                    // close frame, within a bound: a client too slow to read gets the close.
                    let flush = async {
                        while let Ok(message) = outbound_rx.try_recv() {
                            if sink.send(message).await.is_err() {
                                return;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
                    return;
                }
                message = outbound_rx.recv() => match message {
                    Some(message) => {
                        if sink.send(message).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
    });
    let (invalidations, mut invalidation_rx) = mpsc::unbounded_channel::<u32>();
    let (completions, mut completion_rx) =
        mpsc::channel::<Completed>(state.config.ws_mutation_queue_max + 64);
    let (mutations, mutation_rx) = mpsc::channel::<MutationJob>(state.config.ws_mutation_queue_max);
    let mut disconnect = state.disconnect_signal(admission.tenant.as_str());
    disconnect.mark_unchanged();
    let mut deployments = state.runner.deployments_changed(&admission.tenant);
    deployments.mark_unchanged();
    let mut session = Session {
        state: state.clone(),
        admission: admission.clone(),
        outbound,
        session_id: None,
        credentials: Credentials::Anonymous,
        identity_version: 0,
        query_set_version: 0,
        current: StateVersion::initial(),
        queries: BTreeMap::new(),
        pending_removes: Vec::new(),
        needs_update: false,
        client_clock_skew: None,
        invalidations,
        completions: completions.clone(),
        mutations,
        last_sent: Instant::now(),
    };
    let mutation_worker = tokio::spawn(mutation_worker(
        state.clone(),
        admission.clone(),
        mutation_rx,
        completions,
    ));
    let ping_interval = state.config.ws_ping_interval;
    let stop = loop {
        if session.needs_update
            && let Err(stop) = session.update().await
        {
            break stop;
        }
        let ping_at = session.last_sent + ping_interval;
        let step = tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => session.on_client_message(text.as_str()).await,
                Some(Ok(Message::Binary(_))) => Err(Stop::Close(CLOSE_POLICY, "BadRequest: binary frames are not part of the sync protocol".into())),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(Stop::ClientGone),
                Some(Ok(_)) => Ok(()),
            },
            Some(done) = completion_rx.recv() => session.on_completed(done),
            Some(query_id) = invalidation_rx.recv() => {
                if let Some(query) = session.queries.get_mut(&query_id) {
                    query.dirty = true;
                    session.needs_update = true;
                }
                Ok(())
            }
            Ok(()) = deployments.changed() => {
                // New code: every live query re-runs.
                for query in session.queries.values_mut() {
                    query.dirty = true;
                }
                session.needs_update = !session.queries.is_empty();
                Ok(())
            }
            changed = disconnect.changed() => match changed {
                Ok(()) => Err(Stop::Close(CLOSE_INTERNAL, "InternalServerError: disconnected by operator".into())),
                Err(_) => Ok(()),
            },
            _ = tokio::time::sleep_until(ping_at.into()) => session.send(ServerMessage::Ping),
        };
        if let Err(stop) = step {
            break stop;
        }
    };
    if let Stop::Close(code, reason) = stop {
        let _ = close_tx.send((code, reason)).await;
    }
    // Mutations already received keep running to completion and record their outcome, so a
    // client that re-sends them after reconnecting gets that outcome instead of a second run.
    drop(mutation_worker);
    for query in session.queries.values_mut() {
        if let Some(watcher) = query.watcher.take() {
            watcher.abort();
        }
    }
    state
        .metrics
        .subscriptions
        .dec_by(session.queries.len() as i64);
    state.metrics.websockets.dec();
    drop(session);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Runs a socket's mutations one at a time, in arrival order, with de-duplication.
async fn mutation_worker(
    state: Arc<AppState>,
    admission: Admission,
    mut jobs: mpsc::Receiver<MutationJob>,
    completions: mpsc::Sender<Completed>,
) {
    let store = state.dedupe_store(admission.tenant.as_str());
    while let Some(job) = jobs.recv().await {
        let outcome = match job
            .session_id
            .as_deref()
            .map(|s| store.begin(s, job.request_id))
        {
            Some(Begin::Done(outcome)) => outcome,
            Some(Begin::Wait(mut receiver)) => loop {
                if let Some(outcome) = receiver.borrow().clone() {
                    break outcome;
                }
                if receiver.changed().await.is_err() {
                    break MutationOutcome {
                        result: Err((
                            "the earlier attempt of this mutation was interrupted".into(),
                            None,
                        )),
                        ts: None,
                        log_lines: vec![],
                    };
                }
            },
            Some(Begin::Run(completion)) => {
                let outcome = run_function(&state, &admission, &job, FunctionKind::Mutation).await;
                completion.finish(outcome.clone());
                outcome
            }
            None => run_function(&state, &admission, &job, FunctionKind::Mutation).await,
        };
        if completions
            .send(Completed::Mutation(job.request_id, outcome))
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn run_function(
    state: &Arc<AppState>,
    admission: &Admission,
    job: &MutationJob,
    kind: FunctionKind,
) -> MutationOutcome {
    let (caller, identity) = job.credentials.caller();
    let request = CallRequest {
        tenant: admission.tenant.clone(),
        path: job.udf_path.clone(),
        args: job.args.clone(),
        caller,
        identity,
        expected_kind: Some(kind),
    };
    let started = Instant::now();
    let result = state.runner.call(request).await;
    state.observe_call(
        admission,
        &job.udf_path,
        Some(kind),
        &result,
        started.elapsed(),
    );
    outcome_of(result)
}

impl Session {
    fn send(&mut self, message: ServerMessage) -> Result<(), Stop> {
        self.last_sent = Instant::now();
        match self.outbound.try_send(text(message)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Stop::Close(
                CLOSE_INTERNAL,
                "ClientTooSlow: the client did not read its messages fast enough and was disconnected".into(),
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::ClientGone),
        }
    }

    fn fatal(&mut self, message: String) -> Stop {
        let _ = self.send(ServerMessage::FatalError {
            error_message: message.clone(),
        });
        let reason: String = message.chars().take(120).collect();
        Stop::Close(CLOSE_POLICY, reason)
    }

    async fn on_client_message(&mut self, text: &str) -> Result<(), Stop> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| self.fatal(format!("BadRequest: WSMessageInvalidJson: {e}")))?;
        let message = ClientMessage::try_from(json)
            .map_err(|e| self.fatal(format!("BadRequest: invalid sync message: {e}")))?;
        match message {
            ClientMessage::Connect {
                session_id,
                client_ts,
                ..
            } => {
                self.session_id = Some(uuid_text(&session_id));
                if let Some(client_ts) = client_ts {
                    let now_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0);
                    self.client_clock_skew = Some(client_ts as i64 - now_ms);
                }
                Ok(())
            }
            ClientMessage::ModifyQuerySet {
                base_version,
                new_version,
                modifications,
            } => {
                if base_version != self.query_set_version {
                    return Err(self.fatal(format!(
                        "BadRequest: BaseVersionMismatch: query set base version {base_version} does not match the server's {}",
                        self.query_set_version
                    )));
                }
                self.query_set_version = new_version;
                for modification in modifications {
                    match modification {
                        QuerySetModification::Add(query) => {
                            let id = query.query_id.get_id();
                            let args = parse_args(query.args.get())
                                .map_err(|e| self.fatal(format!("BadRequest: {e}")))?;
                            if let Some(old) = self.queries.insert(
                                id,
                                Subscribed {
                                    udf_path: parse_udf_path(&query.udf_path),
                                    args,
                                    last_hash: None,
                                    journal: query.journal.flatten(),
                                    dirty: true,
                                    read: None,
                                    watcher: None,
                                },
                            ) && let Some(watcher) = old.watcher
                            {
                                watcher.abort();
                            } else {
                                self.state.metrics.subscriptions.inc();
                            }
                        }
                        QuerySetModification::Remove { query_id } => {
                            let id = query_id.get_id();
                            if let Some(mut old) = self.queries.remove(&id) {
                                if let Some(watcher) = old.watcher.take() {
                                    watcher.abort();
                                }
                                self.state.metrics.subscriptions.dec();
                            }
                            self.pending_removes.push(id);
                        }
                    }
                }
                self.needs_update = true;
                Ok(())
            }
            ClientMessage::Authenticate {
                base_version,
                token,
            } => {
                if base_version != self.identity_version {
                    return Err(self.fatal(format!(
                        "BadRequest: identity base version {base_version} does not match the server's {}",
                        self.identity_version
                    )));
                }
                let credentials = match token {
                    AuthenticationToken::None => Ok(Credentials::Anonymous),
                    AuthenticationToken::Admin(key, acting_as) => admin_credentials(
                        &self.state.registry,
                        self.admission.tenant.as_str(),
                        &key,
                    )
                    .map(|creds| match (creds, acting_as) {
                        (Credentials::Admin { .. }, Some(attributes)) => Credentials::Admin {
                            acting_as: Json::try_from(attributes).ok().map(normalize_identity),
                        },
                        (creds, _) => creds,
                    }),
                    AuthenticationToken::User(_) => Err(crate::auth::no_auth_provider()),
                };
                match credentials {
                    Ok(credentials) => {
                        self.credentials = credentials;
                        self.identity_version += 1;
                        for query in self.queries.values_mut() {
                            query.dirty = true;
                        }
                        self.needs_update = true;
                        Ok(())
                    }
                    Err(error) => {
                        let _ = self.send(ServerMessage::AuthError {
                            error_message: error.message.clone(),
                            base_version: Some(self.identity_version),
                            auth_update_attempted: Some(true),
                        });
                        Err(Stop::Close(CLOSE_POLICY, "AuthError".into()))
                    }
                }
            }
            ClientMessage::Mutation {
                request_id,
                udf_path,
                args,
                ..
            } => {
                let args =
                    parse_args(args.get()).map_err(|e| self.fatal(format!("BadRequest: {e}")))?;
                let job = MutationJob {
                    session_id: self.session_id.clone(),
                    request_id,
                    udf_path: parse_udf_path(&udf_path),
                    args,
                    credentials: self.credentials.clone(),
                };
                match self.mutations.try_send(job) {
                    Ok(()) => Ok(()),
                    Err(_) => Err(Stop::Close(
                        CLOSE_INTERNAL,
                        "TooManyConcurrentRequests: too many mutations queued on this connection"
                            .into(),
                    )),
                }
            }
            ClientMessage::Action {
                request_id,
                udf_path,
                args,
                ..
            } => {
                let args =
                    parse_args(args.get()).map_err(|e| self.fatal(format!("BadRequest: {e}")))?;
                let job = MutationJob {
                    session_id: None,
                    request_id,
                    udf_path: parse_udf_path(&udf_path),
                    args,
                    credentials: self.credentials.clone(),
                };
                let (state, admission, completions) = (
                    self.state.clone(),
                    self.admission.clone(),
                    self.completions.clone(),
                );
                tokio::spawn(async move {
                    let outcome =
                        run_function(&state, &admission, &job, FunctionKind::Action).await;
                    let _ = completions
                        .send(Completed::Action(job.request_id, outcome))
                        .await;
                });
                Ok(())
            }
            ClientMessage::Event(_) => Ok(()),
        }
    }

    fn on_completed(&mut self, done: Completed) -> Result<(), Stop> {
        match done {
            Completed::Mutation(request_id, outcome) => {
                let message = ServerMessage::MutationResponse {
                    request_id,
                    result: match outcome.result {
                        Ok(value) => Ok(value),
                        Err((message, data)) => Err(error_payload(message, data)),
                    },
                    ts: outcome.ts.and_then(|ts| Timestamp::try_from(ts).ok()),
                    log_lines: LogLinesMessage(outcome.log_lines),
                };
                self.send(message)?;
                // The client resolves the mutation only after a Transition at or past its ts.
                self.needs_update = true;
            }
            Completed::Action(request_id, outcome) => {
                let message = ServerMessage::ActionResponse {
                    request_id,
                    result: match outcome.result {
                        Ok(value) => Ok(value),
                        Err((message, data)) => Err(error_payload(message, data)),
                    },
                    log_lines: LogLinesMessage(outcome.log_lines),
                };
                self.send(message)?;
                self.needs_update = true;
            }
        }
        Ok(())
    }

    /// Re-runs what changed at one snapshot and sends one Transition.
    async fn update(&mut self) -> Result<(), Stop> {
        self.needs_update = false;
        let db = match self
            .state
            .runner
            .engine()
            .database(&self.admission.tenant)
            .await
        {
            Ok(db) => db,
            Err(e) => {
                return Err(Stop::Close(
                    CLOSE_INTERNAL,
                    format!("InternalServerError: {e}")
                        .chars()
                        .take(120)
                        .collect(),
                ));
            }
        };
        let ts = db.snapshot_ts();
        let mut modifications = Vec::new();
        for id in self.pending_removes.drain(..) {
            modifications.push(StateModification::QueryRemoved {
                query_id: QueryId::new(id),
            });
        }
        // A Transition to `ts` must carry every query a commit up to `ts` changed: the client
        // resolves a mutation as soon as it holds a Transition at or past the mutation's ts,
        // and reads its local results then. Watchers wake asynchronously, so a commit that
        // touched several queries may have woken only some of them by now; check the rest.
        for query in self.queries.values_mut() {
            if let Some((reads, read_ts)) = &mut query.read
                && !query.dirty
            {
                if db.changed_between(reads, *read_ts, ts) {
                    query.dirty = true;
                } else {
                    *read_ts = ts;
                }
            }
        }
        let (caller, identity) = self.credentials.caller();
        let ids: Vec<u32> = self
            .queries
            .iter()
            .filter(|(_, q)| q.dirty)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(query) = self.queries.get_mut(&id) else {
                continue;
            };
            query.dirty = false;
            if let Some(watcher) = query.watcher.take() {
                watcher.abort();
            }
            let request = CallRequest {
                tenant: self.admission.tenant.clone(),
                path: query.udf_path.clone(),
                args: query.args.clone(),
                caller,
                identity: identity.clone(),
                expected_kind: Some(FunctionKind::Query),
            };
            let started = Instant::now();
            let result = self
                .state
                .runner
                .query_subscribed(request, ts, query.journal.as_deref())
                .await;
            self.state.observe_call(
                &self.admission,
                &query.udf_path,
                Some(FunctionKind::Query),
                &result,
                started.elapsed(),
            );
            let Some(query) = self.queries.get_mut(&id) else {
                continue;
            };
            match result {
                Ok(outcome) => {
                    let value = outcome.value.to_json();
                    query.journal = outcome.journal;
                    let hash = hash_result(
                        &value.to_string(),
                        &outcome.log_lines,
                        query.journal.as_deref(),
                    );
                    if query.last_hash != Some(hash) {
                        query.last_hash = Some(hash);
                        modifications.push(StateModification::QueryUpdated {
                            query_id: QueryId::new(id),
                            value,
                            log_lines: LogLinesMessage(outcome.log_lines),
                            journal: query.journal.clone(),
                        });
                    }
                    watch(query, id, &db, outcome.read_set, ts, &self.invalidations);
                }
                Err(error) => {
                    let read_set = error.read_set.clone().map(|reads| *reads);
                    watch(query, id, &db, read_set, ts, &self.invalidations);
                    if error.kind == FailureKind::Overloaded {
                        // Refused before it ran: nothing it read can wake it, so try again.
                        let (retry, invalidations) = (
                            self.state.config.ws_overloaded_query_retry,
                            self.invalidations.clone(),
                        );
                        if let Some(watcher) = query.watcher.take() {
                            watcher.abort();
                        }
                        query.watcher = Some(tokio::spawn(async move {
                            tokio::time::sleep(retry).await;
                            let _ = invalidations.send(id);
                        }));
                    }
                    let hash =
                        hash_result(&error.message, &error.log_lines, query.journal.as_deref());
                    if query.last_hash != Some(hash) {
                        query.last_hash = Some(hash);
                        modifications.push(StateModification::QueryFailed {
                            query_id: QueryId::new(id),
                            error_message: error.message.clone(),
                            log_lines: LogLinesMessage(error.log_lines.clone()),
                            journal: query.journal.clone(),
                            error_data: error.data.as_ref().map(Value::to_json),
                        });
                    }
                }
            }
        }
        let end = StateVersion {
            query_set: self.query_set_version,
            identity: self.identity_version,
            ts: Timestamp::try_from(ts.max(u64::from(self.current.ts))).unwrap_or(self.current.ts),
        };
        let server_ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| Timestamp::try_from(d.as_nanos() as u64).ok());
        let message = ServerMessage::Transition {
            start_version: self.current,
            end_version: end,
            modifications,
            client_clock_skew: self.client_clock_skew,
            server_ts,
        };
        self.send(message)?;
        self.current = end;
        Ok(())
    }
}

/// Remembers what a query's run read at `ts` and wakes the session when a later commit writes
/// into it. A run that read nothing trackable (no read set) is not re-run by commits.
fn watch(
    query: &mut Subscribed,
    id: u32,
    db: &nimbus_engine::Database,
    read_set: Option<ReadSet>,
    ts: u64,
    invalidations: &mpsc::UnboundedSender<u32>,
) {
    query.read = None;
    let Some(read_set) = read_set else {
        return;
    };
    let mut subscription = db.subscribe(&read_set, ts);
    query.read = Some((read_set, ts));
    let invalidations = invalidations.clone();
    query.watcher = Some(tokio::spawn(async move {
        subscription.invalidated().await;
        let _ = invalidations.send(id);
    }));
}

fn uuid_text(session_id: &convex_sync_types::SessionId) -> String {
    format!("{:?}", session_id)
}
