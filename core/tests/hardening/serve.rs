//! Helpers: `duoprov cloud serve` as a child process and `duoprov provision`
//! with a clean environment (no PARTICLE_*, an empty HOME).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use crate::common::duoprov_cmd;

/// A `duoprov` command with an empty HOME and no PARTICLE_* variables.
pub fn cmd(home: &Path) -> Command {
    let mut c = duoprov_cmd(home);
    c.env("HOME", home)
        .env_remove("PARTICLE_ACCESS_TOKEN")
        .env_remove("PARTICLE_API_URL")
        .stdin(Stdio::null());
    c
}

/// `duoprov [--json] provision ID --api-url URL --token TOKEN EXTRA…`.
pub fn provision(url: &str, id: &str, token: &str, json: bool, extra: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd(home.path());
    if json {
        c.arg("--json");
    }
    c.args(["provision", id, "--api-url", url, "--token", token])
        .args(extra)
        .output()
        .unwrap()
}

/// `duoprov cloud serve ARGS`, killed on drop.
pub struct Served {
    child: Child,
    pub url: String,
    stderr: Option<ChildStderr>,
}

impl Served {
    pub fn start(home: &Path, args: &[&str]) -> Served {
        Self::start_with(cmd(home), args)
    }

    pub fn start_with(mut command: Command, args: &[&str]) -> Served {
        let mut child = command
            .args(["cloud", "serve"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let stderr = child.stderr.take();
        assert!(!line.is_empty(), "cloud serve printed no URL");
        Served {
            child,
            url: line.trim().to_string(),
            stderr,
        }
    }

    /// Stop it and return what it wrote on stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }

    /// Its stderr up to and including the first line containing `pattern`
    /// (all of it if it ends first).
    pub fn stderr_until(&mut self, pattern: &str) -> String {
        let mut text = String::new();
        let Some(e) = self.stderr.take() else {
            return text;
        };
        let mut reader = BufReader::new(e);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            text.push_str(&line);
            if line.contains(pattern) {
                break;
            }
        }
        self.stderr = Some(reader.into_inner());
        text
    }

    /// Admin `GET path` as JSON.
    pub fn admin(&self, path: &str) -> serde_json::Value {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
