//! Start-up: bad input gives one clear line and exit code 2, never a panic.

use std::time::Duration;

use crate::util::{run_to_exit, temp_dir};

/// Runs framecast with `args`, expects exit code 2 and a single stderr line containing `needle`.
fn refuses(args: &[&str], needle: &str) {
    let (code, stderr) = run_to_exit(args, Duration::from_secs(20));
    assert_eq!(code, Some(2), "{args:?} should exit with 2; stderr: {stderr}");
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?} should print one line, printed: {stderr}");
    assert!(lines[0].starts_with("framecast: "), "{args:?}: {stderr}");
    assert!(lines[0].contains(needle), "{args:?}: expected {needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
}

#[test]
fn bad_values_are_refused_with_one_line_and_exit_code_2() {
    refuses(&["--size", "0x0"], "0x0");
    refuses(&["--size", "wide"], "WIDTHxHEIGHT");
    refuses(&["--fps", "0"], "--fps");
    refuses(&["--quality", "200"], "--quality");
    refuses(&["--idle-timeout", "soon"], "seconds");
    refuses(&["--listen", "nowhere"], "--listen");
    refuses(&["--unknown-flag"], "--unknown-flag");
}

#[test]
fn unknown_camera_lists_the_valid_kinds() {
    refuses(&["--camera", "webcam"], "valid: emulated, files:DIR");
}

#[test]
fn unusable_folders_are_refused_at_start() {
    refuses(&["--camera", "files:/nonexistent/framecast-test"], "cannot read /nonexistent/framecast-test");
    let empty = temp_dir("cli-empty");
    refuses(&["--camera", &format!("files:{}", empty.display())], "no JPEG files");
    let broken = temp_dir("cli-broken");
    std::fs::write(broken.join("1.jpg"), b"this is not a jpeg").unwrap();
    refuses(&["--camera", &format!("files:{}", broken.display())], "1.jpg is not a usable JPEG");
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    refuses(&["--listen", &addr], &format!("cannot listen on {addr}"));
}

#[test]
fn help_and_version_exit_successfully() {
    let (code, _) = run_to_exit(&["--help"], Duration::from_secs(20));
    assert_eq!(code, Some(0));
    let (code, _) = run_to_exit(&["--version"], Duration::from_secs(20));
    assert_eq!(code, Some(0));
}
