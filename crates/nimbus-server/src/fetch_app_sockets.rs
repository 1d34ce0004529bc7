//! WebSockets of fetch apps: an upgrade request to an app hands the connection to the app's
//! `websocket` handlers, in one fresh isolate bound to the connection and dropped when it
//! closes (no state reaches the next connection).
//!
//! Every limit closes the socket cleanly: idle for `app_ws_idle_timeout` → 1001, a message over
//! `app_ws_message_bytes_max` → 1009, a handler that overruns the time limit on a frame or the
//! heap → 1011 with the reason, the server's socket budget exhausted → 1013.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use nimbus_runtime::{
    CancelToken, EntryPoint, ExecutionMode, HostBridge, HostCall, HostCallContext, HostError,
    HostFuture, InvocationAuth, InvocationRequest, TenantId,
};
use serde_json::{Value as Json, json};
use tokio::sync::{Semaphore, mpsc};

use crate::fetch_apps::FetchApp;
use crate::state::AppState;

/// Frames from the client queued for the app before reading from the client pauses.
pub const APP_WS_INBOUND_QUEUE_MAX: usize = 64;

/// The host side of one app WebSocket.
struct SocketBridge {
    incoming: Arc<tokio::sync::Mutex<mpsc::Receiver<Json>>>,
    outgoing: mpsc::Sender<Message>,
    idle: Duration,
}

impl HostBridge for SocketBridge {
    fn call(&self, _ctx: &HostCallContext, call: HostCall) -> Result<String, HostError> {
        let HostCall::Syscall { op, args_json } = call else {
            return Err(HostError::new("not available on an app WebSocket"));
        };
        let args: Json =
            serde_json::from_str(&args_json).map_err(|e| HostError::new(e.to_string()))?;
        let message = match op.as_str() {
            "ws/send" => match (args["text"].as_str(), args["bytesBase64"].as_str()) {
                (Some(text), _) => Message::Text(text.to_owned().into()),
                (None, Some(b64)) => Message::Binary(
                    STANDARD
                        .decode(b64)
                        .map_err(|e| HostError::new(e.to_string()))?
                        .into(),
                ),
                _ => return Err(HostError::new("ws.send needs a string or bytes")),
            },
            "ws/close" => Message::Close(Some(CloseFrame {
                code: args["code"].as_u64().unwrap_or(1000) as u16,
                reason: args["reason"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect::<String>()
                    .into(),
            })),
            other => return Err(HostError::new(format!("unknown operation {other}"))),
        };
        self.outgoing.try_send(message).map_err(|_| {
            HostError::new("the client is not reading fast enough; its queue is full")
        })?;
        Ok("null".into())
    }

    fn call_async(&self, ctx: &HostCallContext, call: HostCall) -> HostFuture {
        match call {
            HostCall::AsyncSyscall { op, .. } if op == "ws/recv" => {
                let idle = self.idle;
                let outgoing = self.outgoing.clone();
                // One pending `ws/recv` at a time holds the receiver.
                let incoming = self.incoming.clone();
                Box::pin(async move {
                    let mut incoming = incoming.lock().await;
                    match tokio::time::timeout(idle, incoming.recv()).await {
                        Ok(Some(event)) => Ok(event.to_string()),
                        Ok(None) => Ok(
                            json!({ "type": "close", "code": 1006, "reason": "connection lost" })
                                .to_string(),
                        ),
                        Err(_) => {
                            let _ = outgoing.try_send(Message::Close(Some(CloseFrame {
                                code: 1001,
                                reason: "idle timeout".into(),
                            })));
                            Ok(
                                json!({ "type": "close", "code": 1001, "reason": "idle timeout" })
                                    .to_string(),
                            )
                        }
                    }
                })
            }
            other => {
                let result = self.call(ctx, other);
                Box::pin(std::future::ready(result))
            }
        }
    }
}

/// Serves one upgraded connection with the app's `websocket` handlers.
pub async fn run(
    state: Arc<AppState>,
    app: Arc<FetchApp>,
    socket: WebSocket,
    permits: Arc<Semaphore>,
    request_json: String,
) {
    let (mut sink, mut stream) = socket.split();
    let Ok(_permit) = permits.try_acquire_owned() else {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1013,
                reason: "too many WebSockets; try again later".into(),
            })))
            .await;
        return;
    };
    let (in_tx, in_rx) = mpsc::channel::<Json>(APP_WS_INBOUND_QUEUE_MAX);
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(state.config.ws_outbound_queue_max);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    let reader_out = out_tx.clone();
    let reader = tokio::spawn(async move {
        while let Some(frame) = stream.next().await {
            let event = match frame {
                Ok(Message::Text(text)) => json!({ "type": "text", "text": text.as_str() }),
                Ok(Message::Binary(bytes)) => {
                    json!({ "type": "binary", "bytesBase64": STANDARD.encode(&bytes) })
                }
                Ok(Message::Close(frame)) => {
                    let (code, reason) =
                        frame.map_or((1005, String::new()), |f| (f.code, f.reason.to_string()));
                    let _ = in_tx
                        .send(json!({ "type": "close", "code": code, "reason": reason }))
                        .await;
                    return;
                }
                Ok(_) => continue,
                Err(error) => {
                    // Oversized messages end here: close with 1009 and tell the app.
                    let text = error.to_string().to_ascii_lowercase();
                    let too_big = ["too long", "too big", "space limit", "capacity", "size"]
                        .iter()
                        .any(|w| text.contains(w));
                    let (code, reason) = if too_big {
                        (1009, "message too big")
                    } else {
                        (1002, "protocol error")
                    };
                    let _ = reader_out.try_send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })));
                    let _ = in_tx
                        .send(json!({ "type": "close", "code": code, "reason": reason }))
                        .await;
                    return;
                }
            };
            if in_tx.send(event).await.is_err() {
                return;
            }
        }
        let _ = in_tx
            .send(json!({ "type": "close", "code": 1006, "reason": "connection lost" }))
            .await;
    });
    let bridge = SocketBridge {
        incoming: Arc::new(tokio::sync::Mutex::new(in_rx)),
        outgoing: out_tx.clone(),
        idle: state.config.app_ws_idle_timeout,
    };
    let request = InvocationRequest {
        tenant: TenantId::new(format!("{}/{}/ws", app.tenant().as_str(), app.name())),
        bundle: app.bundle().clone(),
        policy: crate::fetch_apps::socket_policy(&state.config),
        bridge: Arc::new(bridge),
        entry: EntryPoint::WebSocket {
            module: app.main().to_owned(),
            request_json,
            env_json: app.env_json(&state.config),
        },
        mode: ExecutionMode::Action,
        auth: InvocationAuth::Anonymous,
        request_id: format!("ws-{}", hex::encode(rand::random::<[u8; 6]>())),
        cancel: CancelToken::new(),
    };
    let outcome = state.runner.executor().invoke_long_lived(request).await;
    if let Err(error) = &outcome {
        let lines: Vec<String> = error.logs.iter().map(|l| l.to_convex_string()).collect();
        state.logs.record(
            app.tenant().as_str(),
            "HttpAction",
            &format!("app:{}/ws", app.name()),
            &lines,
            Some(&error.message),
            0.0,
        );
        let reason: String = format!("{}: {}", error.code.tag(), error.message)
            .chars()
            .take(120)
            .collect();
        let _ = out_tx.try_send(Message::Close(Some(CloseFrame {
            code: 1011,
            reason: reason.into(),
        })));
    } else {
        let _ = out_tx.try_send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })));
    }
    drop(out_tx);
    reader.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}
