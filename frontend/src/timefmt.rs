//! How times are said to a person: local clock times of recorded frames, and how far behind
//! live or how long ago something was.

/// `14:02:31` in the browser's time zone; with the day (`2 Dec 14:02:31`) when `unix_us` is
/// not today.
pub fn clock_text(unix_us: u64, now_us: u64) -> String {
    let date = js_sys::Date::new(&((unix_us / 1000) as f64).into());
    let today = js_sys::Date::new(&((now_us / 1000) as f64).into());
    let time = format!("{:02}:{:02}:{:02}", date.get_hours(), date.get_minutes(), date.get_seconds());
    let same_day = date.get_full_year() == today.get_full_year()
        && date.get_month() == today.get_month()
        && date.get_date() == today.get_date();
    if same_day {
        time
    } else {
        const MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        format!("{} {} {time}", date.get_date(), MONTHS[date.get_month() as usize % 12])
    }
}

/// A span of time in words: `45 s`, `12 min`, `2 h 05 min`, `3 days`.
pub fn duration_text(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0).round() as u64;
    match s {
        0..=89 => format!("{s} s"),
        90..=3599 => format!("{} min", (s + 30) / 60),
        3600..=172_799 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} days", s / 86_400),
    }
}

/// `12 min behind live`.
pub fn behind_text(behind_ms: f64) -> String {
    format!("{} behind live", duration_text(behind_ms))
}

/// `5 min ago`.
pub fn ago_text(ms: f64) -> String {
    format!("{} ago", duration_text(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(4_400.0), "4 s");
        assert_eq!(duration_text(89_000.0), "89 s");
        assert_eq!(duration_text(12.2 * 60_000.0), "12 min");
        assert_eq!(duration_text(2.0 * 3_600_000.0 + 5.0 * 60_000.0), "2 h 05 min");
        assert_eq!(duration_text(3.5 * 86_400_000.0), "3 days");
        assert_eq!(duration_text(-5.0), "0 s");
        assert_eq!(behind_text(720_000.0), "12 min behind live");
        assert_eq!(ago_text(300_000.0), "5 min ago");
    }

    #[wasm_bindgen_test]
    fn clock_times_show_the_day_only_when_not_today() {
        let now = 1_764_684_151_000_000; // a moment; whatever the zone, a minute earlier is the same day or not
        let text = clock_text(now, now);
        assert_eq!(text.len(), 8, "{text}");
        assert_eq!(&text[2..3], ":");
        let week_ago = clock_text(now - 7 * 86_400_000_000, now);
        assert!(week_ago.len() > 8 && week_ago.ends_with(&text[5..]), "{week_ago}");
    }
}
