//! The portion protocol as a pure state machine: what to make of each `DownloadDBLogFilePortion`
//! answer, with no I/O, so that every rule is tested on its own.
//!
//! RDS's answers are not to be taken at their word (see `../shared/reference/RDS.md`): a page
//! cut by the 1 MB cap ends in a literal suffix; `AdditionalDataPending=false` comes early; a
//! `"0"` marker mid-file would restart from the top; a marker issued before the hourly
//! rotation is applied to the next hour's file; markers of the `segment:offset` shape can
//! skip bytes. [`PortionCursor::step`] takes one page and says what to do: deliver its data
//! (at which file offset, with which resume marker) and then ask again, ask again with fewer
//! lines, fall back to the complete download, re-list the file, or stop.

use contract::{is_live_name, Checkpoint, MarkerAt, RemoteFile};

use crate::TRUNCATION_SUFFIX;

/// RDS's most lines per portion (and its default).
pub(crate) const MAX_LINES: i32 = 10_000;

/// One `DownloadDBLogFilePortion` answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Page<'a> {
    /// `LogFileData`.
    pub data: &'a str,
    /// `Marker`.
    pub marker: &'a str,
    /// `AdditionalDataPending`.
    pub pending: bool,
}

/// The page's data goes on at file offset `at`; `resume` resumes right after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub at: u64,
    pub resume: Option<MarkerAt>,
}

/// What to do after a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Ask for the next page ([`PortionCursor::marker`], [`PortionCursor::lines`]).
    Ask,
    /// Ask for the same page again with fewer lines (it was cut by the 1 MB cap).
    Shrink,
    /// Read the rest by the complete download, from file offset `at`; `gap`: bytes the
    /// markers skipped, when that is why.
    Fallback { at: u64, gap: Option<u64> },
    /// The data belongs to another file than the one listed (it rotated): list again.
    Relist,
    /// This pass is over; `partial`: before the end RDS knows of (resume later).
    Done { partial: bool },
}

/// The verdict on one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The page's data to hand on, if any.
    pub deliver: Option<Delivery>,
    /// The RDS misbehaviour seen and handled, for the anomaly metric.
    pub anomaly: Option<&'static str>,
    /// What comes next.
    pub next: Next,
}

impl Step {
    fn next(next: Next) -> Step {
        Step {
            deliver: None,
            anomaly: None,
            next,
        }
    }

    fn anomaly(kind: &'static str, next: Next) -> Step {
        Step {
            deliver: None,
            anomaly: Some(kind),
            next,
        }
    }
}

/// Where one pass over a file stands between pages.
#[derive(Clone, Debug)]
pub(crate) struct PortionCursor {
    /// The name RDS lists the file under (markers are issued for it).
    name: String,
    /// The hour the file was listed (and named) for, if it is a live MySQL file.
    listed_hour: Option<u8>,
    /// `Size` as listed.
    size: u64,
    /// The checkpoint: bytes before it were shipped already.
    from: u64,
    marker: String,
    offset: u64,
    lines: i32,
    max_lines: i32,
}

impl PortionCursor {
    /// A pass over `file` from `cp`: from its marker when it was issued for this very name,
    /// else from the top (`"0"`); pages of at most `max_lines` lines.
    pub(crate) fn new(file: &RemoteFile, cp: &Checkpoint, max_lines: i32) -> PortionCursor {
        let (marker, offset) = match &cp.marker {
            Some(m) if m.name == file.name && m.offset <= cp.offset => (m.marker.clone(), m.offset),
            _ => ("0".to_string(), 0),
        };
        let listed_hour = is_live_name(&file.name)
            .then(|| file.canonical.rsplit('.').next()?.parse::<u8>().ok())
            .flatten();
        let max_lines = max_lines.clamp(1, MAX_LINES);
        PortionCursor {
            name: file.name.clone(),
            listed_hour,
            size: file.size,
            from: cp.offset,
            marker,
            offset,
            lines: max_lines,
            max_lines,
        }
    }

    /// The marker to ask with.
    pub(crate) fn marker(&self) -> &str {
        &self.marker
    }

    /// The lines to ask for.
    pub(crate) fn lines(&self) -> i32 {
        self.lines
    }

    /// File offset after the last byte delivered.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the complete download takes over when the portion API cannot go on (a binary
    /// file, a line over 1 MB).
    pub(crate) fn fallback(&self) -> Next {
        Next::Fallback {
            at: self.offset.max(self.from),
            gap: None,
        }
    }

    /// What to make of `page`, the answer to [`marker`](Self::marker) and
    /// [`lines`](Self::lines).
    pub(crate) fn step(&mut self, page: &Page<'_>) -> Step {
        if page.data.ends_with(TRUNCATION_SUFFIX) {
            // Cut by the 1 MB cap: the rest of a line would be lost. Same marker, fewer
            // lines; a single line over 1 MB comes whole only by the complete download.
            if self.lines == 1 {
                return Step::anomaly("truncated", self.fallback());
            }
            self.lines = (self.lines / 2).max(1);
            return Step::anomaly("truncated", Next::Shrink);
        }
        if let Some(step) = self.foreign(page.marker) {
            return step;
        }
        if let Some(gap) = marker_gap(&self.marker, page.marker, page.data.len() as u64) {
            let at = self.from.max(self.offset.min(self.from));
            return Step::anomaly("gap", Next::Fallback { at, gap: Some(gap) });
        }
        let deliver = self.take(page);
        let mut step = self.after(page, deliver.is_some());
        step.deliver = deliver;
        step
    }

    /// A page whose data belongs to another file than the one listed: read from the top, a
    /// live name that holds another hour than the one it was listed for (it rotated since);
    /// or a marker issued before the hourly rotation that RDS applied to the next hour's file.
    fn foreign(&self, next: &str) -> Option<Step> {
        if self.marker == "0" && self.rotated_since_listing(next) {
            return Some(Step::anomaly("rotated_since_listing", Next::Relist));
        }
        let stale = self.marker != "0"
            && next.contains(':')
            && segment(next) != segment(&self.marker)
            && marker_offset(next) != Some(0);
        stale.then(|| Step::anomaly("stale_marker", Next::Relist))
    }

    /// Take the page's data: where it goes, and the marker that resumes after it.
    fn take(&mut self, page: &Page<'_>) -> Option<Delivery> {
        let got = page.data.len() as u64;
        if got == 0 {
            return None;
        }
        let at = self.offset;
        self.offset += got;
        let resume = (page.marker != "0" && !page.marker.is_empty()).then(|| MarkerAt {
            name: self.name.clone(),
            marker: page.marker.to_string(),
            offset: self.offset,
        });
        Some(Delivery { at, resume })
    }

    /// What follows a page whose data (if any) was taken.
    fn after(&mut self, page: &Page<'_>, got: bool) -> Step {
        let next = page.marker;
        if next == "0" && self.marker != "0" {
            // A "0" marker mid-file would restart from the top: stop this pass here and
            // resume from the last good marker next time.
            return Step::anomaly("zero_marker", Next::Done { partial: true });
        }
        if self.marker != "0" && segment(next) != segment(&self.marker) {
            // The live file's markers run on into the next hour's segment: that is the
            // successor file's data, shipped under its own name.
            return Step::next(Next::Done { partial: false });
        }
        if next.is_empty() || (next == self.marker && !got) {
            return Step::next(Next::Done { partial: false });
        }
        self.marker = next.to_string();
        self.lines = (self.lines * 2).min(self.max_lines);
        if page.pending {
            return Step::next(Next::Ask);
        }
        if self.offset < self.size {
            // RDS said "no more" below the size it listed: keep asking.
            return Step::anomaly("early_end", Next::Ask);
        }
        Step::next(Next::Done { partial: false })
    }

    /// Whether a live MySQL file, listed (and so named) for one hour, answers with a marker
    /// of another hour: it rotated after the listing. Markers of the `H:offset` shape only
    /// (RDS's `17:13387550`); other shapes are opaque.
    fn rotated_since_listing(&self, next: &str) -> bool {
        let marker_hour = next
            .rsplit_once(':')
            .and_then(|(s, _)| s.parse::<u8>().ok());
        matches!((self.listed_hour, marker_hour), (Some(l), Some(m)) if l != m)
    }
}

/// Bytes skipped between two markers of the `segment:offset` shape, when both have it and the
/// second is further than the data returned. Other shapes are opaque: no check.
pub(crate) fn marker_gap(prev: &str, next: &str, got: u64) -> Option<u64> {
    let split = |m: &str| -> Option<(String, u64)> {
        let (seg, off) = m.rsplit_once(':')?;
        Some((seg.to_string(), off.parse().ok()?))
    };
    let (ns, no) = split(next)?;
    // "0" is the start of the file: offset 0 of whichever segment comes first.
    let (ps, po) = if prev == "0" {
        (ns.clone(), 0)
    } else {
        split(prev)?
    };
    (ps == ns && no > po + got).then(|| no - po - got)
}

/// The offset part of a `segment:offset` marker.
fn marker_offset(marker: &str) -> Option<u64> {
    marker.rsplit_once(':')?.1.parse().ok()
}

/// The segment part of a `segment:offset` marker (the whole marker otherwise).
fn segment(marker: &str) -> &str {
    marker.rsplit_once(':').map_or(marker, |(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn live(canonical: &str, size: u64) -> RemoteFile {
        RemoteFile {
            name: "slowquery/mysql-slowquery.log".into(),
            canonical: canonical.into(),
            last_written_ms: 0,
            size,
            finished: false,
        }
    }

    const HOUR_10: &str = "slowquery/mysql-slowquery.log.2026-11-27.10";

    fn page<'a>(data: &'a str, marker: &'a str, pending: bool) -> Page<'a> {
        Page {
            data,
            marker,
            pending,
        }
    }

    #[test]
    fn pages_are_delivered_back_to_back_until_the_listed_size() {
        let mut c = PortionCursor::new(&live(HOUR_10, 10), &Checkpoint::default(), 100);
        let s = c.step(&page("abcd", "10:4", true));
        assert_eq!(s.next, Next::Ask);
        assert_eq!(s.deliver.as_ref().map(|d| d.at), Some(0));
        assert_eq!(s.deliver.unwrap().resume.unwrap().offset, 4);
        assert_eq!(c.marker(), "10:4");
        // An early "no more" below the listed size: keep asking.
        let s = c.step(&page("efg", "10:7", false));
        assert_eq!((s.anomaly, s.next), (Some("early_end"), Next::Ask));
        let s = c.step(&page("hij", "10:10", false));
        assert_eq!((s.anomaly, s.next), (None, Next::Done { partial: false }));
        assert_eq!(c.offset(), 10);
    }

    #[test]
    fn a_truncated_page_is_asked_again_with_half_the_lines_down_to_one() {
        let mut c = PortionCursor::new(&live(HOUR_10, 10), &Checkpoint::default(), 4);
        let cut = format!("x{TRUNCATION_SUFFIX}");
        for lines in [2, 1] {
            let s = c.step(&page(&cut, "10:1", true));
            assert_eq!((s.anomaly, s.next), (Some("truncated"), Next::Shrink));
            assert_eq!(c.lines(), lines);
            assert_eq!(c.marker(), "0", "the same page again");
        }
        let s = c.step(&page(&cut, "10:1", true));
        assert_eq!(s.next, Next::Fallback { at: 0, gap: None });
        // A whole page doubles the lines again.
        let mut c = PortionCursor::new(&live(HOUR_10, 10), &Checkpoint::default(), 4);
        c.step(&page(&cut, "10:1", true));
        c.step(&page("ab", "10:2", true));
        assert_eq!(c.lines(), 4);
    }

    #[test]
    fn foreign_data_is_refused_before_it_is_delivered() {
        let mut c = PortionCursor::new(&live(HOUR_10, 10), &Checkpoint::default(), 100);
        let s = c.step(&page("next hour", "11:9", true));
        assert_eq!(s, Step::anomaly("rotated_since_listing", Next::Relist));
        let cp = Checkpoint {
            offset: 4,
            marker: Some(MarkerAt {
                name: "slowquery/mysql-slowquery.log".into(),
                marker: "10:4".into(),
                offset: 4,
            }),
            ..Default::default()
        };
        let mut c = PortionCursor::new(&live(HOUR_10, 10), &cp, 100);
        assert_eq!(c.marker(), "10:4");
        let s = c.step(&page("next hour", "11:9", true));
        assert_eq!(s, Step::anomaly("stale_marker", Next::Relist));
        // The next hour's first marker is where the live file's data ends: done, not stale.
        let s = c.step(&page("", "11:0", false));
        assert_eq!(s.next, Next::Done { partial: false });
    }

    #[test]
    fn a_zero_marker_mid_file_ends_the_pass_after_its_data() {
        let mut c = PortionCursor::new(&live(HOUR_10, 100), &Checkpoint::default(), 100);
        c.step(&page("abc", "10:3", true));
        let s = c.step(&page("de", "0", true));
        assert_eq!(s.anomaly, Some("zero_marker"));
        assert_eq!(s.next, Next::Done { partial: true });
        assert_eq!(s.deliver.unwrap().resume, None, "a \"0\" never resumes");
        assert_eq!(c.offset(), 5);
    }

    #[test]
    fn a_marker_gap_falls_back_at_the_checkpoint() {
        let cp = Checkpoint {
            offset: 7,
            ..Default::default()
        };
        let mut c = PortionCursor::new(&live(HOUR_10, 100), &cp, 100);
        let s = c.step(&page("abc", "10:5", true));
        assert_eq!(
            s,
            Step::anomaly(
                "gap",
                Next::Fallback {
                    at: 7,
                    gap: Some(2)
                }
            )
        );
    }

    #[test]
    fn a_stored_marker_counts_only_for_its_own_name() {
        let cp = Checkpoint {
            offset: 4,
            marker: Some(MarkerAt {
                name: "other".into(),
                marker: "10:4".into(),
                offset: 4,
            }),
            ..Default::default()
        };
        let c = PortionCursor::new(&live(HOUR_10, 10), &cp, 100);
        assert_eq!((c.marker(), c.offset()), ("0", 0));
        assert_eq!(c.fallback(), Next::Fallback { at: 4, gap: None });
    }

    #[test]
    fn marker_gaps_are_seen_only_in_the_segment_offset_shape() {
        assert_eq!(marker_gap("9:0", "9:100", 100), None);
        assert_eq!(marker_gap("9:0", "9:150", 100), Some(50));
        assert_eq!(marker_gap("0", "9:100", 100), None);
        assert_eq!(marker_gap("0", "9:150", 100), Some(50));
        assert_eq!(marker_gap("9:0", "10:0", 100), None);
        assert_eq!(marker_gap("2024-01-04.9:0", "2024-01-04.9:10", 10), None);
        assert_eq!(marker_gap("abc", "def", 10), None);
    }

    /// The rotation check of a pass over `file` from the top.
    fn rotated_since_listing(file: &RemoteFile, next: &str) -> bool {
        PortionCursor::new(file, &Checkpoint::default(), 1).rotated_since_listing(next)
    }

    #[test]
    fn a_live_name_answering_with_another_hour_has_rotated() {
        let live = |canonical: &str| RemoteFile {
            name: "slowquery/mysql-slowquery.log".into(),
            canonical: canonical.into(),
            last_written_ms: 0,
            size: 10,
            finished: false,
        };
        let f = live("slowquery/mysql-slowquery.log.2026-11-27.10");
        assert!(!rotated_since_listing(&f, "10:4096"));
        assert!(rotated_since_listing(&f, "11:512"));
        assert!(!rotated_since_listing(&f, "0"), "no segment: no check");
        assert!(!rotated_since_listing(&f, "2024-01-04.9:0"), "opaque shape");
        let rotated = RemoteFile {
            name: "slowquery/mysql-slowquery.log.2026-11-27.10".into(),
            ..f.clone()
        };
        assert!(
            !rotated_since_listing(&rotated, "11:0"),
            "a rotated name is never rechecked"
        );
        let pg = RemoteFile {
            name: "error/postgresql.log.2026-11-27-10".into(),
            canonical: "error/postgresql.log.2026-11-27-10".into(),
            ..f
        };
        assert!(!rotated_since_listing(&pg, "3:0"));
    }

    proptest! {
        /// Against a well-behaved RDS (pages of any size, some cut by the cap and asked again,
        /// an early "no more" now and then), one pass delivers the file's bytes from the start
        /// exactly once, back to back, and ends at its size.
        #[test]
        fn an_honest_file_arrives_whole_and_in_order(
            size in 1u64..5_000,
            cuts in proptest::collection::vec((1u64..700, any::<bool>(), any::<bool>()), 1..40),
        ) {
            let text: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let mut c = PortionCursor::new(&live(HOUR_10, size), &Checkpoint::default(), MAX_LINES);
            let (mut at, mut delivered, mut cut) = (0u64, String::new(), cuts.iter().cycle());
            for _ in 0..10_000 {
                let (len, truncate, early) = *cut.next().expect("cycle");
                let end = (at + len).min(size);
                let data = &text[at as usize..end as usize];
                let cut_page = format!("{data}{TRUNCATION_SUFFIX}");
                let marker = format!("10:{end}");
                let step = if truncate && c.lines() > 1 {
                    c.step(&page(&cut_page, &marker, true))
                } else {
                    c.step(&page(data, &marker, end < size && !early))
                };
                if let Some(d) = &step.deliver {
                    prop_assert_eq!(d.at, delivered.len() as u64);
                    delivered.push_str(data);
                    at = end;
                }
                match step.next {
                    Next::Ask | Next::Shrink => {}
                    Next::Done { partial } => {
                        prop_assert!(!partial);
                        break;
                    }
                    other => prop_assert!(false, "{other:?}"),
                }
            }
            prop_assert_eq!(delivered, text);
            prop_assert_eq!(c.offset(), size);
        }
    }
}
