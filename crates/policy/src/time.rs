//! Time values: [`Timestamp`] and the compiled form of
//! `CronSpan('cron', 'duration', 'zone')`.
//!
//! The crate never reads the system clock; the caller puts `now` into the
//! [`Context`](crate::Context).

use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::SignedDuration;
use jiff::tz::TimeZone;

/// An instant in time (UTC, nanosecond precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    /// Seconds since the Unix epoch; `None` outside years -9999..=9999.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        jiff::Timestamp::from_second(seconds).ok().map(Timestamp)
    }

    /// Milliseconds since the Unix epoch; `None` outside years -9999..=9999.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        jiff::Timestamp::from_millisecond(millis).ok().map(Timestamp)
    }

    /// Parses an RFC 3339 timestamp such as `2026-01-01T00:00:00Z`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        text.parse::<jiff::Timestamp>().map(Timestamp).map_err(|e| e.to_string())
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0.as_millisecond()
    }
}

impl TryFrom<std::time::SystemTime> for Timestamp {
    type Error = String;

    fn try_from(t: std::time::SystemTime) -> Result<Self, String> {
        jiff::Timestamp::try_from(t).map(Timestamp).map_err(|e| e.to_string())
    }
}

/// RFC 3339, e.g. `2026-01-01T00:00:00Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A recurring window: it opens at every firing of a cron schedule in a
/// time zone and stays open for a fixed duration.
#[derive(Debug, Clone)]
pub(crate) struct CronSpan {
    cron: Cron,
    duration: SignedDuration,
    tz: TimeZone,
}

/// Why a `CronSpan` argument was rejected; the caller attaches spans.
pub(crate) enum CronSpanError {
    Cron(String),
    Duration,
    TimeZone,
}

impl CronSpan {
    pub(crate) fn new(cron: &str, duration: &str, tz: &str) -> Result<Self, Vec<CronSpanError>> {
        let mut errors = Vec::new();
        let parsed = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build().parse(cron);
        let cron = parsed.map_err(|e| errors.push(CronSpanError::Cron(e.to_string().to_lowercase()))).ok();
        let duration = parse_duration(duration);
        if duration.is_none() {
            errors.push(CronSpanError::Duration);
        }
        let tz = TimeZone::get(tz).ok();
        if tz.is_none() {
            errors.push(CronSpanError::TimeZone);
        }
        match (cron, duration, tz) {
            (Some(cron), Some(duration), Some(tz)) if errors.is_empty() => Ok(CronSpan { cron, duration, tz }),
            _ => Err(errors),
        }
    }

    /// True when `now` falls in `[firing, firing + duration)` for some
    /// firing of the schedule. A schedule that never fires contains
    /// nothing.
    pub(crate) fn contains(&self, now: Timestamp) -> bool {
        let zoned = now.0.to_zoned(self.tz.clone());
        match self.cron.find_previous_occurrence(&zoned, true) {
            Ok(fired) => {
                let since = now.0.duration_since(fired.timestamp());
                since >= SignedDuration::ZERO && since < self.duration
            }
            Err(_) => false,
        }
    }
}

/// `8h`, `30m`, `90s`, `1h30m`, `2d`: one or more `<digits><unit>`
/// groups; the total must be positive.
pub(crate) fn parse_duration(text: &str) -> Option<SignedDuration> {
    let mut total: i64 = 0;
    let mut digits: Option<i64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = digits.unwrap_or(0);
            digits = Some(n.checked_mul(10)?.checked_add(i64::from(d))?);
            continue;
        }
        let unit: i64 = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(digits.take()?.checked_mul(unit)?)?;
    }
    // Trailing digits without a unit, or an empty / zero duration.
    if digits.is_some() || total <= 0 {
        return None;
    }
    Some(SignedDuration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("8h"), Some(8 * 3600));
        assert_eq!(secs("30m"), Some(1800));
        assert_eq!(secs("90s"), Some(90));
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs("1d"), Some(86_400));
        for bad in ["", "h", "8", "0h", "8x", "1h 30m", "99999999999999999999h", "-1h"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn cron_window() {
        let Ok(span) = CronSpan::new("0 9 * * 1-5", "8h", "Europe/Berlin") else {
            panic!("valid cron span rejected");
        };
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap_or_else(|e| panic!("{e}"));
        // Monday 2026-01-05, Berlin is UTC+1 in winter.
        assert!(span.contains(at("2026-01-05T08:00:00Z")));
        assert!(span.contains(at("2026-01-05T15:59:59Z")));
        assert!(!span.contains(at("2026-01-05T16:00:00Z")));
        assert!(!span.contains(at("2026-01-05T07:59:59Z")));
        // Saturday.
        assert!(!span.contains(at("2026-01-10T10:00:00Z")));
    }
}
