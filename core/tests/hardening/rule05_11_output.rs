//! Rule 5: a failure to write output is a failure. Rule 11: one `--json`
//! contract (README, "Commands"): one JSON document on stdout, an object
//! with a boolean `"ok"` that agrees with the exit status (`list`: the
//! array of boards); JSON lines, each with `"ok"`, for `provision --batch`
//! and `cloud serve`; argument errors are `INVALID_ARGUMENT`, exit 2.

use std::process::{Output, Stdio};

use serde_json::Value;

use crate::common::{duoprov, duoprov_cmd, sim_create, stderr, stdout};
use crate::recorded::{Canned, Recorded, SUCCESS};

const DEVICE: &str = "2fff27fffc473530fff23637";

/// Every JSON value on stdout, in order.
fn documents(out: &Output) -> Vec<Value> {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(out)))
}

/// The contract for one run: exactly one document; an object whose `ok`
/// is the exit status, with `code` and `error` when it failed.
fn one_document(what: &str, out: &Output) -> Value {
    let docs = documents(out);
    assert_eq!(
        docs.len(),
        1,
        "{what}: {} documents: {}\nstderr: {}",
        docs.len(),
        stdout(out),
        stderr(out)
    );
    let doc = docs.into_iter().next().unwrap();
    if doc.is_array() && what.starts_with("list") {
        assert!(out.status.success(), "{what}");
        return doc;
    }
    assert_eq!(
        doc["ok"].as_bool(),
        Some(out.status.success()),
        "{what}: ok disagrees with the exit status {}: {doc}\nstderr: {}",
        out.status,
        stderr(out)
    );
    if !out.status.success() {
        assert!(
            doc["code"].as_str().is_some_and(|c| !c.is_empty()),
            "{what}: {doc}"
        );
        assert!(
            doc["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {doc}"
        );
    }
    doc
}

/// Every leaf command of the real binary, from its own help.
fn leaf_commands(dir: &std::path::Path) -> Vec<Vec<String>> {
    fn commands(help: &str) -> Vec<String> {
        help.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|c| c != "help")
            .collect()
    }
    let mut leaves = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = duoprov(dir, &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let subs = commands(&stdout(&out));
        if subs.is_empty() {
            leaves.push(path);
            continue;
        }
        for sub in subs {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
    }
    leaves
}

#[test]
fn rule11_argument_errors_are_one_json_document_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let leaves = leaf_commands(dir.path());
    assert!(leaves.len() >= 20, "{leaves:?}");
    for leaf in &leaves {
        // `--json` first, last, or as the only flag after the command.
        for at_end in [false, true] {
            let mut args: Vec<&str> = Vec::new();
            if !at_end {
                args.push("--json");
            }
            args.extend(leaf.iter().map(String::as_str));
            args.push("--no-such-option");
            if at_end {
                args.push("--json");
            }
            let out = duoprov(dir.path(), &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            let doc = one_document(&format!("{args:?}"), &out);
            assert_eq!(doc["code"], "INVALID_ARGUMENT", "{args:?}: {doc}");
            assert!(
                doc["error"].as_str().unwrap().contains("--no-such-option"),
                "{args:?}: {doc}"
            );
            assert!(
                stderr(&out).contains("Usage:"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    // A missing argument, and a value clap refuses.
    for args in [
        &["--json", "sim", "create"][..],
        &["keys", "server", "--port", "99999", "--json"][..],
    ] {
        let out = duoprov(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            one_document(&format!("{args:?}"), &out)["code"],
            "INVALID_ARGUMENT"
        );
    }
    // Without --json (or with it only after `--`), clap's text alone.
    let out = duoprov(dir.path(), &["keys", "new", "--no-such-option"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
}

#[test]
fn rule11_every_command_answers_one_document_with_ok() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    sim_create(p, &[]);
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS); 8]);
    let run = |args: &[&str]| -> (String, Output) {
        let out = duoprov_cmd(p)
            .env("HOME", p)
            .env_remove("PARTICLE_ACCESS_TOKEN")
            .env_remove("PARTICLE_API_URL")
            .arg("--json")
            .args(["--device", "sim:vd"])
            .args(args)
            .output()
            .unwrap();
        (args.join(" "), out)
    };
    std::fs::write(p.join("junk.der"), b"not a key").unwrap();
    let image = std::fs::read(crate::common::fixture("fac-dct-r1.bin")).unwrap();
    std::fs::write(p.join("dct.bin"), image).unwrap();
    let url = server.url.clone();
    // (arguments, expected to succeed)
    let cases: Vec<(Vec<&str>, bool)> = vec![
        (vec!["list"], true),
        (vec!["udev"], true),
        (vec!["dct", "show", "--factory"], true),
        (vec!["dct", "show", "--file", "missing.bin"], false),
        (vec!["dct", "get", "claimed", "--factory"], true),
        (vec!["dct", "get", "no_such_field", "--factory"], false),
        (
            vec!["dct", "set", "claimed", "1", "--file", "dct.bin"],
            true,
        ),
        (vec!["dct", "show"], true),
        (vec!["keys", "new", "k"], true),
        (vec!["keys", "new", "k"], false),
        (vec!["keys", "inspect", "k.der"], true),
        (vec!["keys", "inspect", "junk.der"], false),
        (vec!["keys", "server", "--output", "s.der"], true),
        (vec!["keys", "server", "--output", "s.der"], false),
        (vec!["keys", "save", "saved"], false),
        (vec!["keys", "address"], true),
        (vec!["keys", "load", "k.der"], true),
        (vec!["keys", "save", "saved"], true),
        (vec!["keys", "reset", "--no-leave"], true),
        (vec!["keys", "load", "junk.der"], false),
        (vec!["keys", "doctor", DEVICE, "--api-url", &url], false),
        (
            vec![
                "dfu", "read", "--alt", "1", "--addr", "34", "--len", "612", "-o", "slot.bin",
            ],
            true,
        ),
        (
            vec![
                "dfu", "read", "--alt", "1", "--addr", "34", "--len", "612", "-o", "slot.bin",
            ],
            false,
        ),
        (
            vec!["dfu", "write", "--alt", "1", "--addr", "34", "slot.bin"],
            true,
        ),
        (
            vec!["dfu", "write", "--alt", "1", "--addr", "34", "missing.bin"],
            false,
        ),
        (vec!["verify"], false),
        (
            vec![
                "provision",
                DEVICE,
                "k.pub.pem",
                "--api-url",
                &url,
                "--token",
                "tok",
            ],
            true,
        ),
        (
            vec!["provision", "12345", "--api-url", &url, "--token", "tok"],
            false,
        ),
        (vec!["identify"], false),
        // Already in DFU mode, no firmware running: a failure.
        (vec!["mode", "dfu"], false),
        (vec!["sim", "show", "vd"], true),
        (vec!["sim", "stats", "vd"], true),
        (vec!["sim", "fault", "vd", "--list"], true),
        (vec!["sim", "fault", "vd", "no-such-fault:1"], false),
        (vec!["sim", "show", "missing"], false),
        (vec!["sim", "create", "vd2", "--time-factor", "0.001"], true),
        (vec!["sim", "create", "vd2"], false),
        (vec!["sim", "boot", "vd"], true),
        (vec!["sim", "dfu", "vd"], true),
        (vec!["demo", "--time-factor", "2000"], false),
    ];
    for (args, succeeds) in &cases {
        let (what, out) = run(args);
        assert_eq!(
            out.status.success(),
            *succeeds,
            "{what}: exit {}\nstdout: {}\nstderr: {}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        one_document(&what, &out);
    }
    // Every leaf command but the streaming `cloud serve` (its line: the
    // cloud tests) and `demo` (its failure is above; its success is the
    // demo's own test) was run above.
    for leaf in leaf_commands(p) {
        if leaf == ["cloud", "serve"] || leaf == ["demo"] {
            continue;
        }
        let covered = cases
            .iter()
            .any(|(args, _)| args.len() >= leaf.len() && args[..leaf.len()] == leaf[..]);
        assert!(covered, "{leaf:?} not covered");
    }
}

#[test]
fn rule11_a_batch_prints_json_lines_each_with_ok() {
    let dir = tempfile::tempdir().unwrap();
    let other = "2fff27fffc473530fff23638";
    std::fs::write(dir.path().join("ids.txt"), format!("{DEVICE}\n{other}\n")).unwrap();
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS); 2]);
    let out = crate::serve::cmd(dir.path())
        .args([
            "--json",
            "provision",
            "--batch",
            "ids.txt",
            "--api-url",
            &server.url,
        ])
        .args(["--token", "tok"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", stdout(&out));
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    assert_eq!(lines[2]["type"], "summary");
    assert_eq!(lines[2]["succeeded"], 2);
}

#[test]
fn rule5_stdout_on_a_full_disk_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    sim_create(dir.path(), &[]);
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    for args in [
        &["list"][..],
        &["--json", "list"][..],
        &["--json", "keys", "inspect", "missing.der"][..],
        &["--help"][..],
        &["dct", "show", "--factory"][..],
    ] {
        let out = duoprov_cmd(dir.path())
            .args(["--device", "sim:vd"])
            .args(args)
            .stdout(full())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("cannot write the output to stdout") && err.contains("No space left"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn rule5_a_closed_pipe_is_a_failure_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    sim_create(dir.path(), &[]);
    for args in [&["--json", "list"][..], &["dct", "show", "--factory"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = duoprov_cmd(dir.path())
            .args(["--device", "sim:vd"])
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("cannot write the output to stdout") && err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// An output file that cannot be written (the file-size limit stands in for
/// a full disk): exit 1, a message naming the file, nothing left behind.
#[test]
fn rule5_an_output_file_that_cannot_be_written_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    sim_create(dir.path(), &[]);
    for args in [
        "--device sim:vd dfu read --alt 0 --addr 0x08020000 --len 65536 -o out.bin",
        "sim create out.vd",
    ] {
        // 16 KiB (dash counts 512-byte blocks, bash 1024): room for the
        // virtual Duo's small state file, not for these outputs.
        let script = format!("trap '' XFSZ; ulimit -f 32; exec \"$0\" {args}");
        let out = std::process::Command::new("sh")
            .current_dir(dir.path())
            .env_remove("DUOPROV_DEVICE")
            .args(["-c", &script, env!("CARGO_BIN_EXE_duoprov")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("out."), "{args}: {err}");
        assert!(err.contains("File too large"), "{args}: {err}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "vd")
            .collect();
        assert!(left.is_empty(), "{args}: left behind: {left:?}");
    }
}
