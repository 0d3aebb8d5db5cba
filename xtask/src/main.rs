//! `cargo xtask`: the project's own commands. They install what is missing, then build, run or
//! test, so the README's two commands work on a fresh machine.
//!
//! - `cargo xtask run [-- ARGS]`: set up, build the web client and the release server, start
//!   `framecast` (emulated camera on http://0.0.0.0:8080 unless ARGS say otherwise).
//! - `cargo xtask test`: set up (plus Chromium, chromedriver, ffmpeg), build the web client,
//!   check formatting and lints, run every test: unit, integration, browser.
//! - `cargo xtask build`: the web client and `target/release/framecast`, nothing started.
//! - `cargo xtask dev`: `framecast` on :8080 plus `trunk serve` on :8081 (proxying to it).
//! - `cargo xtask bench [ARGS]`: release `framecast` and `loadgen`, then `loadgen bench`.
//! - `cargo xtask fuzz [SECONDS] [TARGET...]`: run each `fuzz/` target (protocol decoders,
//!   MJPEG splitter) for a bounded time with cargo-fuzz on nightly; see [`fuzz`].
//! - `cargo xtask setup [--test]`: only install the tools.
//! - `cargo xtask dist`: `.deb` packages for amd64, arm64 and armhf, checked; see [`dist`].
//! - `cargo xtask fresh-check [--test]`: the README's commands on a new machine built here
//!   (debootstrap chroot, empty Cargo home), each step timed; see [`fresh`].
//!
//! Layout: [`setup`] installs tools (apt packages, wasm target, pinned Trunk,
//! wasm-bindgen-cli matching Cargo.lock, wasm-opt); this file sequences the steps.

mod dist;
mod fresh;
mod fuzz;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use setup::{Tools, Want};

type Result<T> = std::result::Result<T, String>;

const HELP: &str = "usage: cargo xtask <command>

commands:
  run [-- ARGS]   set up, build, and start framecast (ARGS go to framecast; see --help)
  test            set up (with browser and ffmpeg), then fmt, clippy and every test
  build           set up, build the web client and target/release/framecast
  dev             framecast on :8080 and `trunk serve` on :8081 with live reload
  bench [ARGS]    build release binaries and run the benchmark (ARGS go to `loadgen bench`)
  setup [--test]  only install what is missing
  fuzz [SECONDS]  fuzz the protocol decoders and the MJPEG splitter, SECONDS (60) per target
  dist [--arch amd64,arm64,armhf] [--no-check]
                  Debian packages for PCs and Raspberry Pis in target/dist, checked
  fresh-check [--test] [--keep]
                  prove `cargo xtask build` (and with --test `cargo xtask test`) on a new
                  Debian 12 machine built here with debootstrap; times each step";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    let root = workspace_root();
    let result = match command {
        "run" => run(&root, rest),
        "test" => test(&root),
        "build" => build(&root, Want::Run).map(|_| ()),
        "dev" => dev(&root),
        "bench" => bench(&root, rest),
        "fuzz" => fuzz::fuzz(&root, rest),
        "fresh-check" => fresh::fresh_check(&root, rest),
        "dist" => dist::dist(&root, rest),
        "setup" => {
            Tools::install(&root, if rest.iter().any(|a| a == "--test") { Want::Test } else { Want::Run })
                .map(|_| ())
        }
        "help" | "--help" | "-h" => {
            println!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command '{other}'\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Set up, build everything, return the tools (with the PATH they need).
fn build(root: &Path, want: Want) -> Result<Tools> {
    let tools = Tools::install(root, want)?;
    build_web(root, &tools)?;
    step("building the release server", || {
        run_cmd(Command::new("cargo").current_dir(root).args([
            "build",
            "--release",
            "--locked",
            "-p",
            "framecast",
        ]))
    })?;
    Ok(tools)
}

fn build_web(root: &Path, tools: &Tools) -> Result<()> {
    step("building the web client (trunk build --release)", || {
        run_cmd(tools.command("trunk").current_dir(root).args(["build", "--release", "--skip-version-check"]))
    })
}

fn run(root: &Path, args: &[String]) -> Result<()> {
    build(root, Want::Run)?;
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    let binary = root.join("target/release/framecast");
    println!("==> starting {} {}", binary.display(), args.join(" "));
    let mut command = Command::new(&binary);
    command.args(args);
    #[cfg(unix)]
    {
        // Become framecast, so Ctrl-C and exit codes are its own.
        use std::os::unix::process::CommandExt;
        let err = command.exec();
        Err(format!("cannot start {}: {err}", binary.display()))
    }
    #[cfg(not(unix))]
    run_cmd(&mut command)
}

fn test(root: &Path) -> Result<()> {
    let started = Instant::now();
    let tools = Tools::install(root, Want::Test)?;
    build_web(root, &tools)?;
    step("checking formatting", || {
        run_cmd(Command::new("cargo").current_dir(root).args(["fmt", "--all", "--check"]))
    })?;
    step("linting the server side", || {
        run_cmd(Command::new("cargo").current_dir(root).args([
            "clippy",
            "--locked",
            "--workspace",
            "--exclude",
            "framecast-frontend",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("linting the web client", || {
        run_cmd(Command::new("cargo").current_dir(root).args([
            "clippy",
            "--locked",
            "-p",
            "framecast-frontend",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    // Release mode: the tests drive real video at real frame rates, and the release build of
    // the dependencies is shared with `cargo xtask build`.
    let (web_passed, web_failed) =
        step_value("running the web client's unit tests (wasm-bindgen-test, Node)", || {
            run_counting_tests(tools.command("cargo").current_dir(root).args([
                "test",
                "--locked",
                "-p",
                "framecast-frontend",
                "--target",
                "wasm32-unknown-unknown",
                "--lib",
            ]))
        })?;
    let (passed, failed) = step_value("running every test", || {
        run_counting_tests(tools.command("cargo").current_dir(root).args([
            "test",
            "--release",
            "--locked",
            "--workspace",
            "--exclude",
            "framecast-frontend",
        ]))
    })?;
    step("checking the Debian package of this machine's build", || dist::check_host_package(root))?;
    println!("==> all checks passed in {:.0?}", started.elapsed());
    // One closing line for the whole run (cargo's last line is often an empty doc-test run).
    println!("tests: {} passed, {} failed", passed + web_passed, failed + web_failed);
    Ok(())
}

fn dev(root: &Path) -> Result<()> {
    let tools = Tools::install(root, Want::Run)?;
    step("building the server", || {
        run_cmd(Command::new("cargo").current_dir(root).args(["build", "-p", "framecast"]))
    })?;
    let mut server = Command::new(root.join("target/debug/framecast"))
        .args(["--listen", "127.0.0.1:8080"])
        .spawn()
        .map_err(|e| format!("cannot start framecast: {e}"))?;
    println!("==> framecast on http://127.0.0.1:8080, trunk serve on http://127.0.0.1:8081 (open this one)");
    let result = run_cmd(tools.command("trunk").current_dir(root).args(["serve", "--skip-version-check"]));
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn bench(root: &Path, args: &[String]) -> Result<()> {
    step("building release framecast and loadgen", || {
        run_cmd(Command::new("cargo").current_dir(root).args([
            "build",
            "--release",
            "--locked",
            "-p",
            "framecast",
            "-p",
            "framecast-tests",
            "--bin",
            "framecast",
            "--bin",
            "loadgen",
        ]))
    })?;
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    // The H.264 part needs ffmpeg, the latency part the test browsers.
    let tools = Tools::install(root, Want::Test)?;
    run_cmd(
        tools
            .command(root.join("target/release/loadgen").to_str().unwrap_or("loadgen"))
            .current_dir(root)
            .args(["bench", "--server", "target/release/framecast", "--out", "target/bench"])
            .args(args),
    )?;
    step("capture-to-draw latency per decoder in the three browser engines", || {
        run_cmd(tools.command("cargo").current_dir(root).args([
            "test",
            "--release",
            "--locked",
            "-p",
            "framecast-tests",
            "--test",
            "e2e",
            "bench_capture_to_draw_latency_per_decoder",
            "--",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ]))
    })
}

/// Runs `f` between a heading and its duration.
fn step(what: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    step_value(what, f)
}

/// [`step`] for a step that returns something.
fn step_value<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {what}");
    let started = Instant::now();
    let value = f()?;
    println!("    done in {:.1?}", started.elapsed());
    Ok(value)
}

/// Runs `cargo test`, passing its output through, and adds up its `test result:` lines.
fn run_counting_tests(command: &mut Command) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(|l| l.ok()) {
        println!("{line}");
        if let Some((p, f)) = parse_test_result(&line) {
            passed += p;
            failed += f;
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok((passed, failed))
    } else {
        println!("tests: {passed} passed, {failed} failed");
        Err(format!("{} failed ({status})", describe(command)))
    }
}

/// `test result: ok. 28 passed; 0 failed; ...` → (28, 0).
fn parse_test_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let number_before = |word: &str| -> Option<u64> {
        let end = rest.find(word)?;
        rest[..end].trim_end().rsplit(' ').next()?.parse().ok()
    };
    Some((number_before(" passed")?, number_before(" failed")?))
}

/// Runs a command to completion; a failure names the command.
fn run_cmd(command: &mut Command) -> Result<()> {
    let status = command.status().map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{} failed ({status})", describe(command))) }
}

fn describe(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_result_lines_are_counted() {
        let line =
            "test result: ok. 28 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 12.38s";
        assert_eq!(parse_test_result(line), Some((28, 0)));
        assert_eq!(parse_test_result("test result: FAILED. 3 passed; 2 failed; 0 ignored"), Some((3, 2)));
        assert_eq!(parse_test_result("running 28 tests"), None);
    }
}
