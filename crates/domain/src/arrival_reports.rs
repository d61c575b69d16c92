//! Reports of waiting-room arrivals, one per edge a second rather than one
//! per instance. Spin runs many instances of an edge at once and retires
//! each after a number of requests; when each reported what it counted,
//! the origin heard from every instance every second.
//!
//! Now each instance leaves its totals in the edge's key-value store
//! (`Written`, at most once a second, from its `Counted`), and one
//! instance of the edge, its reporter (`Lead`, a lease in the same store),
//! sends the origin all the writes it has not sent in one report
//! (`Batch`). The lease records which write of each instance the origin
//! took, so every instance learns when it is done, and takes the lease
//! itself when the reporter is gone. No KV atomics are needed: two
//! reporters for a moment send the same totals twice, which the origin
//! counts once (totals, not increments), and a write the store lost is
//! written again (`REWRITE_AFTER`).

use crate::freshness::Millis;
use crate::waiting_room::{BUCKET_MS, MAX_REPORTED_BUCKETS, bucket_of};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How often an instance writes its totals, and the reporter reports, at
/// most.
pub const REPORT_EVERY: Millis = 1_000;
/// How long a reporter's lease runs past its last renewal (each report
/// renews it): a reporter gone is replaced within this.
pub const LEAD_FOR: Millis = 3 * REPORT_EVERY;
/// A write the reporter has not marked taken this long after it is written
/// again: a store that lost it, or that shows it late, heals.
pub const REWRITE_AFTER: Millis = 10_000;
/// A taken write this old is deleted by the reporter: its instance is gone
/// without deleting it (an instance alive writes again within
/// `REWRITE_AFTER` what it still has to tell).
pub const FORGET_AFTER: Millis = 60_000;
/// The most instances one report names; the rest go with the next.
pub const MAX_REPORTERS: usize = 256;

/// The most writes an instance remembers until the reporter marks one
/// taken; an older one forgotten costs nothing, as every later write
/// carries what it carried and the origin has not taken.
const MAX_PENDING: usize = 16;

/// The tickets one instance stamped for one event, and how far the origin
/// has taken them.
#[derive(Debug, Default)]
pub struct Counted {
    /// How many it stamped in each bucket (`waiting_room::BUCKET_MS` of
    /// stamps, by when it starts).
    totals: BTreeMap<Millis, u64>,
    /// The buckets whose totals the origin has not taken yet, each with
    /// when its oldest count the origin has not taken was made (or a
    /// moment before).
    untaken: BTreeMap<Millis, Millis>,
    /// The buckets counted since they were last written.
    unwritten: BTreeSet<Millis>,
    /// A waiting page asked here while the cutoff seemed stuck: the origin
    /// is to hear even with nothing new (it moves the cutoff on reports).
    asked: bool,
    /// An ask is written and the origin has not taken it yet.
    ask_untaken: bool,
    /// The writes the reporter has not marked taken, oldest first. The
    /// reporter's mark may name any of them: an instance that writes
    /// every second learns of a mark a second or so after it was made.
    pending: VecDeque<Written>,
    /// When the last write was made: each is marked by when, so each is
    /// later than the one before.
    last_written: Millis,
}

/// What an instance writes for the reporter: the totals of the buckets the
/// origin has not taken (the oldest `MAX_REPORTED_BUCKETS` of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// When it was written: the reporter marks it taken by this.
    pub at: Millis,
    /// When the oldest count in it that the origin has not taken was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    #[serde(default)]
    pub asked: bool,
    pub buckets: BTreeMap<Millis, u64>,
}

impl Counted {
    /// One more ticket stamped `stamp`, counted at `now`.
    pub fn count(&mut self, stamp: Millis, now: Millis) {
        let bucket = bucket_of(stamp);
        *self.totals.entry(bucket).or_default() += 1;
        self.untaken.entry(bucket).or_insert(now);
        self.unwritten.insert(bucket);
        // Bounded: the oldest buckets the origin took make room.
        while self.totals.len() > 2 * MAX_REPORTED_BUCKETS {
            let Some(oldest) = self
                .totals
                .keys()
                .find(|s| !self.untaken.contains_key(s))
                .copied()
            else {
                break;
            };
            self.totals.remove(&oldest);
        }
    }

    /// A waiting page asked while the cutoff seemed stuck.
    pub fn ask(&mut self) {
        self.asked = true;
    }

    /// Whether nothing is left to tell the origin.
    pub fn done(&self) -> bool {
        self.untaken.is_empty() && !self.asked && !self.ask_untaken
    }

    /// The write due at `now`, if one is: something counted or asked since
    /// the last, buckets left over from a write that could not carry them
    /// all, or a write not taken for `REWRITE_AFTER`. `wrote` confirms it.
    pub fn due(&self, now: Millis) -> Option<Written> {
        let due = match self.pending.back() {
            _ if !self.unwritten.is_empty() || self.asked => true,
            _ if self.done() => false,
            Some(last) => now - last.at >= REWRITE_AFTER,
            None => true,
        };
        due.then(|| {
            let carried = self.untaken.iter().take(MAX_REPORTED_BUCKETS);
            Written {
                at: now.max(self.last_written + 1),
                since: carried.clone().map(|(_, &since)| since).min(),
                asked: self.asked || self.ask_untaken,
                buckets: carried
                    .map(|(&b, _)| (b, self.totals.get(&b).copied().unwrap_or(0)))
                    .collect(),
            }
        })
    }

    /// `written` is in the store. A bucket counted again meanwhile stays
    /// to write.
    pub fn wrote(&mut self, written: Written) {
        for (bucket, total) in &written.buckets {
            if self.totals.get(bucket) == Some(total) {
                self.unwritten.remove(bucket);
            }
        }
        self.ask_untaken |= written.asked;
        self.asked = false;
        self.last_written = written.at;
        self.pending.push_back(written);
        if self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
        }
    }

    /// The reporter marked this instance's write made `at` taken by the
    /// origin (and, with it, every earlier one).
    pub fn taken(&mut self, at: Millis) {
        while let Some(written) = self.pending.pop_front_if(|w| w.at <= at) {
            for (bucket, total) in written.buckets {
                if self.totals.get(&bucket) == Some(&total) {
                    self.untaken.remove(&bucket);
                } else if let Some(since) = self.untaken.get_mut(&bucket) {
                    // Counted again after this write's counts were read,
                    // so no earlier than it was made.
                    *since = (*since).max(written.at);
                }
            }
            self.ask_untaken &= !written.asked;
        }
        if self.done() {
            self.pending.clear();
        }
    }
}

/// The edge's reporter, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    /// A random number naming the instance that holds it.
    pub owner: u64,
    /// Nobody else reports before this instant.
    pub until: Millis,
    /// For each instance, its latest write the origin took.
    #[serde(default)]
    pub taken: BTreeMap<String, Millis>,
}

impl Lead {
    /// The lease `owner` takes at `now`, keeping what `before` marked.
    pub fn taken_over(owner: u64, now: Millis, before: Option<Lead>) -> Self {
        Self {
            owner,
            until: now + LEAD_FOR,
            taken: before.map(|b| b.taken).unwrap_or_default(),
        }
    }

    pub fn active(&self, now: Millis) -> bool {
        now < self.until
    }

    /// The instance `reporter`'s latest write the origin took.
    pub fn taken_of(&self, reporter: &str) -> Option<Millis> {
        self.taken.get(reporter).copied()
    }

    /// Of the writes in the store, those to delete: taken, and older than
    /// `FORGET_AFTER`. Their marks go with them.
    pub fn forget(&mut self, writes: &[(String, Written)], now: Millis) -> Vec<String> {
        let old: Vec<String> = writes
            .iter()
            .filter(|(reporter, w)| {
                now - w.at >= FORGET_AFTER && self.taken_of(reporter) >= Some(w.at)
            })
            .map(|(reporter, _)| reporter.clone())
            .collect();
        for reporter in &old {
            self.taken.remove(reporter);
        }
        // Marks of instances whose write is gone (deleted once done).
        self.taken
            .retain(|reporter, _| writes.iter().any(|(r, _)| r == reporter));
        old
    }
}

/// A report of arrivals as it goes from an edge's reporter to the origin
/// (`docs/api.md`, "How admission moves"): each instance's totals by
/// bucket of stamp (its start, in Unix milliseconds), and when the oldest
/// count in it was made.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub reporters: BTreeMap<String, BTreeMap<Millis, u64>>,
    pub since: Option<Millis>,
}

/// How far a reported bucket or `since` may be from the origin's clock: an
/// edge's clock may be off by as much as a signature tolerates.
pub const REPORT_SKEW_MS: Millis = 300_000;
/// The most tickets one instance stamps in one bucket, as a report says.
const MOST_PER_BUCKET: u64 = 1_000_000;

impl Report {
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "bucket_ms": BUCKET_MS, "reporters": self.reporters });
        if let Some(since) = self.since {
            body["since"] = since.into();
        }
        body
    }

    /// The report `body` makes, read at `now`, or why it is refused: at
    /// most `MAX_REPORTERS` instances named in 1 to 64 characters, at most
    /// `MAX_REPORTED_BUCKETS` buckets in all, each counted 0 to a million.
    /// A bucket further from now than an edge's clock may be is left out
    /// (the rest still counts), as no ticket can be stamped then; so is a
    /// `since` that far off. A report with no `bucket_ms`, from an edge
    /// older than buckets, counts by Unix second: each second's count is
    /// spread evenly over its buckets, as the origin once took it.
    pub fn read(body: &serde_json::Value, now: Millis) -> Result<Self, &'static str> {
        let object = body
            .get("reporters")
            .and_then(serde_json::Value::as_object)
            .ok_or("must be an object of counts by instance")?;
        if object.len() > MAX_REPORTERS {
            return Err("names too many instances");
        }
        let by_second = match body.get("bucket_ms") {
            None => true,
            Some(ms) if ms.as_i64() == Some(BUCKET_MS) => false,
            Some(_) => return Err("must count in buckets of 100 ms"),
        };
        let earliest =
            now - i64::from(crate::waiting_room::MAX_PREQUEUE_MINUTES) * 60_000 - REPORT_SKEW_MS;
        let latest = now + REPORT_SKEW_MS;
        let mut named = 0;
        let mut reporters = BTreeMap::new();
        for (reporter, buckets) in object {
            if !(1..=64).contains(&reporter.len()) {
                return Err("must name each instance in 1 to 64 characters");
            }
            let buckets = buckets
                .as_object()
                .ok_or("must hold an object of counts by bucket for each instance")?;
            named += buckets.len();
            if named > MAX_REPORTED_BUCKETS {
                return Err("names too many buckets");
            }
            let mut counts = BTreeMap::new();
            for (start, count) in buckets {
                let start: i64 = start
                    .parse()
                    .map_err(|_| "must key each count by when its bucket starts")?;
                let count = count
                    .as_u64()
                    .filter(|&c| c <= MOST_PER_BUCKET)
                    .ok_or("must count each bucket from 0 to 1000000")?;
                if by_second {
                    let second = start.saturating_mul(1_000);
                    if (earliest..=latest).contains(&second) {
                        counts.extend(spread_over_second(second, count));
                    }
                } else if start != bucket_of(start) {
                    return Err("must key each count by when its bucket starts");
                } else if (earliest..=latest).contains(&start) {
                    counts.insert(start, count);
                }
            }
            reporters.insert(reporter.clone(), counts);
        }
        let since = body
            .get("since")
            .and_then(serde_json::Value::as_i64)
            .filter(|since| (now - REPORT_SKEW_MS..=now + REPORT_SKEW_MS).contains(since))
            .map(|since| since.min(now));
        Ok(Self { reporters, since })
    }
}

/// A second's count spread evenly over its buckets, the first ones taking
/// what does not divide: arrival `k` in bucket `k` modulo their number, so
/// that a bucket's share never falls as the second's total grows (the
/// origin keeps the highest total it was told of each bucket).
pub fn spread_over_second(second: Millis, count: u64) -> impl Iterator<Item = (Millis, u64)> {
    let buckets = (1_000 / BUCKET_MS) as u64;
    (0..buckets).map(move |i| {
        (
            second + i as Millis * BUCKET_MS,
            (count + buckets - 1 - i) / buckets,
        )
    })
}

/// One report to the origin: the writes the reporter has not sent, oldest
/// first, as many as one report takes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub report: Report,
    /// Whether anything is in it: counts, or an ask with none.
    pub any: bool,
    /// The write of each reporter it carries.
    marks: BTreeMap<String, Millis>,
}

impl Batch {
    pub fn of(lead: &Lead, writes: &[(String, Written)]) -> Self {
        let mut untaken: Vec<&(String, Written)> = writes
            .iter()
            .filter(|(reporter, w)| lead.taken_of(reporter) < Some(w.at))
            .collect();
        untaken.sort_by_key(|(_, w)| (w.since.unwrap_or(w.at), w.at));
        let mut batch = Self::default();
        let report = &mut batch.report;
        let mut room = MAX_REPORTED_BUCKETS;
        for (reporter, written) in untaken {
            let fits = written.buckets.len() <= room && report.reporters.len() < MAX_REPORTERS;
            if !fits && batch.any {
                break;
            }
            room = room.saturating_sub(written.buckets.len());
            report
                .reporters
                .insert(reporter.clone(), written.buckets.clone());
            batch.marks.insert(reporter.clone(), written.at);
            report.since = match (report.since, written.since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            batch.any = true;
        }
        batch
    }

    /// The origin took it: `lead` marks each write it carried.
    pub fn taken(self, lead: &mut Lead) {
        lead.taken.extend(self.marks);
    }

    /// When the write of `reporter` it carries was made.
    pub fn mark_of(&self, reporter: &str) -> Option<Millis> {
        self.marks.get(reporter).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(counted: &mut Counted, now: Millis) -> Written {
        let due = counted.due(now).expect("a write is due");
        counted.wrote(due.clone());
        due
    }

    #[test]
    fn an_instance_writes_what_it_counted_and_is_done_once_it_is_taken() {
        let mut counted = Counted::default();
        assert!(counted.done());
        assert!(counted.due(0).is_none(), "nothing to tell");
        counted.count(10_100, 10_200);
        counted.count(10_150, 10_950);
        counted.count(11_000, 11_010);
        let first = written(&mut counted, 11_100);
        assert_eq!(first.buckets, BTreeMap::from([(10_100, 2), (11_000, 1)]));
        assert_eq!(first.since, Some(10_200));
        assert!(counted.due(11_500).is_none(), "written, not yet taken");
        assert!(!counted.done());

        // One more in a bucket already written: the next write carries
        // the new total, and taking the first leaves that bucket to tell.
        counted.count(11_050, 11_600);
        counted.taken(first.at);
        assert!(!counted.done());
        let second = written(&mut counted, 12_100);
        assert_eq!(second.buckets, BTreeMap::from([(11_000, 2)]));
        assert_eq!(
            second.since,
            Some(first.at),
            "the oldest count untaken: after the first write, when that was made"
        );
        // A mark of an older write takes nothing of this one.
        counted.taken(first.at);
        assert!(!counted.done());
        counted.taken(second.at);
        assert!(counted.done());
        assert!(counted.due(20_000).is_none());
    }

    #[test]
    fn counts_made_while_a_write_is_on_its_way_are_written_next() {
        let mut counted = Counted::default();
        counted.count(1_000, 1_000);
        let due = counted.due(1_100).unwrap();
        let at = due.at;
        // Counted while the store was being written.
        counted.count(1_050, 1_200);
        counted.count(2_000, 1_300);
        counted.wrote(due);
        counted.taken(at);
        let next = written(&mut counted, 2_200);
        assert_eq!(next.buckets, BTreeMap::from([(1_000, 2), (2_000, 1)]));
    }

    /// How old the oldest count in each write of an instance is, when it
    /// counts every second while its writes are on their way (a count
    /// lands between reading its totals and the store taking them), and
    /// hears of the reporter's mark of each write before its next write or
    /// only after it.
    fn ages_while_counting(mark_heard_late: bool) -> Vec<Millis> {
        let mut counted = Counted::default();
        let (mut ages, mut marked) = (Vec::new(), None);
        for tick in 1..=20 {
            let now = tick * 1_000;
            counted.count(now, now);
            let due = counted.due(now + 10).unwrap();
            ages.push(due.at - due.since.unwrap());
            counted.count(now + 20, now + 20);
            counted.wrote(due.clone());
            if mark_heard_late {
                if let Some(at) = marked.replace(due.at) {
                    counted.taken(at);
                }
            } else {
                counted.taken(due.at);
            }
        }
        ages
    }

    #[test]
    fn an_instance_counting_without_pause_tells_its_counts_as_recent() {
        // The bench found both: the age of an instance's first count ever
        // was told, and the cutoff fell a second further behind each second.
        let oldest = |ages: Vec<Millis>| ages.into_iter().max().unwrap();
        assert!(oldest(ages_while_counting(false)) <= 1_010);
        assert!(oldest(ages_while_counting(true)) <= 2_010);
    }

    #[test]
    fn an_ask_is_written_and_held_until_taken() {
        let mut counted = Counted::default();
        counted.ask();
        assert!(!counted.done());
        let asked = written(&mut counted, 5_000);
        assert!(asked.asked && asked.buckets.is_empty());
        assert!(!counted.done(), "the origin has not heard the ask yet");
        // Rewritten after a while without being taken: still an ask.
        let again = written(&mut counted, 5_000 + REWRITE_AFTER);
        assert!(again.asked);
        counted.taken(again.at);
        assert!(counted.done());
    }

    #[test]
    fn a_write_not_taken_is_written_again_after_a_while() {
        let mut counted = Counted::default();
        counted.count(1_000, 1_000);
        let first = written(&mut counted, 1_000);
        assert!(counted.due(1_000 + REWRITE_AFTER - 1).is_none());
        let again = written(&mut counted, 1_000 + REWRITE_AFTER);
        assert_eq!(again.buckets, first.buckets);
        assert_eq!(again.since, first.since);
    }

    #[test]
    fn buckets_beyond_one_report_go_with_the_next_write() {
        let mut counted = Counted::default();
        let buckets = MAX_REPORTED_BUCKETS as i64 + 5;
        for b in 0..buckets {
            counted.count(b * BUCKET_MS, 100);
        }
        let first = written(&mut counted, 200);
        assert_eq!(first.buckets.len(), MAX_REPORTED_BUCKETS);
        assert_eq!(first.buckets.keys().next(), Some(&0), "the oldest first");
        counted.taken(first.at);
        let rest = written(&mut counted, 300);
        assert_eq!(rest.buckets.len(), 5);
        assert_eq!(rest.since, Some(100), "as old as the first");
        counted.taken(rest.at);
        assert!(counted.done());
    }

    fn write(at: Millis, since: Millis, buckets: &[(Millis, u64)]) -> Written {
        Written {
            at,
            since: Some(since),
            asked: false,
            buckets: buckets.iter().copied().collect(),
        }
    }

    #[test]
    fn a_report_carries_every_write_not_taken_and_marks_them_when_taken() {
        let mut lead = Lead::taken_over(7, 0, None);
        let writes = vec![
            ("a".to_string(), write(900, 500, &[(0, 3)])),
            ("b".to_string(), write(950, 200, &[(0, 1), (100, 4)])),
        ];
        let batch = Batch::of(&lead, &writes);
        assert!(batch.any);
        assert_eq!(batch.report.since, Some(200));
        assert_eq!(
            batch.report.body(),
            serde_json::json!({
                "bucket_ms": 100,
                "reporters": {"a": {"0": 3}, "b": {"0": 1, "100": 4}}, "since": 200
            })
        );
        batch.taken(&mut lead);
        assert!(!Batch::of(&lead, &writes).any, "nothing new to send");

        // `b` wrote again: only it goes.
        let writes = vec![
            writes[0].clone(),
            ("b".into(), write(1_950, 1_200, &[(1, 5)])),
        ];
        let batch = Batch::of(&lead, &writes);
        assert_eq!(batch.report.reporters.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(batch.mark_of("b"), Some(1_950));
    }

    #[test]
    fn a_report_reads_back_as_sent_and_refuses_what_no_edge_sends() {
        let now = 1_800_000_000_000;
        let sent = Report {
            reporters: BTreeMap::from([
                (
                    "a".to_string(),
                    BTreeMap::from([(now - BUCKET_MS, 3), (now, 1)]),
                ),
                ("b".to_string(), BTreeMap::new()),
            ]),
            since: Some(now - 1_500),
        };
        assert_eq!(Report::read(&sent.body(), now), Ok(sent));
        let read = |body: serde_json::Value| Report::read(&body, now);
        // Buckets and a `since` no clock could give are left out.
        let far = read(serde_json::json!({
            "bucket_ms": 100, "reporters": {"a": {"0": 2, now.to_string(): 1}}, "since": 5
        }))
        .unwrap();
        assert_eq!(far.reporters["a"], BTreeMap::from([(now, 1)]));
        assert_eq!(far.since, None);
        // An edge older than buckets counts by Unix second: each second is
        // spread over its buckets.
        let by_second = read(serde_json::json!({
            "reporters": {"a": {(now / 1_000).to_string(): 25}}
        }))
        .unwrap();
        let spread: Vec<u64> = by_second.reporters["a"].values().copied().collect();
        assert_eq!(spread, [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
        assert_eq!(by_second.reporters["a"].keys().next(), Some(&now));
        for refused in [
            serde_json::json!({"seconds": {}}),
            serde_json::json!({"reporters": {"": {}}}),
            serde_json::json!({"reporters": {"a": [1]}}),
            serde_json::json!({"reporters": {"a": {"x": 1}}}),
            serde_json::json!({"reporters": {"a": {"1": 1_000_001}}}),
            serde_json::json!({"reporters": {"a": {"1": -1}}}),
            serde_json::json!({"bucket_ms": 1_000, "reporters": {}}),
            serde_json::json!({"bucket_ms": 100, "reporters": {"a": {(now + 50).to_string(): 1}}}),
        ] {
            assert!(read(refused.clone()).is_err(), "{refused}");
        }
        let too_many: serde_json::Map<String, serde_json::Value> = (0..=MAX_REPORTERS)
            .map(|i| (format!("i{i}"), serde_json::json!({})))
            .collect();
        assert_eq!(
            read(serde_json::json!({ "reporters": too_many })),
            Err("names too many instances")
        );
        let buckets: serde_json::Map<String, serde_json::Value> = (0..=MAX_REPORTED_BUCKETS as i64)
            .map(|b| ((now - b * BUCKET_MS).to_string(), serde_json::json!(1)))
            .collect();
        let halves = serde_json::json!({ "bucket_ms": 100, "reporters": {
            "a": buckets.iter().take(4_000).map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
            "b": buckets.iter().skip(4_000).map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
        }});
        assert_eq!(read(halves), Err("names too many buckets"), "in all");
    }

    #[test]
    fn a_report_takes_as_many_writes_as_fit_the_oldest_first() {
        let lead = Lead::taken_over(7, 0, None);
        let many: BTreeMap<Millis, u64> = (0..MAX_REPORTED_BUCKETS as i64 - 1)
            .map(|b| (b * BUCKET_MS, 1))
            .collect();
        let writes = vec![
            ("late".to_string(), write(900, 800, &[(5, 1), (6, 1)])),
            (
                "big".to_string(),
                Written {
                    buckets: many,
                    ..write(900, 100, &[])
                },
            ),
            ("small".to_string(), write(900, 300, &[(9, 1)])),
        ];
        let batch = Batch::of(&lead, &writes);
        assert_eq!(
            batch.report.reporters.keys().collect::<Vec<_>>(),
            ["big", "small"],
            "the oldest first, until the next does not fit"
        );
        let instances: Vec<(String, Written)> = (0..MAX_REPORTERS + 3)
            .map(|i| (format!("i{i}"), write(900, i as Millis, &[(0, 1)])))
            .collect();
        assert_eq!(
            Batch::of(&lead, &instances).report.reporters.len(),
            MAX_REPORTERS
        );
    }

    #[test]
    fn a_new_reporter_keeps_the_marks_and_old_taken_writes_are_forgotten() {
        let mut lead = Lead::taken_over(1, 0, None);
        let writes = [
            ("gone".to_string(), write(1_000, 900, &[(0, 1)])),
            ("alive".to_string(), write(50_000, 49_000, &[(49, 1)])),
            ("untaken".to_string(), write(1_000, 900, &[(0, 2)])),
        ];
        let batch = Batch::of(&lead, &writes[..2]);
        batch.taken(&mut lead);
        let mut next = Lead::taken_over(2, 5_000, Some(lead));
        assert!(next.active(5_000 + LEAD_FOR - 1) && !next.active(5_000 + LEAD_FOR));
        assert_eq!(next.taken_of("alive"), Some(50_000));
        let listed = vec![writes[0].clone(), writes[2].clone()];
        let forgotten = next.forget(&listed, 1_000 + FORGET_AFTER);
        assert_eq!(forgotten, ["gone"], "taken and old; never one untaken");
        assert_eq!(next.taken_of("gone"), None);
        assert_eq!(next.taken_of("alive"), None, "its write is gone");
    }

    /// What happens at an edge, in any order.
    #[derive(Debug, Clone)]
    enum Step {
        /// Instance `i` stamps a ticket in `second`.
        Count(usize, i64),
        /// Instance `i` writes what is due, if anything.
        Write(usize),
        /// The store loses what instance `i` wrote.
        Lose(usize),
        /// The reporter reports; the origin takes it unless `lost`.
        Report { lost: bool },
        /// Instance `i` reads the lease's marks.
        Follow(usize),
        /// A new reporter takes the lease over.
        TakeOver,
        /// Time passes.
        Wait(Millis),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..3usize, 0..8i64).prop_map(|(i, s)| Step::Count(i, s)),
            3 => (0..3usize).prop_map(Step::Write),
            1 => (0..3usize).prop_map(Step::Lose),
            2 => any::<bool>().prop_map(|lost| Step::Report { lost }),
            2 => (0..3usize).prop_map(Step::Follow),
            1 => Just(Step::TakeOver),
            2 => (1..30_000i64).prop_map(Step::Wait),
        ]
    }

    /// An edge of three instances, its store and reporter, and the totals
    /// the origin took.
    struct Edge {
        instances: Vec<Counted>,
        store: BTreeMap<String, Written>,
        lead: Lead,
        origin: BTreeMap<(String, i64), u64>,
        stamped: BTreeMap<(String, i64), u64>,
        now: Millis,
    }

    impl Edge {
        fn name(i: usize) -> String {
            format!("i{i}")
        }

        fn run(&mut self, step: Step) {
            match step {
                Step::Count(i, second) => {
                    self.instances[i].count(second * 1_000, self.now);
                    *self
                        .stamped
                        .entry((Self::name(i), second * 1_000))
                        .or_default() += 1;
                }
                Step::Write(i) => {
                    if let Some(due) = self.instances[i].due(self.now) {
                        self.store.insert(Self::name(i), due.clone());
                        self.instances[i].wrote(due);
                    }
                }
                Step::Lose(i) => {
                    self.store.remove(&Self::name(i));
                }
                Step::Report { lost } => {
                    let writes: Vec<(String, Written)> = self
                        .store
                        .iter()
                        .map(|(r, w)| (r.clone(), w.clone()))
                        .collect();
                    for gone in self.lead.forget(&writes, self.now) {
                        self.store.remove(&gone);
                    }
                    let batch = Batch::of(&self.lead, &writes);
                    if lost {
                        return;
                    }
                    for (reporter, buckets) in &batch.report.reporters {
                        for (&bucket, &count) in buckets {
                            let total = self.origin.entry((reporter.clone(), bucket)).or_default();
                            *total = (*total).max(count);
                        }
                    }
                    batch.taken(&mut self.lead);
                }
                Step::Follow(i) => {
                    if let Some(at) = self.lead.taken_of(&Self::name(i)) {
                        self.instances[i].taken(at);
                    }
                }
                Step::TakeOver => {
                    let before = self.lead.clone();
                    self.lead = Lead::taken_over(before.owner + 1, self.now, Some(before));
                }
                Step::Wait(ms) => self.now += ms,
            }
        }
    }

    proptest::proptest! {
        /// Whatever the order of counts, writes, lost writes and reports,
        /// once the instances go on writing and reading their marks and the
        /// reporter on reporting, every instance is done and the origin
        /// holds every total exactly.
        #[test]
        fn every_count_reaches_the_origin_once_whatever_happens_on_the_way(
            steps in proptest::collection::vec(step(), 0..120),
        ) {
            let mut edge = Edge {
                instances: (0..3).map(|_| Counted::default()).collect(),
                store: BTreeMap::new(),
                lead: Lead::taken_over(0, 0, None),
                origin: BTreeMap::new(),
                stamped: BTreeMap::new(),
                now: 1_000_000,
            };
            for step in steps {
                edge.run(step);
            }
            for _ in 0..4 {
                edge.run(Step::Wait(REWRITE_AFTER));
                for i in 0..3 {
                    edge.run(Step::Write(i));
                }
                edge.run(Step::Report { lost: false });
                for i in 0..3 {
                    edge.run(Step::Follow(i));
                }
            }
            proptest::prop_assert!(edge.instances.iter().all(Counted::done));
            proptest::prop_assert_eq!(&edge.origin, &edge.stamped);
        }
    }

    #[test]
    fn the_lease_is_stored_as_json_and_read_back() {
        let mut lead = Lead::taken_over(3, 10, None);
        lead.taken.insert("a".into(), 4);
        let text = serde_json::to_string(&lead).unwrap();
        assert_eq!(serde_json::from_str::<Lead>(&text).unwrap(), lead);
        let w = write(1, 0, &[(-5, 2)]);
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<Written>(&text).unwrap(), w);
    }
}
