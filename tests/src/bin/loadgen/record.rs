//! `loadgen record`: the recording benchmark alone ([`framecast_tests::recbench`], also part
//! of `loadgen bench`) on the benchmark's camera; prints its table and writes
//! `OUT/record.json`.

use std::path::Path;

use crate::setup::bench_frames;

/// `loadgen record`: the recording benchmark, watching memory for `minutes`.
pub async fn command(server: &Path, out: &Path, minutes: f64) -> Result<(), String> {
    let frames = bench_frames(out)?;
    let report = framecast_tests::recbench::run(server, &frames.camera, out, minutes).await?;
    framecast_tests::recbench::print(&report);
    std::fs::write(out.join("record.json"), serde_json::to_string_pretty(&report).unwrap())
        .map_err(|e| e.to_string())
}
