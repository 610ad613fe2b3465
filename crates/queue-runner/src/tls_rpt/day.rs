//! The UTC day a report covers (RFC 8460 §4.1: reports span whole UTC days), named
//! `YYYY-MM-DD` in file names and the control request.

use ferrymail_smtp::dates::{civil_from_days, days_from_civil};

/// Days since 1970-01-01 (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    pub fn of(unix: u64) -> Day {
        Day(i64::try_from(unix / 86_400).unwrap_or(i64::MAX))
    }

    /// First second of the day.
    pub fn start(self) -> u64 {
        u64::try_from(self.0.saturating_mul(86_400)).unwrap_or(0)
    }

    /// Last second of the day.
    pub fn end(self) -> u64 {
        self.start() + 86_399
    }

    /// `YYYY-MM-DD`; anything else (or an impossible date) is `None`.
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let day = Day(days_from_civil(i64::from(y), m, d));
        (day.to_string() == s).then_some(day)
    }

    /// `YYYY-MM-DDT00:00:00Z` and `YYYY-MM-DDT23:59:59Z` (RFC 3339, as §4.4's date-range).
    pub fn rfc3339_range(self) -> (String, String) {
        (format!("{self}T00:00:00Z"), format!("{self}T23:59:59Z"))
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_days() {
        let d = Day::of(1_470_013_207);
        assert_eq!(d.to_string(), "2016-08-01");
        assert_eq!(Day::parse("2016-08-01"), Some(d));
        assert_eq!(d.start(), 1_470_009_600);
        assert_eq!(d.end(), 1_470_095_999);
        assert_eq!(Day::of(d.end()), d);
        assert_eq!(Day::of(d.end() + 1), Day(d.0 + 1));
        for bad in [
            "2016-02-30",
            "2016-8-01",
            "20160801",
            "2016-08-0x",
            "../etc/pw",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
        assert_eq!(
            d.rfc3339_range(),
            (
                "2016-08-01T00:00:00Z".to_string(),
                "2016-08-01T23:59:59Z".to_string()
            )
        );
    }
}
