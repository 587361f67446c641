//! The Query API actions: parameters in (form-encoded, as `aws-smithy-query` writes them),
//! XML out.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use super::error::ApiError;
use super::faults::FaultState;
use super::world::{Cluster, Instance, PortionRequest, World, MAX_PORTION_LINES};
use super::xml::{response_metadata, XmlDoc};
use super::{Shared, TEST_ACCOUNT_ID};

/// The API version every call names.
pub(crate) const API_VERSION: &str = "2014-10-31";

/// Request parameters by name.
pub(crate) type Params = BTreeMap<String, String>;

/// Cluster and instance pages (RDS.md: 20..=100, default 100).
const DESCRIBE_PAGE: RangeInclusive<i64> = 20..=100;
const DESCRIBE_PAGE_DEFAULT: i64 = 100;
/// Log file pages (RDS.md: default 1000).
const LOG_FILES_PAGE: RangeInclusive<i64> = 1..=1000;
const LOG_FILES_PAGE_DEFAULT: i64 = 1000;
/// Most filters and values per filter read from one request.
const MAX_FILTERS: usize = 10;
const MAX_FILTER_VALUES: usize = 100;

/// The action of a request, for counting before anything can fail.
pub(crate) fn action(params: &Params) -> Result<&str, ApiError> {
    params
        .get("Action")
        .map(String::as_str)
        .ok_or_else(|| ApiError {
            status: http::StatusCode::BAD_REQUEST,
            code: "MissingAction",
            message: "Missing Action".to_string(),
        })
}

/// Answer one Query API call (after counting and throttling).
pub(crate) fn answer(
    shared: &Shared,
    params: &Params,
    request_id: &str,
) -> Result<String, ApiError> {
    let action = action(params)?;
    match params.get("Version").map(String::as_str) {
        Some(API_VERSION) => {}
        Some(v) => {
            return Err(ApiError::invalid_parameter(format!(
                "Unsupported API version {v}: use {API_VERSION}"
            )))
        }
        None => return Err(ApiError::missing_parameter("Version")),
    }
    let world = shared.world();
    let mut faults = shared.fault_state();
    let ctx = Ctx {
        region: &shared.region,
        world: &world,
    };
    let mut doc = match action {
        "DescribeDBClusters" => ctx.describe_clusters(params)?,
        "DescribeDBInstances" => ctx.describe_instances(&faults, params)?,
        "DescribeDBLogFiles" => ctx.describe_log_files(&mut faults, params)?,
        "DownloadDBLogFilePortion" => ctx.download_portion(&mut faults, params)?,
        other => return Err(ApiError::invalid_action(other)),
    };
    doc.end();
    response_metadata(&mut doc, request_id);
    Ok(doc.finish())
}

struct Ctx<'a> {
    region: &'a str,
    world: &'a World,
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::missing_parameter(name))
}

fn integer(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::invalid_parameter(format!("Invalid value {v} for parameter {name}"))
            })
        })
        .transpose()
}

fn max_records(
    params: &Params,
    range: RangeInclusive<i64>,
    default: i64,
) -> Result<usize, ApiError> {
    let n = integer(params, "MaxRecords")?.unwrap_or(default);
    if !range.contains(&n) {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid value {n} for MaxRecords. Must be between {} and {}",
            range.start(),
            range.end()
        )));
    }
    Ok(n as usize)
}

/// Page markers of the describe calls: the hex of the first key of the next page.
fn encode_page_marker(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_page_marker(params: &Params) -> Result<Option<String>, ApiError> {
    let Some(m) = params.get("Marker").filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::invalid_parameter(format!("Invalid marker: {m}"));
    if m.len() % 2 != 0 || m.len() > 2048 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..m.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(m.get(i..i + 2)?, 16).ok())
        .collect();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(bad)
}

/// `Filters.Filter.N.Name` / `Filters.Filter.N.Values.Value.M`.
fn filters(params: &Params) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let mut out = Vec::new();
    for n in 1..=MAX_FILTERS {
        let Some(name) = params.get(&format!("Filters.Filter.{n}.Name")) else {
            break;
        };
        let values: Vec<String> = (1..=MAX_FILTER_VALUES)
            .map_while(|m| {
                params
                    .get(&format!("Filters.Filter.{n}.Values.Value.{m}"))
                    .cloned()
            })
            .collect();
        if values.is_empty() {
            return Err(ApiError::invalid_parameter(format!(
                "Filter {name} needs at least one value"
            )));
        }
        out.push((name.clone(), values));
    }
    Ok(out)
}

fn tags(doc: &mut XmlDoc, tags: &[(String, String)]) {
    doc.start("TagList");
    for (k, v) in tags {
        doc.start("Tag").text("Key", k).text("Value", v).end();
    }
    doc.end();
}

/// A page of `items` (in key order) starting at the marker: the items and the next marker.
fn page<'a, T>(
    items: impl Iterator<Item = (&'a str, T)>,
    start: Option<&str>,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let mut out = Vec::new();
    for (key, item) in items.filter(|(k, _)| start.is_none_or(|s| *k >= s)) {
        if out.len() == size {
            return (out, Some(encode_page_marker(key)));
        }
        out.push(item);
    }
    (out, None)
}

impl Ctx<'_> {
    fn arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:rds:{}:{TEST_ACCOUNT_ID}:{kind}:{id}", self.region)
    }

    fn endpoint(&self, prefix: &str, id: &str) -> String {
        format!(
            "{id}.{prefix}cluster-c0ffee123456.{}.rds.amazonaws.com",
            self.region
        )
    }

    fn describe_clusters(&self, params: &Params) -> Result<XmlDoc, ApiError> {
        let filters = filters(params)?;
        for (name, _) in &filters {
            if !matches!(name.as_str(), "engine" | "db-cluster-id") {
                return Err(ApiError::invalid_parameter(format!(
                    "Unrecognized filter name: {name}"
                )));
            }
        }
        let size = max_records(params, DESCRIBE_PAGE, DESCRIBE_PAGE_DEFAULT)?;
        let start = decode_page_marker(params)?;
        let only = params.get("DBClusterIdentifier");
        if let Some(id) = only {
            if !self.world.clusters.contains_key(id) {
                return Err(ApiError::cluster_not_found(id));
            }
        }
        let matching = self.world.clusters.values().filter(|c| {
            only.is_none_or(|id| *id == c.id)
                && filters.iter().all(|(name, values)| match name.as_str() {
                    "engine" => values.contains(&c.engine),
                    _ => values
                        .iter()
                        .any(|v| *v == c.id || *v == self.arn("cluster", &c.id)),
                })
        });
        let (clusters, marker) = page(matching.map(|c| (c.id.as_str(), c)), start.as_deref(), size);
        let mut doc = XmlDoc::new("DescribeDBClustersResponse");
        doc.start("DescribeDBClustersResult").start("DBClusters");
        for c in clusters {
            self.cluster(&mut doc, c);
        }
        doc.end();
        if let Some(m) = marker {
            doc.text("Marker", &m);
        }
        Ok(doc)
    }

    fn cluster(&self, doc: &mut XmlDoc, c: &Cluster) {
        doc.start("DBCluster")
            .text("DBClusterIdentifier", &c.id)
            .text("Status", "available")
            .text("Engine", &c.engine)
            .text("EngineVersion", &c.engine_version)
            .text("EngineMode", "provisioned")
            .text("Endpoint", &self.endpoint("", &c.id))
            .text("ReaderEndpoint", &self.endpoint("ro-", &c.id))
            .text("DBClusterArn", &self.arn("cluster", &c.id))
            .start("DBClusterMembers");
        for (i, m) in c.members.iter().enumerate() {
            doc.start("DBClusterMember")
                .text("DBInstanceIdentifier", m)
                .value("IsClusterWriter", i == 0)
                .text("DBClusterParameterGroupStatus", "in-sync")
                .value("PromotionTier", 1)
                .end();
        }
        doc.end();
        tags(doc, &c.tags);
        doc.end();
    }

    fn describe_instances(&self, faults: &FaultState, params: &Params) -> Result<XmlDoc, ApiError> {
        let filters = filters(params)?;
        for (name, _) in &filters {
            if !matches!(
                name.as_str(),
                "engine" | "db-cluster-id" | "db-instance-id" | "dbi-resource-id"
            ) {
                return Err(ApiError::invalid_parameter(format!(
                    "Unrecognized filter name: {name}"
                )));
            }
        }
        let size = max_records(params, DESCRIBE_PAGE, DESCRIBE_PAGE_DEFAULT)?;
        let start = decode_page_marker(params)?;
        let only = params.get("DBInstanceIdentifier");
        if let Some(id) = only {
            if !self.world.instances.contains_key(id) {
                return Err(ApiError::instance_not_found(id));
            }
        }
        let matching = self.world.instances.values().filter(|i| {
            only.is_none_or(|id| *id == i.id)
                && filters.iter().all(|(name, values)| {
                    let hit = |own: &str, arn: String| values.iter().any(|v| v == own || *v == arn);
                    match name.as_str() {
                        "engine" => values.contains(&i.engine),
                        "db-cluster-id" => hit(&i.cluster, self.arn("cluster", &i.cluster)),
                        "db-instance-id" => hit(&i.id, self.arn("db", &i.id)),
                        _ => values.contains(&i.resource_id),
                    }
                })
        });
        let (instances, marker) =
            page(matching.map(|i| (i.id.as_str(), i)), start.as_deref(), size);
        let mut doc = XmlDoc::new("DescribeDBInstancesResponse");
        doc.start("DescribeDBInstancesResult").start("DBInstances");
        for i in instances {
            self.instance(&mut doc, i, faults.is_creating(&i.id));
        }
        doc.end();
        if let Some(m) = marker {
            doc.text("Marker", &m);
        }
        Ok(doc)
    }

    fn instance(&self, doc: &mut XmlDoc, i: &Instance, creating: bool) {
        let port = if i.engine.contains("postgres") {
            5432
        } else {
            3306
        };
        doc.start("DBInstance")
            .text("DBInstanceIdentifier", &i.id)
            .text("DBInstanceClass", "db.r6g.large")
            .text("Engine", &i.engine)
            .text(
                "DBInstanceStatus",
                if creating { "creating" } else { "available" },
            )
            .start("Endpoint")
            .text("Address", &self.endpoint("", &i.id))
            .value("Port", port)
            .end()
            .text("AvailabilityZone", &i.availability_zone)
            .text("EngineVersion", &i.engine_version)
            .text("DBClusterIdentifier", &i.cluster)
            .text("DbiResourceId", &i.resource_id)
            .text("DBInstanceArn", &self.arn("db", &i.id))
            .value("PromotionTier", if i.writer { 0 } else { 1 });
        tags(doc, &i.tags);
        doc.end();
    }

    fn describe_log_files(
        &self,
        faults: &mut FaultState,
        params: &Params,
    ) -> Result<XmlDoc, ApiError> {
        let id = required(params, "DBInstanceIdentifier")?;
        let contains = params.get("FilenameContains");
        let since_ms = integer(params, "FileLastWritten")?;
        let larger_than = integer(params, "FileSize")?;
        let size = max_records(params, LOG_FILES_PAGE, LOG_FILES_PAGE_DEFAULT)?;
        let start = decode_page_marker(params)?;
        let inst = self.world.readable_instance(faults, id)?;
        faults.count_listing(&inst.id);
        let listed = self.world.list_files(inst);
        let matching = listed.iter().filter(|f| {
            contains.is_none_or(|c| f.name.contains(c.as_str()))
                && since_ms.is_none_or(|t| f.last_written_ms >= t)
                && larger_than.is_none_or(|s| f.size as i64 > s)
        });
        let (files, marker) = page(matching.map(|f| (f.name, f)), start.as_deref(), size);
        let mut doc = XmlDoc::new("DescribeDBLogFilesResponse");
        doc.start("DescribeDBLogFilesResult")
            .start("DescribeDBLogFiles");
        for f in files {
            doc.start("DescribeDBLogFilesDetails")
                .text("LogFileName", f.name)
                .value("LastWritten", f.last_written_ms)
                .value("Size", f.size)
                .end();
        }
        doc.end();
        if let Some(m) = marker {
            doc.text("Marker", &m);
        }
        Ok(doc)
    }

    fn download_portion(
        &self,
        faults: &mut FaultState,
        params: &Params,
    ) -> Result<XmlDoc, ApiError> {
        let instance = required(params, "DBInstanceIdentifier")?;
        let file = required(params, "LogFileName")?;
        let lines = integer(params, "NumberOfLines")?.unwrap_or(MAX_PORTION_LINES as i64);
        if !(1..=MAX_PORTION_LINES as i64).contains(&lines) {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid value {lines} for NumberOfLines. Must be between 1 and {MAX_PORTION_LINES}"
            )));
        }
        let req = PortionRequest {
            instance,
            file,
            marker: params.get("Marker").map(String::as_str),
            lines: lines as usize,
        };
        let answer = self.world.portion(faults, &req)?;
        faults.count_bytes("DownloadDBLogFilePortion", answer.data.len());
        let mut doc = XmlDoc::new("DownloadDBLogFilePortionResponse");
        doc.start("DownloadDBLogFilePortionResult")
            .text("LogFileData", &String::from_utf8_lossy(&answer.data))
            .value("AdditionalDataPending", answer.pending)
            .text("Marker", &answer.marker);
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_read_as_the_sdk_writes_them() {
        let p = params(&[
            ("Filters.Filter.1.Name", "engine"),
            ("Filters.Filter.1.Values.Value.1", "aurora-mysql"),
            ("Filters.Filter.1.Values.Value.2", "aurora-postgresql"),
            ("Filters.Filter.2.Name", "db-cluster-id"),
            ("Filters.Filter.2.Values.Value.1", "c1"),
        ]);
        let f = filters(&p).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].1, ["aurora-mysql", "aurora-postgresql"]);
    }

    #[test]
    fn page_markers_round_trip_and_bad_ones_are_refused() {
        let m = encode_page_marker("slowquery/x.log");
        let p = params(&[("Marker", &m)]);
        assert_eq!(
            decode_page_marker(&p).unwrap().as_deref(),
            Some("slowquery/x.log")
        );
        for bad in ["zz", "abc"] {
            assert!(decode_page_marker(&params(&[("Marker", bad)])).is_err());
        }
    }

    #[test]
    fn max_records_is_validated() {
        let ok = max_records(&params(&[("MaxRecords", "20")]), DESCRIBE_PAGE, 100).unwrap();
        assert_eq!(ok, 20);
        for bad in ["19", "101", "x"] {
            let e = max_records(&params(&[("MaxRecords", bad)]), DESCRIBE_PAGE, 100).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue");
        }
    }
}
