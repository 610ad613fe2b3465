//! Which backend serves a user, as pure code: rendezvous (highest-random-weight) hashing of
//! the user's login key over the healthy backends, so that a backend leaving moves only its
//! own users and its return moves exactly them back; an administrator's override, which
//! wins while its backend is healthy; and stickiness, which keeps a user's new sessions on
//! the backend the user's open sessions use, so that one backend at a time writes a mailbox.

/// Why a backend was chosen (shown by `mailctl proxy where`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Why {
    /// The user has sessions open there.
    Sticky,
    /// The routes file names it.
    Override,
    /// The highest hash among the healthy backends.
    Hash,
    /// Tried after a better choice refused the connection.
    Fallback,
}

/// A backend's name and whether it is taken into account.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub name: &'a str,
    pub healthy: bool,
}

/// The backends to try for `user`, best first, each with its reason: the sticky backend,
/// then the override, then every other healthy backend by hash. Unhealthy backends are
/// never listed; an empty list means no backend can serve the user now.
pub fn order<'a>(
    user_key: &str,
    backends: &[Candidate<'a>],
    over: Option<&str>,
    sticky: Option<&str>,
) -> Vec<(&'a str, Why)> {
    let healthy = |name: &str| backends.iter().find(|b| b.healthy && b.name == name);
    let mut out: Vec<(&'a str, Why)> = Vec::with_capacity(backends.len());
    if let Some(b) = sticky.and_then(healthy) {
        out.push((b.name, Why::Sticky));
    }
    if let Some(b) = over.and_then(healthy) {
        if !out.iter().any(|(n, _)| *n == b.name) {
            out.push((b.name, Why::Override));
        }
    }
    let mut hashed: Vec<&Candidate<'a>> = backends.iter().filter(|b| b.healthy).collect();
    hashed.sort_by_key(|b| std::cmp::Reverse((weight(user_key, b.name), b.name)));
    for b in hashed {
        if !out.iter().any(|(n, _)| *n == b.name) {
            let why = if out.is_empty() {
                Why::Hash
            } else {
                Why::Fallback
            };
            out.push((b.name, why));
        }
    }
    out
}

/// The user's weight on a backend: a fixed, well-mixed 64-bit hash of both names (FNV-1a
/// and a final avalanche), the same in every build so that restarts route alike.
pub fn weight(user_key: &str, backend: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user_key
        .bytes()
        .chain(std::iter::once(0))
        .chain(backend.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser: FNV alone leaves similar names with similar high bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all<'a>(names: &[&'a str]) -> Vec<Candidate<'a>> {
        names
            .iter()
            .map(|n| Candidate {
                name: n,
                healthy: true,
            })
            .collect()
    }

    fn first<'a>(user: &str, b: &[Candidate<'a>]) -> &'a str {
        order(user, b, None, None)[0].0
    }

    fn users() -> Vec<String> {
        (0..3000).map(|i| format!("user{i}@example.org")).collect()
    }

    #[test]
    fn removing_a_backend_moves_only_its_users_and_adding_it_back_restores_them() {
        let three = all(&["b1", "b2", "b3"]);
        let mut two = three.clone();
        two[1].healthy = false;
        let mut moved = 0;
        for u in users() {
            let before = first(&u, &three);
            let during = first(&u, &two);
            if before == "b2" {
                moved += 1;
                assert_ne!(during, "b2");
            } else {
                assert_eq!(before, during, "{u} moved though its backend stayed");
            }
            assert_eq!(first(&u, &three), before);
        }
        assert!(moved > 0);
        // Adding a fourth takes users only onto itself.
        let four = all(&["b1", "b2", "b3", "b4"]);
        for u in users() {
            let now = first(&u, &four);
            assert!(now == "b4" || now == first(&u, &three));
        }
    }

    #[test]
    fn users_spread_evenly() {
        let b = all(&["b1", "b2", "b3"]);
        let mut counts = [0usize; 3];
        for u in users() {
            let i = ["b1", "b2", "b3"]
                .iter()
                .position(|n| *n == first(&u, &b))
                .unwrap();
            counts[i] += 1;
        }
        // 1000 each expected; a 10 % band is far outside chance for a sound hash.
        for c in counts {
            assert!((900..=1100).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn an_override_wins_only_while_its_backend_is_healthy() {
        let mut b = all(&["b1", "b2"]);
        let hashed = first("joe", &b);
        let other = if hashed == "b1" { "b2" } else { "b1" };
        let o = order("joe", &b, Some(other), None);
        assert_eq!(o[0], (other, Why::Override));
        assert_eq!(o[1], (hashed, Why::Fallback));
        for c in &mut b {
            c.healthy = c.name != other;
        }
        assert_eq!(
            order("joe", &b, Some(other), None),
            vec![(hashed, Why::Hash)]
        );
        assert_eq!(order("joe", &b, Some("gone"), None)[0], (hashed, Why::Hash));
    }

    #[test]
    fn open_sessions_keep_a_user_where_they_are() {
        let b = all(&["b1", "b2"]);
        let hashed = first("joe", &b);
        let other = if hashed == "b1" { "b2" } else { "b1" };
        // Sticky beats even a fresh override: the sessions are kicked when moved.
        let o = order("joe", &b, Some(hashed), Some(other));
        assert_eq!(o[0], (other, Why::Sticky));
        assert_eq!(o.len(), 2);
        let mut down = b.clone();
        for c in &mut down {
            c.healthy = c.name != other;
        }
        assert_eq!(
            order("joe", &down, None, Some(other))[0],
            (hashed, Why::Hash)
        );
        let none: Vec<Candidate> = all(&["b1"])
            .into_iter()
            .map(|mut c| {
                c.healthy = false;
                c
            })
            .collect();
        assert!(order("joe", &none, None, None).is_empty());
    }
}
