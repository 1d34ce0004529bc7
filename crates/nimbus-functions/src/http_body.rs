//! Streamed HTTP bodies between the server and a running handler — an HTTP action or a
//! Workers-style fetch app. A request body the server did not buffer is pulled by the handler
//! chunk by chunk (`fetch/read`); a response whose body is a `ReadableStream` is sent as soon
//! as the handler has its head (`fetch/respond`) and reaches the client as the handler writes
//! it (`fetch/write`, then `fetch/end`). Both directions count bytes against a limit the
//! caller names, and the response side queues at most [`HTTP_STREAM_CHUNKS_QUEUED`] chunks,
//! so a slow client slows the handler down instead of filling the server's memory.
//!
//! The op names are the same for both kinds of handler, so the prelude's JS side is shared.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use nimbus_runtime::HostError;
use tokio::sync::{mpsc, oneshot};

/// Chunks of a streamed response body queued between the handler and a slow client.
pub const HTTP_STREAM_CHUNKS_QUEUED: usize = 16;
/// Request bodies up to this size (by `Content-Length`) are buffered and handed to the
/// handler in one piece; larger or unsized ones are streamed. Small bodies are the common
/// case, and one hand-off is cheaper than a round trip per chunk.
pub const HTTP_INLINE_BODY_BYTES_MAX: usize = 64 * 1024;

/// A request body as the server receives it.
pub type BodySource = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;
/// A response body as the handler produces it; an `Err` item breaks the response.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The request body, read on the handler's demand.
pub struct RequestBodyReader {
    stream: tokio::sync::Mutex<Option<BodySource>>,
    read: AtomicUsize,
    limit: usize,
    too_large: AtomicBool,
}

impl RequestBodyReader {
    /// A reader over `body` that refuses more than `limit` bytes, or one already at its end.
    pub fn new(body: Option<BodySource>, limit: usize) -> Self {
        Self {
            stream: tokio::sync::Mutex::new(body),
            read: AtomicUsize::new(0),
            limit,
            too_large: AtomicBool::new(false),
        }
    }

    /// Whether the client sent more than the limit (the server answers 413 if it still can).
    pub fn was_too_large(&self) -> bool {
        self.too_large.load(Ordering::SeqCst)
    }

    /// The next chunk, `None` at the end.
    pub async fn next_chunk(&self) -> Result<Option<Bytes>, HostError> {
        let mut stream = self.stream.lock().await;
        let Some(body) = stream.as_mut() else {
            return Ok(None);
        };
        match body.next().await {
            None => {
                *stream = None;
                Ok(None)
            }
            Some(Err(error)) => {
                *stream = None;
                Err(HostError::new(format!(
                    "reading the request body failed: {error}"
                )))
            }
            Some(Ok(chunk)) => {
                let total = self.read.fetch_add(chunk.len(), Ordering::SeqCst) + chunk.len();
                if total > self.limit {
                    *stream = None;
                    self.too_large.store(true, Ordering::SeqCst);
                    return Err(HostError::new(format!(
                        "the request body exceeds {} bytes",
                        self.limit
                    )));
                }
                Ok(Some(chunk))
            }
        }
    }
}

type Chunk = Result<Bytes, std::io::Error>;

/// The handler's side of a streamed response body.
pub struct ResponseBodyWriter {
    sender: parking_lot::Mutex<Option<mpsc::Sender<Chunk>>>,
    written: AtomicUsize,
    limit: usize,
}

/// A writer that refuses more than `limit` bytes, and the response body its chunks become.
pub fn response_body_channel(limit: usize) -> (ResponseBodyWriter, BodyStream) {
    let (sender, receiver) = mpsc::channel::<Chunk>(HTTP_STREAM_CHUNKS_QUEUED);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let writer = ResponseBodyWriter {
        sender: parking_lot::Mutex::new(Some(sender)),
        written: AtomicUsize::new(0),
        limit,
    };
    (writer, Box::pin(stream))
}

impl ResponseBodyWriter {
    /// Sends one chunk, waiting while the queue is full.
    pub async fn write(&self, chunk: Bytes) -> Result<(), HostError> {
        let total = self.written.fetch_add(chunk.len(), Ordering::SeqCst) + chunk.len();
        if total > self.limit {
            let message = format!("the response body exceeds {} bytes", self.limit);
            self.abort(&message).await;
            return Err(HostError::new(format!(
                "{message}; the response was cut off"
            )));
        }
        let sender = self.sender.lock().clone();
        let Some(sender) = sender else {
            return Err(HostError::new("the response body is already finished"));
        };
        sender
            .send(Ok(chunk))
            .await
            .map_err(|_| HostError::new("the client went away"))
    }

    /// Ends the body cleanly.
    pub fn end(&self) {
        self.sender.lock().take();
    }

    /// Ends the body with an error, so the client sees a broken response rather than a short
    /// one that looks complete. Does nothing once the body has ended.
    pub async fn abort(&self, message: &str) {
        let sender = self.sender.lock().take();
        if let Some(sender) = sender {
            let _ = sender
                .send(Err(std::io::Error::other(message.to_owned())))
                .await;
        }
    }
}

/// One request's streaming state, shared by the server (which owns the client connection) and
/// the bridge of the handler serving it.
pub struct HttpExchange {
    /// The request body not yet read.
    pub request_body: RequestBodyReader,
    /// Where a streamed response body goes.
    pub response_body: ResponseBodyWriter,
    /// Taken by the first `fetch/respond`: the handler has its response head, so the server
    /// answers without waiting for the invocation to end.
    respond: parking_lot::Mutex<Option<oneshot::Sender<String>>>,
}

/// What the server keeps of an exchange: the early response head (a JSON description, as
/// `fetch/respond` received it) and the streamed body that follows it.
pub struct ExchangeEnds {
    /// Resolves when the handler answers early; dropped unanswered if it never does.
    pub early: oneshot::Receiver<String>,
    /// The streamed response body (used when the early description says `streamed`).
    pub body: BodyStream,
}

impl HttpExchange {
    /// An exchange whose request body is `body` (None: already handed over in full) and
    /// whose bodies are limited to `limit` bytes each way.
    pub fn new(body: Option<BodySource>, limit: usize) -> (Arc<Self>, ExchangeEnds) {
        let (writer, stream) = response_body_channel(limit);
        let (respond, early) = oneshot::channel();
        let exchange = Arc::new(Self {
            request_body: RequestBodyReader::new(body, limit),
            response_body: writer,
            respond: parking_lot::Mutex::new(Some(respond)),
        });
        (
            exchange,
            ExchangeEnds {
                early,
                body: stream,
            },
        )
    }

    /// Handles a sync `fetch/*` syscall; `None` when `op` is not one.
    pub fn sync_call(&self, op: &str, args_json: &str) -> Option<Result<String, HostError>> {
        match op {
            "fetch/end" => {
                self.response_body.end();
                Some(Ok("null".into()))
            }
            "fetch/respond" => Some(match self.respond.lock().take() {
                Some(sender) => {
                    // The receiver is gone only if the request was abandoned; nothing to do.
                    let _ = sender.send(args_json.to_owned());
                    Ok("null".into())
                }
                None => Err(HostError::new("the response was already sent")),
            }),
            _ => None,
        }
    }

    /// Whether `op` is an async `fetch/*` syscall served by [`HttpExchange::async_call`].
    pub fn is_async_op(op: &str) -> bool {
        matches!(op, "fetch/read" | "fetch/write")
    }

    /// Handles `fetch/read` (the next request chunk, base64, or null at the end) and
    /// `fetch/write` (one base64 response chunk).
    pub async fn async_call(&self, op: &str, args_json: &str) -> Result<String, HostError> {
        match op {
            "fetch/read" => {
                let chunk = self.request_body.next_chunk().await?;
                Ok(serde_json::Value::from(chunk.map(|c| STANDARD.encode(c))).to_string())
            }
            "fetch/write" => {
                let encoded: String =
                    serde_json::from_str(args_json).map_err(|e| HostError::new(e.to_string()))?;
                let chunk = STANDARD
                    .decode(encoded)
                    .map_err(|e| HostError::new(e.to_string()))?;
                self.response_body.write(chunk.into()).await?;
                Ok("null".into())
            }
            _ => Err(HostError::new(format!("unknown operation {op}"))),
        }
    }
}

// Bodies are opaque streams; their Debug output names the type only.
macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(
    RequestBodyReader,
    ResponseBodyWriter,
    HttpExchange,
    ExchangeEnds
);
