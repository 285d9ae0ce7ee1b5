//! `conclave bench ledger`: the transparency log's three targets.
//!
//! 1. Durable appends per second on SQLite: `--concurrency` callers each
//!    append key-directory entries one at a time through the server's
//!    [`LedgerService`] and wait until each is committed (the writer batches
//!    whatever is waiting into one transaction, `synchronous = FULL`).
//! 2. Inclusion-proof time at `--entries` entries: the log is filled with
//!    bulk appends, then proofs for random leaves are timed one by one in
//!    the service (the tree in memory) and over HTTP.
//! 3. `conclave audit` over all `--entries` entries, each run with a fresh
//!    state file so that every entry is new: a real server (rebuilt from the
//!    same SQLite file, whose start-up time is reported too) on loopback,
//!    the audit in this process.
//!
//! Each measurement runs `--runs` times; medians are reported. This is a
//! subcommand rather than a `cargo bench` target because it needs a real
//! server and the real audit code path, and so that the figures in
//! docs/BENCHMARKS.md come from the shipped binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ledger::{Entry, KeyDirectoryRecord};
use rand::{Rng, RngCore};
use serde::Serialize;
use server::ledger::LedgerService;
use server::{Database, LedgerSettings, Server, ServerConfig};

/// Entries per bulk append while filling the log.
const FILL_BATCH: usize = 2048;
/// Inclusion proofs timed in the service, and over HTTP.
const PROOF_SAMPLES: usize = 10_000;
/// See [`PROOF_SAMPLES`].
const HTTP_PROOF_SAMPLES: usize = 1_000;

/// Options of `conclave bench ledger`.
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerArgs {
    /// Entries in the log for the proof and audit figures.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub entries: u64,
    /// Durable appends timed per run.
    #[arg(long, value_name = "N", default_value_t = 20_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub appends: u32,
    /// Callers appending at once.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Repetitions of each measurement; medians are reported.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Build the log in this directory (which must not hold a log yet) and
    /// keep it, e.g. to audit it again with `conclave serve` and
    /// `conclave audit`; by default a temporary directory is used.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReport {
    /// Callers appending at once.
    pub concurrency: u32,
    /// Durable appends per second, one figure per run.
    pub durable_appends_per_sec: Vec<f64>,
    /// Median of those.
    pub durable_appends_per_sec_median: f64,
    /// Entries in the log for what follows.
    pub entries: u64,
    /// Bulk appends per second while filling (batches of 2048).
    pub fill_appends_per_sec: f64,
    /// Median time of one inclusion proof in the service, microseconds.
    pub inclusion_proof_us_median: f64,
    /// 99th percentile of the same.
    pub inclusion_proof_us_p99: f64,
    /// Median time of one inclusion proof over HTTP on loopback, microseconds.
    pub http_inclusion_proof_us_median: f64,
    /// Time for the server to start on this log (rebuild and check), seconds.
    pub server_start_secs: f64,
    /// Time of `conclave audit` over every entry, seconds, one per run.
    pub audit_secs: Vec<f64>,
    /// Median of those.
    pub audit_secs_median: f64,
}

/// Runs the bench and says how the process should exit.
pub fn main(args: LedgerArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            println!("{}", summary(&report));
            if let Some(path) = &args.out {
                let written = serde_json::to_vec_pretty(&report)
                    .map_err(anyhow::Error::from)
                    .and_then(|json| std::fs::write(path, json).map_err(Into::into));
                if let Err(e) = written {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Measures everything in a fresh temporary data directory.
pub async fn run(args: &LedgerArgs) -> anyhow::Result<LedgerReport> {
    let temp = tempfile::tempdir().context("temporary data directory")?;
    let dir = args.data_dir.as_deref().unwrap_or(temp.path());
    if dir.join(storage::SQLITE_FILE).exists() {
        bail!(
            "{} already holds a database; give an empty directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let store = storage::Store::open_sqlite_dir(dir)
        .await
        .context("open SQLite")?;
    let settings = LedgerSettings::default();
    let log = LedgerService::open(store.clone(), &settings, Some(dir))
        .await
        .context("open the ledger")?;

    let mut rates = Vec::new();
    for run in 0..args.runs {
        let rate = durable_appends(&log, args.appends, args.concurrency).await?;
        eprintln!("run {run}: {rate:.0} durable appends/s");
        rates.push(rate);
    }

    let fill_started = Instant::now();
    let before = log.checkpoint().size;
    let mut size = before;
    while size < args.entries {
        let count = usize::try_from(args.entries - size)
            .unwrap_or(FILL_BATCH)
            .min(FILL_BATCH);
        let batch = (0..count)
            .map(|_| Ok((key_entry()?, None)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        log.append_many(batch).await.context("bulk append")?;
        size = log.checkpoint().size;
    }
    let fill_rate = (size - before) as f64 / fill_started.elapsed().as_secs_f64().max(1e-9);
    eprintln!("filled to {size} entries at {fill_rate:.0} appends/s");

    let mut proof_times = Vec::with_capacity(PROOF_SAMPLES);
    let mut rng = rand::thread_rng();
    for _ in 0..PROOF_SAMPLES {
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let proof = log.inclusion_proof(index, size)?;
        proof_times.push(started.elapsed());
        std::hint::black_box(proof);
    }
    drop(log);
    store.close().await;

    let started = Instant::now();
    let server = Server::bind(ServerConfig {
        http: "127.0.0.1:0".parse()?,
        media: "127.0.0.1:0".parse()?,
        database: Database::SqliteDir(dir.to_owned()),
        ledger: settings,
        ..ServerConfig::default()
    })
    .await
    .context("start the server on the filled log")?;
    let server_start = started.elapsed();
    let base = format!("http://{}", server.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let mut http_times = Vec::with_capacity(HTTP_PROOF_SAMPLES);
    for _ in 0..HTTP_PROOF_SAMPLES {
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let response = http
            .get(format!(
                "{base}/api/v1/ledger/proofs/inclusion?index={index}&size={size}"
            ))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        http_times.push(started.elapsed());
        std::hint::black_box(response);
    }

    let mut audit_times = Vec::new();
    for run in 0..args.runs {
        let state = temp.path().join(format!("audit-{run}.json"));
        let started = Instant::now();
        let summary = crate::audit::audit(&base, &state)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = started.elapsed();
        if summary.size != size {
            bail!("the audit saw {} entries, not {size}", summary.size);
        }
        eprintln!("run {run}: audit of {size} entries in {elapsed:.2?}");
        audit_times.push(elapsed.as_secs_f64());
    }
    let _ = stop.send(());
    serving.await?.context("server run")?;

    Ok(LedgerReport {
        concurrency: args.concurrency,
        durable_appends_per_sec_median: median(&rates),
        durable_appends_per_sec: rates,
        entries: size,
        fill_appends_per_sec: fill_rate,
        inclusion_proof_us_median: micros(percentile(&mut proof_times, 0.5)),
        inclusion_proof_us_p99: micros(percentile(&mut proof_times, 0.99)),
        http_inclusion_proof_us_median: micros(percentile(&mut http_times, 0.5)),
        server_start_secs: server_start.as_secs_f64(),
        audit_secs_median: median(&audit_times),
        audit_secs: audit_times,
    })
}

/// `total` appends from `concurrency` callers, each waiting for durability
/// before its next; returns appends per second.
async fn durable_appends(log: &LedgerService, total: u32, concurrency: u32) -> anyhow::Result<f64> {
    let per_caller = total.div_ceil(concurrency);
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let log = log.clone();
        callers.spawn(async move {
            for _ in 0..per_caller {
                let entry = key_entry()?;
                let appended = log.append(entry, None).await?;
                std::hint::black_box(appended);
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done??;
    }
    let appended = f64::from(per_caller) * f64::from(concurrency);
    Ok(appended / started.elapsed().as_secs_f64().max(1e-9))
}

/// A realistic entry: a key-directory record for a random account and key.
fn key_entry() -> anyhow::Result<Entry> {
    let mut rng = rand::thread_rng();
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let account: String = (0..22)
        .map(|_| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    [rng.gen_range(0..64)],
            )
        })
        .collect();
    let record = KeyDirectoryRecord {
        account_id: account,
        version: 2,
        public_key: key,
        registered_at: 1_700_000_000,
        previous_key: Some(KeyDirectoryRecord::key_hash(&[7; 32])),
    };
    Ok(record.to_entry()?)
}

fn summary(report: &LedgerReport) -> String {
    format!(
        "durable appends/s (median of {}, {} callers): {:.0}\n\
         inclusion proof at {} entries: median {:.1} us, p99 {:.1} us (service); median {:.0} us over HTTP\n\
         server start on {} entries: {:.2} s\n\
         conclave audit over {} entries: median {:.2} s",
        report.durable_appends_per_sec.len(),
        report.concurrency,
        report.durable_appends_per_sec_median,
        report.entries,
        report.inclusion_proof_us_median,
        report.inclusion_proof_us_p99,
        report.http_inclusion_proof_us_median,
        report.entries,
        report.server_start_secs,
        report.entries,
        report.audit_secs_median,
    )
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(times: &mut [Duration], quantile: f64) -> Duration {
    times.sort_unstable();
    let position = ((times.len() as f64 - 1.0) * quantile).round() as usize;
    times.get(position).copied().unwrap_or_default()
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_entries_are_valid_records() {
        let entry = key_entry().expect("entry");
        assert!(KeyDirectoryRecord::from_entry(&entry).is_ok());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        let mut times = vec![Duration::from_micros(5), Duration::from_micros(1)];
        assert_eq!(percentile(&mut times, 0.5), Duration::from_micros(5));
    }
}
