//! The RDS Query API side: listing and the portion download loop.

use std::num::NonZeroU32;
use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::operation::download_db_log_file_portion::DownloadDbLogFilePortionOutput;
use aws_sdk_rds::types::Filter;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use super::budget::RateBudget;
use super::complete::RangeSupport;
use super::portion::{Next, Page, PortionCursor};
use super::rank::Ranks;
use super::{tags_match, Chunk, DownloadEnd, DownloadMode, RdsConfig, SourceError};
use crate::telemetry::{self, Purpose, Spend};
use contract::file::RemoteFile;
use contract::{Checkpoint, MarkerAt, PerKind};
use net::telemetry::InternalEvent;
use net::{AwsError, HttpClient};

/// One Aurora instance to ship logs from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceInfo {
    /// `DBClusterIdentifier`.
    pub cluster_id: String,
    /// `DBInstanceIdentifier`.
    pub instance_id: String,
    /// `aurora-mysql` or `aurora-postgresql`.
    pub engine: String,
    /// `EngineVersion`.
    pub engine_version: String,
}

/// The answer of [`RdsSource::list_files_since`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileListing {
    /// `(LogFileName, LastWritten ms, Size)` of each file listed.
    pub files: Vec<(String, i64, u64)>,
    /// `DescribeDBLogFiles` pages it took (calls, throttled retries not counted).
    pub pages: u32,
}

/// The RDS API client of the process; see the crate docs.
#[derive(Debug)]
pub struct RdsSource {
    pub(super) config: RdsConfig,
    client: aws_sdk_rds::Client,
    limiter: DefaultDirectRateLimiter,
    pub(super) http: HttpClient,
    pub(super) credentials: SharedCredentialsProvider,
    pub(super) base_url: String,
    budget: Option<SharedBudget>,
    /// Whether RDS answers a `Range` on the complete download, as learned from its answers.
    pub(super) range: RangeSupport,
    /// Calls of the last seconds, to tell how much of the budget is in use.
    recent: RecentCalls,
    /// Which calls go first while permits are short.
    ranks: Ranks,
}

/// Calls made in each of the last [`RecentCalls::WINDOW`] seconds (a ring of per-second
/// counts: fixed size): this process's RDS calls, or (discovery) the calls the jobs it
/// published will make.
#[derive(Debug, Default)]
pub struct RecentCalls(std::sync::Mutex<[(u64, u32); RecentCalls::SLOTS]>);

impl RecentCalls {
    const SLOTS: usize = 32;
    /// Seconds averaged over.
    const WINDOW: u64 = 30;

    fn second() -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs()
    }

    /// Count one call now.
    pub fn record(&self) {
        self.record_at(Self::second(), 1);
    }

    /// Count `n` calls now.
    pub fn record_many(&self, n: u32) {
        self.record_at(Self::second(), n);
    }

    fn record_at(&self, now: u64, n: u32) {
        let mut slots = self.0.lock().expect("recent calls lock");
        let slot = &mut slots[now as usize % Self::SLOTS];
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(n);
    }

    /// Calls a second over the last [`Self::WINDOW`] seconds.
    pub fn rate(&self) -> f64 {
        self.rate_at(Self::second())
    }

    fn rate_at(&self, now: u64) -> f64 {
        let slots = self.0.lock().expect("recent calls lock");
        let calls: u32 = slots
            .iter()
            .filter(|(s, _)| *s + Self::WINDOW > now && *s <= now)
            .map(|(_, n)| n)
            .sum();
        f64::from(calls) / Self::WINDOW as f64
    }
}

/// The shared budget of [`RdsSource::with_budget`] (a wrapper to print it in `Debug`).
struct SharedBudget(Arc<dyn RateBudget>);

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateBudget")
    }
}

/// An SDK error of `call`, classified by the one AWS classifier.
fn sdk_error<E>(call: &'static str, e: &SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    SourceError::Aws(AwsError::from_sdk("rds", call, e))
}

impl RdsSource {
    /// A source for `config`, sharing `http` for the complete download.
    pub async fn new(config: RdsConfig, http: HttpClient) -> Result<RdsSource, SourceError> {
        if config.region.is_empty() {
            // The region also signs the complete download and is written into every record:
            // the SDK's default chain cannot stand in for it.
            return Err(SourceError::Config(
                "rds.region is empty: set it to the region of the Aurora clusters".into(),
            ));
        }
        let sdk = net::aws::sdk_config(
            &config.region,
            &config.endpoint_url,
            &config.access_key_id,
            &config.secret_access_key,
        )
        .await;
        let credentials = sdk.credentials_provider().ok_or_else(|| {
            SourceError::Config(
                "no AWS credentials found (environment, Pod Identity, IRSA, profile)".into(),
            )
        })?;
        let base_url = if config.endpoint_url.is_empty() {
            format!("https://rds.{}.amazonaws.com", config.region)
        } else {
            config.endpoint_url.trim_end_matches('/').to_string()
        };
        let rate = NonZeroU32::new(config.calls_per_second.max(1)).expect("max(1)");
        let burst = NonZeroU32::new(config.burst.max(1)).expect("max(1)");
        Ok(RdsSource {
            client: aws_sdk_rds::Client::new(&sdk),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            http,
            credentials,
            base_url,
            config,
            budget: None,
            range: RangeSupport::default(),
            recent: RecentCalls::default(),
            ranks: Ranks::new(BULK_MAX_YIELD),
        })
    }

    /// Make every RDS call wait for `budget` too (after the local limiter): the budget shared
    /// by every process of a distributed deployment. Without it (standalone mode) only the local
    /// limiter applies.
    pub fn with_budget(mut self, budget: Arc<dyn RateBudget>) -> RdsSource {
        self.budget = Some(SharedBudget(budget));
        self
    }

    /// From now on, downloads of the kinds marked here wait for their permit while listings
    /// and other downloads wait for one ([`Rank`]); none by default. The scheduler marks the
    /// kinds whose jobs go in its bulk lane.
    pub fn set_bulk_kinds(&self, bulk: &PerKind<bool>) {
        self.ranks.set_bulk_kinds(bulk);
    }

    /// The rank of a call of `spend` ([`RdsSource::set_bulk_kinds`]).
    pub fn rank(&self, spend: Spend) -> crate::Rank {
        self.ranks.rank(spend)
    }

    /// The configuration.
    pub fn config(&self) -> &RdsConfig {
        &self.config
    }

    /// Wait for the process-wide rate limiter, then for the shared budget if there is one.
    pub(super) async fn permit(&self, spend: Spend) {
        let started = std::time::Instant::now();
        let rank = self.ranks.rank(spend);
        let (first, gave_up) = self.ranks.turn(rank).await;
        if gave_up {
            metrics::counter!(telemetry::RDS_BULK_YIELD_TIMEOUTS).increment(1);
        }
        self.limiter.until_ready().await;
        if let Some(budget) = &self.budget {
            budget.0.acquire().await;
        }
        drop(first);
        metrics::histogram!(telemetry::RDS_BUDGET_WAIT_SECONDS, "purpose" => spend.purpose.as_str())
            .record(started.elapsed().as_secs_f64());
        self.recent.record();
    }

    /// The share of this process's call rate (`rds.calls_per_second`) used over the last half
    /// minute: above about a half, reads that are not due wait.
    pub fn budget_in_use(&self) -> f64 {
        self.recent.rate() / f64::from(self.config.calls_per_second.max(1))
    }

    /// The waits between retries of one throttled or timed-out call: exponential with jitter,
    /// `throttle_retries` of them.
    pub(super) fn retry_delays(&self) -> impl Iterator<Item = std::time::Duration> {
        backon::BackoffBuilder::build(
            backon::ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_millis(250))
                .with_max_delay(std::time::Duration::from_secs(20))
                .with_jitter()
                .with_max_times(self.config.throttle_retries),
        )
    }

    /// Run `call` under the rate limiter, retrying throttles with backoff.
    async fn call<T, E, F, Fut>(
        &self,
        name: &'static str,
        spend: Spend,
        mut call: F,
    ) -> Result<T, SdkErrorOr<E>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut delays = self.retry_delays();
        let mut retries = 0;
        loop {
            self.permit(spend).await;
            let started = std::time::Instant::now();
            let out = tokio::time::timeout(self.config.call_timeout, call()).await;
            let elapsed = started.elapsed();
            let result = match out {
                Ok(r) => r,
                Err(_) => {
                    telemetry::RdsCallEnded {
                        call: name,
                        spend,
                        outcome: "timeout",
                        elapsed,
                    }
                    .emit();
                    match delays.next() {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            continue;
                        }
                        None => {
                            return Err(SdkErrorOr::Other(SourceError::Aws(AwsError::timeout(
                                "rds",
                                name,
                                self.config.call_timeout,
                            ))))
                        }
                    }
                }
            };
            match result {
                Ok(v) => {
                    telemetry::RdsCallEnded {
                        call: name,
                        spend,
                        outcome: "ok",
                        elapsed,
                    }
                    .emit();
                    return Ok(v);
                }
                Err(e) => {
                    // Only the code decides here; the error is classified once, by the caller.
                    if e.code().is_some_and(AwsError::is_throttle_code) {
                        telemetry::RdsCallEnded {
                            call: name,
                            spend,
                            outcome: "throttled",
                            elapsed,
                        }
                        .emit();
                        retries += 1;
                        match delays.next() {
                            Some(d) => {
                                tracing::debug!(
                                    call = name,
                                    delay_ms = d.as_millis() as u64,
                                    "rds throttled; backing off"
                                );
                                tokio::time::sleep(d).await;
                                continue;
                            }
                            None => {
                                return Err(SdkErrorOr::Other(SourceError::Throttled {
                                    call: name,
                                    retries,
                                }))
                            }
                        }
                    }
                    telemetry::RdsCallEnded {
                        call: name,
                        spend,
                        outcome: "error",
                        elapsed,
                    }
                    .emit();
                    return Err(SdkErrorOr::Sdk(e));
                }
            }
        }
    }

    /// Aurora instances of the configured engines and clusters.
    pub async fn list_instances(&self) -> Result<Vec<InstanceInfo>, SourceError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        // A bound on pages: 1000 pages of 100 is far beyond any account's instance quota.
        for _ in 0..1000 {
            let engines = Filter::builder()
                .name("engine")
                .set_values(Some(self.config.engines.clone()))
                .build();
            let m = marker.clone();
            let resp = self
                .call(
                    "DescribeDBInstances",
                    Spend::listing(Purpose::ListInstances),
                    || {
                        self.client
                            .describe_db_instances()
                            .filters(engines.clone())
                            .max_records(100)
                            .set_marker(m.clone())
                            .send()
                    },
                )
                .await
                .map_err(|e| e.into_source("DescribeDBInstances"))?;
            for i in resp.db_instances() {
                let engine = i.engine().unwrap_or_default();
                // The filter is applied here too: Neptune and DocumentDB come back otherwise.
                if !self.config.engines.iter().any(|e| e == engine) {
                    continue;
                }
                let cluster = i.db_cluster_identifier().unwrap_or_default();
                if !self.config.include_clusters.is_empty()
                    && !self.config.include_clusters.iter().any(|c| c == cluster)
                {
                    continue;
                }
                if self.config.exclude_clusters.iter().any(|c| c == cluster) {
                    continue;
                }
                let tags = i
                    .tag_list()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
                if !self.config.include_tags.is_empty()
                    && !tags_match(&self.config.include_tags, tags.clone())
                {
                    continue;
                }
                if tags_match(&self.config.exclude_tags, tags) {
                    continue;
                }
                out.push(InstanceInfo {
                    cluster_id: cluster.to_string(),
                    instance_id: i.db_instance_identifier().unwrap_or_default().to_string(),
                    engine: engine.to_string(),
                    engine_version: i.engine_version().unwrap_or_default().to_string(),
                });
            }
            marker = resp.marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(out)
    }

    /// `(LogFileName, LastWritten ms, Size)` of every log file of `instance_id`, all pages. An
    /// instance RDS does not know (yet) has no files.
    pub async fn list_files(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(String, i64, u64)>, SourceError> {
        Ok(self.list_files_since(instance_id, None).await?.files)
    }

    /// Like [`list_files`](Self::list_files), but with `since_ms` only the files written at or
    /// after it (`FileLastWritten`): the files that changed, in one short page, where a full
    /// listing pages through every file RDS keeps. Deleted files are seen only by a full
    /// listing.
    pub async fn list_files_since(
        &self,
        instance_id: &str,
        since_ms: Option<i64>,
    ) -> Result<FileListing, SourceError> {
        self.describe_files(instance_id, since_ms, None, Purpose::ListFiles)
            .await
    }

    /// `(LogFileName, LastWritten ms, Size)` of the file RDS lists as `name` right now, if it
    /// lists one: one short `DescribeDBLogFiles` page (`FilenameContains`). For decisions that
    /// need evidence newer than a checkpoint, where a job's listing may be older than it.
    pub async fn file_now(
        &self,
        instance_id: &str,
        name: &str,
    ) -> Result<Option<(String, i64, u64)>, SourceError> {
        let listing = self
            .describe_files(instance_id, None, Some(name), Purpose::Check)
            .await?;
        Ok(listing.files.into_iter().find(|(n, _, _)| n == name))
    }

    /// Every page of `DescribeDBLogFiles` for `instance_id`, filtered as given.
    async fn describe_files(
        &self,
        instance_id: &str,
        since_ms: Option<i64>,
        name_contains: Option<&str>,
        purpose: Purpose,
    ) -> Result<FileListing, SourceError> {
        let mut out = Vec::new();
        let mut pages = 0;
        let mut marker: Option<String> = None;
        for _ in 0..10_000 {
            let m = marker.clone();
            let resp = self
                .call("DescribeDBLogFiles", Spend::listing(purpose), || {
                    self.client
                        .describe_db_log_files()
                        .db_instance_identifier(instance_id)
                        .set_file_last_written(since_ms)
                        .set_filename_contains(name_contains.map(str::to_string))
                        .set_marker(m.clone())
                        .send()
                })
                .await;
            pages += 1;
            let resp = match resp {
                Ok(r) => r,
                Err(SdkErrorOr::Sdk(e))
                    if matches!(
                        e.code(),
                        Some(
                            "DBInstanceNotFound" | "DBInstanceNotFoundFault" | "DBInstanceNotReady"
                        )
                    ) =>
                {
                    return Ok(FileListing {
                        files: Vec::new(),
                        pages,
                    })
                }
                Err(e) => return Err(e.into_source("DescribeDBLogFiles")),
            };
            for f in resp.describe_db_log_files() {
                if let Some(name) = f.log_file_name() {
                    out.push((
                        name.to_string(),
                        f.last_written().unwrap_or(0),
                        f.size().unwrap_or(0).max(0) as u64,
                    ));
                }
            }
            marker = resp.marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        Ok(FileListing { files: out, pages })
    }

    /// Download `file` from `cp` into `tx`, by the configured path.
    pub async fn download(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        cp: &Checkpoint,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<DownloadEnd, SourceError> {
        match self.config.download {
            DownloadMode::Complete => {
                self.download_complete(instance_id, file, cp.offset, tx)
                    .await
            }
            DownloadMode::Portion if file.finished && self.whole_pays(file, cp) => {
                // Nothing more will be written to it: one streamed request with no 1 MB cap
                // costs one call of the budget where portions cost one a megabyte.
                self.download_complete(instance_id, file, cp.offset, tx)
                    .await
            }
            DownloadMode::Portion
                if cp.offset > 0 && cp.marker.as_ref().is_none_or(|m| m.name != file.name) =>
            {
                // No marker for this name (the file was read under its live name before it
                // was renamed): one streamed request skips to the checkpoint, where portions
                // would page through everything before it again.
                self.download_complete(instance_id, file, cp.offset, tx)
                    .await
            }
            DownloadMode::Portion => match self.download_portions(instance_id, file, cp, tx).await?
            {
                PortionEnd::Done(end) => Ok(end),
                PortionEnd::Fallback { at } => {
                    // Binary data or a marker gap: the complete download has neither problem.
                    self.download_complete(instance_id, file, at, tx).await
                }
            },
        }
    }

    /// Whether the rest of a finished file is better fetched by one complete download than by
    /// portions: from its start, where RDS is known to honour a `Range`, or where the bytes it
    /// would download again before the checkpoint are at most a tenth of those it ships (so
    /// downloaded stays within 1.1 × shipped).
    fn whole_pays(&self, file: &RemoteFile, cp: &Checkpoint) -> bool {
        let rest = file.size.saturating_sub(cp.offset);
        cp.offset == 0 || self.range.honoured() || cp.offset.saturating_mul(10) <= rest
    }

    /// The portion loop: RDS's answers judged by [`PortionCursor`], this only calls and
    /// delivers (see the crate docs).
    async fn download_portions(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        cp: &Checkpoint,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<PortionEnd, SourceError> {
        let mut cursor = PortionCursor::new(file, cp, self.config.portion_lines);
        for _ in 0..MAX_PORTION_CALLS {
            let resp = match self.portion(instance_id, file, &cursor).await? {
                Ok(resp) => resp,
                Err(next) => return self.end(instance_id, file, &cursor, next),
            };
            let page = Page {
                data: resp.log_file_data().unwrap_or_default(),
                marker: resp.marker().unwrap_or_default(),
                pending: resp.additional_data_pending().unwrap_or(false),
            };
            let step = cursor.step(&page);
            if let Some(d) = step.deliver {
                let got = page.data.len() as u64;
                let data = Bytes::copy_from_slice(page.data.as_bytes());
                deliver(tx, d.at, data, cp.offset, d.resume).await?;
                metrics::counter!(telemetry::RDS_BYTES_IN, "path" => "portion").increment(got);
            }
            if let Some(kind) = step.anomaly {
                telemetry::RdsAnomaly {
                    kind,
                    instance: instance_id,
                    file: &file.name,
                }
                .emit();
            }
            if !matches!(step.next, Next::Ask | Next::Shrink) {
                return self.end(instance_id, file, &cursor, step.next);
            }
        }
        Ok(PortionEnd::Done(DownloadEnd {
            offset: cursor.offset(),
            partial: true,
        }))
    }

    /// One `DownloadDBLogFilePortion` call at the cursor; a file RDS cannot serve by portions
    /// (binary) answers the [`Next`] step that falls back.
    async fn portion(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        cursor: &PortionCursor,
    ) -> Result<Result<DownloadDbLogFilePortionOutput, Next>, SourceError> {
        let (marker, lines) = (cursor.marker().to_string(), cursor.lines());
        let resp = self
            .call(
                "DownloadDBLogFilePortion",
                Spend::file(Purpose::of_portions(file), &file.name),
                || {
                    self.client
                        .download_db_log_file_portion()
                        .db_instance_identifier(instance_id)
                        .log_file_name(&file.name)
                        .marker(marker.clone())
                        .number_of_lines(lines)
                        .send()
                },
            )
            .await;
        match resp {
            Ok(r) => Ok(Ok(r)),
            Err(SdkErrorOr::Sdk(e)) => {
                let code = e.code().unwrap_or_default().to_string();
                let msg = e.message().unwrap_or_default().to_string();
                if code.starts_with("DBLogFileNotFound") {
                    telemetry::RdsAnomaly {
                        kind: "not_found",
                        instance: instance_id,
                        file: &file.name,
                    }
                    .emit();
                    return Err(SourceError::FileNotFound {
                        instance: instance_id.into(),
                        file: file.name.clone(),
                    });
                }
                if code.starts_with("DBInstanceNotFound") {
                    return Err(SourceError::InstanceNotFound(instance_id.into()));
                }
                if code == "InvalidParameterValue" && msg.contains("binary") {
                    telemetry::RdsAnomaly {
                        kind: "binary",
                        instance: instance_id,
                        file: &file.name,
                    }
                    .emit();
                    return Ok(Err(cursor.fallback()));
                }
                Err(sdk_error("DownloadDBLogFilePortion", &e))
            }
            Err(e) => Err(e.into_source("DownloadDBLogFilePortion")),
        }
    }

    /// How a pass ends, from the cursor's last step.
    fn end(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        cursor: &PortionCursor,
        next: Next,
    ) -> Result<PortionEnd, SourceError> {
        match next {
            Next::Fallback { at, gap } => {
                if let Some(gap) = gap {
                    tracing::warn!(instance = instance_id, file = %file.name, gap, "portion markers skipped bytes; switching this file to the complete download");
                }
                Ok(PortionEnd::Fallback { at })
            }
            Next::Relist => Err(SourceError::FileNotFound {
                instance: instance_id.into(),
                file: file.name.clone(),
            }),
            Next::Done { partial } => Ok(PortionEnd::Done(DownloadEnd {
                offset: cursor.offset(),
                partial,
            })),
            Next::Ask | Next::Shrink => Ok(PortionEnd::Done(DownloadEnd {
                offset: cursor.offset(),
                partial: true,
            })),
        }
    }
}

/// Send the part of `data` (at file offset `at`) from `skip_to` on.
pub(super) async fn deliver(
    tx: &mpsc::Sender<Chunk>,
    at: u64,
    data: Bytes,
    skip_to: u64,
    next: Option<MarkerAt>,
) -> Result<(), SourceError> {
    let end = at + data.len() as u64;
    if end <= skip_to {
        metrics::counter!(telemetry::RDS_BYTES_SKIPPED).increment(data.len() as u64);
        return Ok(());
    }
    let from = skip_to.saturating_sub(at) as usize;
    if from > 0 {
        metrics::counter!(telemetry::RDS_BYTES_SKIPPED).increment(from as u64);
    }
    let chunk = Chunk::new(at + from as u64, data.slice(from..), next);
    tx.send(chunk).await.map_err(|_| SourceError::Cancelled)
}

enum PortionEnd {
    Done(DownloadEnd),
    Fallback { at: u64 },
}

/// Calls of one file's portion pass: a 10 GB file at 1 MB a page, with room for retries.
const MAX_PORTION_CALLS: usize = 100_000;
/// The longest a bulk-kind download yields its permit to listings and urgent downloads in a
/// row: bulk calls are slowed while the budget is short, never starved.
const BULK_MAX_YIELD: std::time::Duration = std::time::Duration::from_secs(5);

/// An SDK error, or one of ours (throttled too long, timed out).
pub(super) enum SdkErrorOr<E> {
    Sdk(SdkError<E, HttpResponse>),
    Other(SourceError),
}

impl<E> SdkErrorOr<E>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn into_source(self, call: &'static str) -> SourceError {
        match self {
            SdkErrorOr::Sdk(e) => sdk_error(call, &e),
            SdkErrorOr::Other(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_calls_average_the_last_half_minute_in_a_fixed_ring() {
        let r = RecentCalls::default();
        assert_eq!(r.rate_at(5), 0.0);
        for second in 100..110 {
            for _ in 0..3 {
                r.record_at(second, 1);
            }
        }
        // 30 calls in the window: one a second on average over 30 s.
        assert_eq!(r.rate_at(110), 1.0);
        assert_eq!(r.rate_at(129), 1.0);
        // Seconds leave the window one by one.
        assert_eq!(r.rate_at(130), 0.9);
        assert_eq!(r.rate_at(139), 0.0);
        // A slot is reused 32 seconds on (second 132 takes second 100's): the old count is
        // dropped, not added. In the window (102, 132]: 103..=109 and the new call.
        r.record_at(132, 1);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(r.rate_at(132), 22.0 / 30.0), "{}", r.rate_at(132));
        // A second the clock has not reached (a slot written later than `now`) is left out.
        assert!(close(r.rate_at(131), 24.0 / 30.0), "{}", r.rate_at(131));
        // Many at once (discovery's published jobs): in (103, 133], 104..=109, 132 and these.
        r.record_at(133, 30);
        assert!(close(r.rate_at(133), 49.0 / 30.0), "{}", r.rate_at(133));
    }

    #[tokio::test]
    async fn an_empty_region_is_refused_with_what_to_set() {
        let config = RdsConfig {
            region: String::new(),
            ..Default::default()
        };
        let Err(e) = RdsSource::new(config, net::http_client()).await else {
            panic!("an empty region was taken");
        };
        assert!(e.to_string().contains("rds.region"), "{e}");
    }
}
