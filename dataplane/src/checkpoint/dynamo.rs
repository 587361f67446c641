//! [`DynamoCheckpoints`]: checkpoints in DynamoDB, shared by many processors, kept apart by
//! per-file leases.
//!
//! # Brief overview
//! The table is laid out as [`contract::state`] says: one item per file, keyed by instance and
//! lasting file name, holding the checkpoint and the lease (`lease_owner`, `lease_expires_ms`,
//! `lease_token`). Every write that matters is one conditional `UpdateItem`:
//! - [`acquire`](CheckpointStore::acquire) takes a free, expired or already-own lease and bumps
//!   the fencing token; it answers [`Acquired::Busy`] with the live holder otherwise;
//! - [`commit`](CheckpointStore::commit) writes the checkpoint only while this process is the
//!   owner, with the token it acquired, and the lease has not expired; it extends the lease;
//! - a renewal task extends every held lease every `lease_ttl / 3`, so a file whose download
//!   waits (RDS throttling, a slow sink) keeps its lease between commits;
//! - [`release`](CheckpointStore::release) gives the lease back early.
//!
//! A processor that stalled past its lease (GC-like pause, network partition) finds its next
//! commit refused with [`CheckpointError::LeaseLost`]: the new holder resumes from the last
//! checkpoint, and the stalled one's in-flight batch is the only thing shipped twice.
//!
//! # Clocks and timings
//! `lease_expires_ms` is written with the holder's clock and compared with the acquirer's clock,
//! so leases assume clocks within a few seconds of each other (NTP, as on EKS nodes); keep
//! `lease_ttl` well above the worst skew. `lease_ttl` must also exceed the longest pause between
//! two commits or renewals of a holder (renewals come every `lease_ttl / 3`, each bounded by
//! `call_timeout`, so `call_timeout` should stay below `lease_ttl / 3`).
//!
//! # Owners
//! `owner` must be unique among live processes (a pod name plus a random suffix). A process that
//! restarts under the same name takes its old leases back at once (the token still changes, so
//! the old incarnation could not commit anyway).
//!
//! # Bounds
//! Leases tracked per process ([`MAX_HELD_LEASES`]), pages and items of one instance's listing
//! ([`MAX_QUERY_PAGES`], [`MAX_INSTANCE_FILES`]), renewals in flight ([`RENEW_CONCURRENCY`]),
//! and every call by `call_timeout`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use contract::state::{attr, DEFAULT_TABLE};
use futures_util::StreamExt;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use serde::{Deserialize, Serialize};

use super::{Acquired, Checkpoint, CheckpointError, CheckpointStore, FileKey, MarkerAt};
use crate::telemetry;

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// File leases one process keeps track of. A processor runs a few jobs at once (the queue's
/// `max_jobs`); thousands mean leases are acquired and never released.
pub const MAX_HELD_LEASES: usize = 4096;
/// Query pages read for one instance's listing.
pub const MAX_QUERY_PAGES: usize = 10_000;
/// Checkpoints of one instance. RDS keeps a few thousand files per instance at most (hourly
/// rotation × retention days × log kinds); far more means something else writes the table.
pub const MAX_INSTANCE_FILES: usize = 100_000;
/// Lease renewals in flight at once.
pub const RENEW_CONCURRENCY: usize = 16;
/// How long [`ensure_table`] waits for a new table to become ACTIVE.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(120);
/// The shortest `lease_ttl` accepted (renewals come every third of it).
const MIN_LEASE_TTL: Duration = Duration::from_millis(300);

/// Every attribute an expression may name, from the contract.
const ATTRIBUTES: &[&str] = &[
    attr::INSTANCE_ID,
    attr::LOG_FILE,
    attr::OFFSET,
    attr::MARKER_NAME,
    attr::MARKER,
    attr::MARKER_OFFSET,
    attr::DONE,
    attr::SIZE_SEEN,
    attr::RECORDS,
    attr::GENERATION,
    attr::LEASE_OWNER,
    attr::LEASE_EXPIRES_MS,
    attr::LEASE_TOKEN,
    attr::UPDATED_MS,
    attr::EXPIRES_AT,
];

/// How to reach the state table, and the lease timings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoConfig {
    /// Table name. Production tables come from terraform; `ensure_table` creates one for dev
    /// and tests.
    pub table: String,
    /// AWS region; empty means the SDK's default chain (`AWS_REGION`, profile).
    pub region: String,
    /// Endpoint override (DynamoDB Local, a VPC endpoint); empty means the public endpoint.
    pub endpoint_url: String,
    /// Static credentials (for DynamoDB Local and tests); empty means the default AWS chain
    /// (environment, EKS Pod Identity, IRSA, instance profile).
    pub access_key_id: String,
    /// Secret of `access_key_id`.
    pub secret_access_key: String,
    /// How long a lease lasts without a commit or renewal. Must exceed the longest pause of a
    /// holder and the clock skew between nodes; a crashed holder's files wait this long.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How long a file's state outlives its last write (the table's TTL attribute
    /// `expires_at`). Keep it above RDS's log retention, or shipped files are shipped again.
    #[serde(with = "humantime_serde")]
    pub state_ttl: Duration,
    /// Timeout of one DynamoDB call, the SDK's retries included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Items per Query page when listing an instance (0: DynamoDB's own 1 MB pages). Small
    /// values only make tests cross pages.
    pub query_page_items: u32,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        DynamoConfig {
            table: DEFAULT_TABLE.into(),
            region: "us-east-1".into(),
            endpoint_url: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            lease_ttl: Duration::from_secs(60),
            state_ttl: Duration::from_secs(14 * 24 * 3600),
            call_timeout: Duration::from_secs(5),
            query_page_items: 0,
        }
    }
}

/// Milliseconds since the epoch, by this host's clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `instance/file`, for messages.
fn show(key: &FileKey) -> String {
    format!("{}/{}", key.instance_id, key.log_file)
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The primary key of `instance` / `file`.
pub(crate) fn key_item(instance: &str, file: &str) -> Item {
    HashMap::from([
        (attr::INSTANCE_ID.to_string(), s(instance)),
        (attr::LOG_FILE.to_string(), s(file)),
    ])
}

/// The expression attribute names of `exprs`: every `#name` maps to the attribute `name`.
/// DynamoDB refuses unused names, so they are taken from the expressions themselves.
fn names_in(exprs: &[&str]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for e in exprs {
        let mut rest = *e;
        while let Some(i) = rest.find('#') {
            rest = &rest[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            debug_assert!(ATTRIBUTES.contains(&name), "{name} is not in the contract");
            out.insert(format!("#{name}"), name.to_string());
            rest = &rest[end..];
        }
    }
    out
}

fn type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    }
}

/// Number attribute `name`, if present.
pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<Option<T>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("attribute {name} = {v:?} is out of range")),
        Some(other) => Err(format!(
            "attribute {name} should be a number (N), found {}",
            type_name(other)
        )),
    }
}

/// String attribute `name`, if present.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(other) => Err(format!(
            "attribute {name} should be a string (S), found {}",
            type_name(other)
        )),
    }
}

fn get_bool(item: &Item, name: &str) -> Result<Option<bool>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::Bool(v)) => Ok(Some(*v)),
        Some(other) => Err(format!(
            "attribute {name} should be a boolean (BOOL), found {}",
            type_name(other)
        )),
    }
}

/// The checkpoint an item holds; `None` when it has no offset yet (only a lease).
pub(crate) fn decode_checkpoint(item: &Item) -> Result<Option<Checkpoint>, String> {
    let Some(offset) = get_n(item, attr::OFFSET)? else {
        return Ok(None);
    };
    let marker = match (
        get_s(item, attr::MARKER_NAME)?,
        get_s(item, attr::MARKER)?,
        get_n(item, attr::MARKER_OFFSET)?,
    ) {
        (None, None, None) => None,
        (Some(name), Some(marker), Some(offset)) => Some(MarkerAt {
            name: name.to_string(),
            marker: marker.to_string(),
            offset,
        }),
        _ => return Err("marker attributes are only partly present".into()),
    };
    Ok(Some(Checkpoint {
        offset,
        marker,
        done: get_bool(item, attr::DONE)?.unwrap_or(false),
        size_seen: get_n(item, attr::SIZE_SEEN)?.unwrap_or(0),
        records: get_n(item, attr::RECORDS)?.unwrap_or(0),
        generation: get_n(item, attr::GENERATION)?.unwrap_or(0),
    }))
}

/// The lease attributes of an item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeaseAttrs {
    pub(crate) owner: Option<String>,
    pub(crate) expires_ms: i64,
    pub(crate) token: u64,
}

pub(crate) fn decode_lease(item: &Item) -> Result<LeaseAttrs, String> {
    Ok(LeaseAttrs {
        owner: get_s(item, attr::LEASE_OWNER)?.map(str::to_string),
        expires_ms: get_n(item, attr::LEASE_EXPIRES_MS)?.unwrap_or(0),
        token: get_n(item, attr::LEASE_TOKEN)?.unwrap_or(0),
    })
}

/// Why a DynamoDB call did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The condition did not hold; the item as it was (ALL_OLD), if there was one.
    Conflict(Option<Item>),
    /// DynamoDB refused an operand's type: a stored attribute has the wrong type.
    WrongType(String),
    /// Anything else, with DynamoDB's error code when there is one.
    Other {
        /// The error code (`ResourceNotFoundException`, …) or empty.
        code: String,
        /// What failed.
        message: String,
    },
}

impl Failure {
    /// The store error of this failure of `op` on `key`.
    pub(crate) fn into_error(self, table: &str, op: &str, key: &str) -> CheckpointError {
        match self {
            Failure::Conflict(_) => CheckpointError::Database(format!(
                "dynamodb {op} of {key} in table {table}: unexpected conditional-check failure"
            )),
            Failure::WrongType(message) => corrupt(table, key, message),
            Failure::Other { code, message } => {
                let hint = if code == "ResourceNotFoundException" {
                    "create the table (terraform, or --create-table in dev)"
                } else {
                    "check the endpoint, region, credentials and IAM permissions on the table"
                };
                CheckpointError::Database(format!(
                    "dynamodb {op} of {key} in table {table} failed: {message}; {hint}"
                ))
            }
        }
    }
}

/// The error for a malformed item `key` of `table`.
pub(crate) fn corrupt(table: &str, key: &str, error: String) -> CheckpointError {
    CheckpointError::Corrupt {
        key: key.to_string(),
        error: format!("{error}; delete the item from table {table} to start the file over"),
    }
}

/// The message of an SDK error: `code: message`, or the error's chain.
fn sdk_message<E, R>(e: &SdkError<E, R>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().map(str::to_string).unwrap_or_else(|| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    });
    let message = if code.is_empty() {
        message
    } else {
        format!("{code}: {message}")
    };
    (code, message)
}

fn update_conflict(e: &UpdateItemError) -> Option<Option<Item>> {
    match e {
        UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item().cloned()),
        _ => None,
    }
}

fn delete_conflict(e: &DeleteItemError) -> Option<Option<Item>> {
    match e {
        DeleteItemError::ConditionalCheckFailedException(c) => Some(c.item().cloned()),
        _ => None,
    }
}

/// The state table: the client, its name and the call discipline (timeout, metrics, errors).
#[derive(Clone, Debug)]
pub(crate) struct Table {
    client: aws_sdk_dynamodb::Client,
    pub(crate) name: String,
    call_timeout: Duration,
}

impl Table {
    /// A client for `config` (no call is made).
    pub(crate) async fn connect(config: &DynamoConfig) -> Result<Table, CheckpointError> {
        let sdk = crate::aws::sdk_config(
            &config.region,
            &config.endpoint_url,
            &config.access_key_id,
            &config.secret_access_key,
        )
        .await;
        if sdk.region().is_none() {
            return Err(CheckpointError::Database(
                "no AWS region for DynamoDB: set dynamodb.region or AWS_REGION".into(),
            ));
        }
        if config.call_timeout.is_zero() {
            return Err(CheckpointError::Database(
                "dynamodb.call_timeout must be above zero".into(),
            ));
        }
        Ok(Table {
            client: aws_sdk_dynamodb::Client::new(&sdk),
            name: config.table.clone(),
            call_timeout: config.call_timeout,
        })
    }

    /// Run one call of `op` under the timeout, counting it; `conflict` recognises the
    /// conditional-check failure of the operation and returns the old item.
    async fn call<T, E, R, Fut>(
        &self,
        op: &'static str,
        fut: Fut,
        conflict: fn(&E) -> Option<Option<Item>>,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let started = Instant::now();
        let out = tokio::time::timeout(self.call_timeout, fut).await;
        histogram!(telemetry::DYNAMODB_CALL_SECONDS, "op" => op)
            .record(started.elapsed().as_secs_f64());
        let outcome = |outcome: &'static str| {
            counter!(telemetry::DYNAMODB_CALLS, "op" => op, "outcome" => outcome).increment(1);
        };
        match out {
            Ok(Ok(v)) => {
                outcome("ok");
                Ok(v)
            }
            Err(_) => {
                outcome("timeout");
                Err(Failure::Other {
                    code: String::new(),
                    message: format!("timed out after {:?}", self.call_timeout),
                })
            }
            Ok(Err(e)) => {
                if let Some(old) = e.as_service_error().and_then(conflict) {
                    outcome("conflict");
                    counter!(telemetry::DYNAMODB_CONFLICTS, "op" => op).increment(1);
                    return Err(Failure::Conflict(old));
                }
                outcome("error");
                let (code, message) = sdk_message(&e);
                if code == "ValidationException" && message.contains("data type") {
                    return Err(Failure::WrongType(message));
                }
                Err(Failure::Other { code, message })
            }
        }
    }

    /// A conditional `UpdateItem` of `key`; the item after the update (ALL_NEW) when
    /// `return_new`, else empty. A failed condition gives the item before (ALL_OLD).
    pub(crate) async fn update(
        &self,
        op: &'static str,
        key: Item,
        update: &str,
        condition: &str,
        values: Item,
        return_new: bool,
    ) -> Result<Item, Failure> {
        let fut = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[update, condition])))
            .set_expression_attribute_values(Some(values))
            .return_values(if return_new {
                ReturnValue::AllNew
            } else {
                ReturnValue::None
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let out = self.call(op, fut, update_conflict).await?;
        Ok(out.attributes.unwrap_or_default())
    }

    /// A consistent `GetItem` of `key`.
    pub(crate) async fn get(&self, op: &'static str, key: Item) -> Result<Option<Item>, Failure> {
        let fut = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .consistent_read(true)
            .send();
        Ok(self.call(op, fut, |_| None).await?.item)
    }

    /// A conditional `DeleteItem` of `key`.
    async fn delete(
        &self,
        op: &'static str,
        key: Item,
        condition: &str,
        values: Item,
    ) -> Result<(), Failure> {
        let fut = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[condition])))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        self.call(op, fut, delete_conflict).await.map(|_| ())
    }

    /// One consistent Query page of `instance`: its items and where the next page starts.
    async fn query_page(
        &self,
        instance: &str,
        start: Option<Item>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Item>), Failure> {
        let condition = "#instance_id = :instance";
        let fut = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[condition])))
            .expression_attribute_values(":instance", s(instance))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .set_limit((limit > 0).then(|| i32::try_from(limit).unwrap_or(i32::MAX)))
            .send();
        let out = self.call("instance", fut, |_| None).await?;
        Ok((
            out.items.unwrap_or_default(),
            out.last_evaluated_key.filter(|k| !k.is_empty()),
        ))
    }
}

/// One lease this process holds (or held, until the caller hears it was lost).
#[derive(Clone, Debug)]
struct Lease {
    token: u64,
    /// Until when, as last written.
    expires_ms: i64,
    /// `Some(holder)` once a renewal found the lease gone.
    lost: Option<Option<String>>,
}

#[derive(Debug)]
struct Inner {
    table: Table,
    owner: String,
    lease_ttl: Duration,
    state_ttl: Duration,
    page_items: u32,
    leases: Mutex<HashMap<FileKey, Lease>>,
    renewal_paused: AtomicBool,
}

/// Checkpoints in DynamoDB with per-file leases; see the module docs.
#[derive(Debug)]
pub struct DynamoCheckpoints {
    inner: Arc<Inner>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for DynamoCheckpoints {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn lease_metric(outcome: &'static str) {
    counter!(telemetry::LEASE_ACQUISITIONS, "lease" => "file", "outcome" => outcome).increment(1);
}

fn lost_metric(stage: &'static str) {
    counter!(telemetry::LEASES_LOST, "lease" => "file", "stage" => stage).increment(1);
}

impl DynamoCheckpoints {
    /// A store on `config.table` for the process `owner` (unique among live processes, e.g.
    /// the pod name plus a random suffix). Spawns the renewal task (stopped on drop), so it
    /// must be called within a tokio runtime. Makes no call: a missing table shows at the
    /// first operation.
    pub async fn new(
        config: DynamoConfig,
        owner: String,
    ) -> Result<DynamoCheckpoints, CheckpointError> {
        if owner.is_empty() {
            return Err(CheckpointError::Database(
                "the lease owner name is empty; give each processor a unique name".into(),
            ));
        }
        if config.lease_ttl < MIN_LEASE_TTL {
            return Err(CheckpointError::Database(format!(
                "dynamodb.lease_ttl {:?} is below {MIN_LEASE_TTL:?}",
                config.lease_ttl
            )));
        }
        if config.call_timeout >= config.lease_ttl / 3 {
            tracing::warn!(
                call_timeout = ?config.call_timeout,
                lease_ttl = ?config.lease_ttl,
                "dynamodb.call_timeout is not below lease_ttl/3: one slow renewal may let a lease expire"
            );
        }
        let table = Table::connect(&config).await?;
        let inner = Arc::new(Inner {
            table,
            owner,
            lease_ttl: config.lease_ttl,
            state_ttl: config.state_ttl,
            page_items: config.query_page_items,
            leases: Mutex::new(HashMap::new()),
            renewal_paused: AtomicBool::new(false),
        });
        let renewer = tokio::spawn(renew_loop(Arc::downgrade(&inner), config.lease_ttl / 3));
        Ok(DynamoCheckpoints { inner, renewer })
    }

    /// The owner name leases are taken under.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Stop (`true`) or resume renewing held leases, for fault drills and tests: a paused
    /// holder loses its leases `lease_ttl` after its last commit, as a stalled process would.
    pub fn set_renewal_paused(&self, paused: bool) {
        self.inner.renewal_paused.store(paused, Ordering::Relaxed);
    }

    /// Renew every held lease now (the renewal task does this every `lease_ttl / 3`); a lease
    /// found taken over is marked lost, so the next commit of it fails at once.
    pub async fn renew_now(&self) {
        self.inner.renew_all().await;
    }
}

impl Inner {
    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<FileKey, Lease>> {
        // A panic while holding this lock leaves a map that is still consistent.
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_held_gauge(leases: &HashMap<FileKey, Lease>) {
        gauge!(telemetry::LEASES_HELD).set(leases.len() as f64);
    }

    /// Forget the lease on `key` if it is still the one with `token`.
    fn forget(&self, key: &FileKey, token: u64) {
        let mut leases = self.leases();
        if leases.get(key).is_some_and(|l| l.token == token) {
            leases.remove(key);
            Self::set_held_gauge(&leases);
        }
    }

    fn expires_at(&self, now_ms: i64) -> AttributeValue {
        n(now_ms / 1000 + i64::try_from(self.state_ttl.as_secs()).unwrap_or(i64::MAX / 2))
    }

    fn err(&self, op: &str, key: &FileKey, f: Failure) -> CheckpointError {
        f.into_error(&self.table.name, op, &show(key))
    }

    fn corrupt(&self, key: &FileKey, error: String) -> CheckpointError {
        corrupt(&self.table.name, &show(key), error)
    }

    /// Extend the lease on `key` held with `token`, leaving the checkpoint alone.
    async fn renew(&self, key: FileKey, token: u64) {
        let now = now_ms();
        let expires = now + ms(self.lease_ttl);
        let values = HashMap::from([
            (":me".to_string(), s(&self.owner)),
            (":tok".to_string(), n(token)),
            (":now".to_string(), n(now)),
            (":exp".to_string(), n(expires)),
            (":ttl".to_string(), self.expires_at(now)),
        ]);
        let result = self
            .table
            .update(
                "renew",
                key_item(&key.instance_id, &key.log_file),
                "SET #lease_expires_ms = :exp, #updated_ms = :now, #expires_at = :ttl",
                "#lease_owner = :me AND #lease_token = :tok AND #lease_expires_ms > :now",
                values,
                false,
            )
            .await;
        let mut leases = self.leases();
        let Some(lease) = leases.get_mut(&key).filter(|l| l.token == token) else {
            return; // released or re-acquired meanwhile
        };
        match result {
            Ok(_) => lease.expires_ms = lease.expires_ms.max(expires),
            Err(Failure::Conflict(old)) => {
                let holder = old
                    .as_ref()
                    .and_then(|i| decode_lease(i).ok())
                    .and_then(|l| l.owner);
                tracing::warn!(file = %show(&key), holder = ?holder, "file lease lost at renewal; its next commit will fail");
                lost_metric("renew");
                lease.lost = Some(holder);
            }
            Err(e) => {
                tracing::warn!(file = %show(&key), error = %self.err("renew", &key, e), "file lease renewal failed; retrying next round");
                if lease.expires_ms <= now_ms() {
                    lost_metric("renew");
                    lease.lost = Some(None);
                }
            }
        }
    }

    async fn renew_all(&self) {
        let held: Vec<(FileKey, u64)> = self
            .leases()
            .iter()
            .filter(|(_, l)| l.lost.is_none())
            .map(|(k, l)| (k.clone(), l.token))
            .collect();
        futures_util::stream::iter(held)
            .map(|(key, token)| self.renew(key, token))
            .buffer_unordered(RENEW_CONCURRENCY)
            .collect::<()>()
            .await;
    }
}

/// Renew every held lease every `period` until the store is dropped.
async fn renew_loop(weak: Weak<Inner>, period: Duration) {
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        if !inner.renewal_paused.load(Ordering::Relaxed) {
            inner.renew_all().await;
        }
    }
}

#[async_trait::async_trait]
impl CheckpointStore for DynamoCheckpoints {
    async fn acquire(&self, key: &FileKey) -> Result<Acquired, CheckpointError> {
        let inner = &self.inner;
        {
            let leases = inner.leases();
            if leases.len() >= MAX_HELD_LEASES && !leases.contains_key(key) {
                lease_metric("error");
                return Err(CheckpointError::TooManyLeases { held: leases.len() });
            }
        }
        let now = now_ms();
        let expires = now + ms(inner.lease_ttl);
        let values = HashMap::from([
            (":me".to_string(), s(&inner.owner)),
            (":now".to_string(), n(now)),
            (":exp".to_string(), n(expires)),
            (":zero".to_string(), n(0)),
            (":one".to_string(), n(1)),
            (":ttl".to_string(), inner.expires_at(now)),
        ]);
        let result = inner
            .table
            .update(
                "acquire",
                key_item(&key.instance_id, &key.log_file),
                "SET #lease_owner = :me, #lease_expires_ms = :exp, \
                 #lease_token = if_not_exists(#lease_token, :zero) + :one, \
                 #updated_ms = :now, #expires_at = :ttl",
                "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now OR #lease_owner = :me",
                values,
                true,
            )
            .await;
        let item = match result {
            Ok(item) => item,
            Err(Failure::Conflict(old)) => {
                let lease =
                    decode_lease(&old.unwrap_or_default()).map_err(|e| inner.corrupt(key, e))?;
                lease_metric("busy");
                return Ok(Acquired::Busy {
                    owner: lease.owner.unwrap_or_default(),
                    expires_ms: lease.expires_ms,
                });
            }
            Err(e) => {
                lease_metric("error");
                return Err(inner.err("acquire", key, e));
            }
        };
        let lease = decode_lease(&item);
        let token = lease.as_ref().map_or(0, |l| l.token);
        let decoded = lease.and_then(|_| decode_checkpoint(&item));
        {
            let mut leases = inner.leases();
            // Two acquisitions of one key in this process: the newest token wins.
            if leases.get(key).is_none_or(|l| l.token < token) {
                leases.insert(
                    key.clone(),
                    Lease {
                        token,
                        expires_ms: expires,
                        lost: None,
                    },
                );
            }
            Inner::set_held_gauge(&leases);
        }
        match decoded {
            Ok(cp) => {
                lease_metric("held");
                Ok(Acquired::Held(cp))
            }
            Err(e) => {
                lease_metric("error");
                // Nobody can ship a file whose state cannot be read: let it go at once.
                if let Err(re) = self.release(key).await {
                    tracing::debug!(error = %re, "releasing a corrupt file's lease failed");
                }
                Err(inner.corrupt(key, e))
            }
        }
    }

    async fn release(&self, key: &FileKey) -> Result<(), CheckpointError> {
        let inner = &self.inner;
        let lease = {
            let mut leases = inner.leases();
            let lease = leases.remove(key);
            Inner::set_held_gauge(&leases);
            lease
        };
        let Some(lease) = lease.filter(|l| l.lost.is_none()) else {
            return Ok(());
        };
        let values = HashMap::from([
            (":me".to_string(), s(&inner.owner)),
            (":tok".to_string(), n(lease.token)),
            (":zero".to_string(), n(0)),
        ]);
        match inner
            .table
            .update(
                "release",
                key_item(&key.instance_id, &key.log_file),
                "REMOVE #lease_owner SET #lease_expires_ms = :zero",
                "#lease_owner = :me AND #lease_token = :tok",
                values,
                false,
            )
            .await
        {
            Ok(_) => Ok(()),
            // Taken over already: nothing of ours to give back.
            Err(Failure::Conflict(_)) => Ok(()),
            Err(e) => Err(inner.err("release", key, e)),
        }
    }

    async fn load(&self, key: &FileKey) -> Result<Option<Checkpoint>, CheckpointError> {
        let inner = &self.inner;
        let item = inner
            .table
            .get("load", key_item(&key.instance_id, &key.log_file))
            .await
            .map_err(|e| inner.err("load", key, e))?;
        match item {
            None => Ok(None),
            Some(item) => decode_checkpoint(&item).map_err(|e| inner.corrupt(key, e)),
        }
    }

    async fn commit(&self, key: &FileKey, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let inner = &self.inner;
        let lease = inner.leases().get(key).cloned();
        let lost = |holder: Option<String>| {
            lost_metric("commit");
            CheckpointError::LeaseLost {
                key: show(key),
                holder,
            }
        };
        let token = match lease {
            None => return Err(lost(None)),
            Some(Lease {
                lost: Some(holder),
                token,
                ..
            }) => {
                inner.forget(key, token);
                return Err(lost(holder));
            }
            Some(lease) => lease.token,
        };
        let now = now_ms();
        let expires = now + ms(inner.lease_ttl);
        let mut values = HashMap::from([
            (":me".to_string(), s(&inner.owner)),
            (":tok".to_string(), n(token)),
            (":now".to_string(), n(now)),
            (":exp".to_string(), n(expires)),
            (":ttl".to_string(), inner.expires_at(now)),
            (":offset".to_string(), n(cp.offset)),
            (":done".to_string(), AttributeValue::Bool(cp.done)),
            (":size_seen".to_string(), n(cp.size_seen)),
            (":records".to_string(), n(cp.records)),
            (":generation".to_string(), n(cp.generation)),
        ]);
        let mut update = String::from(
            "SET #offset = :offset, #done = :done, #size_seen = :size_seen, \
             #records = :records, #generation = :generation, #lease_expires_ms = :exp, \
             #updated_ms = :now, #expires_at = :ttl",
        );
        match &cp.marker {
            Some(m) => {
                update.push_str(
                    ", #marker_name = :marker_name, #marker = :marker, #marker_offset = :marker_offset",
                );
                values.insert(":marker_name".into(), s(&m.name));
                values.insert(":marker".into(), s(&m.marker));
                values.insert(":marker_offset".into(), n(m.offset));
            }
            None => update.push_str(" REMOVE #marker_name, #marker, #marker_offset"),
        }
        let result = inner
            .table
            .update(
                "commit",
                key_item(&key.instance_id, &key.log_file),
                &update,
                "#lease_owner = :me AND #lease_token = :tok AND #lease_expires_ms > :now",
                values,
                false,
            )
            .await;
        match result {
            Ok(_) => {
                if let Some(l) = inner.leases().get_mut(key).filter(|l| l.token == token) {
                    l.expires_ms = l.expires_ms.max(expires);
                }
                Ok(())
            }
            Err(Failure::Conflict(old)) => {
                inner.forget(key, token);
                let holder = old
                    .as_ref()
                    .and_then(|i| decode_lease(i).ok())
                    .and_then(|l| l.owner);
                tracing::warn!(file = %show(key), holder = ?holder, "checkpoint refused: the file lease is gone");
                Err(lost(holder))
            }
            Err(e) => Err(inner.err("commit", key, e)),
        }
    }

    async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(FileKey, Checkpoint)>, CheckpointError> {
        let inner = &self.inner;
        let what = format!("{instance_id}/*");
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_QUERY_PAGES {
            let (items, next) = inner
                .table
                .query_page(instance_id, start.take(), inner.page_items)
                .await
                .map_err(|e| e.into_error(&inner.table.name, "instance", &what))?;
            for item in items {
                let log_file = get_s(&item, attr::LOG_FILE)
                    .and_then(|f| f.ok_or_else(|| "no log_file attribute".to_string()))
                    .map_err(|e| corrupt(&inner.table.name, &what, e))?
                    .to_string();
                let key = FileKey {
                    instance_id: instance_id.to_string(),
                    log_file,
                };
                let cp = decode_checkpoint(&item).map_err(|e| inner.corrupt(&key, e))?;
                if let Some(cp) = cp {
                    if out.len() >= MAX_INSTANCE_FILES {
                        return Err(CheckpointError::Database(format!(
                            "instance {instance_id} has more than {MAX_INSTANCE_FILES} file states in table {}; \
                             is something else writing the table?",
                            inner.table.name
                        )));
                    }
                    out.push((key, cp));
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
        Err(CheckpointError::Database(format!(
            "listing instance {instance_id} in table {} took more than {MAX_QUERY_PAGES} pages",
            inner.table.name
        )))
    }

    async fn remove(&self, key: &FileKey) -> Result<(), CheckpointError> {
        let inner = &self.inner;
        let values = HashMap::from([
            (":me".to_string(), s(&inner.owner)),
            (":now".to_string(), n(now_ms())),
        ]);
        let result = inner
            .table
            .delete(
                "remove",
                key_item(&key.instance_id, &key.log_file),
                "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now OR #lease_owner = :me",
                values,
            )
            .await;
        match result {
            Ok(()) => {
                let mut leases = inner.leases();
                leases.remove(key);
                Inner::set_held_gauge(&leases);
                Ok(())
            }
            Err(Failure::Conflict(_)) => {
                // Someone still works on it; it will fail to find the file, and the next
                // pass removes the state.
                tracing::debug!(file = %show(key), "state of a gone file not removed: leased by a live holder");
                Ok(())
            }
            Err(e) => Err(inner.err("remove", key, e)),
        }
    }
}

/// Create the state table of `config` if it is absent (keys per [`contract::state`],
/// on-demand billing), wait until it is ACTIVE, and enable TTL on `expires_at`. For tests and
/// `--create-table` in dev; production tables come from terraform.
pub async fn ensure_table(config: &DynamoConfig) -> Result<(), CheckpointError> {
    let table = Table::connect(config).await?;
    let name = &table.name;
    let err = |op: &str, f: Failure| f.into_error(name, op, "the table");
    let exists = match table
        .call(
            "describe_table",
            table.client.describe_table().table_name(name).send(),
            |_| None,
        )
        .await
    {
        Ok(_) => true,
        Err(Failure::Other { code, .. }) if code == "ResourceNotFoundException" => false,
        Err(e) => return Err(err("DescribeTable", e)),
    };
    if !exists {
        let key = |a: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(a)
                .key_type(t)
                .build()
                .map_err(|e| CheckpointError::Database(e.to_string()))
        };
        let def = |a: &str| {
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| CheckpointError::Database(e.to_string()))
        };
        let create = table
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(attr::INSTANCE_ID, KeyType::Hash)?)
            .key_schema(key(attr::LOG_FILE, KeyType::Range)?)
            .attribute_definitions(def(attr::INSTANCE_ID)?)
            .attribute_definitions(def(attr::LOG_FILE)?)
            .send();
        match table.call("create_table", create, |_| None).await {
            Ok(_) => tracing::info!(table = %name, "created the dynamodb state table"),
            // Created by someone else meanwhile.
            Err(Failure::Other { code, .. }) if code == "ResourceInUseException" => {}
            Err(e) => return Err(err("CreateTable", e)),
        }
    }
    let deadline = Instant::now() + TABLE_ACTIVE_WAIT;
    loop {
        let out = table
            .call(
                "describe_table",
                table.client.describe_table().table_name(name).send(),
                |_| None,
            )
            .await
            .map_err(|e| err("DescribeTable", e))?;
        let status = out.table.and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(CheckpointError::Database(format!(
                "table {name} is not ACTIVE after {TABLE_ACTIVE_WAIT:?} (status {status:?})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attr::EXPIRES_AT)
        .build()
        .map_err(|e| CheckpointError::Database(e.to_string()))?;
    let fut = table
        .client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send();
    if let Err(e) = table.call("update_time_to_live", fut, |_| None).await {
        // Already enabled, or DynamoDB Local without TTL support: state then never expires.
        tracing::debug!(table = %name, error = ?e, "enabling TTL on the state table failed");
    }
    Ok(())
}

/// Delete the state table of `config` (test cleanup); an absent table is fine.
pub async fn delete_table(config: &DynamoConfig) -> Result<(), CheckpointError> {
    let table = Table::connect(config).await?;
    let fut = table.client.delete_table().table_name(&table.name).send();
    match table.call("delete_table", fut, |_| None).await {
        Ok(_) => Ok(()),
        Err(Failure::Other { code, .. }) if code == "ResourceNotFoundException" => Ok(()),
        Err(e) => Err(e.into_error(&table.name, "DeleteTable", "the table")),
    }
}

/// Describe the DynamoDB and lease metrics to the recorder (call once after installing it,
/// next to [`telemetry::describe`]).
pub fn describe_metrics() {
    describe_counter!(
        telemetry::DYNAMODB_CALLS,
        "dynamodb calls by operation and outcome"
    );
    describe_histogram!(
        telemetry::DYNAMODB_CALL_SECONDS,
        metrics::Unit::Seconds,
        "dynamodb call latency by operation"
    );
    describe_counter!(
        telemetry::DYNAMODB_CONFLICTS,
        "conditional writes refused by dynamodb (another holder or an expired lease)"
    );
    describe_counter!(
        telemetry::LEASE_ACQUISITIONS,
        "lease acquisitions by lease and outcome"
    );
    describe_counter!(
        telemetry::LEASES_LOST,
        "leases found lost (expired or taken over) by lease and stage"
    );
    describe_gauge!(telemetry::LEASES_HELD, "file leases held by this process");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn names_come_from_the_expressions_and_the_contract() {
        let names = names_in(&[
            "SET #lease_owner = :me, #lease_token = if_not_exists(#lease_token, :zero) + :one",
            "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now",
        ]);
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names["#lease_owner"], attr::LEASE_OWNER);
        assert_eq!(names["#lease_expires_ms"], attr::LEASE_EXPIRES_MS);
        assert!(names_in(&["#instance_id = :instance"]).contains_key("#instance_id"));
    }

    #[test]
    fn a_full_item_decodes_to_its_checkpoint() {
        let full = item(&[
            (attr::OFFSET, n(42)),
            (attr::MARKER_NAME, s("f")),
            (attr::MARKER, s("9:40")),
            (attr::MARKER_OFFSET, n(40)),
            (attr::DONE, AttributeValue::Bool(true)),
            (attr::SIZE_SEEN, n(50)),
            (attr::RECORDS, n(7)),
            (attr::GENERATION, n(2)),
            (attr::LEASE_OWNER, s("p1")),
            (attr::LEASE_EXPIRES_MS, n(123)),
            (attr::LEASE_TOKEN, n(5)),
        ]);
        let cp = decode_checkpoint(&full).unwrap().unwrap();
        assert_eq!(
            cp,
            Checkpoint {
                offset: 42,
                marker: Some(MarkerAt {
                    name: "f".into(),
                    marker: "9:40".into(),
                    offset: 40
                }),
                done: true,
                size_seen: 50,
                records: 7,
                generation: 2,
            }
        );
        let lease = decode_lease(&full).unwrap();
        assert_eq!(lease.owner.as_deref(), Some("p1"));
        assert_eq!((lease.expires_ms, lease.token), (123, 5));
    }

    #[test]
    fn an_item_without_offset_has_no_checkpoint_and_missing_fields_default() {
        let lease_only = item(&[(attr::LEASE_OWNER, s("p1")), (attr::LEASE_TOKEN, n(1))]);
        assert_eq!(decode_checkpoint(&lease_only).unwrap(), None);
        let bare = item(&[(attr::OFFSET, n(3))]);
        let cp = decode_checkpoint(&bare).unwrap().unwrap();
        assert_eq!(
            cp,
            Checkpoint {
                offset: 3,
                ..Default::default()
            }
        );
        assert_eq!(decode_lease(&Item::new()).unwrap(), LeaseAttrs::default());
    }

    #[test]
    fn wrong_types_and_bad_numbers_are_errors_not_panics() {
        let cases = [
            item(&[(attr::OFFSET, s("12"))]),
            item(&[(attr::OFFSET, n("-1"))]),
            item(&[(attr::OFFSET, n("1.5"))]),
            item(&[(attr::OFFSET, n("99999999999999999999999"))]),
            item(&[(attr::OFFSET, n(1)), (attr::GENERATION, n(u64::MAX))]),
            item(&[(attr::OFFSET, n(1)), (attr::DONE, s("true"))]),
            item(&[(attr::OFFSET, n(1)), (attr::MARKER, s("1:2"))]),
            item(&[
                (attr::OFFSET, n(1)),
                (attr::RECORDS, AttributeValue::Null(true)),
            ]),
            item(&[
                (attr::OFFSET, n(1)),
                (attr::MARKER_NAME, AttributeValue::Ss(vec!["a".into()])),
                (attr::MARKER, s("x")),
                (attr::MARKER_OFFSET, n(0)),
            ]),
        ];
        for c in &cases {
            let e = decode_checkpoint(c).expect_err(&format!("{c:?}"));
            assert!(e.contains("attribute") || e.contains("marker"), "{e}");
        }
        assert!(decode_lease(&item(&[(attr::LEASE_TOKEN, s("1"))])).is_err());
        assert!(decode_lease(&item(&[(attr::LEASE_OWNER, n(1))])).is_err());
    }

    #[test]
    fn config_defaults_and_parses_humantime() {
        let c: DynamoConfig =
            serde_json::from_str(r#"{"lease_ttl":"90s","state_ttl":"7d"}"#).expect("parses");
        assert_eq!(c.lease_ttl, Duration::from_secs(90));
        assert_eq!(c.state_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.table, DEFAULT_TABLE);
        assert_eq!(c.call_timeout, Duration::from_secs(5));
        assert!(serde_json::from_str::<DynamoConfig>(r#"{"tabel":"x"}"#).is_err());
    }
}
