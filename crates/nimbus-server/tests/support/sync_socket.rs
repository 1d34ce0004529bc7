//! A raw sync-protocol WebSocket for tests that need to see (or withhold) every frame.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `tenant`'s sync socket on the server at `base` and sends `Connect`.
pub async fn connect(base: &str, tenant: &str, session_id: &str) -> Socket {
    let url = format!(
        "{}/t/{tenant}/api/1.48.0/sync",
        base.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut socket, json!({ "type": "Connect", "sessionId": session_id, "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 1 })).await;
    socket
}

pub async fn send(socket: &mut Socket, message: Json) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next text message (within 10 s).
pub async fn next_message(socket: &mut Socket) -> Json {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a server message within 10 s")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// A sync-protocol timestamp: base64 of a little-endian u64.
pub fn decode_ts(ts: &Json) -> u64 {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ts.as_str().unwrap())
        .unwrap();
    u64::from_le_bytes(bytes.try_into().unwrap())
}
