//! `openobserve-standin`: the OpenObserve ingestion stand-in as a process, for tests that run the
//! shipper as a separate process and for the demo. Prints `listening on http://HOST:PORT` on the
//! first line of stdout, then serves until killed (or Ctrl-C).
//!
//! Besides OpenObserve's own API (`/api/{org}/_bulk`, `…/_json`, `…/_multi`, `…/_search`,
//! `/healthz`), it serves the stand-in's control API: `POST /_standin/faults`,
//! `POST /_standin/clock`, `POST /_standin/reset`, `GET /_standin/stats`,
//! `GET /_standin/streams`, `GET /_standin/records?stream=NAME` (NDJSON).

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use clap::Parser;
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn, DEFAULT_PAYLOAD_LIMIT_BYTES};

/// OpenObserve ingestion stand-in (see the simulator crate's `openobserve` module).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 5080)]
    port: u16,
    /// Org for the control API's default and, with --only-org, the only one accepted.
    #[arg(long, default_value = "default")]
    org: String,
    /// Answer 404 for every org but --org (default: accept any, as the root user creates them).
    #[arg(long)]
    only_org: bool,
    /// Basic-auth user (ZO_ROOT_USER_EMAIL).
    #[arg(long, default_value = "root@example.com")]
    user: String,
    /// Basic-auth password (ZO_ROOT_USER_PASSWORD).
    #[arg(long, default_value = "Complexpass#123")]
    password: String,
    /// Ingestion passcode: accepted in place of the password on the ingestion endpoints only,
    /// and served by `GET /api/{org}/passcode`.
    #[arg(long)]
    passcode: Option<String>,
    /// Accept zstd bodies, as actix-era releases (<= v0.50) and main after 2026-08-11 do
    /// (without it zstd is answered 415 before auth, as by every release v0.60–v0.92, the Helm
    /// default; the library's default too).
    #[arg(long)]
    accept_zstd: bool,
    /// ZO_INGEST_ALLOWED_UPTO: hours into the past a record may be.
    #[arg(long, default_value_t = 24)]
    allowed_upto_hours: i64,
    /// ZO_INGEST_ALLOWED_IN_FUTURE: hours into the future a record may be.
    #[arg(long, default_value_t = 24)]
    allowed_in_future_hours: i64,
    /// ZO_PAYLOAD_LIMIT in bytes, on the decompressed body.
    #[arg(long, default_value_t = DEFAULT_PAYLOAD_LIMIT_BYTES)]
    payload_limit: usize,
    /// ZO_COLS_PER_RECORD_LIMIT (1000 is the binary's default; Helm and Cloud set 200).
    #[arg(long, default_value_t = 1000)]
    cols_limit: usize,
    /// Fixed "now" in µs since the epoch (default: real time; also settable via /_standin/clock).
    #[arg(long)]
    now_us: Option<i64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = OpenObserveConfig {
        host: args.host,
        port: args.port,
        org: args.org,
        accept_any_org: !args.only_org,
        user: args.user,
        password: args.password,
        ingestion_passcode: args.passcode,
        accept_zstd: args.accept_zstd,
        allowed_upto_hours: args.allowed_upto_hours,
        allowed_in_future_hours: args.allowed_in_future_hours,
        payload_limit_bytes: args.payload_limit,
        cols_per_record_limit: args.cols_limit,
        control_api: true,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openobserve-standin: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let standin = match OpenObserveStandIn::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "openobserve-standin: cannot listen on {}:{}: {e}",
                    args.host, args.port
                );
                return ExitCode::FAILURE;
            }
        };
        standin.set_now_us(args.now_us);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", standin.url());
        let _ = out.flush();
        drop(out);
        let _ = tokio::signal::ctrl_c().await;
        standin.shutdown().await;
        ExitCode::SUCCESS
    })
}
