//! The keyword pass: every occurrence of every rule keyword in a text, overlapping
//! ones included, in the order they end.
//!
//! The automaton is aho-corasick's DFA. Walking it is one table load per byte, and
//! each load waits for the one before: on ordinary text the walk is bound by that
//! latency, not by the work. So a long text is walked as four lanes at once, each
//! over its own quarter, the four chains of loads overlapping in the processor.
//! A lane starts `longest keyword - 1` bytes before its quarter: by the quarter's
//! first byte its state is what one walk from the start would have reached (the
//! state of an Aho-Corasick automaton depends only on that many bytes before), and
//! it reports only matches that end inside its quarter, so every occurrence is
//! reported once.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{AhoCorasick, Anchored, MatchKind, StartKind};

use crate::decode;

/// One keyword occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The keyword's index in the list the automaton was built from.
    pub(crate) pattern: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The keywords of a rule set, matched without regard to ASCII case.
#[derive(Debug)]
pub(crate) enum Keywords {
    /// The DFA, walked directly.
    Dfa(Box<DFA>),
    /// When a DFA cannot be built (too many states for its ids): aho-corasick's
    /// own choice, searched through its overlapping iterator.
    Other(AhoCorasick),
}

/// Lanes walked at once.
const LANES: usize = 4;
/// Texts shorter than this many bytes per lane are walked in one lane.
const MIN_LANE: usize = 1024;

impl Keywords {
    /// Builds the automaton of `keywords` (lowercase).
    pub(crate) fn build(keywords: &[String]) -> Result<Self, aho_corasick::BuildError> {
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .build(keywords);
        match dfa {
            Ok(dfa) => Ok(Self::Dfa(Box::new(dfa))),
            Err(_) => AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(keywords)
                .map(Self::Other),
        }
    }

    /// The length of the longest keyword.
    pub(crate) fn max_len(&self) -> usize {
        match self {
            Self::Dfa(dfa) => dfa.max_pattern_len(),
            Self::Other(ac) => ac.max_pattern_len(),
        }
    }

    /// Appends every occurrence in `hay` to `out`, in the order they end (those
    /// that end together in the automaton's order of them). `Err` when the
    /// automaton cannot search (never for the kinds built here): the caller then
    /// searches without keywords.
    ///
    /// With `runs`, the same walk also notes where base64 runs long enough to be
    /// decoded stand (see [`decode::RUN_SEEN`]): each position it appends ends
    /// [`decode::MIN_RUN`] base64 characters in a row. A run may be noted more than
    /// once. `Ok(false)` when the runs were not looked for (the fallback
    /// automaton): the caller then finds them itself.
    pub(crate) fn find_all(
        &self,
        hay: &[u8],
        out: &mut Vec<Hit>,
        runs: Option<&mut Vec<usize>>,
    ) -> Result<bool, ()> {
        match self {
            Self::Dfa(dfa) => {
                let Ok(start) = dfa.start_state(Anchored::No) else {
                    return Err(());
                };
                let walk = Walk { dfa, start };
                let mut none = Vec::new();
                let tracked = runs.is_some();
                let runs = runs.unwrap_or(&mut none);
                match (hay.len() < LANES * MIN_LANE, tracked) {
                    (true, true) => walk.lane::<true>(hay, 0, 0, out, runs),
                    (true, false) => walk.lane::<false>(hay, 0, 0, out, runs),
                    (false, true) => walk.lanes::<true>(hay, out, runs),
                    (false, false) => walk.lanes::<false>(hay, out, runs),
                }
                Ok(tracked)
            }
            Self::Other(ac) => {
                let hits = ac.try_find_overlapping_iter(hay).map_err(|_| ())?;
                out.extend(hits.map(|m| Hit {
                    pattern: m.pattern().as_usize(),
                    start: m.start(),
                    end: m.end(),
                }));
                Ok(false)
            }
        }
    }
}

struct Walk<'a> {
    dfa: &'a DFA,
    start: aho_corasick::automaton::StateID,
}

/// The length of the base64 run that ends with byte `b`, given the length of the
/// one before it (no branch: the walk's hot loop).
#[inline(always)]
fn run_step(len: usize, b: u8) -> usize {
    (len + 1) * usize::from(decode::is_b64(b))
}

impl Walk<'_> {
    /// Reports the matches of match state `sid` reached at `end` (absolute).
    fn report(&self, sid: aho_corasick::automaton::StateID, end: usize, out: &mut Vec<Hit>) {
        for i in 0..self.dfa.match_len(sid) {
            let pid = self.dfa.match_pattern(sid, i);
            out.push(Hit {
                pattern: pid.as_usize(),
                start: end.saturating_sub(self.dfa.pattern_len(pid)),
                end,
            });
        }
    }

    /// Walks `bytes`, which start at `offset` in the text, from the start state,
    /// reporting matches that end after `from` (absolute), and with `RUNS` the
    /// ends of long base64 runs.
    fn lane<const RUNS: bool>(
        &self,
        bytes: &[u8],
        offset: usize,
        from: usize,
        out: &mut Vec<Hit>,
        runs: &mut Vec<usize>,
    ) {
        let mut sid = self.start;
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate() {
            sid = self.dfa.next_state(Anchored::No, sid, b);
            if self.dfa.is_match(sid) && offset + i + 1 > from {
                self.report(sid, offset + i + 1, out);
            }
            if RUNS {
                run = run_step(run, b);
                if run == decode::RUN_SEEN {
                    runs.push(offset + i + 1);
                }
            }
        }
    }

    /// Walks `hay` as four lanes at once.
    fn lanes<const RUNS: bool>(&self, hay: &[u8], out: &mut Vec<Hit>, runs: &mut Vec<usize>) {
        let dfa = self.dfa;
        // A lane starts early enough that its state, and a run's length, are
        // right by its quarter's first byte.
        let back =
            dfa.max_pattern_len()
                .saturating_sub(1)
                .max(if RUNS { decode::RUN_SEEN } else { 0 });
        let quarter = hay.len() / LANES;
        // Lane j reports the matches that end in (bound[j], bound[j + 1]] and
        // starts walking `back` bytes before bound[j].
        let bound = [0, quarter, 2 * quarter, 3 * quarter, hay.len()];
        let begin = bound.map(|b| b.saturating_sub(back));
        let part = |j: usize| {
            let (Some(&from), Some(&to)) = (begin.get(j), bound.get(j + 1)) else {
                return &[][..];
            };
            hay.get(from..to).unwrap_or_default()
        };
        let (p0, p1, p2, p3) = (part(0), part(1), part(2), part(3));
        let mut found: [Vec<Hit>; LANES] = Default::default();
        let mut seen: [Vec<usize>; LANES] = Default::default();
        let [f0, f1, f2, f3] = &mut found;
        let [s0, s1, s2, s3] = &mut seen;
        let mut sid = [self.start; LANES];
        let mut run = [0usize; LANES];
        // Together while every lane has bytes left (lane 0 is the shortest).
        let together = p0.len();
        for (i, (((&b0, &b1), &b2), &b3)) in p0.iter().zip(p1).zip(p2).zip(p3).enumerate() {
            sid[0] = dfa.next_state(Anchored::No, sid[0], b0);
            sid[1] = dfa.next_state(Anchored::No, sid[1], b1);
            sid[2] = dfa.next_state(Anchored::No, sid[2], b2);
            sid[3] = dfa.next_state(Anchored::No, sid[3], b3);
            if dfa.is_match(sid[0]) {
                self.report(sid[0], begin[0] + i + 1, f0);
            }
            if dfa.is_match(sid[1]) && begin[1] + i + 1 > bound[1] {
                self.report(sid[1], begin[1] + i + 1, f1);
            }
            if dfa.is_match(sid[2]) && begin[2] + i + 1 > bound[2] {
                self.report(sid[2], begin[2] + i + 1, f2);
            }
            if dfa.is_match(sid[3]) && begin[3] + i + 1 > bound[3] {
                self.report(sid[3], begin[3] + i + 1, f3);
            }
            if RUNS {
                run[0] = run_step(run[0], b0);
                run[1] = run_step(run[1], b1);
                run[2] = run_step(run[2], b2);
                run[3] = run_step(run[3], b3);
                if run[0] == decode::RUN_SEEN {
                    s0.push(begin[0] + i + 1);
                }
                if run[1] == decode::RUN_SEEN {
                    s1.push(begin[1] + i + 1);
                }
                if run[2] == decode::RUN_SEEN {
                    s2.push(begin[2] + i + 1);
                }
                if run[3] == decode::RUN_SEEN {
                    s3.push(begin[3] + i + 1);
                }
            }
        }
        // Then each lane's rest on its own.
        let lanes = [p0, p1, p2, p3]
            .into_iter()
            .zip(&mut found)
            .zip(&mut seen)
            .zip(sid.into_iter().zip(run))
            .zip(begin.into_iter().zip(bound));
        for ((((lane, found), seen), (mut s, mut r)), (offset, from)) in lanes {
            for (i, &b) in lane.iter().enumerate().skip(together) {
                s = dfa.next_state(Anchored::No, s, b);
                if dfa.is_match(s) && offset + i + 1 > from {
                    self.report(s, offset + i + 1, found);
                }
                if RUNS {
                    r = run_step(r, b);
                    if r == decode::RUN_SEEN {
                        seen.push(offset + i + 1);
                    }
                }
            }
            out.append(found);
            runs.append(seen);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn reference(keywords: &[String], hay: &[u8]) -> Vec<Hit> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(keywords)
            .unwrap();
        ac.find_overlapping_iter(hay)
            .map(|m| Hit {
                pattern: m.pattern().as_usize(),
                start: m.start(),
                end: m.end(),
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The lanes report what one overlapping search does, in its order, at
        /// every length (lane bounds falling inside keywords included).
        #[test]
        fn lanes_equal_one_overlapping_search(
            text in proptest::collection::vec(
                proptest::sample::select(b"abcKEYkey_-=tokn".to_vec()), 0..12_000),
        ) {
            let keywords: Vec<String> = ["key", "token", "ke", "y_k", "key_key_key", "-=", "n"]
                .iter().map(|k| (*k).to_owned()).collect();
            let kw = Keywords::build(&keywords).unwrap();
            let mut got = Vec::new();
            kw.find_all(&text, &mut got, None).unwrap();
            proptest::prop_assert_eq!(got, reference(&keywords, &text));
        }
    }
}
