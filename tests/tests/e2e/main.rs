//! End-to-end tests: the real `framecast` binary, real sockets on loopback, real clients.
//! One test binary with shared helpers in [`util`]; one module per surface.

mod autobahn;
mod browser;
mod cameras;
mod cli;
mod h264;
mod lifecycle;
mod mjpeg;
mod motion;
mod push;
mod recording;
mod rendition;
mod security;
mod snapshot;
mod util;
mod webapp;
mod websocket;
