//! `loadgen`: load generator and benchmark driver for framecast.
//!
//! It speaks the real protocols (WebSocket with acks, MJPEG over raw HTTP) from many clients
//! in one process, and measures what each client receives. `loadgen bench` runs the whole
//! benchmark: it starts `framecast` as a separate process on 127.0.0.1, drives each scenario
//! for a bounded time, reads the server's CPU and memory from `/proc`, and prints a table plus
//! a JSON file. Only loopback is ever contacted.
//!
//! Layout (`main` parses the arguments and hands each subcommand to its module):
//! - [`clients`]: the WebSocket and MJPEG client drivers every scenario is built from, and the
//!   summary of a run (`loadgen clients` runs them alone against a running server).
//! - [`setup`]: the benchmark's camera (generated JPEGs) and the arguments framecast starts with.
//! - [`bench`](mod@bench): `loadgen bench`, the whole benchmark: every scenario below, its
//!   JSON and its tables.
//! - [`encode`]: `loadgen encode`, the emulated camera's encode speed on one core.
//! - [`copy_server`]: `loadgen copy-server`, the baseline MJPEG server of the **copy** rows.
//! - [`mix`]: `loadgen mix`, normal viewers next to slow ones.
//! - [`churn`]: clients that connect, take a frame and leave (in `bench` only).
//! - [`renditions`]: `loadgen renditions`, JPEG speed, what renditions cost, slow links.
//! - [`grid`]: `loadgen grid`, four cameras on a phone's grid (also part of `renditions`).
//! - [`soak`]: `loadgen soak`, [`framecast_tests::soak`] against a server with a token.
//! - [`record`]: `loadgen record`, [`framecast_tests::recbench`] on the benchmark's camera.
//! - [`h264`]: `loadgen h264`, what H.264 saves and costs against JPEG.
//! - [`motion`]: `loadgen motion`, what motion detection costs against a full decode.
//!
//! These modules stay in the binary rather than in the `framecast_tests` library next to
//! `soak`, `recbench` and `codecbench`: those stand alone (each has its own clients, and the
//! end-to-end tests use `soak` and `codecbench`), while these are all built on [`clients`], and
//! the copy baseline is this very binary started again as `loadgen copy-server`. Nothing
//! outside loadgen needs them.

mod bench;
mod churn;
mod clients;
mod copy_server;
mod encode;
mod grid;
mod h264;
mod mix;
mod motion;
mod record;
mod renditions;
mod setup;
mod soak;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use framecast::camera::Size;

use crate::clients::Protocol;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "framecast load generator and benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark scenarios against a framecast binary and print the table.
    Bench {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames and results.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Seconds each client scenario is measured (after one second of warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Client counts to run for each protocol.
        #[arg(long, value_delimiter = ',', default_value = "1,100,500,1000")]
        clients: Vec<usize>,
        /// Minutes the recording benchmark watches memory.
        #[arg(long, default_value_t = 10.0)]
        record_minutes: f64,
    },
    /// Only the renditions benchmark: JPEG speed, what renditions cost the server, what a
    /// viewer on a slow link gets from each size.
    Renditions {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Only the grid part of the renditions benchmark: four cameras on a phone's grid against
    /// four full streams.
    Grid {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Only the recording benchmark: cost, seek time, 8x playback, memory over time.
    Record {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames, recordings and results.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Minutes to watch memory while recording.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
    },
    /// Only the H.264 benchmark: OpenH264's speed, bytes per viewer and per recorded hour,
    /// a 2 Mbit/s link, a reader of one frame a second, 500 viewers; each against JPEG.
    H264 {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames, the x264 stream and recordings.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Only the motion detection benchmark: its cost per picture against a full decode, and
    /// the server's CPU with it.
    Motion {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Measure emulated-camera frames per second on one core (render + JPEG encode).
    Encode {
        /// Frame size.
        #[arg(long, default_value = "1280x720")]
        size: Size,
        /// JPEG quality.
        #[arg(long, default_value_t = 80)]
        quality: u8,
        /// How long to measure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// Start framecast and run connect/abuse/disconnect cycles against it; report its open
    /// files and memory before and after.
    Soak {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Cycles to run.
        #[arg(long, default_value_t = 10_000)]
        cycles: u64,
        /// Cycles in flight at once.
        #[arg(long, default_value_t = 16)]
        parallel: usize,
    },
    /// The baseline: a trivial MJPEG server that copies the same JPEG to every client at
    /// `--fps` (one task per client, `write_all` of a prebuilt part). What framecast's
    /// per-frame cost is compared against.
    CopyServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The JPEG to send.
        #[arg(long)]
        frame: PathBuf,
        /// Frames per second.
        #[arg(long, default_value_t = 30)]
        fps: u32,
    },
    /// Only the slow-viewer mix (normal viewers next to 1 frame/s and 2 Mbit/s readers), for
    /// both protocols, against the benchmark's 720p camera.
    Mix {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Connect clients to a running server and report what they receive.
    Clients {
        /// `ws` or `mjpeg`.
        #[arg(long)]
        protocol: Protocol,
        /// Server address (loopback).
        #[arg(long)]
        addr: SocketAddr,
        /// Number of clients.
        #[arg(long, default_value_t = 10)]
        clients: usize,
        /// Seconds to measure after one second of warm-up.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Read at most this many frames per second per client (a slow viewer); unlimited
        /// when absent.
        #[arg(long)]
        read_fps: Option<f64>,
    },
}

fn main() {
    let cli = Cli::parse();
    // A thousand clients need more than the usual 1024 descriptors: as many as allowed.
    framecast::sys::raise_open_file_limit(u64::MAX);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let result = match cli.command {
        Command::Encode { size, quality, seconds } => {
            encode::command(size, quality, Duration::from_secs(seconds))
        }
        Command::Clients { protocol, addr, clients: n, seconds, read_fps } => {
            let measure = Duration::from_secs(seconds);
            runtime.block_on(clients::command(protocol, addr, n, measure, read_fps))
        }
        Command::CopyServer { listen, frame, fps } => copy_server::command(listen, &frame, fps),
        Command::Soak { server, cycles, parallel } => {
            runtime.block_on(soak::command(&server, cycles, parallel))
        }
        Command::Bench { server, out, seconds, clients, record_minutes } => {
            let measure = Duration::from_secs(seconds);
            runtime.block_on(bench::command(&server, &out, measure, &clients, record_minutes))
        }
        Command::Mix { server, out } => runtime.block_on(mix::command(&server, &out)),
        Command::Renditions { server, out } => runtime.block_on(renditions::command(&server, &out)),
        Command::Grid { server, out } => runtime.block_on(grid::command(&server, &out)),
        Command::Record { server, out, minutes } => runtime.block_on(record::command(&server, &out, minutes)),
        Command::Motion { server, out } => runtime.block_on(async {
            let frames = setup::bench_frames(&out)?;
            let r = motion::run(&server, &frames).await?;
            motion::print(&r);
            Ok(())
        }),
        Command::H264 { server, out } => runtime.block_on(async {
            let frames = setup::bench_frames(&out)?;
            let r = h264::run(&server, &frames, &out).await?;
            h264::print(&r);
            Ok(())
        }),
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
