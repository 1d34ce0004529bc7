//! The WebSocket sync protocol (`/api/<version>/sync`), with messages from the
//! `convex_sync_types` crate.

pub mod dedupe;
mod session;

use std::sync::Arc;

use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::response::Response;

use crate::state::AppState;
use crate::tenants::Admission;

/// Upgrades to a sync socket.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    Extension(admission): Extension<Admission>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = state.config.ws_message_bytes_max;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(socket, state, admission))
}
