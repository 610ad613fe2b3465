//! IMAP dates: INTERNALDATE output, APPEND date-time input, and SEARCH date arithmetic.
//! Civil-date arithmetic is the shared `ferrymail_smtp::dates`.

use crate::types::Date;

use ferrymail_smtp::dates::MONTHS;

/// Days since 1970-01-01 for a civil date.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    ferrymail_smtp::dates::days_from_civil(i64::from(y), m, d)
}

/// Civil date for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let (y, m, d) = ferrymail_smtp::dates::civil_from_days(z);
    (i32::try_from(y).unwrap_or(i32::MAX), m, d)
}

impl Date {
    pub fn days(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }
}

/// The date (in UTC) of a Unix timestamp, as days since the epoch.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(86_400)
}

/// `"17-Jul-1996 02:44:25 +0000"` (without the quotes), in UTC.
pub fn format_internal_date(ts: i64) -> String {
    let (y, m, d) = civil_from_days(day_of(ts));
    let secs = ts.rem_euclid(86_400);
    let month = MONTHS
        .get((m as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{d:2}-{month}-{y:04} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parses a month name; an attached `-yyyy` (as an atom reads `Jul-1996`) is returned too.
pub fn month_from_name(raw: &[u8]) -> Option<(u32, Option<i32>)> {
    let (name, year) = match raw.iter().position(|&b| b == b'-') {
        Some(i) => (raw.get(..i)?, Some(raw.get(i + 1..)?)),
        None => (raw, None),
    };
    let m = MONTHS
        .iter()
        .position(|mn| mn.as_bytes().eq_ignore_ascii_case(name))? as u32
        + 1;
    let year = match year {
        Some(y) => Some(parse_digits(y, 4)? as i32),
        None => None,
    };
    Some((m, year))
}

fn parse_digits(b: &[u8], len: usize) -> Option<u32> {
    if b.len() != len || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses APPEND's `dd-Mon-yyyy hh:mm:ss +zzzz` into Unix seconds.
pub fn parse_date_time(raw: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(raw).ok()?;
    let s = s.strip_prefix(' ').unwrap_or(s);
    let mut it = s.split(' ');
    let date = it.next()?;
    let time = it.next()?;
    let zone = it.next()?;
    if it.next().is_some() {
        return None;
    }
    let mut dp = date.split('-');
    let day = dp.next()?;
    let day: u32 = if (1..=2).contains(&day.len()) && day.bytes().all(|b| b.is_ascii_digit()) {
        day.parse().ok()?
    } else {
        return None;
    };
    let (month, _) = month_from_name(dp.next()?.as_bytes())?;
    let year = parse_digits(dp.next()?.as_bytes(), 4)? as i32;
    if dp.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    let mut tp = time.split(':');
    let h = parse_digits(tp.next()?.as_bytes(), 2)?;
    let mi = parse_digits(tp.next()?.as_bytes(), 2)?;
    let se = parse_digits(tp.next()?.as_bytes(), 2)?;
    if tp.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let zb = zone.as_bytes();
    let sign = match zb.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh = parse_digits(zb.get(1..3)?, 2)?;
    let zm = parse_digits(zb.get(3..5)?, 2)?;
    if zb.len() != 5 {
        return None;
    }
    let offset = sign * i64::from(zh * 3600 + zm * 60);
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset)
}

/// The current time as Unix seconds (0 before the epoch, which no mail store has).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// RFC 5032 WITHIN: is INTERNALDATE `date` at most `secs` seconds before `now` (YOUNGER),
/// or, with `younger` false, more than that (OLDER)?
pub fn within(younger: bool, secs: u32, date: i64, now: i64) -> bool {
    let recent = now.saturating_sub(date) <= i64::from(secs);
    recent == younger
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 10_957, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn internal_date_format_and_parse() {
        let ts = parse_date_time(b" 7-Feb-1994 21:52:25 -0800").unwrap();
        assert_eq!(format_internal_date(ts), " 8-Feb-1994 05:52:25 +0000");
        assert_eq!(
            parse_date_time(format_internal_date(ts).as_bytes()),
            Some(ts)
        );
        assert!(parse_date_time(b"32-Feb-1994 21:52:25 -0800").is_none());
        assert!(parse_date_time(b"7-Foo-1994 21:52:25 -0800").is_none());
        assert!(parse_date_time(b"7-Feb-1994 21:52:25").is_none());
    }

    #[test]
    fn within_younger_and_older_split_at_the_limit() {
        assert!(within(true, 60, 1000, 1060));
        assert!(!within(false, 60, 1000, 1060));
        assert!(!within(true, 60, 1000, 1061));
        assert!(within(false, 60, 1000, 1061));
        assert!(
            within(true, 60, 2000, 1061),
            "a date in the future is young"
        );
    }
}
