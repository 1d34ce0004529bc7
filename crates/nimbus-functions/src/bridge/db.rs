//! Database syscalls (`1.0/get`, `1.0/insert`, `1.0/queryStream…`, `1.0/queryPage`, …) against
//! the function's transaction.

use nimbus_engine::{Cursor, EngineError, QuerySpec, Transaction, parse_serialized_query};
use nimbus_runtime::HostError;
use nimbus_values::{DocumentId, Object, Value, decode_patch_fields};
use serde_json::{Value as Json, json};

use crate::bridge::{BridgeMode, FunctionBridge, string_arg};

/// System tables functions may read through `db.system`.
const READABLE_SYSTEM_TABLES: &[&str] = &["_scheduled_functions", "_storage"];

fn engine_error(error: EngineError) -> HostError {
    HostError::new(error.to_string())
}

fn no_db() -> HostError {
    HostError::new("ctx.db is not available in actions: use ctx.runQuery or ctx.runMutation")
}

macro_rules! with_tx {
    ($bridge:expr, $tx:ident => $body:expr) => {{
        let slot = $bridge.tx_slot().ok_or_else(no_db)?.clone();
        let mut guard = slot.lock().await;
        let $tx: &mut Transaction = guard
            .as_mut()
            .ok_or_else(|| HostError::new("the transaction has already finished"))?;
        $body
    }};
}

fn parse_id(text: &str, operation: &str) -> Result<DocumentId, HostError> {
    DocumentId::decode(text).map_err(|e| {
        HostError::new(format!(
            "Invalid argument `id` for `{operation}`: Unable to decode ID: {e}"
        ))
    })
}

fn check_table_argument(
    bridge: &FunctionBridge,
    args: &Json,
    id: &DocumentId,
    operation: &str,
) -> Result<(), HostError> {
    if let Some(table) = args["table"].as_str() {
        let actual = bridge
            .db
            .catalog()
            .table_name(id.table_number())
            .map(str::to_owned);
        if actual.as_deref() != Some(table) {
            return Err(HostError::new(format!(
                "Invalid argument `id` for `{operation}`: the id {} does not belong to table \"{table}\"",
                id.encode()
            )));
        }
    }
    Ok(())
}

fn check_writable_table(table: &str) -> Result<(), HostError> {
    if table.starts_with('_') {
        return Err(HostError::new(format!(
            "System tables (prefixed with `_`) are read-only; cannot write to \"{table}\""
        )));
    }
    Ok(())
}

fn object_arg(args: &Json, name: &str) -> Result<Object, HostError> {
    match Value::from_json(&args[name]).map_err(|e| HostError::new(e.to_string()))? {
        Value::Object(object) => Ok(object),
        other => Err(HostError::new(format!(
            "`{name}` must be an object, got {other:?}"
        ))),
    }
}

fn document_json(document: &nimbus_engine::Document) -> Json {
    document.to_value().to_json()
}

pub(crate) async fn get(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let id = parse_id(string_arg(&args, "id")?, "db.get")?;
    check_table_argument(bridge, &args, &id, "db.get")?;
    let is_system = args["isSystem"].as_bool().unwrap_or(false);
    let table = bridge
        .db
        .catalog()
        .table_name(id.table_number())
        .map(str::to_owned);
    if let Some(table) = &table {
        match (is_system, table.starts_with('_')) {
            (false, true) => {
                return Err(HostError::new(format!(
                    "Use ctx.db.system.get to read the system table \"{table}\""
                )));
            }
            (true, false) => {
                return Err(HostError::new(format!(
                    "ctx.db.system.get can only read system tables, not \"{table}\""
                )));
            }
            _ => {}
        }
    }
    with_tx!(bridge, tx => {
        let document = tx.get(id).await.map_err(engine_error)?;
        Ok(document.as_ref().map_or(Json::Null, document_json))
    })
}

fn check_query_table(spec: &QuerySpec) -> Result<(), HostError> {
    if spec.table.starts_with('_') && !READABLE_SYSTEM_TABLES.contains(&spec.table.as_str()) {
        return Err(HostError::new(format!(
            "Table \"{}\" cannot be queried",
            spec.table
        )));
    }
    Ok(())
}

pub(crate) fn query_stream(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    bridge.tx_slot().ok_or_else(no_db)?;
    let spec = parse_serialized_query(&args["query"]).map_err(engine_error)?;
    check_query_table(&spec)?;
    let mut streams = bridge.streams.lock();
    let id = streams.next_id;
    streams.next_id += 1;
    streams.pending.insert(id, spec);
    Ok(json!({ "queryId": id }))
}

pub(crate) fn query_cleanup(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let id = args["queryId"]
        .as_u64()
        .ok_or_else(|| HostError::new("`queryId` must be a number"))? as u32;
    let mut streams = bridge.streams.lock();
    // What an open stream observed stays in the read set; only the handle goes away.
    let existed = streams.pending.remove(&id).is_some() | streams.open.remove(&id).is_some();
    Ok(Json::Bool(existed))
}

pub(crate) async fn query_stream_next(
    bridge: &FunctionBridge,
    args: Json,
) -> Result<Json, HostError> {
    let id = args["queryId"]
        .as_u64()
        .ok_or_else(|| HostError::new("`queryId` must be a number"))? as u32;
    with_tx!(bridge, tx => {
        let (pending, open) = {
            let mut streams = bridge.streams.lock();
            (streams.pending.remove(&id), streams.open.get(&id).copied())
        };
        let query = match (pending, open) {
            (Some(spec), _) => {
                let query = tx.open_query(&spec).map_err(engine_error)?;
                bridge.streams.lock().open.insert(id, query);
                query
            }
            (None, Some(query)) => query,
            (None, None) => return Err(HostError::new(format!("query {id} is not open"))),
        };
        let document = tx.query_next(query).await.map_err(engine_error)?;
        Ok(match document {
            Some(document) => json!({ "value": document_json(&document), "done": false }),
            None => json!({ "value": null, "done": true }),
        })
    })
}

pub(crate) async fn query_page(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let spec = parse_serialized_query(&args["query"]).map_err(engine_error)?;
    check_query_table(&spec)?;
    {
        let mut streams = bridge.streams.lock();
        if streams.paginated {
            return Err(HostError::new(
                "This query or mutation function ran multiple paginated queries. Convex only supports a \
                 single paginated query in each function.",
            ));
        }
        streams.paginated = true;
    }
    let cursor = match &args["cursor"] {
        Json::String(text) => Some(Cursor::decode(text).map_err(engine_error)?),
        _ => None,
    };
    // A subscription's re-execution ends where its first execution ended (the journal), so
    // the page keeps its boundaries; an explicit `endCursor` wins.
    let journal = match &bridge.mode {
        BridgeMode::Query {
            journal: Some(journal),
            ..
        } => Some(journal.clone()),
        _ => None,
    };
    let end_cursor = match &args["endCursor"] {
        Json::String(text) => Some(text.clone()),
        _ => journal
            .as_ref()
            .and_then(|journal| journal.lock().end_cursor.clone()),
    };
    let end_cursor = match end_cursor {
        Some(text) => Some(Cursor::decode(&text).map_err(engine_error)?),
        None => None,
    };
    let page_size = args["pageSize"].as_f64().unwrap_or(0.0);
    if !(page_size.is_finite() && page_size >= 0.0) {
        return Err(HostError::new("pageSize must be a non-negative number"));
    }
    let rows_read_max = args["maximumRowsRead"]
        .as_f64()
        .map(|n| n.max(1.0) as usize);
    with_tx!(bridge, tx => {
        let page = tx
            .query_page(&spec, cursor.as_ref(), end_cursor.as_ref(), page_size as usize, rows_read_max)
            .await
            .map_err(engine_error)?;
        let continue_cursor = page.continue_cursor.encode();
        if let Some(journal) = &journal {
            journal.lock().end_cursor = Some(continue_cursor.clone());
        }
        Ok(json!({
            "page": page.documents.iter().map(document_json).collect::<Vec<_>>(),
            "isDone": page.is_done,
            "continueCursor": continue_cursor,
            "splitCursor": null,
            "pageStatus": null,
        }))
    })
}

pub(crate) async fn count(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let table = string_arg(&args, "table")?.to_owned();
    with_tx!(bridge, tx => {
        let n = tx.count(&table).await.map_err(engine_error)?;
        Ok(json!(n as f64))
    })
}

pub(crate) fn normalize_id(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let table = string_arg(&args, "table")?;
    let text = string_arg(&args, "idString")?;
    let catalog = bridge.db.catalog();
    let id = DocumentId::decode(text).ok().filter(|id| {
        catalog
            .table(table)
            .is_some_and(|t| t.number == id.table_number())
    });
    Ok(json!({ "id": id.map(|id| id.encode()) }))
}

pub(crate) async fn insert(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let table = string_arg(&args, "table")?.to_owned();
    check_writable_table(&table)?;
    let value = object_arg(&args, "value")?;
    with_tx!(bridge, tx => {
        let id = tx.insert(&table, value).await.map_err(engine_error)?;
        Ok(json!({ "_id": id.encode() }))
    })
}

async fn writable_id(
    bridge: &FunctionBridge,
    args: &Json,
    operation: &str,
) -> Result<DocumentId, HostError> {
    let id = parse_id(string_arg(args, "id")?, operation)?;
    check_table_argument(bridge, args, &id, operation)?;
    if let Some(table) = bridge.db.catalog().table_name(id.table_number()) {
        check_writable_table(table)?;
    }
    Ok(id)
}

pub(crate) async fn patch(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let id = writable_id(bridge, &args, "db.patch").await?;
    let changes = decode_patch_fields(&args["value"]).map_err(|e| HostError::new(e.to_string()))?;
    with_tx!(bridge, tx => {
        let document = tx.patch(id, changes).await.map_err(engine_error)?;
        Ok(document_json(&document))
    })
}

pub(crate) async fn replace(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let id = writable_id(bridge, &args, "db.replace").await?;
    let value = object_arg(&args, "value")?;
    with_tx!(bridge, tx => {
        let document = tx.replace(id, value).await.map_err(engine_error)?;
        Ok(document_json(&document))
    })
}

pub(crate) async fn remove(bridge: &FunctionBridge, args: Json) -> Result<Json, HostError> {
    let id = writable_id(bridge, &args, "db.delete").await?;
    with_tx!(bridge, tx => {
        tx.delete(id).await.map_err(engine_error)?;
        Ok(Json::Null)
    })
}
