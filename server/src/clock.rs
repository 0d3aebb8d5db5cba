//! Times as framecast writes and reads them: every time inside the server is µs since the
//! Unix epoch (`u64`, as the frames carry it); this module turns them into text and back.
//!
//! - [`seconds`]: `1700000000.000042`, the `X-Timestamp` header of MJPEG parts and snapshots
//!   (µStreamer's format) and the times in messages.
//! - [`file_name_time`]: `2023-11-14_22-13-20` (UTC), for exported files.
//! - [`parse`]: what a user may write in `?at=`, `?from=`, `?to=`: µs since the epoch, or
//!   RFC 3339.

/// `unix_us` as seconds with a six-digit fraction.
pub fn seconds(unix_us: u64) -> String {
    format!("{}.{:06}", unix_us / 1_000_000, unix_us % 1_000_000)
}

/// `unix_us` as `YYYY-MM-DD_HH-MM-SS` in UTC (the µs count where it is out of range).
pub fn file_name_time(unix_us: u64) -> String {
    jiff::Timestamp::from_microsecond(unix_us as i64)
        .map(|t| t.strftime("%Y-%m-%d_%H-%M-%S").to_string())
        .unwrap_or_else(|_| unix_us.to_string())
}

/// A time given as `name=value`: µs since the Unix epoch, or an RFC 3339 timestamp. The
/// error says what to write instead.
pub fn parse(name: &str, value: &str) -> Result<u64, String> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().map_err(|_| format!("{name}={value} is too large"));
    }
    let ts: jiff::Timestamp = value.parse().map_err(|_| {
        format!(
            "{name}={value} is not a time: give µs since the Unix epoch or RFC 3339 (2026-12-02T14:02:31Z)"
        )
    })?;
    u64::try_from(ts.as_microsecond()).map_err(|_| format!("{name}={value} is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_microsecond_fraction() {
        assert_eq!(seconds(1_700_000_000_000_042), "1700000000.000042");
        assert_eq!(seconds(5), "0.000005");
    }

    #[test]
    fn times_are_microseconds_or_rfc3339() {
        assert_eq!(parse("at", "1700000000000000").unwrap(), 1_700_000_000_000_000);
        assert_eq!(parse("at", "2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000_000);
        assert_eq!(parse("at", "2023-11-14T23:13:20.5+01:00").unwrap(), 1_700_000_000_500_000);
        assert!(parse("at", "yesterday").unwrap_err().to_string().contains("RFC 3339"));
        assert!(parse("at", "1960-01-01T00:00:00Z").unwrap_err().to_string().contains("before 1970"));
        assert!(parse("at", "99999999999999999999999").is_err());
        assert_eq!(file_name_time(1_700_000_000_000_000), "2023-11-14_22-13-20");
    }
}
