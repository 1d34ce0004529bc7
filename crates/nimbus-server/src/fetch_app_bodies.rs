//! Streamed bodies of fetch apps. A request body the server did not buffer is pulled by the app
//! chunk by chunk (`fetch/read`); a response whose body is a `ReadableStream` reaches the client
//! as the app writes it (`fetch/write`, then `fetch/end`). Both directions count bytes against
//! [`FETCH_APP_BODY_BYTES_MAX`], and the response side holds at most
//! [`FETCH_APP_STREAM_CHUNKS_QUEUED`] chunks, so a slow client slows the app down instead of
//! filling the server's memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::{Body, BodyDataStream, Bytes};
use futures::StreamExt;
use nimbus_runtime::HostError;
use tokio::sync::mpsc;

use crate::fetch_apps::FETCH_APP_BODY_BYTES_MAX;

/// Chunks of a streamed response body queued between the app and a slow client.
pub const FETCH_APP_STREAM_CHUNKS_QUEUED: usize = 16;
/// Request bodies up to this size (by `Content-Length`) are buffered and handed to the app in
/// one piece; larger or unsized ones are streamed. Small bodies are the common case, and one
/// hand-off is cheaper than a round trip per chunk.
pub const FETCH_APP_INLINE_BODY_BYTES_MAX: usize = 64 * 1024;

/// The request body, read on the app's demand.
pub struct RequestBodyReader {
    stream: tokio::sync::Mutex<Option<BodyDataStream>>,
    read: AtomicUsize,
    too_large: AtomicBool,
}

impl RequestBodyReader {
    /// A reader over `body`, or one that is already at its end.
    pub fn new(body: Option<Body>) -> Self {
        Self {
            stream: tokio::sync::Mutex::new(body.map(Body::into_data_stream)),
            read: AtomicUsize::new(0),
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
                if total > FETCH_APP_BODY_BYTES_MAX {
                    *stream = None;
                    self.too_large.store(true, Ordering::SeqCst);
                    return Err(HostError::new(format!(
                        "the request body exceeds {FETCH_APP_BODY_BYTES_MAX} bytes"
                    )));
                }
                Ok(Some(chunk))
            }
        }
    }
}

type Chunk = Result<Bytes, std::io::Error>;

/// The app's side of a streamed response body.
pub struct ResponseBodyWriter {
    sender: parking_lot::Mutex<Option<mpsc::Sender<Chunk>>>,
    written: AtomicUsize,
}

/// A writer and the response body its chunks become.
pub fn response_body_channel() -> (ResponseBodyWriter, Body) {
    let (sender, receiver) = mpsc::channel::<Chunk>(FETCH_APP_STREAM_CHUNKS_QUEUED);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let writer = ResponseBodyWriter {
        sender: parking_lot::Mutex::new(Some(sender)),
        written: AtomicUsize::new(0),
    };
    (writer, Body::from_stream(stream))
}

impl ResponseBodyWriter {
    /// Sends one chunk, waiting while the queue is full.
    pub async fn write(&self, chunk: Bytes) -> Result<(), HostError> {
        let total = self.written.fetch_add(chunk.len(), Ordering::SeqCst) + chunk.len();
        if total > FETCH_APP_BODY_BYTES_MAX {
            self.abort(&format!(
                "the response body exceeds {FETCH_APP_BODY_BYTES_MAX} bytes"
            ))
            .await;
            return Err(HostError::new(format!(
                "the response body exceeds {FETCH_APP_BODY_BYTES_MAX} bytes; the response was cut off"
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
