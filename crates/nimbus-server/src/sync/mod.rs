//! The WebSocket sync protocol (`/api/<version>/sync`), with messages from the
//! `convex_sync_types` crate.

pub mod dedupe;
mod session;

use std::sync::Arc;

use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::response::Response;

use crate::state::AppState;
use crate::tenants::Admission;

/// Bytes of outgoing frames gathered before they are written to the connection.
const WS_WRITE_BATCH_BYTES: usize = 8 * 1024;

/// Upgrades to a sync socket.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = state.config.ws_message_bytes_max;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(state.config.ws_read_buffer_bytes)
        // Unsent bytes are bounded too: at most one message beyond the write batch.
        .max_write_buffer_size(WS_WRITE_BATCH_BYTES + max)
        .write_buffer_size(WS_WRITE_BATCH_BYTES)
        .on_upgrade(move |socket| session::run(socket, state, admission))
}
