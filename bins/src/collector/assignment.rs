//! Dynamic instrument assignment: which collector of a group collects which instrument.
//!
//! Every collector of a group holds a lease in the discovery backend (see
//! `membership`); the live leases are the group's members. Each
//! instrument goes to the `redundancy` members with the highest rendezvous
//! (highest-random-weight) score of `(member, instrument)`. Why rendezvous hashing:
//!
//! - every member computes the same answer from the same member list, with no coordinator
//!   and no extra round trip;
//! - when a member leaves, only its instruments move (each to the next-highest member), and
//!   when one joins it takes about `1/n` of the instruments, from all others evenly;
//! - taking the top `redundancy` scores gives distinct owners for free.
//!
//! The scores use FNV-1a followed by the SplitMix64 finalizer: stable across builds and
//! platforms (unlike `std`'s `DefaultHasher`), which matters because members may run
//! different builds during a rolling upgrade.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Most collectors that may carry one instrument (`assignment.redundancy`).
pub const MAX_REDUNDANCY: u32 = 5;
/// Shortest and longest lease (`assignment.lease_ttl_secs`).
pub const LEASE_TTL_SECS: std::ops::RangeInclusive<u64> = 2..=300;

/// `[assignment]`: dynamic assignment through discovery leases (off: static `shard`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssignmentConfig {
    /// Claim instruments through leases in the discovery backend (`discovery.url`, which
    /// must be shared by the group: etcd, NATS, Redis or Consul, not `memory://` across
    /// processes) instead of the static `shard` split.
    pub enabled: bool,
    /// Collectors with the same group (and the same `[[exchanges]]`) share the
    /// instruments; several groups can use one discovery backend.
    pub group: String,
    /// How many collectors carry each instrument (1 = failover only; 2 = every event
    /// arrives twice and the event identity keeps one copy).
    pub redundancy: u32,
    /// Lease lifetime: a collector that stops renewing loses its instruments this long
    /// after its last renewal (renewed every third of it).
    pub lease_ttl_secs: u64,
    /// How often the member list is read (ms).
    pub poll_ms: u64,
    /// After an instrument moves to another collector, keep collecting it this long (ms),
    /// so that the new owner is serving before the old one stops (make-before-break;
    /// overlapping copies are deduplicated by the event identity).
    pub release_grace_ms: u64,
}

impl Default for AssignmentConfig {
    fn default() -> Self {
        AssignmentConfig {
            enabled: false,
            group: "default".into(),
            redundancy: 1,
            lease_ttl_secs: 3,
            poll_ms: 250,
            release_grace_ms: 5000,
        }
    }
}

impl AssignmentConfig {
    /// The discovery service name under which the group's members hold their leases.
    pub fn service_name(&self) -> String {
        format!("collector-assignment-{}", self.group)
    }

    /// Problems with the values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=MAX_REDUNDANCY).contains(&self.redundancy) {
            out.push((
                "assignment.redundancy",
                format!("{} must be 1 to {MAX_REDUNDANCY}", self.redundancy),
            ));
        }
        if !LEASE_TTL_SECS.contains(&self.lease_ttl_secs) {
            out.push((
                "assignment.lease_ttl_secs",
                format!(
                    "{} must be {} to {} seconds",
                    self.lease_ttl_secs,
                    LEASE_TTL_SECS.start(),
                    LEASE_TTL_SECS.end()
                ),
            ));
        }
        if !(10..=60_000).contains(&self.poll_ms) {
            out.push((
                "assignment.poll_ms",
                format!("{} must be 10 to 60000", self.poll_ms),
            ));
        }
        if self.release_grace_ms > 600_000 {
            out.push((
                "assignment.release_grace_ms",
                format!("{} must be at most 600000", self.release_grace_ms),
            ));
        }
        let ok = !self.group.is_empty()
            && self.group.len() <= 64
            && self
                .group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            out.push((
                "assignment.group",
                format!(
                    "`{}` must be 1 to 64 characters of [A-Za-z0-9_-]",
                    self.group
                ),
            ));
        }
        out
    }
}

/// The rendezvous score of `member` for `key`.
pub fn score(member: &str, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    // The 0xff separator cannot occur in UTF-8, so ("ab", "c") and ("a", "bc") differ.
    for b in member.bytes().chain([0xff]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // SplitMix64 finalizer: FNV alone leaves the high bits poorly mixed for short inputs.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The owners of `key` among `members`: the `redundancy` highest scores, best first (ties,
/// which need a 64-bit collision, go to the smaller id).
pub fn owners<'a>(key: &str, members: &'a BTreeSet<String>, redundancy: usize) -> Vec<&'a str> {
    let mut ranked: Vec<(u64, &str)> = members
        .iter()
        .map(|m| (score(m, key), m.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    ranked
        .into_iter()
        .take(redundancy)
        .map(|(_, m)| m)
        .collect()
}

/// The keys of `all` that `me` carries among `members` (`me` counts as a member even if
/// its own lease is not listed: a collector is always alive to itself).
pub fn owned(
    all: &BTreeSet<String>,
    members: &BTreeSet<String>,
    me: &str,
    redundancy: usize,
) -> BTreeSet<String> {
    let mut with_me = members.clone();
    with_me.insert(me.to_owned());
    all.iter()
        .filter(|k| owners(k, &with_me, redundancy).contains(&me))
        .cloned()
        .collect()
}

/// An instrument this collector takes over from members that are gone, with nobody left
/// serving it meanwhile: a dark window downstream must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The previous owner (the best-ranked one when there were several).
    pub from: String,
    /// The last time (ms) any previous owner was seen alive.
    pub dark_since_ms: i64,
}

/// For each key `me` newly carries: a [`Takeover`] when every previous owner (under
/// `before`) is gone from `now` and `me` was not one of them. Keys that had no owner before
/// (first start) or still have a live previous owner (redundancy, a join) have none.
pub fn takeovers(
    acquired: &BTreeSet<String>,
    before: &BTreeSet<String>,
    now: &BTreeSet<String>,
    me: &str,
    redundancy: usize,
    last_seen_ms: &BTreeMap<String, i64>,
) -> BTreeMap<String, Takeover> {
    let mut out = BTreeMap::new();
    for key in acquired {
        let prev = owners(key, before, redundancy);
        if prev.is_empty() || prev.contains(&me) || prev.iter().any(|p| now.contains(*p)) {
            continue;
        }
        let dark_since_ms = prev
            .iter()
            .filter_map(|p| last_seen_ms.get(*p).copied())
            .max()
            .unwrap_or(0);
        out.insert(
            key.clone(),
            Takeover {
                from: prev[0].to_owned(),
                dark_since_ms,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn keys(n: usize) -> BTreeSet<String> {
        (0..n)
            .map(|i| format!("binance-spot:SYM{i}-USDT"))
            .collect()
    }

    #[test]
    fn scores_are_stable_across_builds() {
        // Pinned: a change here reshuffles every deployed group during an upgrade.
        assert_eq!(score("a", "b"), score("a", "b"));
        assert_ne!(score("ab", "c"), score("a", "bc"));
        assert_eq!(score("c1", "binance-spot:BTC-USDT"), 0xde74_dbb3_8aea_a793);
    }

    #[test]
    fn every_key_has_exactly_redundancy_owners() {
        let members = set(&["c1", "c2", "c3", "c4"]);
        let all = keys(200);
        for r in 1..=3 {
            let mut count: BTreeMap<&String, usize> = BTreeMap::new();
            for m in &members {
                for k in owned(&all, &members, m, r) {
                    *count.entry(all.get(&k).expect("key")).or_default() += 1;
                }
            }
            assert_eq!(count.len(), all.len());
            assert!(count.values().all(|c| *c == r), "redundancy {r}");
        }
        // More redundancy than members: everyone carries everything.
        let two = set(&["c1", "c2"]);
        assert_eq!(owned(&all, &two, "c1", 3), all);
    }

    #[test]
    fn load_is_spread() {
        let members = set(&["c1", "c2", "c3"]);
        let all = keys(900);
        for m in &members {
            let n = owned(&all, &members, m, 1).len();
            assert!((200..=400).contains(&n), "{m} owns {n} of 900");
        }
    }

    #[test]
    fn a_leaving_member_moves_only_its_keys() {
        let all = keys(300);
        let before = set(&["c1", "c2", "c3"]);
        let after = set(&["c1", "c3"]);
        for r in [1, 2] {
            for m in ["c1", "c3"] {
                let old = owned(&all, &before, m, r);
                let new = owned(&all, &after, m, r);
                assert!(old.is_subset(&new), "{m} lost keys when c2 left (r={r})");
                for k in new.difference(&old) {
                    assert!(
                        owners(k, &before, r).contains(&"c2"),
                        "{k} moved needlessly"
                    );
                }
            }
        }
    }

    #[test]
    fn a_joining_member_takes_keys_only_from_others_and_about_its_share() {
        let all = keys(600);
        let before = set(&["c1", "c2"]);
        let after = set(&["c1", "c2", "c3"]);
        let taken = owned(&all, &after, "c3", 1);
        assert!((120..=280).contains(&taken.len()), "{}", taken.len());
        for m in ["c1", "c2"] {
            let old = owned(&all, &before, m, 1);
            let new = owned(&all, &after, m, 1);
            assert!(new.is_subset(&old), "{m} gained keys when c3 joined");
        }
    }

    #[test]
    fn me_counts_even_when_my_lease_is_not_listed() {
        let all = keys(50);
        let listed = set(&["c2"]);
        let mine = owned(&all, &listed, "c1", 1);
        assert_eq!(mine, owned(&all, &set(&["c1", "c2"]), "c1", 1));
    }

    #[test]
    fn takeovers_only_for_keys_left_dark() {
        let all = keys(100);
        let before = set(&["c1", "c2", "c3"]);
        let now = set(&["c1", "c3"]);
        let seen = BTreeMap::from([("c2".to_owned(), 1_000)]);
        // Redundancy 1: everything c1 gains was c2's, and c2 is gone.
        let acquired: BTreeSet<String> = owned(&all, &now, "c1", 1)
            .difference(&owned(&all, &before, "c1", 1))
            .cloned()
            .collect();
        assert!(!acquired.is_empty());
        let t = takeovers(&acquired, &before, &now, "c1", 1, &seen);
        assert_eq!(t.len(), acquired.len());
        assert!(
            t.values()
                .all(|t| t.from == "c2" && t.dark_since_ms == 1_000)
        );
        // Redundancy 2: the other previous owner still serves, so no dark window.
        let acquired2: BTreeSet<String> = owned(&all, &now, "c1", 2)
            .difference(&owned(&all, &before, "c1", 2))
            .cloned()
            .collect();
        assert!(takeovers(&acquired2, &before, &now, "c1", 2, &seen).is_empty());
        // First start: nobody owned anything before.
        assert!(takeovers(&all, &BTreeSet::new(), &now, "c1", 1, &seen).is_empty());
    }

    #[test]
    fn config_problems_name_the_key() {
        let bad = AssignmentConfig {
            redundancy: 0,
            lease_ttl_secs: 1,
            group: "a.b".into(),
            poll_ms: 0,
            ..AssignmentConfig::default()
        };
        let keys: Vec<&str> = bad.problems().iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            [
                "assignment.redundancy",
                "assignment.lease_ttl_secs",
                "assignment.poll_ms",
                "assignment.group"
            ]
        );
        assert!(AssignmentConfig::default().problems().is_empty());
    }
}
