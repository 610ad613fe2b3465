//! A deterministic mutator for the bounded mutation runs the unit tests do over the fuzz
//! corpora (what cargo-fuzz does without bounds), shared by this crate's and imapd's tests.

use std::path::Path;

/// The files of a corpus directory, in name order.
pub fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// xorshift: the same mutations on every run.
pub struct Mutator(u64);

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Seed `round % len` with a few byte edits (bytes from `specials`), or a whole line from
    /// another seed spliced in.
    pub fn mutate(&mut self, seeds: &[Vec<u8>], round: usize, specials: &[u8]) -> Vec<u8> {
        let mut d = seeds[round % seeds.len()].clone();
        for _ in 0..(1 + self.below(6)) {
            if d.is_empty() {
                d.push(b'0');
            }
            let i = self.below(d.len());
            match self.below(5) {
                0 => d[i] = specials[self.below(specials.len())],
                1 => d.insert(i, specials[self.below(specials.len())]),
                2 => {
                    d.remove(i);
                }
                3 => d.truncate(i),
                _ => {
                    let other = &seeds[self.below(seeds.len())];
                    let lines: Vec<&[u8]> = other.split_inclusive(|&b| b == b'\n').collect();
                    let line = lines[self.below(lines.len())];
                    let at = d[..i]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |p| p + 1);
                    d.splice(at..at, line.iter().copied());
                }
            }
        }
        d
    }
}
