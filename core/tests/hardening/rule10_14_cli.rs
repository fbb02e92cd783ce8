//! Rule 10: options do not collide. Rule 14: help and README are complete
//! and true.

use crate::common::{duoprov, stderr, stdout};
use crate::serve::{cmd, Served};

const DEVICE: &str = "2fff27fffc473530fff23637";

#[test]
fn rule10_cloud_serve_ignores_the_board_selector_in_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd(home.path());
    c.env("DUOPROV_DEVICE", "sim:vd");
    let mut served = Served::start_with(c, &["--token", "t", "--seed", DEVICE]);
    let err = served.stderr_until("stop with Ctrl-C");
    assert!(
        err.contains("1 seeded device;") || err.contains("1 seeded device,"),
        "{err}"
    );
    let devices = served.admin("/admin/devices");
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    assert_eq!(devices[0]["device_id"], DEVICE);
    drop(served);

    // The simple form from the README still seeds, with the variable set.
    let mut c = cmd(home.path());
    c.env("DUOPROV_DEVICE", "sim:vd");
    let served = Served::start_with(c, &["--token", "t", "--device", DEVICE]);
    assert_eq!(served.admin("/admin/devices")[0]["device_id"], DEVICE);
}

#[test]
fn rule14_help_describes_every_argument_and_the_fault_modes() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let out = duoprov(dir.path(), args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let serve = help(&["cloud", "serve", "--help"]);
    for fault in [
        "\"status\"",
        "\"delay\"",
        "\"rate_limit\"",
        "\"drop\"",
        "\"sequence\"",
    ] {
        assert!(
            serve.contains(fault),
            "{fault} missing from cloud serve --help"
        );
    }
    // Positional arguments have descriptions (clap prints the bare name
    // alone on its line otherwise).
    for (args, name) in [
        (vec!["dct", "set", "--help"], "<FIELD>"),
        (vec!["dct", "set", "--help"], "<VALUE>"),
        (vec!["dfu", "write", "--help"], "<FILE>"),
        (vec!["sim", "create", "--help"], "<DIR>"),
    ] {
        let text = help(&args);
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in {args:?}"));
        assert!(line.trim() != name, "{args:?}: {name} has no description");
    }
    assert!(!help(&["keys", "server", "--help"]).contains("unless a port was set before"));
}

#[test]
fn rule14_provision_takes_pem_text_without_a_double_dash() {
    let server = crate::recorded::Recorded::start(vec![crate::recorded::Canned::json(
        "200 OK",
        crate::recorded::SUCCESS,
    )]);
    let pem = duo_provisioning::keys::GENERIC_PUBLIC_KEY_PEM;
    let out = crate::serve::provision(&server.url, DEVICE, "tok", false, &[pem]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("given as PEM text"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rule14_readme_and_gitignore_say_what_is_true() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("cargo install --path core"));
    assert!(readme.contains("DUOPROV_DEVICE=sim:$PWD/vd"));
    assert!(readme.contains("several minutes"));
    for fault in [
        "\"status\"",
        "\"delay\"",
        "\"rate_limit\"",
        "\"drop\"",
        "\"sequence\"",
    ] {
        assert!(readme.contains(fault), "{fault} missing from the README");
    }
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "backup_rsa_*"), "{ignore}");
    assert!(ignore.lines().any(|l| l == "/device.der"), "{ignore}");
}

/// Every argument and option of every command, group and leaf, walked
/// through the real binary's own help: each has a description (clap prints
/// a bare `<NAME>` when a doc comment is missing).
#[test]
fn rule14_every_argument_of_every_command_has_a_description() {
    let dir = tempfile::tempdir().unwrap();
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    let mut missing = Vec::new();
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let out = duoprov(dir.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        let mut section = "";
        for line in text.lines() {
            if line.ends_with(':') && !line.starts_with(' ') {
                section = line;
                continue;
            }
            if line.trim().is_empty() || !line.starts_with("  ") {
                continue;
            }
            let entry = line.trim_start();
            let (name, description) = entry.split_once("  ").unwrap_or((entry, ""));
            match section {
                "Commands:" => {
                    if name != "help" {
                        let mut next = path.clone();
                        next.push(name.to_string());
                        todo.push(next);
                    }
                }
                "Arguments:" | "Options:" => seen += 1,
                _ => continue,
            }
            if description.trim().is_empty() {
                missing.push(format!("{} {name}", path.join(" ")));
            }
        }
    }
    assert!(seen > 150, "only {seen} arguments seen");
    assert!(missing.is_empty(), "no description: {missing:?}");
}
