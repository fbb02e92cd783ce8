//! Rendering: human text or `--json`, and the mapping of failures to exit codes.
//!
//! The `--json` contract (README, "Commands"), kept here and not in each
//! command: stdout carries exactly one JSON document per run, an object
//! with `"ok": true` on success and `{"ok": false, "error", "code", …}` on
//! any failure, argument errors included (`INVALID_ARGUMENT`, exit 2).
//! `list` answers the array of boards (`[]` for none). Streaming commands
//! print JSON lines instead, each an object with `"ok"`: `provision --batch`
//! (one line per device, then one `"type": "summary"` line) and `cloud
//! serve` (one line once it listens). A run whose stdout cannot be written
//! (closed pipe, full disk) is a failure: exit 1 and a message on stderr.

use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

/// Global options every command sees.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub json: bool,
    pub device: Option<String>,
    /// `device` came from $DUOPROV_DEVICE, not from `--device`.
    pub device_from_env: bool,
    /// Put a board in normal mode into DFU mode before device work.
    pub enter_dfu: bool,
    /// The serial port of a board in normal mode, where sysfs cannot tell.
    pub port: Option<String>,
    /// With `--json`: the command's document, printed by [`finish`] once
    /// the outcome is known (so a failure after it replaces it).
    pub document: RefCell<Option<Value>>,
}

/// A command's negative result that has already been reported to the user
/// (e.g. `keys inspect` on a corrupt slot): exit non-zero, print nothing more.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure already reported")
    }
}

impl std::error::Error for Reported {}

impl Ctx {
    /// Print a result: `value` as JSON with `--json` (at the end of the run,
    /// with `"ok"` added), else `human()` now.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            let value = serde_json::to_value(value).expect("result serialises");
            *self.document.borrow_mut() = Some(value);
        } else {
            let text = human();
            if !text.is_empty() {
                out(text.trim_end());
            }
        }
    }

    /// A progress line on stderr (never on stdout, which belongs to results).
    pub fn info(&self, line: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", line.as_ref());
        }
    }
}

/// A negative verdict the command has already shown in its text (`verify:
/// FAILED`, a rejected boot): exit 1, nothing more on stderr; with `--json`
/// its document gets `"ok": false` and this `code` and `error`.
#[derive(Debug)]
pub struct Verdict {
    pub code: &'static str,
    pub error: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for Verdict {}

/// Turn a command's result into output and an exit code.
///
/// A command stopped by Ctrl-C (a `CANCELLED` error, or any end after a
/// SIGINT / SIGTERM) exits 130, after saying what state it left behind.
pub fn finish(ctx: &Ctx, result: anyhow::Result<()>) -> ExitCode {
    let document = ctx.document.borrow_mut().take();
    let code = match result {
        Ok(()) => {
            if ctx.json {
                match document {
                    Some(doc) => out(&pretty(with_ok(doc, true))),
                    // A command that printed its own lines (streaming) is
                    // done; any other still answers one document.
                    None if !PRINTED.load(Ordering::Relaxed) => {
                        out(&serde_json::json!({ "ok": true }).to_string())
                    }
                    None => {}
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<Reported>() || e.is::<Verdict>() => {
            if ctx.json {
                let verdict = e.downcast_ref::<Verdict>();
                match document {
                    Some(doc) => {
                        let mut doc = with_ok(doc, false);
                        if let (Some(v), Value::Object(map)) = (verdict, &mut doc) {
                            map.insert("code".into(), v.code.into());
                            map.insert("error".into(), v.error.clone().into());
                        }
                        out(&pretty(doc))
                    }
                    None if verdict.is_some() => {
                        let v = verdict.expect("checked");
                        out(&serde_json::json!({
                            "ok": false, "code": v.code, "error": v.error,
                        })
                        .to_string())
                    }
                    None if !PRINTED.load(Ordering::Relaxed) => out(&serde_json::json!({
                        "ok": false, "code": "INTERNAL",
                        "error": "the command failed without a JSON report (a bug; please report it)",
                    })
                    .to_string()),
                    None => {}
                }
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            let mut message = crate::remedy::render(&e);
            let cancelled =
                crate::remedy::code(&e) == duo_provisioning::error::ErrorCode::Cancelled;
            if cancelled {
                if let Some(rest) = message.strip_prefix("cancelled") {
                    message = format!("interrupted{rest}");
                }
            }
            if ctx.json {
                out(&error_json(&e, &message).to_string());
            }
            if cancelled {
                eprintln!("{message}");
                ExitCode::from(crate::progress::INTERRUPTED_EXIT)
            } else {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    };
    // Stopped by Ctrl-C / SIGTERM: 130, whatever the command's outcome
    // (it has said what state it left behind).
    let code = if crate::progress::interrupted() {
        ExitCode::from(crate::progress::INTERRUPTED_EXIT)
    } else {
        code
    };
    stdout_verdict(code)
}

/// Exit 1 with a message if any write to stdout failed, whatever the
/// command's own outcome: output the user did not get is a failure.
pub fn stdout_verdict(code: ExitCode) -> ExitCode {
    let failed = STDOUT_ERROR.lock().map(|e| e.clone()).unwrap_or(None);
    match failed {
        Some(error) => {
            eprintln!("error: cannot write the output to stdout: {error}");
            ExitCode::FAILURE
        }
        None => code,
    }
}

/// Has every write to stdout so far succeeded? Long-running commands ask
/// after printing what their callers wait for.
pub fn stdout_ok() -> anyhow::Result<()> {
    match STDOUT_ERROR.lock().map(|e| e.clone()).unwrap_or(None) {
        Some(error) => Err(anyhow::anyhow!(
            "cannot write the output to stdout: {error}"
        )),
        None => Ok(()),
    }
}

/// `doc` with `"ok": ok` first, unless the command set `ok` itself (a
/// failure it reports in its document keeps `false`). Arrays (`list`) are
/// the document as they are.
fn with_ok(doc: Value, ok: bool) -> Value {
    match doc {
        Value::Object(map) => {
            let mut with = serde_json::Map::new();
            let own = map.get("ok").and_then(Value::as_bool);
            with.insert("ok".into(), Value::Bool(own.map_or(ok, |own| own && ok)));
            with.extend(map.into_iter().filter(|(k, _)| k != "ok"));
            Value::Object(with)
        }
        other => other,
    }
}

fn pretty(value: Value) -> String {
    serde_json::to_string_pretty(&value).expect("a JSON value serialises")
}

/// An argument error (or `--help` / `--version`, which clap reports the
/// same way): with `--json` anywhere before `--`, the error is the one JSON
/// document on stdout; the text goes to stderr as usual. Help and version
/// text go to stdout through [`out`], so a failed write is a failure.
pub fn argument_error(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let text = e.render().to_string();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        out(text.trim_end());
        return stdout_verdict(ExitCode::SUCCESS);
    }
    if json {
        let message: Vec<&str> = text
            .trim_start_matches("error: ")
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        out(&serde_json::json!({
            "ok": false,
            "code": "INVALID_ARGUMENT",
            "error": message.join(" "),
        })
        .to_string());
    }
    eprint!("{text}");
    stdout_verdict(ExitCode::from(2))
}

/// `{"ok": false, "error": MESSAGE, "code": CODE, ...facts, "remedy": {...}}`:
/// the CLI's message, the library's stable code, facts and remedy.
pub fn error_json(e: &anyhow::Error, message: &str) -> serde_json::Value {
    let mut value = serde_json::json!({
        "ok": false,
        "error": message,
        "code": crate::remedy::code(e),
    });
    if let Some(info) = crate::remedy::library_error(e) {
        let map = value.as_object_mut().expect("an object");
        if let serde_json::Value::Object(facts) =
            serde_json::to_value(info.facts()).expect("facts serialise")
        {
            map.extend(facts);
        }
        if let Some(remedy) = info.remedy() {
            map.insert(
                "remedy".into(),
                serde_json::to_value(remedy).expect("a remedy serialises"),
            );
        }
    }
    value
}

/// The error and its causes on one line, each cause once: a cause whose
/// text the message already holds (many errors quote their source) is
/// not repeated ("Not a directory (os error 20): Not a directory (os error
/// 20)").
pub fn error_text(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// The first failed write to stdout (closed pipe, full disk), reported by
/// [`finish`]; later lines are not attempted.
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);
/// Something was printed on stdout (a streaming command's lines).
static PRINTED: AtomicBool = AtomicBool::new(false);

/// One line on stdout. A failed write never panics (`duoprov … | head`):
/// it is kept, and the run ends with exit 1 and a message.
pub fn out(line: &str) {
    PRINTED.store(true, Ordering::Relaxed);
    let Ok(mut failed) = STDOUT_ERROR.lock() else {
        return;
    };
    if failed.is_some() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        *failed = Some(e.to_string());
    }
}

/// A line on stdout a reader may not wait for (`cloud serve`'s lines after
/// its URL): a failed write is not kept as a failure.
pub fn out_extra(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// `--platform duo|photon|p1` (or a platform id such as 88).
pub fn parse_platform(s: &str) -> Result<&'static duo_provisioning::platform::Platform, String> {
    duo_provisioning::platform::by_name(s)
        .ok_or_else(|| format!("unknown platform {s:?}; use duo, photon or p1"))
}
