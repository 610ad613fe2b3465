//! Maildir message flags and the `:2,FLAGS` info suffix.
//!
//! The six standard flags are upper-case letters; Dovecot stores up to 26 IMAP keywords as the
//! letters `a`–`z` (their names live in `dovecot-keywords`, which this crate leaves to its
//! owner). Letters are always written in ASCII order, which the maildir spec requires.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not, Sub};
use std::str::FromStr;

/// The set of flags of one message: the standard six plus keyword letters `a`–`z`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

/// Standard flags in ASCII order of their letters; bit i is `STANDARD[i]`.
const STANDARD: [char; 6] = ['D', 'F', 'P', 'R', 'S', 'T'];
const KEYWORD_SHIFT: u32 = 6;

/// A letter in an info suffix that is neither a standard flag nor a keyword letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown maildir flag letter {0:?}")]
pub struct UnknownFlag(pub char);

impl Flags {
    pub const DRAFT: Flags = Flags(1 << 0);
    pub const FLAGGED: Flags = Flags(1 << 1);
    pub const PASSED: Flags = Flags(1 << 2);
    pub const REPLIED: Flags = Flags(1 << 3);
    pub const SEEN: Flags = Flags(1 << 4);
    pub const TRASHED: Flags = Flags(1 << 5);

    pub const fn empty() -> Flags {
        Flags(0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// The flag for one letter (`D`, `F`, `P`, `R`, `S`, `T` or a keyword `a`–`z`).
    pub fn from_letter(letter: char) -> Option<Flags> {
        if let Some(i) = STANDARD.iter().position(|&c| c == letter) {
            return Some(Flags(1 << i));
        }
        if letter.is_ascii_lowercase() {
            return Some(Flags(1 << (KEYWORD_SHIFT + (letter as u32 - 'a' as u32))));
        }
        None
    }

    /// Keyword number `index` (0 = `a` ... 25 = `z`), as Dovecot numbers them.
    pub fn keyword(index: u8) -> Option<Flags> {
        (index < 26).then(|| Flags(1 << (KEYWORD_SHIFT + u32::from(index))))
    }

    /// Indices (0–25) of the keyword letters set.
    pub fn keywords(self) -> impl Iterator<Item = u8> {
        (0u8..26).filter(move |&i| self.0 & (1 << (KEYWORD_SHIFT + u32::from(i))) != 0)
    }

    /// Parses flag letters leniently, as found on disk: letters this crate does not know
    /// (other tools' experiments) are dropped rather than making the message unreadable.
    pub fn from_letters_lossy(letters: &str) -> Flags {
        letters
            .chars()
            .filter_map(Flags::from_letter)
            .fold(Flags::empty(), |a, f| a | f)
    }

    /// Flags from the info part of a file name (what follows the `:`). Only the `2,` form
    /// carries flags; experimental `1,` info and anything else mean "no flags".
    pub fn from_info(info: &str) -> Flags {
        match info.strip_prefix("2,") {
            Some(letters) => Flags::from_letters_lossy(letters),
            None => Flags::empty(),
        }
    }

    /// The letters in ASCII order, e.g. `"FSa"`.
    pub fn letters(self) -> String {
        let mut out = String::with_capacity(self.0.count_ones() as usize);
        for (i, c) in STANDARD.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                out.push(*c);
            }
        }
        for i in self.keywords() {
            out.push(char::from(b'a' + i));
        }
        out
    }

    /// The info part for a file name in `cur/`: `2,` followed by the letters.
    pub fn info(self) -> String {
        format!("2,{}", self.letters())
    }
}

impl FromStr for Flags {
    type Err = UnknownFlag;

    /// Strict parse of flag letters (order and repetition do not matter).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.chars().try_fold(Flags::empty(), |acc, c| {
            Flags::from_letter(c).map(|f| acc | f).ok_or(UnknownFlag(c))
        })
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.letters())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:?})", self.letters())
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

impl Sub for Flags {
    type Output = Flags;
    fn sub(self, rhs: Flags) -> Flags {
        Flags(self.0 & !rhs.0)
    }
}

impl Not for Flags {
    type Output = Flags;
    fn not(self) -> Flags {
        // Six standard flags and 26 keywords use all 32 bits.
        Flags(!self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_sorted_ascii() {
        let f: Flags = "TzSaDRFP".parse().unwrap();
        assert_eq!(f.letters(), "DFPRSTaz");
        assert_eq!(f.info(), "2,DFPRSTaz");
    }

    #[test]
    fn every_single_letter_round_trips() {
        for c in "DFPRST".chars().chain('a'..='z') {
            let f = Flags::from_letter(c).unwrap();
            assert_eq!(f.letters(), c.to_string());
            assert_eq!(Flags::from_info(&f.info()), f);
        }
    }

    #[test]
    fn all_subsets_of_standard_round_trip() {
        for bits in 0u32..64 {
            let f = Flags(bits);
            let text = f.info();
            assert_eq!(Flags::from_info(&text), f, "{text}");
            assert_eq!(f.letters().parse::<Flags>(), Ok(f));
        }
    }

    #[test]
    fn strict_parse_rejects_unknown_lossy_drops_it() {
        assert_eq!("SX".parse::<Flags>(), Err(UnknownFlag('X')));
        assert_eq!("S1".parse::<Flags>(), Err(UnknownFlag('1')));
        assert_eq!(
            Flags::from_letters_lossy("SX1a"),
            Flags::SEEN | Flags::keyword(0).unwrap()
        );
    }

    #[test]
    fn info_other_than_2_has_no_flags() {
        assert_eq!(Flags::from_info("1,whatever"), Flags::empty());
        assert_eq!(Flags::from_info("S"), Flags::empty());
        assert_eq!(Flags::from_info("2,"), Flags::empty());
        assert_eq!(Flags::from_info("2,RS"), Flags::REPLIED | Flags::SEEN);
    }

    #[test]
    fn set_operations() {
        let mut f = Flags::SEEN | Flags::FLAGGED;
        assert!(f.contains(Flags::SEEN));
        assert!(!f.contains(Flags::SEEN | Flags::DRAFT));
        f.remove(Flags::SEEN);
        assert_eq!(f, Flags::FLAGGED);
        f.insert(Flags::keyword(25).unwrap());
        assert_eq!(f.letters(), "Fz");
        assert_eq!(f.keywords().collect::<Vec<_>>(), vec![25]);
        assert_eq!((f - Flags::FLAGGED).letters(), "z");
        assert_eq!((!Flags::empty()).letters().len(), 32);
        assert_eq!(Flags::keyword(26), None);
    }
}
