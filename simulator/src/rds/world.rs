//! The simulated account: clusters, instances and their log files under one clock, and how a
//! portion of a file is served (markers, segments, the faults that touch them).
//!
//! Markers are `H:OFFSET`: the hour of day (UTC) of the segment the offset is in, and a byte
//! offset in that segment, like RDS's `17:13387550`. A segment is one hour of one MySQL log: the
//! active file (`slowquery/mysql-slowquery.log`) is the current hour's segment, and its earlier
//! hours live on as `….log.YYYY-MM-DD.HH`. A marker issued for the active file and used after a
//! rotation therefore still points at the old hour: it is served from the rotated file, and at
//! that segment's end the next marker is the next hour's `H:0`. Other files (rotated, audit,
//! PostgreSQL, added ones) are one segment each.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::generator::LogKind;
use crate::instance::{Engine, InstanceLogs, LogFile};

use super::error::ApiError;
use super::faults::{Fault, FaultState, RotationSide};
use super::portion::{read_lines, skip_lines, tail_start, ByteSource, PORTION_CAP_BYTES};

/// µs in an hour.
const HOUR_US: i64 = 3_600_000_000;

/// Most and default lines of one `DownloadDBLogFilePortion` (RDS.md).
pub const MAX_PORTION_LINES: usize = 10_000;

/// The hour of day of a time, the segment part of a marker.
fn hour_of_day(us: i64) -> i64 {
    us.div_euclid(HOUR_US).rem_euclid(24)
}

/// One cluster as `DescribeDBClusters` shows it.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub id: String,
    pub engine: String,
    pub engine_version: String,
    pub members: Vec<String>,
    pub tags: Vec<(String, String)>,
}

/// One instance: what `DescribeDBInstances` shows, and its files.
#[derive(Debug)]
pub(crate) struct Instance {
    pub id: String,
    pub cluster: String,
    pub engine: String,
    pub engine_version: String,
    pub availability_zone: String,
    pub resource_id: String,
    pub writer: bool,
    pub tags: Vec<(String, String)>,
    /// The engine's generated logs (none for a non-Aurora instance).
    pub logs: Option<InstanceLogs>,
    /// Files added by a test, never rotated or deleted.
    pub added: BTreeMap<String, AddedFile>,
}

/// A file added to an instance as it is.
#[derive(Clone, Debug)]
pub(crate) struct AddedFile {
    pub data: AddedData,
    pub last_written_ms: i64,
}

/// Where an added file's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum AddedData {
    Memory(bytes::Bytes),
    Disk(Arc<DiskFile>),
}

/// A file served from disk (large files the tests should not hold in memory).
#[derive(Debug)]
pub(crate) struct DiskFile {
    pub file: std::fs::File,
    pub len: u64,
}

impl ByteSource for DiskFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, off: u64, max: usize) -> io::Result<Cow<'_, [u8]>> {
        let want = usize::try_from(self.len.saturating_sub(off))
            .unwrap_or(usize::MAX)
            .min(max);
        let mut buf = vec![0; want];
        let mut got = 0;
        while got < want {
            match self.file.read_at(&mut buf[got..], off + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(Cow::Owned(buf))
    }
}

impl AddedData {
    pub(crate) fn source(&self) -> &dyn ByteSource {
        match self {
            AddedData::Memory(v) => v,
            AddedData::Disk(d) => d.as_ref(),
        }
    }
}

/// A file as `DescribeDBLogFiles` lists it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Listed<'a> {
    pub name: &'a str,
    pub last_written_ms: i64,
    pub size: u64,
}

/// The account.
#[derive(Debug)]
pub(crate) struct World {
    pub now_us: i64,
    pub clusters: BTreeMap<String, Cluster>,
    pub instances: BTreeMap<String, Instance>,
}

/// A portion request, validated.
#[derive(Debug)]
pub(crate) struct PortionRequest<'a> {
    pub instance: &'a str,
    pub file: &'a str,
    pub marker: Option<&'a str>,
    pub lines: usize,
}

/// A portion answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PortionAnswer {
    pub data: Vec<u8>,
    pub marker: String,
    pub pending: bool,
}

/// Where a portion starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Tail,
    Start,
    At { segment: i64, offset: u64 },
}

fn parse_marker(marker: Option<&str>) -> Result<Marker, ApiError> {
    let Some(m) = marker.filter(|m| !m.is_empty()) else {
        return Ok(Marker::Tail);
    };
    if m == "0" {
        return Ok(Marker::Start);
    }
    let parsed = m.split_once(':').and_then(|(s, o)| {
        let segment: i64 = s.parse().ok()?;
        let offset: u64 = o.parse().ok()?;
        (0..24)
            .contains(&segment)
            .then_some(Marker::At { segment, offset })
    });
    parsed.ok_or_else(|| ApiError::invalid_parameter(format!("Invalid marker: {m}")))
}

fn io_error(e: io::Error) -> ApiError {
    ApiError::internal(format!("reading the log file failed: {e}"))
}

/// Whether Aurora renames this kind's file at each hour (the active name stays).
fn renamed_hourly(kind: LogKind) -> bool {
    matches!(
        kind,
        LogKind::MysqlSlow | LogKind::MysqlError | LogKind::MysqlGeneral
    )
}

impl World {
    /// The instance, if its log files can be read now.
    pub fn readable_instance(
        &self,
        faults: &mut FaultState,
        id: &str,
    ) -> Result<&Instance, ApiError> {
        let inst = self
            .instances
            .get(id)
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        if faults.is_creating(id) {
            faults.count(Fault::InstanceCreating);
            return Err(ApiError::instance_not_found(id));
        }
        if faults.is_not_ready(id) {
            faults.count(Fault::InstanceNotReady);
            return Err(ApiError::instance_not_ready(id));
        }
        Ok(inst)
    }

    /// Every file of an instance, by name.
    pub fn list_files<'a>(&self, inst: &'a Instance) -> Vec<Listed<'a>> {
        let mut out: Vec<Listed<'a>> = inst
            .logs
            .iter()
            .flat_map(|l| l.files())
            .map(|f| Listed {
                name: &f.name,
                last_written_ms: f.last_written_ms,
                size: f.size(),
            })
            .chain(inst.added.iter().map(|(name, f)| Listed {
                name,
                last_written_ms: f.last_written_ms,
                size: f.data.source().len(),
            }))
            .collect();
        out.sort_by(|a, b| a.name.cmp(b.name));
        out
    }

    /// `DownloadDBLogFilePortion`.
    pub fn portion(
        &self,
        faults: &mut FaultState,
        req: &PortionRequest<'_>,
    ) -> Result<PortionAnswer, ApiError> {
        let inst = self.readable_instance(faults, req.instance)?;
        let marker = parse_marker(req.marker)?;
        if let Some(added) = inst.added.get(req.file) {
            check_binary(faults, req)?;
            let segment = hour_of_day(added.last_written_ms.saturating_mul(1000));
            return serve(
                faults,
                added.data.source(),
                segment,
                marker,
                req,
                SegmentEnd::Finished,
            )
            .map_err(io_error);
        }
        let logs = inst.logs.as_ref();
        let file = logs
            .and_then(|l| l.file(req.file))
            .ok_or_else(|| ApiError::log_file_not_found(req.file))?;
        let logs = logs.ok_or_else(|| ApiError::log_file_not_found(req.file))?;
        self.check_rotation_window(faults, logs, file)?;
        check_binary(faults, req)?;
        let segment = hour_of_day(file.hour_us());
        match marker {
            Marker::At { segment: s, offset }
                if file.active && renamed_hourly(file.kind) && s != segment =>
            {
                if faults.fires(Fault::StaleMarkerAfterRotation) {
                    let stale = Marker::At { segment, offset };
                    return serve(faults, &file.data, segment, stale, req, SegmentEnd::Open)
                        .map_err(io_error);
                }
                old_segment(faults, logs, file, s, offset, req).map_err(io_error)
            }
            _ => {
                let end = if file.active {
                    SegmentEnd::Open
                } else {
                    SegmentEnd::Finished
                };
                serve(faults, &file.data, segment, marker, req, end).map_err(io_error)
            }
        }
    }

    /// `DBLogFileNotFoundFault` for the files of the latest rotation, during the window.
    pub(crate) fn check_rotation_window(
        &self,
        faults: &mut FaultState,
        logs: &InstanceLogs,
        file: &LogFile,
    ) -> Result<(), ApiError> {
        let Some(rule) = faults.rotation() else {
            return Ok(());
        };
        let Some(active) = logs.files().find(|f| f.active && f.kind == file.kind) else {
            return Ok(());
        };
        let rotated_at = active.hour_us();
        let since = self.now_us - rotated_at;
        let in_window = since >= 0 && (since as u128) < rule.window.as_micros();
        let was_rotated = logs
            .files()
            .any(|f| !f.active && f.kind == file.kind && f.hour_us() == rotated_at - HOUR_US);
        if !in_window || !was_rotated {
            return Ok(());
        }
        let hit = match rule.side {
            RotationSide::Active => file.active,
            RotationSide::Rotated => !file.active && file.hour_us() == rotated_at - HOUR_US,
            RotationSide::Both => file.active || file.hour_us() == rotated_at - HOUR_US,
        };
        if hit {
            faults.count(Fault::NotFoundMidRotation);
            return Err(ApiError::log_file_not_found(&file.name));
        }
        Ok(())
    }
}

fn check_binary(faults: &mut FaultState, req: &PortionRequest<'_>) -> Result<(), ApiError> {
    if faults.is_binary(req.instance, req.file) {
        faults.count(Fault::BinaryFile);
        return Err(ApiError::binary_file());
    }
    Ok(())
}

/// What comes after the end of the segment being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SegmentEnd {
    /// The file is still written to: its end is where the next page will start (marker
    /// `segment:len`, no more data pending).
    Open,
    /// A finished file (rotated, or added): nothing follows (marker `segment:len`, no more data
    /// pending).
    Finished,
    /// A finished hour read through the active file's name: the segment of this hour of day
    /// follows (marker `H:0`, more data pending).
    Next(i64),
}

/// A page of one segment, its marker and `AdditionalDataPending`, with the faults that apply:
/// the one code path of every portion.
fn serve(
    faults: &mut FaultState,
    src: &dyn ByteSource,
    segment: i64,
    marker: Marker,
    req: &PortionRequest<'_>,
    end: SegmentEnd,
) -> io::Result<PortionAnswer> {
    let start = match marker {
        Marker::Tail => tail_start(src, req.lines)?,
        Marker::Start => 0,
        Marker::At { offset, .. } => offset.min(src.len()),
    };
    let page = read_lines(src, start, req.lines, PORTION_CAP_BYTES)?;
    let (next, more) = skip_between_pages(faults, src, page.next)?;
    let mut answer = PortionAnswer {
        marker: format!("{segment}:{next}"),
        pending: more,
        data: page.data,
    };
    if more {
        if faults.fires(Fault::EarlyEndOfData) {
            answer.pending = false;
        }
        return Ok(answer);
    }
    // The end of the segment.
    match end {
        SegmentEnd::Next(following) => {
            answer.marker = format!("{following}:0");
            answer.pending = true;
        }
        SegmentEnd::Open | SegmentEnd::Finished => {
            let at_end_of_file =
                answer.data.is_empty() && matches!(marker, Marker::At { .. } | Marker::Start);
            if at_end_of_file && faults.fires(Fault::EchoMarkerAtEnd) {
                answer.marker = req.marker.unwrap_or("0").to_string();
                answer.pending = true;
                return Ok(answer);
            }
        }
    }
    // Only the marker changes: `pending` stays as above (see the fault's docs).
    if end != SegmentEnd::Open && faults.fires(Fault::ZeroMarkerAtSegmentEnd) {
        answer.marker = "0".to_string();
    }
    Ok(answer)
}

/// The next page's offset (moved past skipped lines when that fault fires) and whether data
/// remains after it.
fn skip_between_pages(
    faults: &mut FaultState,
    src: &dyn ByteSource,
    next: u64,
) -> io::Result<(u64, bool)> {
    let len = src.len();
    if next < len && faults.fires(Fault::SkipLines) {
        let skipped = skip_lines(src, next, faults.skipped_lines())?;
        return Ok((skipped, skipped < len));
    }
    Ok((next, next < len))
}

/// A marker of the active file's name pointing into an earlier hour: serve that hour from its
/// rotated file through [`serve`], then move on to the next hour.
fn old_segment(
    faults: &mut FaultState,
    logs: &InstanceLogs,
    active: &LogFile,
    segment: i64,
    offset: u64,
    req: &PortionRequest<'_>,
) -> io::Result<PortionAnswer> {
    let prefix = format!("{}.", active.name);
    let mut siblings: Vec<&LogFile> = logs
        .files()
        .filter(|f| !f.active && f.kind == active.kind && f.name.starts_with(&prefix))
        .filter(|f| f.hour_us() < active.hour_us())
        .collect();
    siblings.sort_by_key(|f| f.hour_us());
    let Some(old) = siblings
        .iter()
        .rev()
        .find(|f| hour_of_day(f.hour_us()) == segment)
    else {
        // That hour is gone (retention): go on with the current one.
        return Ok(PortionAnswer {
            data: Vec::new(),
            marker: format!("{}:0", hour_of_day(active.hour_us())),
            pending: true,
        });
    };
    let following = siblings
        .iter()
        .find(|f| f.hour_us() > old.hour_us())
        .copied()
        .unwrap_or(active);
    let end = SegmentEnd::Next(hour_of_day(following.hour_us()));
    let at = Marker::At { segment, offset };
    serve(faults, &old.data, segment, at, req, end)
}

/// The engine name, default version and instance class of an Aurora engine.
pub(crate) fn engine_defaults(engine: Engine) -> (&'static str, &'static str) {
    match engine {
        Engine::AuroraMysql => ("8.0.mysql_aurora.3.05.2", "db.r6g.large"),
        Engine::AuroraPostgresql => ("15.4", "db.r6g.large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_704_358_800_000_000; // 2024-01-04T09:00:00Z

    fn world(engine: Engine) -> World {
        let mut instances = BTreeMap::new();
        instances.insert(
            "i1".to_string(),
            Instance {
                id: "i1".into(),
                cluster: "c1".into(),
                engine: engine.name().into(),
                engine_version: "v".into(),
                availability_zone: "us-east-1a".into(),
                resource_id: "db-1".into(),
                writer: true,
                tags: Vec::new(),
                logs: Some(InstanceLogs::new(engine, 5, START, 5.0)),
                added: BTreeMap::new(),
            },
        );
        World {
            now_us: START,
            clusters: BTreeMap::new(),
            instances,
        }
    }

    fn advance(w: &mut World, to: i64) {
        w.now_us = to;
        for i in w.instances.values_mut() {
            if let Some(l) = i.logs.as_mut() {
                l.advance_to(to);
            }
        }
    }

    fn get(w: &World, f: &mut FaultState, file: &str, marker: Option<&str>) -> PortionAnswer {
        let req = PortionRequest {
            instance: "i1",
            file,
            marker,
            lines: 1000,
        };
        w.portion(f, &req).unwrap()
    }

    #[test]
    fn markers_parse_or_are_refused() {
        assert_eq!(parse_marker(None).unwrap(), Marker::Tail);
        assert_eq!(parse_marker(Some("0")).unwrap(), Marker::Start);
        assert_eq!(
            parse_marker(Some("17:13387550")).unwrap(),
            Marker::At {
                segment: 17,
                offset: 13_387_550
            }
        );
        for bad in ["x", "24:0", "1:-3", "1:2:3", ":"] {
            assert!(parse_marker(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_marker_of_the_active_file_follows_it_across_the_rotation() {
        let mut w = world(Engine::AuroraMysql);
        let mut f = FaultState::new(1, None);
        let name = "slowquery/mysql-slowquery.log";
        advance(&mut w, START + 30 * 60 * 1_000_000);
        let mut drained = Vec::new();
        let mut marker = "0".to_string();
        loop {
            let a = get(&w, &mut f, name, Some(&marker));
            drained.extend_from_slice(&a.data);
            marker = a.marker;
            if !a.pending {
                break;
            }
        }
        assert!(marker.starts_with("9:"), "{marker}");
        advance(&mut w, START + HOUR_US + 10 * 60 * 1_000_000);
        loop {
            let a = get(&w, &mut f, name, Some(&marker));
            drained.extend_from_slice(&a.data);
            marker = a.marker;
            if !a.pending {
                break;
            }
        }
        assert!(marker.starts_with("10:"), "{marker}");
        let logs = w.instances["i1"].logs.as_ref().unwrap();
        let whole = [
            logs.file("slowquery/mysql-slowquery.log.2024-01-04.09")
                .unwrap()
                .data
                .clone(),
            logs.file(name).unwrap().data.clone(),
        ]
        .concat();
        assert_eq!(drained, whole);
    }

    #[test]
    fn a_zero_marker_at_a_segment_end_keeps_pending_as_it_was() {
        let mut w = world(Engine::AuroraMysql);
        let mut f = FaultState::new(1, None);
        let name = "slowquery/mysql-slowquery.log";
        let rotated = "slowquery/mysql-slowquery.log.2024-01-04.09";
        advance(&mut w, START + 30 * 60 * 1_000_000);
        let a = get(&w, &mut f, name, None);
        advance(&mut w, START + HOUR_US + 10 * 60 * 1_000_000);
        // The old hour read through the active name: the next hour follows, so still pending.
        let mut marker = a.marker.clone();
        let without = loop {
            let p = get(&w, &mut f, name, Some(&marker));
            if !p.marker.starts_with("9:") {
                break p;
            }
            marker = p.marker;
        };
        assert_eq!((without.marker.as_str(), without.pending), ("10:0", true));
        f.set_next(Fault::ZeroMarkerAtSegmentEnd, 1);
        let with = get(&w, &mut f, name, Some(&marker));
        assert_eq!((with.marker.as_str(), with.pending), ("0", true));
        assert_eq!(with.data, without.data);
        // A rotated file's end: nothing follows, so not pending, with or without the fault.
        let len = w.instances["i1"]
            .logs
            .as_ref()
            .unwrap()
            .file(rotated)
            .unwrap()
            .size();
        let end = format!("9:{len}");
        let without = get(&w, &mut f, rotated, Some(&end));
        assert_eq!(
            (without.marker.as_str(), without.pending),
            (end.as_str(), false)
        );
        f.set_next(Fault::ZeroMarkerAtSegmentEnd, 1);
        let with = get(&w, &mut f, rotated, Some(&end));
        assert_eq!((with.marker.as_str(), with.pending), ("0", false));
        // The active file's end is not a segment end: the fault does not apply.
        f.set_next(Fault::ZeroMarkerAtSegmentEnd, 1);
        let tail = get(&w, &mut f, name, None);
        assert!(tail.marker.starts_with("10:") && !tail.pending, "{tail:?}");
        assert_eq!(f.fired(Fault::ZeroMarkerAtSegmentEnd), 2);
    }

    #[test]
    fn a_stale_marker_reads_the_new_file_at_the_old_offset() {
        let mut w = world(Engine::AuroraMysql);
        let mut f = FaultState::new(1, None);
        let name = "slowquery/mysql-slowquery.log";
        advance(&mut w, START + 50 * 60 * 1_000_000);
        let a = get(&w, &mut f, name, None);
        advance(&mut w, START + HOUR_US + 59 * 60 * 1_000_000);
        f.set_next(Fault::StaleMarkerAfterRotation, 1);
        let b = get(&w, &mut f, name, Some(&a.marker));
        assert!(b.marker.starts_with("10:"), "{}", b.marker);
        let off: usize = a.marker[2..].parse().unwrap();
        let current = &w.instances["i1"]
            .logs
            .as_ref()
            .unwrap()
            .file(name)
            .unwrap()
            .data;
        assert!(current[off..].starts_with(&b.data));
        assert_eq!(f.fired(Fault::StaleMarkerAfterRotation), 1);
    }
}
