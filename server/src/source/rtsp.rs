//! IP cameras over RTSP (`rtsp://[user:pass@]host[:port]/path`), read by retina, the RTSP
//! client moonfire-nvr runs in production: the camera's H.264 passes through untouched.
//!
//! The session is the one moonfire-nvr makes: `DESCRIBE`, `SETUP` of the first H.264 video
//! stream over interleaved TCP (no UDP ports to open, nothing lost to a firewall), `PLAY`;
//! frames come out as AVC access units with the parameter sets apart, exactly the server's
//! own form ([`crate::media::h264`]). retina has no read timeout of its own, so each frame is
//! waited for at most [`FRAME_TIMEOUT`]; any failure ends the capture with retina's reason (its
//! first line) and the hub retries with back-off, so a camera that goes away and comes back
//! recovers by itself. Sessions a camera may still hold from an earlier connection are waited
//! out first (retina's session group), as cameras that refuse a second session need.
//!
//! The address goes to retina without its credentials (retina refuses addresses that carry
//! them); the user name and password go only in its `Credentials`, and nothing here logs or
//! reports them.

use std::sync::Arc;
use std::time::Duration;

use framecast_shared::CameraModes;
use futures_util::StreamExt;
use retina::client::{
    Credentials, PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions, TcpTransportOptions,
    Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParametersCodec};
use tokio_util::sync::CancellationToken;

use super::{Capture, Source, SourceError, Stopper};
use crate::camera::{RtspUrl, Settings};
use crate::media::h264::{AccessUnit, Stream};
use crate::media::{Codec, Encoded};

/// Longest wait for the camera to answer or to send the next frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// The `rtsp://` camera kind.
pub struct RtspSource {
    address: RtspUrl,
    /// The sessions opened to this camera, so a new one waits until a stale one has expired.
    sessions: Arc<SessionGroup>,
}

impl std::fmt::Debug for RtspSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSource").field("address", &self.address).finish_non_exhaustive()
    }
}

impl RtspSource {
    /// A camera at `address`.
    pub fn new(address: RtspUrl) -> RtspSource {
        RtspSource { address, sessions: Arc::new(SessionGroup::default()) }
    }
}

impl Source for RtspSource {
    fn kind(&self) -> &'static str {
        "rtsp"
    }

    fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Device(format!("cannot start the RTSP client: {e}")))?;
        let stop = CancellationToken::new();
        let sessions = self.sessions.clone();
        let demuxed = runtime.block_on(async { until(&stop, connect(&self.address, sessions)).await })??;
        Ok(Box::new(RtspCapture { runtime, demuxed: Some(demuxed), stop, stream: None }))
    }

    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        Some(Codec::H264)
    }

    /// The camera decides size, rate and quality itself.
    fn modes(&self, _current: &Settings) -> CameraModes {
        CameraModes { sizes: Vec::new(), max_fps: 0, quality: false }
    }
}

/// A running RTSP session: its own small runtime on the capture thread, the demuxed frames.
struct RtspCapture {
    runtime: tokio::runtime::Runtime,
    /// Dropped inside the runtime (retina tears the session down on a task of it).
    demuxed: Option<retina::client::Demuxed>,
    stop: CancellationToken,
    /// The parameters of the pictures now.
    stream: Option<Arc<Stream>>,
}

/// `future`, or an error at once when `stop` fires.
async fn until<T>(stop: &CancellationToken, future: impl Future<Output = T>) -> Result<T, SourceError> {
    tokio::select! {
        _ = stop.cancelled() => Err(SourceError::Device("stopped".into())),
        out = future => Ok(out),
    }
}

/// retina's reason in one line (its errors span several, with connection details).
fn reason(what: &str, e: &retina::Error) -> SourceError {
    let text = e.to_string();
    SourceError::Device(format!("{what}: {}", text.lines().next().unwrap_or("").trim()))
}

/// `DESCRIBE`, `SETUP` of the first H.264 video stream over TCP, `PLAY`.
async fn connect(
    address: &RtspUrl,
    sessions: Arc<SessionGroup>,
) -> Result<retina::client::Demuxed, SourceError> {
    let url = url::Url::parse(&address.url)
        .map_err(|e| SourceError::Device(format!("{} is not an RTSP address: {e}", address.url)))?;
    let stale = sessions.stale_sessions();
    if stale.num_sessions > 0 {
        let _ = tokio::time::timeout(FRAME_TIMEOUT, sessions.await_stale_sessions(&stale)).await;
    }
    let creds = address.user.as_ref().map(|user| Credentials {
        username: user.clone(),
        password: address.password.clone().unwrap_or_default(),
    });
    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("framecast {}", env!("CARGO_PKG_VERSION")))
        .session_group(sessions);
    let mut session = tokio::time::timeout(FRAME_TIMEOUT, Session::describe(url, options))
        .await
        .map_err(|_| {
            SourceError::Device(format!("{} did not answer DESCRIBE in {FRAME_TIMEOUT:?}", address.url))
        })?
        .map_err(|e| reason("DESCRIBE failed", &e))?;
    let video = session
        .streams()
        .iter()
        .position(|s| s.media() == "video" && s.encoding_name().eq_ignore_ascii_case("h264"))
        .ok_or_else(|| {
            let offered: Vec<String> =
                session.streams().iter().map(|s| format!("{}/{}", s.media(), s.encoding_name())).collect();
            SourceError::Device(format!(
                "the camera offers no H.264 video (it offers {})",
                offered.join(", ")
            ))
        })?;
    let setup = SetupOptions::default()
        .transport(Transport::Tcp(TcpTransportOptions::default()))
        .frame_format(FrameFormat::MP4);
    tokio::time::timeout(FRAME_TIMEOUT, session.setup(video, setup))
        .await
        .map_err(|_| SourceError::Device("SETUP timed out".into()))?
        .map_err(|e| reason("SETUP failed", &e))?;
    let playing = tokio::time::timeout(FRAME_TIMEOUT, session.play(PlayOptions::default()))
        .await
        .map_err(|_| SourceError::Device("PLAY timed out".into()))?
        .map_err(|e| reason("PLAY failed", &e))?;
    playing.demuxed().map_err(|e| reason("the stream cannot be read", &e))
}

impl RtspCapture {
    /// The stream of the parameters `params` carries, the one there is if they are the same.
    fn stream_of(&mut self, params: &retina::codec::VideoParameters) -> Result<Arc<Stream>, SourceError> {
        let VideoParametersCodec::H264 { sps, pps } = params.codec_params() else {
            return Err(SourceError::Device("the camera's video is not H.264".into()));
        };
        if let Some(stream) = &self.stream
            && stream.sps == sps
            && stream.pps == pps
        {
            return Ok(stream.clone());
        }
        let stream = Arc::new(Stream::from_parameter_sets(sps, pps)?);
        self.stream = Some(stream.clone());
        Ok(stream)
    }
}

impl Capture for RtspCapture {
    fn pace(&self) -> Option<u32> {
        None
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        loop {
            let Some(demuxed) = self.demuxed.as_mut() else {
                return Err(SourceError::Device("stopped".into()));
            };
            let stop = &self.stop;
            let item = self
                .runtime
                .block_on(async { until(stop, tokio::time::timeout(FRAME_TIMEOUT, demuxed.next())).await })?
                .map_err(|_| {
                    SourceError::Device(format!("the camera sent no frame for {} s", FRAME_TIMEOUT.as_secs()))
                })?;
            let frame = match item {
                None => return Err(SourceError::Device("the camera ended the stream".into())),
                Some(Err(e)) => return Err(reason("the stream broke", &e)),
                Some(Ok(CodecItem::VideoFrame(frame))) => frame,
                Some(Ok(_)) => continue,
            };
            if frame.loss() > 0 {
                tracing::debug!("RTSP: {} packets lost before a frame", frame.loss());
            }
            let params = match demuxed.streams()[frame.stream_id()].parameters() {
                Some(ParametersRef::Video(params)) => params.clone(),
                _ => continue,
            };
            let stream = self.stream_of(&params)?;
            let keyframe = frame.is_random_access_point();
            return Ok(Encoded::H264(AccessUnit { data: frame.into_data().into(), keyframe, stream }));
        }
    }

    fn stopper(&self) -> Option<Stopper> {
        let stop = self.stop.clone();
        Some(Arc::new(move || stop.cancel()))
    }
}

impl Drop for RtspCapture {
    fn drop(&mut self) {
        // retina sends TEARDOWN from a task of the runtime the session ends in.
        let _inside = self.runtime.enter();
        drop(self.demuxed.take());
    }
}
