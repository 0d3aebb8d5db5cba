//! The Autobahn|Testsuite cases against the server's WebSocket connection: every case but the
//! compression ones (12.*, 13.*: no extension is offered), run by `kosoku` (a native runner
//! of the Autobahn case files, installed by `cargo xtask setup --test` into a venv and put on
//! PATH) against `ws-echo`, which serves [`WsConn`] — the code behind `/ws` and the push
//! ingest — as an echo server through the same upgrade. Every case must be OK or
//! INFORMATIONAL; a NON-STRICT case passes only when [`NON_STRICT_ALLOWED`] gives the reason.
//! The report (`index.json`, HTML per case) stays in `target/tmp/autobahn/`.
//!
//! [`WsConn`]: framecast::http::wsconn::WsConn

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use framecast_tests::process::wait_for_exit;

/// Non-compression cases in the suite kosoku carries.
const CASES: usize = 301;

/// Cases allowed to be NON-STRICT (conformant, but not the canonical SHOULD-behaviour), and why.
/// 6.4.3 and 6.4.4 send one text frame with invalid UTF-8 in pieces, pausing after the bad
/// bytes: the canonical behaviour fails at the first bad byte while the frame is still
/// arriving. `WsConn` checks UTF-8 per whole frame (and across fragments as they arrive, which
/// 6.4.1 and 6.4.2 test), so it closes with 1007 when the frame is complete: conformant, one
/// frame later than the ideal, without unmasking every partial frame twice.
const NON_STRICT_ALLOWED: &[(&str, &str)] = &[
    ("6.4.3", "invalid UTF-8 found when its frame is complete, not mid-frame"),
    ("6.4.4", "invalid UTF-8 found when its frame is complete, not mid-frame"),
];

/// The whole run takes well under a minute here; this bounds a hang.
const RUN_LIMIT: Duration = Duration::from_secs(600);

struct Echo(std::process::Child);

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_autobahn_case_passes_against_the_websocket_connection() {
    let kosoku = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("kosoku"))
        .find(|p| p.is_file())
        .expect("kosoku is not on PATH: run the tests with `cargo xtask test`, which installs it");
    let mut echo = Echo(
        Command::new(env!("CARGO_BIN_EXE_ws-echo"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ws-echo starts"),
    );
    let mut line = String::new();
    BufReader::new(echo.0.stdout.take().unwrap()).read_line(&mut line).expect("ws-echo prints its address");
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("ws-echo said {line:?}"));

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("autobahn");
    let _ = std::fs::remove_dir_all(&out);
    let log_path = out.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("kosoku's log file");
    let started = Instant::now();
    let mut run = Command::new(&kosoku)
        .args(["-m", "fuzzingclient", addr, "-x", "12.*", "-x", "13.*", "-o"])
        .arg(&out)
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("kosoku starts");
    let status = wait_for_exit(&mut run, RUN_LIMIT);
    let Some(status) = status else {
        let _ = run.kill();
        panic!("kosoku did not finish within {RUN_LIMIT:?}");
    };
    let index = std::fs::read_to_string(out.join("index.json")).unwrap_or_else(|e| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("no report from kosoku ({status}): {e}\n{log}")
    });
    let index: serde_json::Value = serde_json::from_str(&index).expect("index.json is JSON");
    let cases: Vec<(&String, &serde_json::Value)> =
        index.as_object().expect("agents").values().flat_map(|c| c.as_object().expect("cases")).collect();

    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut failed = Vec::new();
    for (id, case) in &cases {
        let behavior = case["behavior"].as_str().unwrap_or("?");
        let close = case["behaviorClose"].as_str().unwrap_or("?");
        *counts.entry(behavior.to_string()).or_default() += 1;
        let allowed = |b: &str| {
            matches!(b, "OK" | "INFORMATIONAL")
                || (b == "NON-STRICT" && NON_STRICT_ALLOWED.iter().any(|(allowed, _)| allowed == id))
        };
        if !allowed(behavior) || !allowed(close) {
            failed.push(format!("{id}: {behavior} (close: {close}, code {})", case["remoteCloseCode"]));
        }
    }
    let summary = counts.iter().map(|(b, n)| format!("{n} {b}")).collect::<Vec<_>>().join(", ");
    println!("autobahn: {} cases in {:.1} s: {summary}", cases.len(), started.elapsed().as_secs_f64());
    assert!(
        failed.is_empty(),
        "{} cases failed (report in {}):\n{}",
        failed.len(),
        out.display(),
        failed.join("\n")
    );
    assert_eq!(cases.len(), CASES, "every non-compression case ran");
}
