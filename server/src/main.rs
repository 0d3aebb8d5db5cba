//! The `framecast` command: parses the command line, binds, wires signals, and runs
//! [`framecast::Server`]. Everything else lives in the library so tests run the same code.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use framecast::config::{Cli, Command, Config};
use tokio_util::sync::CancellationToken;

/// Exit code for bad command-line input or a server that cannot start.
const EXIT_BAD_START: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(first_line(&e.to_string())),
    };
    let command = match Command::from_cli(cli) {
        Ok(command) => command,
        Err(e) => return fail(&e.to_string()),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hyper=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match command {
        Command::Serve(config) => runtime.block_on(run(*config)),
        Command::Push(args) => runtime.block_on(push_to(args)),
    }
}

/// `framecast push`.
async fn push_to(args: framecast::config::PushArgs) -> ExitCode {
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    match framecast::push_client::run(args, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

async fn run(config: Config) -> ExitCode {
    let server = match framecast::Server::new(&config) {
        Ok(server) => server,
        Err(e) => return fail(&e.to_string()),
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("cannot listen on {}: {e}", config.listen)),
    };
    let addr = listener.local_addr().unwrap_or(config.listen);
    let scheme = if server.is_tls() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    for url in urls_to_open(addr, scheme) {
        println!("  open {url}");
    }
    if !addr.ip().is_loopback() && !server.viewing_needs_token() {
        eprintln!(
            "framecast: warning: anyone who can reach {addr} can watch{} — set --token (see README, Security)",
            if config.access.admin_token.is_none() { " and change the cameras" } else { "" }
        );
    }
    raise_open_file_limit(config.limits.max_connections);
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    match server.run(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("framecast: {e}");
            ExitCode::FAILURE
        }
    }
}

/// First signal: graceful shutdown. Second: exit at once.
async fn watch_signals(shutdown: CancellationToken) {
    let mut count = 0;
    loop {
        wait_for_signal().await;
        count += 1;
        if count == 1 {
            eprintln!("framecast: shutting down (signal again to exit at once)");
            shutdown.cancel();
        } else {
            std::process::exit(130);
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The addresses a person can type: this machine, and its LAN addresses for a phone when
/// listening on all interfaces.
fn urls_to_open(addr: SocketAddr, scheme: &str) -> Vec<String> {
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![format!("{scheme}://{addr}/")];
    }
    let mut urls = vec![format!("{scheme}://localhost:{port}/")];
    let lan = if_addrs::get_if_addrs().unwrap_or_default();
    for iface in lan {
        let ip = iface.ip();
        if ip.is_loopback() || (addr.is_ipv4() != ip.is_ipv4()) {
            continue;
        }
        if let IpAddr::V6(v6) = ip
            && v6.is_unicast_link_local()
        {
            continue;
        }
        urls.push(format!("{scheme}://{}/  (LAN: {})", SocketAddr::new(ip, port), iface.name));
    }
    urls
}

/// Raises the open-file limit to fit `--max-connections` (plus cameras, pipes and the
/// listener), and says so if even the hard limit is too low.
fn raise_open_file_limit(max_connections: u32) {
    let wanted = u64::from(max_connections) + 256;
    if let Some(allowed) = framecast::sys::raise_open_file_limit(wanted)
        && allowed < wanted
    {
        eprintln!(
            "framecast: warning: only {allowed} open files allowed (ulimit -n); fewer than --max-connections {max_connections} clients fit"
        );
    }
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim()
}

fn fail(message: &str) -> ExitCode {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    eprintln!("framecast: {message}");
    ExitCode::from(EXIT_BAD_START)
}
