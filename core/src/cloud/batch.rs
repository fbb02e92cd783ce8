//! Provisioning many devices: a factory line's list of ids, sent with bounded
//! concurrency over one connection pool, one result per device and a summary.
//!
//! Batch file: one device id a line, or CSV `device_id,keyfile` (key files
//! relative to the batch file's directory; an empty key file column means the
//! generic key; fields may be double-quoted, as spreadsheets write them).
//! Blank lines, lines starting with `#`, and a `device_id,…` header line are
//! skipped. A device listed twice is an error, so every
//! device is provisioned exactly once.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::{CloudClient, DeviceId, ProvisionKey};
use crate::error::ErrorCode;
use crate::progress::{Monitor, Phase, Unit};

/// A batch file that cannot be used. Names the file, the line and the fix.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("cannot read batch file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("batch file {path}, line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error(
        "batch file {path} lists no devices; put one device id a line, or `device_id,keyfile`"
    )]
    Empty { path: String },
}

impl crate::error::ErrorInfo for BatchError {
    fn code(&self) -> crate::error::ErrorCode {
        match self {
            BatchError::Unreadable { .. } => crate::error::ErrorCode::Io,
            BatchError::Line { .. } | BatchError::Empty { .. } => {
                crate::error::ErrorCode::InvalidArgument
            }
        }
    }

    fn facts(&self) -> crate::error::ErrorFacts {
        let path = match self {
            BatchError::Unreadable { path, .. }
            | BatchError::Line { path, .. }
            | BatchError::Empty { path } => path,
        };
        crate::error::ErrorFacts {
            path: Some(path.into()),
            ..crate::error::ErrorFacts::default()
        }
    }
}

/// One device of a batch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    /// 1-based line number in the file.
    pub line: usize,
    pub device_id: DeviceId,
    /// `None`: the batch's default key.
    pub key_file: Option<PathBuf>,
}

/// Read and parse a batch file.
pub fn read_batch_file(path: &Path) -> Result<Vec<BatchEntry>, BatchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BatchError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    parse_batch(&text, &path.display().to_string(), base)
}

/// Parse batch text; `origin` names it in errors, `base_dir` anchors
/// relative key file paths.
pub fn parse_batch(
    text: &str,
    origin: &str,
    base_dir: &Path,
) -> Result<Vec<BatchEntry>, BatchError> {
    let mut entries = Vec::new();
    let mut seen: HashMap<DeviceId, usize> = HashMap::new();
    let mut first_content = true;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |reason: String| BatchError::Line {
            path: origin.to_string(),
            line,
            reason,
        };
        let content = raw.trim().trim_start_matches('\u{feff}');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields = split_csv(content).map_err(|reason| err(reason.into()))?;
        let header = first_content
            && ["device_id", "deviceid", "id"].contains(&fields[0].to_ascii_lowercase().as_str());
        first_content = false;
        if header {
            continue;
        }
        if fields.len() > 2 {
            return Err(err(format!(
                "{} fields; expected `device_id` or `device_id,keyfile`",
                fields.len()
            )));
        }
        let device_id = DeviceId::parse(&fields[0]).map_err(|e| err(e.to_string()))?;
        if let Some(first) = seen.insert(device_id.clone(), line) {
            return Err(err(format!(
                "device {device_id} is already listed on line {first}; list each device once"
            )));
        }
        let key_file = fields
            .get(1)
            .filter(|f| !f.is_empty())
            .map(|f| base_dir.join(f));
        entries.push(BatchEntry {
            line,
            device_id,
            key_file,
        });
    }
    if entries.is_empty() {
        return Err(BatchError::Empty {
            path: origin.to_string(),
        });
    }
    Ok(entries)
}

/// Split one CSV line into trimmed fields. Spreadsheets quote fields
/// (`"2fff…","keys/a, b.der"`): a field in double quotes may hold commas,
/// and `""` inside it is one quote.
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field has no closing double quote"),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("text after a closing double quote; put a comma between fields");
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                field.push(c);
                chars.next();
            }
            field = field.trim().to_string();
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// A device ready to provision.
#[derive(Debug, Clone)]
pub struct BatchJob {
    pub line: usize,
    pub device_id: DeviceId,
    pub key: Arc<ProvisionKey>,
}

/// Load every entry's key before the first request (each file once), so a
/// bad key file stops the batch before anything is sent.
pub fn prepare_jobs(
    entries: Vec<BatchEntry>,
    default_key: Arc<ProvisionKey>,
    origin: &str,
) -> Result<Vec<BatchJob>, BatchError> {
    let mut loaded: HashMap<PathBuf, Arc<ProvisionKey>> = HashMap::new();
    entries
        .into_iter()
        .map(|entry| {
            let key = match &entry.key_file {
                None => default_key.clone(),
                Some(path) => match loaded.get(path) {
                    Some(key) => key.clone(),
                    None => {
                        let key = Arc::new(ProvisionKey::from_file(path).map_err(|e| {
                            BatchError::Line {
                                path: origin.to_string(),
                                line: entry.line,
                                reason: e.to_string(),
                            }
                        })?);
                        loaded.insert(path.clone(), key.clone());
                        key
                    }
                },
            };
            Ok(BatchJob {
                line: entry.line,
                device_id: entry.device_id,
                key,
            })
        })
        .collect()
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    pub product_id: u16,
}

/// Open files one request in flight may hold: its socket and a pooled one.
const FILES_PER_REQUEST: u64 = 2;
/// Open files kept for everything else (stdio, the runtime, a report file).
const FILES_RESERVED: u64 = 32;

impl BatchOptions {
    /// Refuse, before any request, a concurrency that the process's
    /// open-file limit cannot carry for `jobs` jobs: otherwise the devices
    /// past the limit fail one by one with "too many open files".
    pub fn check_open_file_limit(&self, jobs: usize) -> Result<(), super::CloudError> {
        let workers = self.concurrency.max(1).min(jobs.max(1)) as u64;
        let Some(limit) = open_file_limit() else {
            return Ok(());
        };
        let max = limit.saturating_sub(FILES_RESERVED) / FILES_PER_REQUEST;
        if workers > max {
            return Err(super::CloudError::TooManyInFlight {
                requested: workers,
                max: max.max(1),
                limit,
            });
        }
        Ok(())
    }
}

/// The soft limit on open files (Linux: `/proc/self/limits`), if known.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The result for one device, in the order results arrive.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceResult {
    pub line: usize,
    pub device_id: DeviceId,
    pub ok: bool,
    pub attempts: u32,
    /// From the first request to the final answer, retries included.
    pub latency_ms: f64,
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    /// The stable code of the failure (see `docs/ERRORS.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<crate::error::ErrorCode>,
    /// The next steps `error` words, for a front end to word its own way.
    #[serde(skip)]
    pub remedies: Vec<crate::error::Remedy>,
}

/// Totals of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub total: usize,
    pub ok: usize,
    /// Devices that failed (cancelled ones not counted).
    pub failed: usize,
    /// Devices not provisioned because the batch was cancelled: never sent,
    /// or dropped before the cloud answered (code `CANCELLED`).
    pub cancelled: usize,
    /// Requests made, retries included.
    pub attempts: u64,
    pub concurrency: usize,
    pub elapsed_secs: f64,
    /// Devices finished (either way) per second of wall time.
    pub rate_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} device{}: {} ok, {} failed{}, {} attempt{} in {:.2} s ({:.1} devices/s, concurrency {}, latency p50 {:.1} ms, p99 {:.1} ms)",
            self.total,
            if self.total == 1 { "" } else { "s" },
            self.ok,
            self.failed,
            if self.cancelled > 0 {
                format!(", {} cancelled", self.cancelled)
            } else {
                String::new()
            },
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed_secs,
            self.rate_per_sec,
            self.concurrency,
            self.p50_ms,
            self.p99_ms
        )
    }
}

impl BatchSummary {
    /// Summarise `results` that took `elapsed` in all.
    pub fn from_results(results: &[DeviceResult], elapsed: Duration, concurrency: usize) -> Self {
        let mut latencies: Vec<f64> = results.iter().map(|r| r.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let ok = results.iter().filter(|r| r.ok).count();
        let cancelled = results
            .iter()
            .filter(|r| r.code == Some(ErrorCode::Cancelled))
            .count();
        let secs = elapsed.as_secs_f64();
        BatchSummary {
            total: results.len(),
            ok,
            failed: results.len() - ok - cancelled,
            cancelled,
            attempts: results.iter().map(|r| u64::from(r.attempts)).sum(),
            concurrency,
            elapsed_secs: secs,
            rate_per_sec: if secs > 0.0 {
                results.len() as f64 / secs
            } else {
                0.0
            },
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
        }
    }

    /// True when every device succeeded.
    pub fn all_ok(&self) -> bool {
        self.ok == self.total && self.total > 0
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Provision every job with at most `options.concurrency` requests in flight;
/// `on_result` sees each device's result as it arrives. Must run inside a
/// tokio runtime (workers are spawned on it).
pub async fn run_batch(
    client: &CloudClient,
    jobs: Vec<BatchJob>,
    options: &BatchOptions,
    on_result: impl FnMut(&DeviceResult),
) -> (Vec<DeviceResult>, BatchSummary) {
    run_batch_with(client, jobs, options, on_result, &Monitor::default()).await
}

/// The result of a device the batch did not finish because it was
/// cancelled: `in_flight` when its request was dropped before the answer.
fn cancelled_result(
    line: usize,
    device_id: DeviceId,
    fingerprint: String,
    in_flight: bool,
) -> DeviceResult {
    DeviceResult {
        line,
        device_id,
        ok: false,
        attempts: 0,
        latency_ms: 0.0,
        fingerprint,
        error: Some(if in_flight {
            "cancelled before the cloud answered: it may or may not be provisioned".into()
        } else {
            "cancelled before its request was sent: not provisioned".into()
        }),
        error_kind: Some("cancelled"),
        code: Some(ErrorCode::Cancelled),
        remedies: vec![crate::error::Remedy::RepeatOperation],
    }
}

/// [`run_batch`], reporting [`Phase::Provision`] in devices to `monitor`
/// after each device's result, and cancellable: once the token is
/// cancelled no new job starts, requests in flight are dropped, and every
/// device not finished is reported with code `CANCELLED` (counted in
/// [`BatchSummary::cancelled`]), so the results still cover every job.
pub async fn run_batch_with(
    client: &CloudClient,
    jobs: Vec<BatchJob>,
    options: &BatchOptions,
    mut on_result: impl FnMut(&DeviceResult),
    monitor: &Monitor,
) -> (Vec<DeviceResult>, BatchSummary) {
    let clock = client.clock().clone();
    let started = clock.now();
    let total = jobs.len();
    let workers = options.concurrency.max(1).min(total.max(1));
    // What each job would report if its worker died before answering.
    let pending: Vec<(usize, DeviceId, String)> = jobs
        .iter()
        .map(|j| (j.line, j.device_id.clone(), j.key.fingerprint.clone()))
        .collect();
    let queue = Arc::new(Mutex::new(VecDeque::from(
        jobs.into_iter().enumerate().collect::<Vec<_>>(),
    )));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let queue = queue.clone();
        let tx = tx.clone();
        let client = client.clone();
        let product_id = options.product_id;
        let cancel = monitor.cancel_token().clone();
        tasks.spawn(async move {
            loop {
                if cancel.is_cancelled() {
                    break;
                }
                let job = queue.lock().expect("batch queue").pop_front();
                let Some((index, job)) = job else { break };
                let clock = client.clock().clone();
                let start = clock.now();
                let attempted = tokio::select! {
                    biased;
                    () = cancel.cancelled() => None,
                    attempted = client.provision_counted(&job.device_id, &job.key, product_id) => {
                        Some(attempted)
                    }
                };
                let Some(attempted) = attempted else {
                    let fingerprint = job.key.fingerprint.clone();
                    let result = cancelled_result(job.line, job.device_id, fingerprint, true);
                    if tx.send((index, result)).is_err() {
                        break;
                    }
                    continue;
                };
                let latency = clock.now().saturating_duration_since(start);
                let (error, error_kind, code, remedies) = match &attempted.result {
                    Ok(_) => (None, None, None, Vec::new()),
                    Err(e) => {
                        use crate::error::ErrorInfo;
                        (
                            Some(e.to_string()),
                            Some(e.kind()),
                            Some(e.code()),
                            e.remedies(),
                        )
                    }
                };
                let result = DeviceResult {
                    line: job.line,
                    device_id: job.device_id,
                    ok: attempted.result.is_ok(),
                    attempts: attempted.attempts,
                    latency_ms: latency.as_secs_f64() * 1000.0,
                    fingerprint: job.key.fingerprint.clone(),
                    error,
                    error_kind,
                    code,
                    remedies,
                };
                if tx.send((index, result)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut results = Vec::with_capacity(total);
    let mut answered = vec![false; total];
    monitor.report(Phase::Provision, 0, total as u64, Unit::Devices);
    while let Some((index, result)) = rx.recv().await {
        answered[index] = true;
        on_result(&result);
        results.push(result);
        monitor.report(
            Phase::Provision,
            results.len() as u64,
            total as u64,
            Unit::Devices,
        );
    }
    while tasks.join_next().await.is_some() {}
    // A worker that panicked took its device with it: report that device as
    // failed, so the summary never counts fewer devices than were given.
    for ((line, device_id, fingerprint), _) in pending
        .into_iter()
        .zip(answered)
        .filter(|(_, answered)| !answered)
    {
        if monitor.cancel_token().is_cancelled() {
            let result = cancelled_result(line, device_id, fingerprint, false);
            on_result(&result);
            results.push(result);
            let done = results.len() as u64;
            monitor.report(Phase::Provision, done, total as u64, Unit::Devices);
            continue;
        }
        let result = DeviceResult {
            line,
            device_id,
            ok: false,
            attempts: 0,
            latency_ms: 0.0,
            fingerprint,
            error: Some(
                "internal error: the batch worker for this device stopped before an answer; \
                 it may or may not be provisioned, run it again"
                    .into(),
            ),
            error_kind: Some("internal"),
            code: Some(crate::error::ErrorCode::Internal),
            remedies: Vec::new(),
        };
        on_result(&result);
        results.push(result);
    }
    let elapsed = clock.now().saturating_duration_since(started);
    let summary = BatchSummary::from_results(&results, elapsed, workers);
    (results, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "2fff27fffc473530fff23637";
    const B: &str = "0123456789abcdef01234567";

    #[test]
    fn one_id_a_line_with_comments_and_blank_lines() {
        let text = format!("# factory line 3\n\n{A}\n  {}  \n", B.to_uppercase());
        let entries = parse_batch(&text, "ids.txt", Path::new("/d")).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].line, 3);
        assert_eq!(entries[1].line, 4);
        assert_eq!(entries[1].device_id.as_str(), B);
        assert!(entries.iter().all(|e| e.key_file.is_none()));
    }

    #[test]
    fn csv_with_header_and_key_files_relative_to_the_batch_file() {
        let text = format!("device_id,keyfile\n{A},keys/a.der\n{B},\n");
        let entries = parse_batch(&text, "b.csv", Path::new("/batch")).unwrap();
        assert_eq!(
            entries[0].key_file,
            Some(PathBuf::from("/batch/keys/a.der"))
        );
        assert_eq!(entries[1].key_file, None);
    }

    #[test]
    fn quoted_csv_from_a_spreadsheet_with_bom_and_crlf_is_read() {
        let text = format!(
            "\u{feff}\"device_id\",\"keyfile\"\r\n\"{A}\",\"keys/a, b.der\"\r\n\"{B}\",\"\"\r\n"
        );
        let entries = parse_batch(&text, "b.csv", Path::new("/batch")).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].device_id.as_str(), A);
        assert_eq!(
            entries[0].key_file,
            Some(PathBuf::from("/batch/keys/a, b.der"))
        );
        assert_eq!(entries[1].key_file, None);
        let msg = parse_batch(&format!("\"{A}\n"), "b.csv", Path::new(""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 1") && msg.contains("quote"), "{msg}");
    }

    #[test]
    fn a_bad_id_names_its_line() {
        let text = format!("{A}\n# c\nnot-an-id\n");
        let msg = parse_batch(&text, "ids.txt", Path::new(""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ids.txt, line 3"), "{msg}");
        assert!(msg.contains("not-an-id"), "{msg}");
    }

    #[test]
    fn a_device_listed_twice_is_refused() {
        let text = format!("{A}\n{B}\n{}\n", A.to_uppercase());
        let msg = parse_batch(&text, "ids.txt", Path::new(""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("already listed on line 1"), "{msg}");
    }

    #[test]
    fn too_many_fields_and_empty_files_are_refused() {
        assert!(parse_batch(&format!("{A},k,extra\n"), "x", Path::new("")).is_err());
        assert!(matches!(
            parse_batch("# nothing\n\n", "x", Path::new("")),
            Err(BatchError::Empty { .. })
        ));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
