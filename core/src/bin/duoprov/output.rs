//! Rendering: human text or `--json`, and the mapping of failures to exit codes.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

/// Global options every command sees.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub json: bool,
    pub device: Option<String>,
    /// `device` came from $DUOPROV_DEVICE, not from `--device`.
    pub device_from_env: bool,
    /// Put a board in normal mode into DFU mode before device work.
    pub enter_dfu: bool,
    /// The serial port of a board in normal mode, where sysfs cannot tell.
    pub port: Option<String>,
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
    /// Print a result: `value` as JSON with `--json`, else `human()`.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            out(&serde_json::to_string_pretty(value).expect("result serialises"));
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

/// Turn a command's result into output and an exit code.
pub fn finish(ctx: &Ctx, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Reported>() => ExitCode::FAILURE,
        Err(e) => {
            let message = crate::remedy::render(&e);
            if ctx.json {
                out(&error_json(&e, &message).to_string());
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
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

/// One line on stdout. A closed pipe (`duoprov … | head`) is not an error
/// worth a panic: the reader has what it wanted.
pub fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// `--platform duo|photon|p1` (or a platform id such as 88).
pub fn parse_platform(s: &str) -> Result<&'static duo_provisioning::platform::Platform, String> {
    duo_provisioning::platform::by_name(s)
        .ok_or_else(|| format!("unknown platform {s:?}; use duo, photon or p1"))
}
