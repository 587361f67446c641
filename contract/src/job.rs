//! The job message: "file F of instance I has unshipped bytes".
//!
//! JSON, one object per Kafka message, keyed by [`Job::key`] (instance and lasting file name) so
//! that one file's jobs stay in order on one partition, on the topic of its [`LogKind`].
//!
//! Compatibility: `v` is the major version. A reader takes any message whose `v` it knows and
//! ignores fields it does not know (a newer discovery may add some); a message with a newer `v`
//! is refused with [`JobError::Version`], counted and skipped: the file's state in DynamoDB is
//! the truth and a discovery of the right version publishes the job again.

use serde::{Deserialize, Serialize};

use crate::kind::{LogKind, PerKind};

/// The major version of [`Job`] this build writes and reads.
pub const JOB_VERSION: u32 = 1;

/// Kafka topic per kind, in configuration a table keyed by the kind's name (`error`,
/// `slowquery`, `general`, `audit`, `postgresql`). Defaults: `aurora-logs-error`,
/// `aurora-logs-slowquery`, `aurora-logs-general`, `aurora-logs-audit`, `aurora-logs-postgresql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics(PerKind<String>);

impl Default for Topics {
    fn default() -> Self {
        Topics::with_prefix("aurora-logs-")
    }
}

impl Topics {
    /// `{prefix}error`, `{prefix}slowquery`, … (tests use a prefix of their own).
    pub fn with_prefix(prefix: &str) -> Topics {
        Topics(PerKind::from_fn(|k| format!("{prefix}{}", k.as_str())))
    }

    /// The topic of `kind`.
    pub fn topic(&self, kind: LogKind) -> &str {
        self.0.get(kind)
    }

    /// Every topic, in [`LogKind::ALL`] order.
    pub fn all(&self) -> Vec<&str> {
        self.0.iter().map(|(_, t)| t.as_str()).collect()
    }
}

impl Serialize for Topics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_keyed(s, LogKind::as_str)
    }
}

impl<'de> Deserialize<'de> for Topics {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PerKind::deserialize_keyed(d, LogKind::as_str, Topics::default().0).map(Topics)
    }
}

/// A file of an instance with unshipped bytes, as discovery saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Major version ([`JOB_VERSION`]).
    pub v: u32,
    /// `DBClusterIdentifier`.
    pub cluster_id: String,
    /// `DBInstanceIdentifier`.
    pub instance_id: String,
    /// `aurora-mysql` or `aurora-postgresql`.
    pub engine: String,
    /// `EngineVersion`.
    pub engine_version: String,
    /// The kind of log (and so the topic).
    pub kind: LogKind,
    /// `LogFileName` as RDS listed it: the name to download by.
    pub file: String,
    /// The lasting name: the key of the file's state and part of its record ids.
    pub lasting_name: String,
    /// `LastWritten` when listed, ms since the epoch.
    pub last_written_ms: i64,
    /// `Size` when listed.
    pub size: u64,
    /// The writer had moved on to a newer sibling: the file's last entry is complete.
    pub finished: bool,
    /// The fencing token of the discovery leader that published the job. Processors drop jobs
    /// older than the newest leader they have seen.
    pub leader_epoch: u64,
    /// When the job was published, ms since the epoch.
    pub published_ms: i64,
}

/// A message that is not a job this build can run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Not JSON, or a field is missing or of the wrong type.
    #[error("job message is malformed: {0}; it is skipped (discovery publishes the file again while it has unshipped bytes)")]
    Malformed(String),
    /// A newer major version.
    #[error("job message version {found} is newer than {supported}, the newest this processor reads; upgrade the processors before discovery")]
    Version {
        /// `v` of the message.
        found: u64,
        /// [`JOB_VERSION`].
        supported: u32,
    },
}

/// The longest job message read: a job is a few hundred bytes; anything far larger is not one.
pub const MAX_JOB_BYTES: usize = 64 * 1024;

impl Job {
    /// The Kafka key: `instance_id/lasting_name` (a lasting name never holds the instance id, and
    /// instance ids hold no `/`).
    pub fn key(&self) -> String {
        format!("{}/{}", self.instance_id, self.lasting_name)
    }

    /// The message body.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a job always serialises")
    }

    /// Read a message body, checking its version first so that a newer message is refused as
    /// such, not as malformed.
    pub fn decode(bytes: &[u8]) -> Result<Job, JobError> {
        if bytes.len() > MAX_JOB_BYTES {
            return Err(JobError::Malformed(format!(
                "{} bytes, more than the {MAX_JOB_BYTES} a job can have",
                bytes.len()
            )));
        }
        #[derive(Deserialize)]
        struct Version {
            v: u64,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|e| JobError::Malformed(e.to_string()))?;
        if version.v != u64::from(JOB_VERSION) {
            if version.v > u64::from(JOB_VERSION) {
                return Err(JobError::Version {
                    found: version.v,
                    supported: JOB_VERSION,
                });
            }
            return Err(JobError::Malformed(format!(
                "unknown version {}",
                version.v
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| JobError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            v: JOB_VERSION,
            cluster_id: "shop".into(),
            instance_id: "shop-1".into(),
            engine: "aurora-mysql".into(),
            engine_version: "8.0.mysql_aurora.3.05.2".into(),
            kind: LogKind::MysqlSlow,
            file: "slowquery/mysql-slowquery.log".into(),
            lasting_name: "slowquery/mysql-slowquery.log.2026-11-27.10".into(),
            last_written_ms: 1_795_000_000_000,
            size: 12_345,
            finished: false,
            leader_epoch: 3,
            published_ms: 1_795_000_000_100,
        }
    }

    #[test]
    fn a_job_round_trips_and_is_keyed_by_instance_and_lasting_name() {
        let j = job();
        assert_eq!(Job::decode(&j.encode()).unwrap(), j);
        assert_eq!(
            j.key(),
            "shop-1/slowquery/mysql-slowquery.log.2026-11-27.10"
        );
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let mut v: serde_json::Value = serde_json::from_slice(&job().encode()).unwrap();
        v["priority"] = 7.into();
        v["hints"] = serde_json::json!({"a": [1, 2]});
        let j = Job::decode(v.to_string().as_bytes()).unwrap();
        assert_eq!(j, job());
    }

    #[test]
    fn a_newer_version_is_refused_as_such() {
        let mut v: serde_json::Value = serde_json::from_slice(&job().encode()).unwrap();
        v["v"] = 2.into();
        v.as_object_mut().unwrap().remove("size");
        match Job::decode(v.to_string().as_bytes()) {
            Err(JobError::Version { found: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_truncation_and_huge_messages_are_malformed_not_panics() {
        let full = job().encode();
        for cut in 0..full.len() {
            assert!(Job::decode(&full[..cut]).is_err(), "cut at {cut}");
        }
        for bad in [
            &b"\xff\xfe\x00"[..],
            b"null",
            b"[]",
            b"{\"v\":\"1\"}",
            b"{\"v\":1}",
        ] {
            assert!(
                matches!(Job::decode(bad), Err(JobError::Malformed(_))),
                "{bad:?}"
            );
        }
        let huge = vec![b' '; MAX_JOB_BYTES + 1];
        assert!(matches!(Job::decode(&huge), Err(JobError::Malformed(_))));
    }

    #[test]
    fn topics_default_to_the_seed_names() {
        let t = Topics::default();
        assert_eq!(
            t.all(),
            [
                "aurora-logs-error",
                "aurora-logs-slowquery",
                "aurora-logs-general",
                "aurora-logs-audit",
                "aurora-logs-postgresql"
            ]
        );
        assert_eq!(
            Topics::with_prefix("t1-").topic(LogKind::MysqlAudit),
            "t1-audit"
        );
    }
}
