//! How many refusals reach the audit trail: an unauthenticated flood (every
//! request a `401`) must not grow the log without bound, and the first refusal
//! of each kind from each address must still be there.
//!
//! Per remote address (the IP, not the port: a flood opens many connections)
//! and refusal (its status and reason, from a fixed set of texts), the first refusal of a window (a minute) is audited in
//! full; the rest of that window are counted, and the count is written into the
//! next refusal of that kind from that address that is audited ("and 41 more
//! like it"). At most [`MAX_SOURCES`] addresses are tracked; past that, the
//! others share one bucket, so memory stays bounded too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a refusal of one kind from one address stands for the ones after it.
const WINDOW: Duration = Duration::from_secs(60);
/// The most (address, kind) pairs tracked at once.
const MAX_SOURCES: usize = 4096;

/// Where a refusal came from and what kind it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Source {
    /// `None`: no address known, or the shared bucket once the table is full.
    address: Option<IpAddr>,
    kind: String,
}

#[derive(Debug)]
struct Seen {
    since: Instant,
    /// Refusals in this window not audited one by one.
    held: u64,
}

/// Decides which refusals are audited one by one.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    seen: Mutex<HashMap<Source, Seen>>,
}

/// What to do with one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Audit {
    /// Audit it; `held` alike refusals since the last one audited were only
    /// counted.
    Record { held: u64 },
    /// Count it, do not audit it.
    Hold,
}

impl Refusals {
    /// Whether the refusal of `kind` from `address`, now, is audited.
    pub(super) fn admit(&self, address: Option<IpAddr>, kind: &str) -> Audit {
        self.admit_at(address, kind, Instant::now())
    }

    fn admit_at(&self, address: Option<IpAddr>, kind: &str, now: Instant) -> Audit {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut source = Source {
            address,
            kind: kind.to_owned(),
        };
        if !seen.contains_key(&source) && seen.len() >= MAX_SOURCES {
            seen.retain(|_, s| now.duration_since(s.since) < WINDOW);
            if seen.len() >= MAX_SOURCES {
                source.address = None;
            }
        }
        match seen.get_mut(&source) {
            Some(s) if now.duration_since(s.since) < WINDOW => {
                s.held = s.held.saturating_add(1);
                Audit::Hold
            }
            Some(s) => {
                let held = std::mem::take(&mut s.held);
                s.since = now;
                Audit::Record { held }
            }
            None => {
                seen.insert(
                    source,
                    Seen {
                        since: now,
                        held: 0,
                    },
                );
                Audit::Record { held: 0 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_one_line_a_window_and_counted() {
        let refusals = Refusals::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let start = Instant::now();
        assert_eq!(
            refusals.admit_at(Some(a), "no_token", start),
            Audit::Record { held: 0 }
        );
        for _ in 0..1000 {
            assert_eq!(refusals.admit_at(Some(a), "no_token", start), Audit::Hold);
        }
        // Another kind, another address: the first of each is audited.
        assert_eq!(
            refusals.admit_at(Some(a), "invalid_token", start),
            Audit::Record { held: 0 }
        );
        assert_eq!(
            refusals.admit_at(Some(b), "no_token", start),
            Audit::Record { held: 0 }
        );
        // After the window, the next one is audited with the count.
        let later = start + WINDOW;
        assert_eq!(
            refusals.admit_at(Some(a), "no_token", later),
            Audit::Record { held: 1000 }
        );
        assert_eq!(refusals.admit_at(Some(a), "no_token", later), Audit::Hold);
    }

    #[test]
    fn the_table_stays_bounded() {
        let refusals = Refusals::default();
        let now = Instant::now();
        for i in 0..(u32::try_from(MAX_SOURCES).unwrap() + 500) {
            let _ = refusals.admit_at(Some(IpAddr::from(i.to_be_bytes())), "no_token", now);
        }
        let seen = refusals.seen.lock().unwrap();
        assert!(seen.len() <= MAX_SOURCES + 1, "{}", seen.len());
    }
}
