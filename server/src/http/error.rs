//! Why an HTTP request was refused: the one place that maps an error to the status, headers
//! and words a client gets. Handlers return `Result<_, ApiError>`; lower layers keep their
//! own typed errors, converted here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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
    #[error("a valid token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)")]
    Unauthorized,
    /// Missing or wrong token on a viewer endpoint (see [`crate::auth`]).
    #[error("a valid token is required (Authorization: Bearer TOKEN, HTTP Basic, or ?token=TOKEN)")]
    NeedsToken {
        /// Whether to offer HTTP Basic in the challenge: yes for tools and for pages opened
        /// directly (the browser then asks for the token itself), no when the request offered a
        /// credential or is a script's `fetch` (the web client asks in its own way, without a
        /// browser login box over it).
        offer_basic: bool,
    },
    /// The client's address failed authentication too often.
    #[error("too many failed attempts; retry in {} s", .0.as_secs().max(1))]
    TooManyAttempts(std::time::Duration),
    /// A web page from another site tried to open a WebSocket.
    #[error("WebSocket from origin '{0}' refused; allow it with --allow-origin")]
    ForeignOrigin(String),
    /// Frames can only be pushed to `push` cameras.
    #[error("camera '{0}' is not a push camera")]
    NotPushCamera(String),
    /// A pushed body that is not a usable frame.
    #[error("{0}")]
    BadFrame(String),
    /// A query parameter that cannot be used.
    #[error("{0}")]
    BadRequest(String),
    /// No rendition could be made now.
    #[error(transparent)]
    Rendition(#[from] crate::rendition::RenditionError),
    /// The server does not record.
    #[error("this server does not record (start it with --record-dir DIR)")]
    RecordingOff,
    /// The server does not look for motion.
    #[error("this server does not look for motion (start it with --motion all, or camera ids)")]
    MotionOff,
    /// A camera not watched for motion.
    #[error("camera '{0}' is not watched for motion (start the server with --motion all, or its id)")]
    NotWatched(String),
    /// Something only an admin may do.
    #[error("{0} needs the admin token")]
    NotAdmin(&'static str),
    /// A zone that could not be taken.
    #[error(transparent)]
    Zone(#[from] crate::motion::zones::ZoneError),
    /// No such event (or no longer kept).
    #[error("no event {0} (events are kept while the server runs, the newest 1000)")]
    NoEvent(u64),
    /// Nothing recorded where asked.
    #[error("{0}")]
    NotRecorded(String),
    /// A picture could not be scaled.
    #[error("JPEG: {0}")]
    Codec(#[from] crate::media::jpeg::turbo::CodecError),
    /// The recordings cannot be read.
    #[error("recordings: {0}")]
    Store(#[from] crate::record::schema::StoreError),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownCamera { .. } | ApiError::NotPushCamera(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized | ApiError::NeedsToken { .. } => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            ApiError::BadFrame(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::RecordingOff | ApiError::NotRecorded(_) => StatusCode::NOT_FOUND,
            ApiError::MotionOff | ApiError::NoEvent(_) | ApiError::NotWatched(_) => StatusCode::NOT_FOUND,
            ApiError::NotAdmin(_) => StatusCode::FORBIDDEN,
            ApiError::Zone(crate::motion::zones::ZoneError::NotWatched(_)) => StatusCode::NOT_FOUND,
            ApiError::Zone(crate::motion::zones::ZoneError::Bad(_)) => StatusCode::BAD_REQUEST,
            ApiError::Zone(crate::motion::zones::ZoneError::Save { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Store(_) | ApiError::Codec(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::CameraOffline { .. } | ApiError::ShuttingDown | ApiError::Rendition(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::NoFrame(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status(), [("cache-control", "no-store")], format!("{self}\n")).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized | ApiError::NeedsToken { offer_basic: false } => {
                headers.insert("www-authenticate", HeaderValue::from_static("Bearer"));
            }
            ApiError::NeedsToken { offer_basic: true } => {
                headers.insert(
                    "www-authenticate",
                    HeaderValue::from_static(r#"Bearer, Basic realm="framecast", charset="UTF-8""#),
                );
            }
            ApiError::TooManyAttempts(wait) => {
                headers.insert("retry-after", HeaderValue::from(wait.as_secs().max(1)));
            }
            _ => {}
        }
        response
    }
}

impl ApiError {
    /// The answer to a refused authentication. `script` is true for requests a page's script
    /// made (`Sec-Fetch-Mode: cors` or `same-origin`), which get no Basic challenge.
    pub fn from_auth(e: crate::auth::AuthError, script: bool) -> ApiError {
        match e {
            crate::auth::AuthError::Unauthorized { presented } => {
                ApiError::NeedsToken { offer_basic: !presented && !script }
            }
            crate::auth::AuthError::TooManyAttempts { retry_after } => ApiError::TooManyAttempts(retry_after),
        }
    }
}
