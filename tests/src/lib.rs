//! End-to-end tests of framecast live in `tests/e2e/`: they start the real binary (built from
//! the server's own `main.rs` as `framecast-under-test`) on 127.0.0.1 port 0 and talk to it as
//! real clients do: WebSocket viewers, MJPEG readers, ffmpeg, and headless Chromium.
