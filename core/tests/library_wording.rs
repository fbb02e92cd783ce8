//! Issue 8 item 2: no library message names a `duoprov` command or a CLI
//! flag. Two checks: every string literal in the library's source (outside
//! the CLI, tests and comments) is scanned, and every error and remedy the
//! library builds at run time is scanned through `Display`.

use std::path::{Path, PathBuf};

use duo_provisioning::dfu::{DfuError, TransportError};
use duo_provisioning::error::{BackupKind, ErrorInfo, Remedy};

/// The CLI's words: a `duoprov` command or a `--flag`.
fn cli_wording(text: &str) -> Option<String> {
    if let Some(i) = text.find("duoprov ") {
        return Some(text[i..].chars().take(30).collect());
    }
    let bytes = text.as_bytes();
    for i in 0..bytes.len().saturating_sub(2) {
        let before_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'-';
        if before_ok
            && bytes[i] == b'-'
            && bytes[i + 1] == b'-'
            && bytes[i + 2].is_ascii_lowercase()
        {
            return Some(text[i..].chars().take(30).collect());
        }
    }
    None
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            // The CLI may name itself; tests may name anything.
            if name != "bin" && name != "tests" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(path);
        }
    }
}

/// String literals of `source` outside comments and `#[cfg(test)]` modules
/// (a test module is taken to run to the end of the file, as ours do).
fn literals(source: &str) -> Vec<(usize, String)> {
    let code = match source.find("#[cfg(test)]\nmod ") {
        Some(i) => &source[..i],
        None => source,
    };
    let mut found = Vec::new();
    let mut in_str = false;
    let mut current = String::new();
    for (n, line) in code.lines().enumerate() {
        if !in_str && line.trim_start().starts_with("//") {
            continue;
        }
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break; // a trailing comment
            }
            if c == '"' && prev != '\\' && prev != '\'' {
                if in_str {
                    found.push((n + 1, std::mem::take(&mut current)));
                }
                in_str = !in_str;
            } else if in_str {
                current.push(c);
            }
            prev = c;
        }
        if in_str {
            current.push(' ');
        }
    }
    found
}

/// Text that is output of the `udev` command (a udev rule file), not a message.
const ALLOWED: &[&str] = &["udevadm control --reload-rules"];

#[test]
fn no_string_in_the_library_source_names_a_cli_command_or_flag() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 30, "found only {} files", files.len());
    let mut bad = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, literal) in literals(&text) {
            if ALLOWED.iter().any(|a| literal.contains(a)) {
                continue;
            }
            if let Some(hit) = cli_wording(&literal) {
                bad.push(format!("{}:{line}: {hit:?}", file.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "CLI wording in the library:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scan_finds_cli_wording() {
    assert!(cli_wording("pass --token or").is_some());
    assert!(cli_wording("run `duoprov keys load X`").is_some());
    assert!(cli_wording("a plain message; with -a 1 -s 0:4290").is_none());
    assert!(cli_wording("xn--punycode").is_none());
    let lits = literals("let a = \"x --force y\"; // \"--not\"\n#[cfg(test)]\nmod t { \"--t\" }");
    assert_eq!(lits, vec![(1, "x --force y".to_string())]);
}

fn all_remedies() -> Vec<Remedy> {
    let dir = Some(PathBuf::from("/tmp/vd"));
    let mut all = Vec::new();
    for vd in [None, dir.clone()] {
        all.extend([
            Remedy::EnterDfuMode {
                virtual_device: vd.clone(),
            },
            Remedy::BootThenSaveKey {
                virtual_device: vd.clone(),
            },
            Remedy::SaveKeyAfterBoot {
                virtual_device: vd.clone(),
            },
            Remedy::Boot {
                virtual_device: vd.clone(),
            },
        ]);
        for backup_kind in [BackupKind::Key, BackupKind::RawSlot] {
            all.push(Remedy::RestoreBackup {
                backup: "backup_rsa_x.der".into(),
                backup_kind,
                virtual_device: vd.clone(),
            });
        }
    }
    all.extend([
        Remedy::CheckConnection,
        Remedy::Replug,
        Remedy::ReplugIntoDfuMode,
        Remedy::ResetIntoDfuMode,
        Remedy::ChooseDevice {
            example: "usb:1-4".into(),
        },
        Remedy::GrantUsbAccess,
        Remedy::CloseOtherProgram,
        Remedy::WaitForOtherProgram,
        Remedy::ResetOrRestoreKey,
        Remedy::UseKeyOperations,
        Remedy::GenerateKey,
        Remedy::AllowOverwrite {
            path: "k.der".into(),
        },
        Remedy::GiveAccessToken,
        Remedy::GiveValidAccessToken,
        Remedy::FixParticleConfig,
        Remedy::CheckNetwork,
        Remedy::CheckApiUrl,
        Remedy::GiveApiBaseUrl,
        Remedy::RaiseTimeout,
        Remedy::RetryLater { after: None },
        Remedy::TryAgainLater,
        Remedy::UseHttps,
        Remedy::TokenNotInUrl,
        Remedy::CreateVirtualDevice { dir: "vd".into() },
        Remedy::RecreateVirtualDevice,
        Remedy::ChooseListenAddress,
        Remedy::StopOtherCloud,
        Remedy::GivePortSeparately,
        Remedy::BuildServerBlock,
        Remedy::ReadAppDct { min_len: 4290 },
        Remedy::ReadDctRegion {
            addr: 0x0800_8000,
            len: 32768,
        },
        Remedy::DecryptKey,
        Remedy::GivePrivateKey,
        Remedy::EnableFeature { feature: "usb" },
        Remedy::MoveBackupsAway,
        Remedy::RepeatOperation,
    ]);
    all
}

#[test]
fn no_remedy_is_worded_as_the_cli() {
    for remedy in all_remedies() {
        let text = remedy.to_string();
        assert!(cli_wording(&text).is_none(), "{remedy:?}: {text}");
        assert!(!text.is_empty());
    }
}

#[test]
fn errors_built_at_run_time_carry_no_cli_wording() {
    let mut errors: Vec<Box<dyn ErrorInfo>> = vec![
        Box::new(DfuError::NotInDfuMode),
        Box::new(DfuError::NoDevice {
            detail: String::new(),
        }),
        Box::new(DfuError::SeveralDevices {
            list: "a\nb".into(),
            example: "usb:1-4".into(),
        }),
        Box::new(DfuError::PermissionDenied {
            device: "usb:1-4".into(),
        }),
        Box::new(DfuError::Busy {
            device: "usb:1-4".into(),
        }),
    ];
    for t in [
        TransportError::Stall,
        TransportError::NoDevice,
        TransportError::Timeout,
        TransportError::Busy,
        TransportError::Access,
    ] {
        errors.push(Box::new(t));
    }
    let tmp = tempfile::tempdir().unwrap();
    // A key file that is not a key, one that exists, one too large.
    let bad = tmp.path().join("bad.der");
    std::fs::write(&bad, b"not a key").unwrap();
    errors.push(Box::new(
        duo_provisioning::keys::load_private_key_file(&bad).unwrap_err(),
    ));
    errors.push(Box::new(duo_provisioning::keys::KeyError::Exists {
        path: bad.clone(),
    }));
    errors.push(Box::new(
        duo_provisioning::server_key::parse_server_key(&[0u8; 10]).unwrap_err(),
    ));
    #[cfg(feature = "cloud")]
    {
        use duo_provisioning::cloud::config::{resolve, Sources};
        let s = Sources {
            home: Some(tmp.path().into()),
            ..Sources::default()
        };
        errors.push(Box::new(resolve(&s, false).unwrap_err()));
        let s = Sources {
            token_flag: Some("t".into()),
            api_url_flag: Some("http://example.com".into()),
            ..Sources::default()
        };
        errors.push(Box::new(resolve(&s, false).unwrap_err()));
        use duo_provisioning::cloud::CloudError;
        for e in [
            CloudError::InvalidToken {
                detail: "HTTP 401".into(),
            },
            CloudError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(3)),
            },
            CloudError::BadResponse {
                status: 200,
                snippet: "x".into(),
            },
            CloudError::Network {
                url: "http://127.0.0.1:1".into(),
                detail: "refused".into(),
            },
            CloudError::Timeout {
                url: "http://127.0.0.1:1".into(),
                after: std::time::Duration::from_secs(1),
            },
            CloudError::ConfigUnreadable {
                path: "p".into(),
                reason: "r".into(),
            },
        ] {
            errors.push(Box::new(e));
        }
    }
    #[cfg(feature = "sim")]
    {
        use duo_provisioning::dfu::DeviceSelector;
        use duo_provisioning::sim::duo::ManualClock;
        let sel = DeviceSelector::Sim(tmp.path().join("none"));
        errors.push(Box::new(
            duo_provisioning::device::Device::open(Some(&sel), ManualClock::new()).unwrap_err(),
        ));
    }
    for e in &errors {
        let text = e.to_string();
        assert!(cli_wording(&text).is_none(), "{:?}: {text}", e.code());
        let facts = serde_json::to_value(e.report()).unwrap();
        assert!(facts["code"].is_string(), "{facts}");
    }
}
