//! What a provisioning run reports: one device's [`ProvisionReport`] (what
//! the CLI prints with `--json` and a binding returns), the batch's jobs
//! loaded from a file ([`load_batch`]) and its JSON-lines report file
//! ([`BatchReportWriter`]: one line per device, then the summary).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::batch::{
    prepare_jobs, read_batch_file, BatchError, BatchJob, BatchSummary, DeviceResult,
};
use super::{CloudError, DeviceId, KeySource, ProvisionKey, Provisioned};
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo};
use crate::keys::{self, KeyError};

/// A confirmed provisioning with the key's source: the `--json` shape of a
/// single `provision`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionReport {
    pub ok: bool,
    pub device_id: DeviceId,
    /// Requests it took, including the successful one.
    pub attempts: u32,
    /// SHA-256 of the provisioned public key (SPKI DER), lower-case hex.
    pub fingerprint: String,
    pub product_id: u16,
    /// The order id the cloud gave the request.
    pub order: String,
    pub key_source: KeySource,
    /// The cloud's reply body.
    pub response: Value,
}

impl ProvisionReport {
    /// The report of `done`, provisioned with `key`.
    pub fn new(done: &Provisioned, key: &ProvisionKey) -> Self {
        ProvisionReport {
            ok: true,
            device_id: done.device_id.clone(),
            attempts: done.attempts,
            fingerprint: done.fingerprint.clone(),
            product_id: done.product_id,
            order: done.order.clone(),
            key_source: key.source.clone(),
            response: done.response.clone(),
        }
    }
}

/// The jobs of a batch file (REFERENCE §4; format in [`super::batch`]):
/// entries without a key file use the generic key; every key file is
/// loaded before the first request, so a bad one stops the batch before
/// anything is sent.
pub fn load_batch(path: &Path) -> Result<Vec<BatchJob>, LoadBatchError> {
    let entries = read_batch_file(path)?;
    let generic = Arc::new(ProvisionKey::generic()?);
    Ok(prepare_jobs(entries, generic, &path.display().to_string())?)
}

/// A batch that cannot be loaded: the file (or a key file it names), or
/// the embedded generic key.
#[derive(Debug, thiserror::Error)]
pub enum LoadBatchError {
    #[error(transparent)]
    File(#[from] BatchError),
    #[error(transparent)]
    Key(#[from] CloudError),
}

impl ErrorInfo for LoadBatchError {
    fn code(&self) -> ErrorCode {
        match self {
            LoadBatchError::File(e) => e.code(),
            LoadBatchError::Key(e) => e.code(),
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            LoadBatchError::File(e) => e.facts(),
            LoadBatchError::Key(e) => e.facts(),
        }
    }

    fn remedies(&self) -> Vec<crate::error::Remedy> {
        match self {
            LoadBatchError::File(e) => e.remedies(),
            LoadBatchError::Key(e) => e.remedies(),
        }
    }
}

/// `value` as a JSON object with `"type": kind` added: the lines of a
/// batch report (`"device"` lines, then one `"summary"`).
pub fn tagged(kind: &str, value: &impl Serialize) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("type".into(), Value::String(kind.into()));
    }
    v
}

/// A report file that cannot be created or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportFileError {
    /// The path exists (without permission to replace it) or is a link.
    #[error(transparent)]
    Target(#[from] KeyError),
    #[error("cannot create the report file {}: {source}", .path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the report file {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ErrorInfo for ReportFileError {
    fn code(&self) -> ErrorCode {
        match self {
            ReportFileError::Target(e) => e.code(),
            _ => ErrorCode::Io,
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            ReportFileError::Target(e) => e.facts(),
            ReportFileError::Create { path, .. } | ReportFileError::Write { path, .. } => {
                ErrorFacts {
                    path: Some(path.clone()),
                    ..ErrorFacts::default()
                }
            }
        }
    }

    fn remedies(&self) -> Vec<crate::error::Remedy> {
        match self {
            ReportFileError::Target(e) => e.remedies(),
            _ => vec![],
        }
    }
}

/// The last line of a batch's JSON lines (report file and `--json`): `"ok"`
/// is the batch's verdict, a boolean as on every other line; the count of
/// provisioned devices is `"succeeded"`.
pub fn summary_line(summary: &BatchSummary) -> Value {
    let mut v = tagged("summary", summary);
    if let Value::Object(map) = &mut v {
        if let Some(count) = map.remove("ok") {
            map.insert("succeeded".into(), count);
        }
        map.insert("ok".into(), Value::Bool(summary.all_ok()));
    }
    v
}

/// A batch's JSON-lines report file: one [`tagged`] `"device"` line per
/// result as it arrives, then the [`summary_line`]. An existing file is
/// refused unless `overwrite`; a symbolic link always (the report is never
/// written through a link to somewhere else). The lines go to a temporary
/// file beside it ([`keys::OutputWriter`]) that takes the real name in
/// [`Self::finish`], so a report is whole or absent. A write failure does
/// not stop the batch: the first one is kept and returned by
/// [`Self::finish`], and the report is not given its name.
pub struct BatchReportWriter {
    path: PathBuf,
    out: BufWriter<keys::OutputWriter>,
    error: Option<std::io::Error>,
}

impl std::fmt::Debug for BatchReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReportWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl BatchReportWriter {
    pub fn create(path: &Path, overwrite: bool) -> Result<Self, ReportFileError> {
        let file = keys::OutputWriter::create(path, false, overwrite)?;
        Ok(BatchReportWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            error: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One device's line.
    pub fn device(&mut self, result: &DeviceResult) {
        if let Err(e) = writeln!(self.out, "{}", tagged("device", result)) {
            self.error.get_or_insert(e);
        }
    }

    /// The summary line, flushed, fsynced and renamed to the report's name;
    /// the first failure of any write, if one failed.
    pub fn finish(mut self, summary: &BatchSummary) -> Result<(), ReportFileError> {
        let written =
            writeln!(self.out, "{}", summary_line(summary)).and_then(|()| self.out.flush());
        if let Err(e) = written {
            self.error.get_or_insert(e);
        }
        if let Some(source) = self.error {
            return Err(ReportFileError::Write {
                path: self.path,
                source,
            });
        }
        let file = self.out.into_inner().map_err(|e| ReportFileError::Write {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        file.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(id: &str, ok: bool) -> DeviceResult {
        DeviceResult {
            line: 1,
            device_id: DeviceId::parse(id).unwrap(),
            ok,
            attempts: 1,
            latency_ms: 1.0,
            fingerprint: "ab".repeat(32),
            error: (!ok).then(|| "refused".to_string()),
            error_kind: None,
            code: None,
            remedies: vec![],
        }
    }

    #[test]
    fn a_batch_report_is_one_line_per_device_then_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        let mut writer = BatchReportWriter::create(&path, false).unwrap();
        let results = [
            result("2fff27fffc473530fff23637", true),
            result("2fff27fffc473530fff23638", false),
        ];
        for r in &results {
            writer.device(r);
        }
        let summary = BatchSummary::from_results(&results, Duration::from_millis(5), 2);
        writer.finish(&summary).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["type"], "device");
        assert_eq!(lines[1]["ok"], false);
        assert_eq!(lines[2]["type"], "summary");
    }

    #[test]
    fn an_existing_report_needs_overwrite_and_a_link_is_always_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        std::fs::write(&path, "keep").unwrap();
        let e = BatchReportWriter::create(&path, false).unwrap_err();
        assert_eq!(e.code(), ErrorCode::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
        BatchReportWriter::create(&path, true).unwrap();

        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim").unwrap();
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(BatchReportWriter::create(&link, true).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
    }

    #[test]
    fn a_batch_file_becomes_jobs_with_the_generic_key_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.txt");
        std::fs::write(&path, "# ids\n2fff27fffc473530fff23637\n").unwrap();
        let jobs = load_batch(&path).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].key.source, KeySource::Generic);
        let missing = load_batch(&dir.path().join("none.txt")).unwrap_err();
        assert_eq!(missing.code(), ErrorCode::Io);
    }
}
