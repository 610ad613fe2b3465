//! Reading the parameter field of a yescrypt `$y$` hash, only to learn its
//! cost before anything is allocated or computed.
//!
//! The encoding is yescrypt's variable-length little-endian base-64 integers
//! (`decode64_uint32` and `yescrypt_decode_params` in the reference code and
//! libxcrypt). It is re-read here with checked arithmetic because the field
//! comes from a file: the yescrypt crate only sees fields that passed.

/// The cost-relevant numbers of a parameter field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct YescryptCost {
    pub(crate) n_log2: u32,
    pub(crate) r: u32,
    pub(crate) p: u32,
    pub(crate) t: u32,
}

impl YescryptCost {
    /// `N * r * p * (t + 1)`, saturating: proportional to the memory and time
    /// one verification takes (exactly the memory when `p = 1, t = 0`).
    pub(crate) fn work(&self) -> u64 {
        let n = 1u64.checked_shl(self.n_log2).unwrap_or(u64::MAX);
        n.saturating_mul(u64::from(self.r))
            .saturating_mul(u64::from(self.p))
            .saturating_mul(u64::from(self.t) + 1)
    }
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn atoi64(c: u8) -> Option<u32> {
    ITOA64
        .iter()
        .position(|&a| a == c)
        .and_then(|i| u32::try_from(i).ok())
}

/// One variable-length integer starting at `pos`; returns it and the
/// position after it. `None` on a bad character, truncation or a value that
/// does not fit in 32 bits.
fn decode_uint32(src: &[u8], pos: usize, min: u32) -> Option<(u32, usize)> {
    let mut pos = pos;
    let c = atoi64(*src.get(pos)?)?;
    pos += 1;
    let (mut start, mut end, mut chars, mut bits) = (0u32, 47u32, 1u32, 0u32);
    let mut dst = u64::from(min);
    while c > end {
        dst += u64::from(end + 1 - start) << bits;
        start = end + 1;
        end = start + (62 - end) / 2;
        chars += 1;
        bits += 6;
    }
    dst += u64::from(c - start) << bits;
    while chars > 1 {
        chars -= 1;
        let c = atoi64(*src.get(pos)?)?;
        pos += 1;
        bits = bits.checked_sub(6)?;
        dst += u64::from(c) << bits;
    }
    Some((u32::try_from(dst).ok()?, pos))
}

/// Decodes a whole parameter field (the text between `$y$` and the salt).
/// Trailing characters, `N` outside 2^1..2^63 and unknown "have" bits are
/// refused, as libxcrypt does; the flavor is left to the yescrypt crate.
pub(crate) fn decode(field: &str) -> Option<YescryptCost> {
    let b = field.as_bytes();
    let (_flavor, pos) = decode_uint32(b, 0, 0)?;
    let (n_log2, pos) = decode_uint32(b, pos, 1)?;
    if n_log2 > 63 {
        return None;
    }
    let (r, mut pos) = decode_uint32(b, pos, 1)?;
    let (mut p, mut t) = (1, 0);
    if pos < b.len() {
        let (have, next) = decode_uint32(b, pos, 1)?;
        pos = next;
        if have > 15 {
            return None;
        }
        if have & 1 != 0 {
            (p, pos) = decode_uint32(b, pos, 2)?;
        }
        if have & 2 != 0 {
            (t, pos) = decode_uint32(b, pos, 1)?;
        }
        // g (upgrades) and NROM: read to find the end; the crate refuses both.
        if have & 4 != 0 {
            (_, pos) = decode_uint32(b, pos, 1)?;
        }
        if have & 8 != 0 {
            (_, pos) = decode_uint32(b, pos, 1)?;
        }
    }
    if pos != b.len() {
        return None;
    }
    Some(YescryptCost { n_log2, r, p, t })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libxcrypt_settings_decode_to_their_documented_costs() {
        // mkpasswd -m yescrypt -R 1, -R 3, default (-R 5), -R 7.
        assert_eq!(
            decode("j75"),
            Some(YescryptCost {
                n_log2: 10,
                r: 8,
                p: 1,
                t: 0
            })
        );
        assert_eq!(
            decode("j7T"),
            Some(YescryptCost {
                n_log2: 10,
                r: 32,
                p: 1,
                t: 0
            })
        );
        let default = decode("j9T").unwrap();
        assert_eq!(
            default,
            YescryptCost {
                n_log2: 12,
                r: 32,
                p: 1,
                t: 0
            }
        );
        assert_eq!(default.work(), 1 << 17);
        assert_eq!(decode("jBT").unwrap().n_log2, 14);
        // From the reference implementation's TESTS-OK: p = 11, t = 0 via "have".
        assert_eq!(
            decode("jD5.7"),
            Some(YescryptCost {
                n_log2: 16,
                r: 8,
                p: 11,
                t: 0
            })
        );
    }

    #[test]
    fn malformed_fields_are_none_not_panics() {
        for bad in [
            "",
            "j",
            "j9",
            "$",
            "j9T!",
            "jzzzzzzzzzz",
            "zzzzzzzzz",
            "j9Tz",
            "j9\u{e9}T",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        // Largest multi-character integers must not overflow.
        let _ = decode("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
        let huge = decode("jzzzzzz").map(|c| c.work());
        assert!(huge.is_none() || huge == Some(u64::MAX));
    }

    #[test]
    fn work_saturates() {
        let c = YescryptCost {
            n_log2: 63,
            r: u32::MAX,
            p: u32::MAX,
            t: u32::MAX,
        };
        assert_eq!(c.work(), u64::MAX);
    }
}
