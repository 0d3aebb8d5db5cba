//! Why the server cannot start: the one error `main` prints before exiting with code 2.
//! (Why a request is refused, and its HTTP status, is [`crate::http::error`]'s.)

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
    /// `--tls-cert` / `--tls-key` cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] crate::http::tls::TlsError),
    /// `--record-dir` cannot be used.
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    /// The motion detectors' threads could not start.
    #[error("motion detection: {0}")]
    Motion(std::io::Error),
}
