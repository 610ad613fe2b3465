//! RFC 5260 date and currentdate: a header's RFC 5322 date (or the current time) shifted to
//! the wanted zone, and the date-part strings the keys are matched against. The calendar
//! arithmetic is ferrymail-smtp's.

use ferrymail_smtp::dates::{days_from_civil, Civil, MONTHS};

/// Which zone the date-parts are given in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// The delivery's local zone (no `:zone` / `:originalzone`).
    Local,
    /// `:zone "+hhmm"`
    Fixed(String),
    /// `:originalzone`: the zone the header was written in.
    Original,
}

/// `+hhmm` / `-hhmm` as minutes east of UTC.
pub fn parse_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h: i32 = z[1..3].parse().ok()?;
    let m: i32 = z[3..5].parse().ok()?;
    (m < 60).then_some(sign * (h * 60 + m))
}

/// An RFC 5322 date-time (`[Mon, ]7 Dec 2026 10:15[:00] +0100`, comments and the obsolete
/// zone names allowed) as (Unix time, its zone in minutes east).
pub fn parse_rfc5322(v: &str) -> Option<(i64, i32)> {
    let v = match v.find('(') {
        Some(i) => &v[..i],
        None => v,
    };
    let v = v.split_once(',').map(|(_, r)| r).unwrap_or(v);
    let mut it = v.split_whitespace();
    let day: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let year: i64 = it.next()?.parse().ok()?;
    let year = match year {
        0..=49 => year + 2000,
        50..=999 => year + 1900,
        y => y,
    };
    let mut t = it.next()?.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let s: i64 = t.next().map_or(Some(0), |s| s.parse().ok())?;
    let zone = it.next().unwrap_or("-0000");
    let off = parse_zone(zone).or_else(|| {
        Some(match zone.to_ascii_uppercase().as_str() {
            "UT" | "GMT" | "Z" => 0,
            "EDT" => -4 * 60,
            "EST" | "CDT" => -5 * 60,
            "CST" | "MDT" => -6 * 60,
            "MST" | "PDT" => -7 * 60,
            "PST" => -8 * 60,
            _ => 0,
        })
    })?;
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s;
    Some((local - i64::from(off) * 60, off))
}

fn zone_string(off: i32) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    format!("{sign}{:02}{:02}", off.abs() / 60, off.abs() % 60)
}

/// The date-part `part` of Unix time `unix` seen in zone `off` (minutes east); `None` for a
/// name RFC 5260 §4.2 does not define, which then matches nothing (as in Pigeonhole).
pub fn part(unix: i64, off: i32, part: &str) -> Option<String> {
    let c = Civil::of(unix + i64::from(off) * 60);
    let date = format!("{:04}-{:02}-{:02}", c.year, c.month, c.day);
    let time = format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second);
    let z = zone_string(off);
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => format!("{:04}", c.year),
        "month" => format!("{:02}", c.month),
        "day" => format!("{:02}", c.day),
        "date" => date,
        // Modified Julian Day: days since 1858-11-17.
        "julian" => (days_from_civil(c.year, c.month, c.day) + 40_587).to_string(),
        "hour" => format!("{:02}", c.hour),
        "minute" => format!("{:02}", c.minute),
        "second" => format!("{:02}", c.second),
        "time" => time,
        // RFC 3339 as Pigeonhole writes it: `Z` for UTC.
        "iso8601" if off == 0 => format!("{date}T{time}Z"),
        "iso8601" => format!("{date}T{time}{}:{}", &z[..3], &z[3..]),
        "std11" => format!(
            "{}, {:02} {} {:04} {time} {z}",
            c.weekday_name(),
            c.day,
            c.month_name(),
            c.year
        ),
        "zone" => z,
        // 0 = Sunday; Civil counts from Thursday.
        "weekday" => ((c.weekday + 4) % 7).to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dates_and_parts() {
        let (t, off) = parse_rfc5322("Mon, 7 Dec 2026 10:15:00 +0100").unwrap();
        assert_eq!(off, 60);
        assert_eq!(part(t, 0, "time").unwrap(), "09:15:00");
        assert_eq!(
            part(t, off, "iso8601").unwrap(),
            "2026-12-07T10:15:00+01:00"
        );
        assert_eq!(
            part(t, off, "std11").unwrap(),
            "Mon, 07 Dec 2026 10:15:00 +0100"
        );
        assert_eq!(part(t, off, "weekday").unwrap(), "1");
        assert_eq!(part(t, -300, "date").unwrap(), "2026-12-07");
        assert_eq!(part(t, -600, "day").unwrap(), "06");
        // RFC 5260 §4.2: julian 0 is 1858-11-17.
        assert_eq!(part(-3_506_716_800, 0, "julian").unwrap(), "0");
        assert_eq!(parse_rfc5322("8 Dec 26 23:59 EST").map(|d| d.1), Some(-300));
        assert_eq!(parse_rfc5322("someday"), None);
        assert_eq!(parse_zone("-0530"), Some(-330));
        assert_eq!(parse_zone("0530"), None);
        assert_eq!(part(0, 0, "fortnight"), None);
    }
}
