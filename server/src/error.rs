//! Typed errors of the server, and the one place that turns request errors into HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::source::SourceError;

/// Why the server could not start. Printed as one line by `main`, which exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A camera that cannot work with the given settings.
    #[error("camera '{id}': {source}")]
    Camera {
        /// The camera's id.
        id: String,
        /// What is wrong with it.
        source: SourceError,
    },
}

/// Why an HTTP request was refused. [`IntoResponse`] maps each kind to its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `?camera=` names no camera.
    #[error("unknown camera '{requested}'; cameras: {known}")]
    UnknownCamera {
        /// The id asked for.
        requested: String,
        /// Comma-separated ids that exist.
        known: String,
    },
    /// The camera failed and has no frame to give.
    #[error("camera '{id}' is offline: {reason}")]
    CameraOffline {
        /// The camera's id.
        id: String,
        /// Why it is offline.
        reason: String,
    },
    /// No frame arrived in time.
    #[error("camera '{0}' produced no frame in time")]
    NoFrame(String),
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
    /// Missing or wrong bearer token.
    #[error("a valid token is required (Authorization: Bearer TOKEN)")]
    Unauthorized,
    /// Frames can only be pushed to `push` cameras.
    #[error("camera '{0}' is not a push camera")]
    NotPushCamera(String),
    /// A pushed body that is not a usable frame.
    #[error("{0}")]
    BadFrame(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownCamera { .. } | ApiError::NotPushCamera(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadFrame(_) => StatusCode::BAD_REQUEST,
            ApiError::CameraOffline { .. } | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NoFrame(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status(), [("cache-control", "no-store")], format!("{self}\n")).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
