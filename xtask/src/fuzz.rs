//! `cargo xtask fuzz [SECONDS] [TARGET...]`: fuzzes the protocol decoders and the MJPEG
//! splitter for a bounded time.
//!
//! The targets live in `fuzz/` (cargo-fuzz layout, its own workspace, nightly only; the checks
//! are in `fuzz/checks/` and the stable test suite replays the corpus through them). This
//! installs the nightly toolchain and cargo-fuzz when missing, builds every target once, runs
//! each for SECONDS (default 60) and reports how many inputs it ran. The whole run takes the
//! build plus about SECONDS per target: libFuzzer stops itself (`-max_total_time`), a single
//! slow input counts as a hang (`-timeout`), and a watchdog kills a run that overstays anyway.
//!
//! libFuzzer writes each new interesting input into the first corpus directory it is given,
//! so a target runs on a scratch corpus `target/fuzz-corpus/<target>/` (kept between runs,
//! outside git) plus the committed seeds `fuzz/corpus/<target>/`, which it only reads. A crash
//! input lands in `fuzz/artifacts/<target>/` (ignored by git): the other targets still run,
//! then the command fails and names it. libFuzzer's full output: `target/fuzz-logs/<target>.log`.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, describe, run_cmd, setup, step};

/// A fuzz target (a `[[bin]]` of `fuzz/Cargo.toml`) and the largest input to try on it.
struct Target {
    name: &'static str,
    max_len: usize,
}

const TARGETS: &[Target] = &[
    // Length prefix, a JSON header with room for a long camera name, a few JPEG bytes.
    Target { name: "frame_header", max_len: 4096 },
    // Past MAX_CLIENT_MESSAGE (4096 bytes), so the size check is reached too.
    Target { name: "client_message", max_len: 8192 },
    // A few small JPEGs in a row (the seeds are up to 5.5 KB), plus the cuts.
    Target { name: "mjpeg_split", max_len: 16384 },
    // A few WebSocket frames, with room for one past the 125-byte control limit and a long
    // text message's extended length.
    Target { name: "ws_frame", max_len: 4096 },
    // A few small H.264 pictures with their parameter sets (the seeds are up to 6 KB), plus
    // the cuts and pauses.
    Target { name: "annexb", max_len: 16384 },
];

const DEFAULT_SECONDS: u64 = 60;
/// Far above what a target needs (tens of MB): a leak or a runaway buffer is a failure.
const RSS_LIMIT_MB: u32 = 2048;
/// One input running longer than this is reported as a hang (libFuzzer's default is 20 min).
const INPUT_TIMEOUT_S: u32 = 10;
/// Extra time a target's run may take past SECONDS before the watchdog kills it.
const GRACE: Duration = Duration::from_secs(120);
/// cargo-fuzz version installed when none is (a version verified with this project).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Build flags shared by `cargo fuzz build` and `cargo fuzz run` (same flags, no rebuild):
/// optimised, with debug assertions so arithmetic overflow panics; AddressSanitizer is
/// cargo-fuzz's default.
const BUILD_FLAGS: &[&str] = &["--release", "--debug-assertions"];

/// What one target's run produced.
#[derive(Debug)]
struct Outcome {
    name: &'static str,
    runs: Option<u64>,
    execs_per_sec: Option<u64>,
    /// Coverage points (libFuzzer's `cov:`) at the end.
    cov: Option<u64>,
    /// Inputs in the corpus at the end (libFuzzer's `corp:`).
    corpus: Option<u64>,
    /// `None` when it ran out its time without a failure.
    failure: Option<String>,
}

pub fn fuzz(root: &Path, args: &[String]) -> Result<()> {
    let (seconds, targets) = parse_args(args)?;
    setup::ensure_build_packages()?;
    ensure_nightly()?;
    ensure_cargo_fuzz()?;
    step("building the fuzz targets (cargo +nightly fuzz build)", || {
        run_cmd(cargo_fuzz(root).arg("build").args(BUILD_FLAGS))
    })?;
    let mut outcomes = Vec::new();
    for target in targets {
        println!("==> fuzzing {} for {seconds} s (log: target/fuzz-logs/{}.log)", target.name, target.name);
        let outcome = run_target(root, target, seconds)?;
        match &outcome.failure {
            None => println!(
                "    {}: {} runs, {} exec/s",
                outcome.name,
                show(outcome.runs),
                show(outcome.execs_per_sec)
            ),
            Some(failure) => println!("    {}: FAILED: {failure}", outcome.name),
        }
        outcomes.push(outcome);
    }

    println!("\n{:<16} {:>12} {:>9} {:>7} {:>7}  result", "target", "runs", "exec/s", "cov", "corpus");
    for o in &outcomes {
        println!(
            "{:<16} {:>12} {:>9} {:>7} {:>7}  {}",
            o.name,
            show(o.runs),
            show(o.execs_per_sec),
            show(o.cov),
            show(o.corpus),
            if o.failure.is_some() { "FAILED" } else { "ok" }
        );
    }
    let failed: Vec<String> =
        outcomes.iter().filter_map(|o| o.failure.as_ref().map(|f| format!("{}: {f}", o.name))).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing failed\n    {}\n    reproduce: cargo +nightly fuzz run {} TARGET CRASH_FILE; \
             keep a minimised input (cargo +nightly fuzz tmin TARGET CRASH_FILE) in \
             fuzz/regressions/TARGET/ so the test suite replays it",
            failed.join("\n    "),
            BUILD_FLAGS.join(" ")
        ))
    }
}

/// `[SECONDS] [TARGET...]`.
fn parse_args(args: &[String]) -> Result<(u64, Vec<&'static Target>)> {
    let usage = "usage: cargo xtask fuzz [SECONDS] [TARGET...]";
    let (seconds, names) = match args.split_first() {
        Some((first, rest)) if first.chars().all(|c| c.is_ascii_digit()) => {
            let seconds = first.parse().ok().filter(|&s| s > 0).ok_or(format!("bad SECONDS\n{usage}"))?;
            (seconds, rest)
        }
        _ => (DEFAULT_SECONDS, args),
    };
    if names.is_empty() {
        return Ok((seconds, TARGETS.iter().collect()));
    }
    let targets = names
        .iter()
        .map(|n| {
            TARGETS.iter().find(|t| t.name == n).ok_or_else(|| {
                let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                format!("unknown fuzz target '{n}' (targets: {})\n{usage}", known.join(", "))
            })
        })
        .collect::<Result<_>>()?;
    Ok((seconds, targets))
}

/// cargo-fuzz needs a nightly compiler (sanitizer and coverage flags).
fn ensure_nightly() -> Result<()> {
    let works = Command::new("rustup")
        .args(["run", "nightly", "rustc", "-V"])
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        return Ok(());
    }
    if Command::new("rustup").arg("--version").output().is_err() {
        return Err("cargo fuzz needs a nightly toolchain, and there is no rustup to install one".into());
    }
    step("installing the nightly Rust toolchain (for cargo fuzz)", || {
        run_cmd(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))
    })
}

fn ensure_cargo_fuzz() -> Result<()> {
    let installed =
        Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|out| out.status.success());
    if installed {
        return Ok(());
    }
    step(&format!("installing cargo-fuzz {CARGO_FUZZ_VERSION} (once per machine, about 3 minutes)"), || {
        run_cmd(Command::new("cargo").args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ]))
    })
}

/// `cargo +nightly fuzz` on the project's `fuzz/` directory.
fn cargo_fuzz(root: &Path) -> Command {
    let mut command = Command::new("cargo");
    // `cargo xtask` runs under the stable toolchain; its choice must not leak into this one.
    command.env_remove("RUSTUP_TOOLCHAIN").current_dir(root).args(["+nightly", "fuzz"]);
    command
}

/// Runs one target for `seconds`, its output going to its log file, and reads the log.
fn run_target(root: &Path, target: &Target, seconds: u64) -> Result<Outcome> {
    let scratch = root.join("target/fuzz-corpus").join(target.name);
    let logs = root.join("target/fuzz-logs");
    for dir in [&scratch, &logs] {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let log_path = logs.join(format!("{}.log", target.name));
    let log = File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_too = log.try_clone().map_err(|e| e.to_string())?;

    let mut command = cargo_fuzz(root);
    command
        .arg("run")
        .args(BUILD_FLAGS)
        .arg(target.name)
        .arg(&scratch)
        .arg(root.join("fuzz/corpus").join(target.name))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={}", target.max_len))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_S}"))
        .arg("-print_final_stats=1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_too);
    #[cfg(unix)]
    {
        // Its own process group, so the watchdog can stop cargo and the fuzzer it started.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| format!("cannot run {}: {e}", describe(&command)))?;
    let deadline = Instant::now() + Duration::from_secs(seconds) + GRACE;
    let mut overstayed = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline && !overstayed {
            overstayed = true;
            #[cfg(unix)]
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut outcome = read_log(target.name, &text);
    if overstayed {
        outcome.failure = Some(format!("still running {} s past its time, killed", GRACE.as_secs()));
    } else if !status.success() {
        let crash = text.lines().find_map(|l| l.split_once("Test unit written to ")).map(|(_, p)| p.trim());
        outcome.failure = Some(match crash {
            Some(path) => format!("crash input {path}"),
            None => format!("{status}, see {}", log_path.display()),
        });
    }
    if outcome.failure.is_some() {
        println!("    --- from {} ---", log_path.display());
        for line in failure_excerpt(&text) {
            println!("    {line}");
        }
    }
    Ok(outcome)
}

/// The lines of a failed run's log that say what went wrong: the panic message, or the head of
/// a sanitizer or libFuzzer error report (hang, out of memory), else the last lines (a build
/// error). Long lines (libFuzzer's dump of the input) are cut.
fn failure_excerpt(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let panic = lines.iter().position(|l| l.contains("panicked at"));
    let report = lines.iter().position(|l| l.starts_with("==") && l.contains("ERROR:"));
    let shown = match (panic, report) {
        (Some(i), _) => {
            let end =
                lines[i..].iter().position(|l| l.starts_with("stack backtrace")).map_or(i + 6, |n| i + n);
            &lines[i..end.min(i + 12).min(lines.len())]
        }
        (None, Some(i)) => &lines[i..(i + 12).min(lines.len())],
        (None, None) => &lines[lines.len().saturating_sub(20)..],
    };
    shown
        .iter()
        .map(
            |l| {
                if l.len() > 200 { format!("{}...", &l[..l.floor_char_boundary(200)]) } else { l.to_string() }
            },
        )
        .collect()
}

/// Picks the numbers out of libFuzzer's output: the final stats when it printed them, else its
/// `Done N runs` line, else its last status line (`#N  pulse  cov: .. corp: ../..b exec/s: ..`).
fn read_log(name: &'static str, text: &str) -> Outcome {
    let stat =
        |key: &str| text.lines().rev().find_map(|l| l.trim().strip_prefix(key)?.trim().parse::<u64>().ok());
    let status_line = text.lines().rev().find(|l| l.starts_with('#') && l.contains("cov: "));
    let field = |key: &str| -> Option<u64> {
        let rest = &status_line?[status_line?.find(key)? + key.len()..];
        let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let done = text.lines().rev().find_map(|l| {
        let rest = l.trim().strip_prefix("Done ")?;
        rest.split_whitespace().next()?.parse::<u64>().ok()
    });
    let pulse_runs = status_line.and_then(|l| l[1..].split_whitespace().next()?.parse().ok());
    Outcome {
        name,
        runs: stat("stat::number_of_executed_units:").or(done).or(pulse_runs),
        execs_per_sec: stat("stat::average_exec_per_sec:").or_else(|| field("exec/s:")),
        cov: field("cov:"),
        corpus: field("corp:"),
        failure: None,
    }
}

fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "?".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_numbers() {
        let log = "INFO: Seed: 1\n\
                   #2\tINITED cov: 90 ft: 91 corp: 8/712b exec/s: 0 rss: 40Mb\n\
                   #524288\tpulse  cov: 812 ft: 2000 corp: 356/40Kb lim: 4096 exec/s: 17476 rss: 60Mb\n\
                   #1234567\tDONE   cov: 815 ft: 2010 corp: 360/41Kb lim: 4096 exec/s: 41152 rss: 61Mb\n\
                   Done 1234567 runs in 30 second(s)\n\
                   stat::number_of_executed_units: 1234567\n\
                   stat::average_exec_per_sec:     41152\n\
                   stat::peak_rss_mb:              61\n";
        let o = read_log("t", log);
        assert_eq!(
            (o.runs, o.execs_per_sec, o.cov, o.corpus),
            (Some(1234567), Some(41152), Some(815), Some(360))
        );
        // Killed before the final stats: fall back to the last status line.
        let o = read_log("t", "#4096\tpulse  cov: 70 ft: 80 corp: 9/1Kb exec/s: 2048 rss: 30Mb\n");
        assert_eq!((o.runs, o.execs_per_sec, o.cov, o.corpus), (Some(4096), Some(2048), Some(70), Some(9)));
    }

    #[test]
    fn a_failure_shows_the_panic_message() {
        let log = "INFO: Seed: 1\n\
                   thread '<unnamed>' panicked at fuzz_targets/../checks/mjpeg.rs:34:9:\n\
                   frame 0 has 541 bytes, over max_frame 5\n\
                   stack backtrace:\n   0: __rustc::rust_begin_unwind\n";
        assert_eq!(
            failure_excerpt(log),
            [
                "thread '<unnamed>' panicked at fuzz_targets/../checks/mjpeg.rs:34:9:",
                "frame 0 has 541 bytes, over max_frame 5"
            ]
        );
        let log =
            "#1\tINITED\n==7== ERROR: libFuzzer: timeout after 10 seconds\nSUMMARY: libFuzzer: timeout\n";
        assert_eq!(failure_excerpt(log)[0], "==7== ERROR: libFuzzer: timeout after 10 seconds");
    }

    #[test]
    fn arguments_are_seconds_then_targets() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (s, t) = parse_args(&args(&[])).unwrap();
        assert_eq!((s, t.len()), (DEFAULT_SECONDS, TARGETS.len()));
        let (s, t) = parse_args(&args(&["30", "mjpeg_split"])).unwrap();
        assert_eq!((s, t[0].name, t.len()), (30, "mjpeg_split", 1));
        assert!(parse_args(&args(&["0"])).is_err());
        assert!(parse_args(&args(&["nope"])).is_err());
    }
}
