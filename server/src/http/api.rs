//! `GET /api/state`: every camera with its status, settings, viewer count and renditions.

use axum::Json;
use axum::extract::State;
use framecast_shared::{ApiState, PROTOCOL_VERSION};

use super::AppState;

/// The state document.
pub async fn state(State(state): State<AppState>) -> Json<ApiState> {
    Json(ApiState {
        protocol: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        cameras: state
            .hubs
            .iter()
            .map(|h| framecast_shared::CameraInfo {
                renditions: state.renditions.describe(h.id()),
                ..h.info()
            })
            .collect(),
    })
}
