//! `loadgen soak`, and the soak of `loadgen bench`: [`framecast_tests::soak`]'s
//! connect/abuse/disconnect cycles against a fresh server started with a token (so that the
//! wrong-token cycles are refused), and the line that reports them.

use std::path::Path;

use framecast_tests::process::ServerProcess;

/// `loadgen soak`: [`run_soak`], printed as JSON.
pub async fn command(server: &Path, cycles: u64, parallel: usize) -> Result<(), String> {
    let report = run_soak(server, cycles, parallel).await?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    Ok(())
}

/// A soak run against a fresh server with a token (so wrong-token cycles are refused).
pub async fn run_soak(
    server: &Path,
    cycles: u64,
    parallel: usize,
) -> Result<framecast_tests::soak::SoakReport, String> {
    let token = "soak-token";
    let args =
        ["--token", token, "--fps", "30", "--idle-timeout", "60", "--max-connections-per-address", "4096"];
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    eprintln!("==> soak: {cycles} connect/abuse/disconnect cycles, {parallel} at a time");
    let report = framecast_tests::soak::run(process.addr, process.pid(), cycles, parallel, Some(token)).await;
    Ok(report)
}

/// Prints the soak's line.
pub fn print_soak(s: &framecast_tests::soak::SoakReport) {
    println!(
        "\nsoak: {} connect/abuse/disconnect cycles in {:.0} s ({} failed to connect); server open files {} -> {}, \
         RSS {:.1} -> {:.1} MB; still serving: {}",
        s.cycles,
        s.seconds,
        s.connect_failures,
        s.fds_before,
        s.fds_after,
        s.rss_before as f64 / 1e6,
        s.rss_after as f64 / 1e6,
        if s.still_serving { "yes" } else { "NO" }
    );
}
