//! Rule 9: the local cloud says where it really listens, and is loopback
//! unless told otherwise.

use crate::common::stderr;
use crate::serve::{cmd, Served};

#[test]
fn rule9_cloud_serve_refuses_every_interface_without_the_flag() {
    let home = tempfile::tempdir().unwrap();
    let out = cmd(home.path())
        .args(["cloud", "serve", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a loopback address"),
        "{}",
        stderr(&out)
    );
    assert!(
        out.stdout.is_empty(),
        "it announced a URL it must not serve"
    );
}

#[test]
fn rule9_with_the_flag_it_warns_naming_the_real_address() {
    let home = tempfile::tempdir().unwrap();
    let mut served = Served::start(home.path(), &["--addr", "0.0.0.0:0", "--beyond-loopback"]);
    let port = served.url.rsplit(':').next().unwrap().to_string();
    let err = served.stderr_until("stop with Ctrl-C");
    assert!(
        err.contains(&format!("listens on 0.0.0.0:{port} (every interface)")),
        "{err}"
    );
    assert!(
        err.contains(&format!("listening on 0.0.0.0:{port}")),
        "{err}"
    );
}

/// The device endpoint (the handshake's TCP port) keeps the same rule as
/// the API: loopback unless allowed, and a warning naming where it listens.
#[test]
fn rule9_the_device_endpoint_is_loopback_unless_allowed_too() {
    let home = tempfile::tempdir().unwrap();
    let out = cmd(home.path())
        .args([
            "cloud",
            "serve",
            "--token",
            "t",
            "--device-addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to listen on 0.0.0.0:0"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "it announced a URL");
    let mut served = Served::start(
        home.path(),
        &[
            "--token",
            "t",
            "--device-addr",
            "0.0.0.0:0",
            "--beyond-loopback",
        ],
    );
    let err = served.stderr_until("stop with Ctrl-C");
    assert!(
        err.contains("the device endpoint listens on 0.0.0.0:")
            && err.contains("(every interface)"),
        "{err}"
    );
}
