//! HTTP actions: a request to the tenant's site URL runs the app's `http.js` router
//! (`runRequest`, as Convex runs it). Small request bodies are handed over in one piece; large
//! or unsized ones are streamed to the handler as it reads them. A response whose body is a
//! `ReadableStream` is answered as soon as the handler returns it and streamed to the client
//! while the handler writes it. Bodies are bounded both ways by
//! [`RunnerConfig::http_body_bytes_max`](crate::RunnerConfig).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nimbus_runtime::{EntryPoint, InvocationOutcome, RuntimeError};
use nimbus_storage::TenantName;
use serde_json::{Value as Json, json};
use tokio::sync::oneshot;

use crate::bridge::BridgeMode;
use crate::deployment::{FunctionInfo, FunctionKind, HttpRoute, Visibility};
use crate::error::{FailureKind, FunctionError};
use crate::http_body::{BodySource, BodyStream, HttpExchange};
use crate::path::FunctionPath;
use crate::runner::{Invocation, RunnerInner, log_lines, runtime_failure};

/// An HTTP request for an HTTP action.
#[derive(Debug)]
pub struct HttpRequest {
    /// Absolute URL as the client sent it (what the handler sees as `request.url`).
    pub url: String,
    /// The path the router matches (the part after the site URL), e.g. `/echo/a`.
    pub path: String,
    /// Method.
    pub method: String,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: HttpRequestBody,
}

/// How the request body reaches the handler.
pub enum HttpRequestBody {
    /// Buffered by the server (small, or none at all).
    Inline(Option<Vec<u8>>),
    /// Pulled from the client as the handler reads it.
    Streamed(BodySource),
}

/// The HTTP action's response.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status.
    pub status: u16,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: HttpResponseBody,
    /// Console lines (of a streamed response: those logged before it was returned, none).
    pub log_lines: Vec<String>,
    /// A streamed response's outcome once its body is written: the console lines, or why the
    /// body broke off (the client then sees an aborted body, never a short complete one).
    pub finished: Option<oneshot::Receiver<Result<Vec<String>, FunctionError>>>,
}

/// The response body.
pub enum HttpResponseBody {
    /// Complete.
    Full(Vec<u8>),
    /// Written by the handler while the client reads it.
    Streamed(BodyStream),
}

impl std::fmt::Debug for HttpRequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(body) => write!(f, "Inline({:?} bytes)", body.as_ref().map(Vec::len)),
            Self::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

impl std::fmt::Debug for HttpResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(body) => write!(f, "Full({} bytes)", body.len()),
            Self::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// Runs the tenant's HTTP action for `request`; `Ok(None)` when no route matches (the caller
/// answers 404 without running any code).
pub(crate) async fn run(
    inner: &Arc<RunnerInner>,
    tenant: &TenantName,
    request: HttpRequest,
) -> Result<Option<HttpResponse>, FunctionError> {
    let Some(deployment) = inner.deployment(tenant).await? else {
        return Ok(None);
    };
    let Some(routes) = &deployment.http_routes else {
        return Ok(None);
    };
    if lookup_route(routes, &request.path, &request.method).is_none() {
        return Ok(None);
    }
    let limit = inner.config.http_body_bytes_max;
    let method = request.method.to_ascii_uppercase();
    // Convex hands GET, HEAD and OPTIONS handlers no body.
    let carries_body = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let (inline, streamed) = match request.body {
        HttpRequestBody::Inline(Some(bytes)) if bytes.len() > limit => {
            return Err(too_large("request", limit));
        }
        HttpRequestBody::Inline(bytes) => (bytes.filter(|_| carries_body), None),
        HttpRequestBody::Streamed(source) => (None, Some(source).filter(|_| carries_body)),
    };
    let request_json = json!({
        "url": request.url, "method": method, "headers": request.headers,
        "bodyBase64": inline.map(|b| STANDARD.encode(b)), "streamed": streamed.is_some(),
    })
    .to_string();
    let (exchange, ends) = HttpExchange::new(streamed, limit);
    let db = inner.database(tenant).await?;
    let info = FunctionInfo {
        path: FunctionPath {
            module: "http.js".into(),
            export: "default".into(),
        },
        kind: FunctionKind::HttpAction,
        visibility: Visibility::Public,
        args: None,
        returns: None,
    };
    let entry = EntryPoint::HttpAction {
        module: "http.js".into(),
        request_json,
        route: request.path,
    };
    let invocation = inner.invocation_request(
        Invocation {
            db: &db,
            deployment: &deployment,
            info: &info,
            mode: BridgeMode::Action,
            identity: None,
            depth: 0,
            entry,
            snapshot_ts: db.snapshot_ts(),
        },
        Some(exchange.clone()),
    );
    let executor = inner.executor.clone();
    let mut running = tokio::spawn(async move { executor.invoke(invocation).await });
    let joined = tokio::select! {
        // An early answer stands even if the invocation has meanwhile ended: a stream that
        // fails after its head was sent must break the body, not turn into an error response.
        biased;
        Ok(described) = ends.early => {
            let (finished, outcome) = oneshot::channel();
            let writer = exchange.clone();
            tokio::spawn(async move {
                let result = flatten(running.await);
                match &result {
                    Ok(_) => writer.response_body.end(),
                    Err(error) => writer.response_body.abort(&error.message).await,
                }
                let _ = finished.send(result.map(|o| log_lines(&o)));
            });
            let described: Json = serde_json::from_str(&described).unwrap_or_default();
            let (status, headers) = head(&described);
            return Ok(Some(HttpResponse {
                status,
                headers,
                body: HttpResponseBody::Streamed(ends.body),
                log_lines: Vec::new(),
                finished: Some(outcome),
            }));
        }
        joined = &mut running => joined,
    };
    let outcome = match flatten(joined) {
        Ok(outcome) => outcome,
        Err(_) if exchange.request_body.was_too_large() => {
            return Err(too_large("request", limit));
        }
        Err(error) => return Err(error),
    };
    let response: Json = serde_json::from_str(&outcome.result_json)
        .map_err(|e| FunctionError::internal(format!("HTTP action returned invalid JSON: {e}")))?;
    let body = match response["bodyBase64"].as_str() {
        Some(b64) => STANDARD
            .decode(b64)
            .map_err(|e| FunctionError::internal(format!("HTTP action body: {e}")))?,
        None => Vec::new(),
    };
    if body.len() > limit {
        return Err(too_large("response", limit));
    }
    let (status, headers) = head(&response);
    Ok(Some(HttpResponse {
        status,
        headers,
        body: HttpResponseBody::Full(body),
        log_lines: log_lines(&outcome),
        finished: None,
    }))
}

fn flatten(
    joined: Result<Result<InvocationOutcome, RuntimeError>, tokio::task::JoinError>,
) -> Result<InvocationOutcome, FunctionError> {
    match joined {
        Ok(result) => result.map_err(runtime_failure),
        Err(error) => Err(FunctionError::internal(error.to_string())),
    }
}

/// Status and header pairs of a response description.
fn head(described: &Json) -> (u16, Vec<(String, String)>) {
    let headers = described["headers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let status = described["status"].as_u64().unwrap_or(200) as u16;
    (status, headers)
}

fn too_large(which: &str, limit: usize) -> FunctionError {
    FunctionError {
        kind: FailureKind::TooLarge,
        ..FunctionError::user(format!(
            "the HTTP {which} body exceeds the {limit} byte limit (http_body_bytes_max)"
        ))
    }
}

/// The router's matching rule: an exact path first, then the longest matching prefix route;
/// `HEAD` is looked up as `GET`.
pub(crate) fn lookup_route<'a>(
    routes: &'a [HttpRoute],
    path: &str,
    method: &str,
) -> Option<&'a HttpRoute> {
    let method = match method.to_ascii_uppercase().as_str() {
        "HEAD" => "GET".to_owned(),
        m => m.to_owned(),
    };
    if let Some(exact) = routes
        .iter()
        .find(|r| r.method == method && !r.path.ends_with('*') && r.path == path)
    {
        return Some(exact);
    }
    routes
        .iter()
        .filter(|r| {
            r.method == method
                && r.path.ends_with('*')
                && path.starts_with(&r.path[..r.path.len() - 1])
        })
        .max_by_key(|r| r.path.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_like_the_convex_router() {
        let route = |p: &str, m: &str| HttpRoute {
            path: p.into(),
            method: m.into(),
        };
        let routes = vec![
            route("/hello", "GET"),
            route("/echo/*", "POST"),
            route("/echo/deep/*", "POST"),
        ];
        assert_eq!(
            lookup_route(&routes, "/hello", "HEAD").unwrap().path,
            "/hello"
        );
        assert_eq!(
            lookup_route(&routes, "/echo/deep/x", "POST").unwrap().path,
            "/echo/deep/*"
        );
        assert_eq!(
            lookup_route(&routes, "/echo/x", "POST").unwrap().path,
            "/echo/*"
        );
        assert!(lookup_route(&routes, "/hello", "POST").is_none());
        assert!(lookup_route(&routes, "/nope", "GET").is_none());
    }
}
