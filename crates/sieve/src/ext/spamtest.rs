//! RFC 5235 spamtest and virustest: the test values a message's scores give.

/// `spamtest`'s value for a spam likelihood in percent (`None`: not tested): "0" untested,
/// else "1" (certainly not spam) to "10" (certainly spam); with `:percent` (spamtestplus)
/// the percentage itself, "0" when untested.
pub fn spam_value(percent: Option<u8>, as_percent: bool) -> String {
    match (percent.map(|p| p.min(100)), as_percent) {
        (None, _) => "0".into(),
        (Some(p), true) => p.to_string(),
        // Pigeonhole truncates, so the same score gives the same value.
        (Some(p), false) => (1 + u32::from(p) * 9 / 100).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale() {
        assert_eq!(spam_value(None, false), "0");
        assert_eq!(spam_value(None, true), "0");
        assert_eq!(spam_value(Some(0), false), "1");
        assert_eq!(spam_value(Some(50), false), "5");
        assert_eq!(spam_value(Some(99), false), "9");
        assert_eq!(spam_value(Some(100), false), "10");
        assert_eq!(spam_value(Some(63), true), "63");
        assert_eq!(spam_value(Some(200), true), "100");
    }
}
