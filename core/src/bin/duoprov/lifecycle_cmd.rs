//! `duoprov keys doctor`, `duoprov verify` and `duoprov demo`: renderings of
//! the library's workflows (`duo_provisioning::workflow`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::settings::ClientOptions;
use duo_provisioning::cloud::DeviceId;
use duo_provisioning::workflow::demo::{run_demo, DemoOptions, DemoReport, DemoStep};
use duo_provisioning::workflow::doctor::{keys_doctor, DoctorRequest};
use duo_provisioning::workflow::verify::{verify, VerifyRequest};
use serde_json::json;

use crate::output::{out, Ctx, Reported, Verdict};

/// Where the cloud is (as `provision` finds it).
#[derive(Args, Debug)]
pub struct CloudArgs {
    /// Particle access token. Default: $PARTICLE_ACCESS_TOKEN, else
    /// particle-cli's login. Never printed.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// API base URL. Default: $PARTICLE_API_URL, else particle-cli's
    /// `apiUrl`, else https://api.particle.io.
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// Allow plain http:// to a host that is not loopback.
    #[arg(long)]
    insecure_http: bool,
    /// Also trust the CA certificate (PEM) in FILE (a `cloud serve --tls`).
    #[arg(long, value_name = "FILE", env = "DUOPROV_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Product id to provision under (88 = the Duo's platform id).
    #[arg(long, default_value_t = 88)]
    product_id: u16,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The device id (24 hexadecimal digits).
    device_id: String,
    /// Base name of the new key's files (NAME.der, NAME.pem, NAME.pub.pem).
    /// Default: doctor_DEVICE_ID in the current directory.
    #[arg(long, value_name = "NAME")]
    name: Option<PathBuf>,
    #[command(flatten)]
    cloud: CloudArgs,
}

pub fn doctor(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<()> {
    let device_id = DeviceId::parse(&args.device_id)?;
    let client = client(ctx, &args.cloud)?;
    let mut request = DoctorRequest::new(device_id, std::path::Path::new("."));
    request.product_id = args.cloud.product_id;
    if let Some(name) = args.name {
        request.key_base = duo_provisioning::keys::key_base(&name);
    }
    let mut device = crate::device_cmd::open(ctx)?;
    match keys_doctor(&mut device, &client, &request) {
        Ok(report) => {
            ctx.emit(&json!({"ok": true, "doctor": report}), || {
                format!(
                    "keys doctor: the device holds a new key ({}, sha256 {}), loaded and \
                     verified, and the cloud holds its public key; the previous key is backed up \
                     in {}",
                    report.new_key.der.display(),
                    report.fingerprint,
                    report.backup.display()
                )
            });
            Ok(())
        }
        Err(e) => {
            let finish = e.finish().map(|f| {
                let provision = format!(
                    "duoprov provision {} {}",
                    f.device_id,
                    f.provision_key.display()
                );
                match &f.load_key {
                    Some(key) => format!("duoprov keys load {} && {provision}", key.display()),
                    None => provision,
                }
            });
            if ctx.json {
                out(&json!({
                    "ok": false,
                    "error": e.to_string(),
                    "step": e.step(),
                    "finish": finish,
                })
                .to_string());
            }
            eprintln!("error: {e}");
            if let Some(command) = finish {
                eprintln!("finish with: {command}");
            }
            Err(Reported.into())
        }
    }
}

fn client(ctx: &Ctx, args: &CloudArgs) -> anyhow::Result<BlockingClient> {
    crate::cloud_cmd::client(
        ctx,
        &ClientOptions {
            token: args.token.clone(),
            api_url: args.api_url.clone(),
            insecure_http: args.insecure_http,
            ca_certs: args.ca_cert.iter().cloned().collect(),
            timeout_secs: None,
            retries: None,
            names: crate::cloud_cmd::ARG_NAMES,
        },
        false,
    )
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The device id (24 hexadecimal digits); needed for --handshake unless
    /// the device is virtual.
    device_id: Option<String>,
    /// Also run the device side of the cloud handshake from this host with
    /// the device's keys against the server in its DCT. Against the real
    /// cloud this opens a session as that device.
    #[arg(long)]
    handshake: bool,
}

pub fn verify_cmd(ctx: &Ctx, args: VerifyArgs) -> anyhow::Result<()> {
    let mut device = crate::device_cmd::open(ctx)?;
    let device_id = match &args.device_id {
        Some(id) => Some(DeviceId::parse(id)?.to_bytes()),
        None => None,
    };
    let report = verify(
        &mut device,
        &VerifyRequest {
            device_id,
            handshake: args.handshake,
            loopback_only: false,
        },
    )?;
    ctx.emit(&report, || {
        let mut lines = vec![match &report.key.fingerprint {
            Some(fp) => format!(
                "device key: valid, sha256 {fp}; {}",
                if report.key.matches_dct_public_key {
                    "matches the public key in the DCT"
                } else {
                    "does NOT match the public key in the DCT"
                }
            ),
            None => format!("device key: none usable ({:?})", report.key.state),
        }];
        lines.push(match &report.server.summary {
            Some(s) => format!("server: {s}"),
            None => format!(
                "server: block does not parse: {}",
                report.server.error.as_deref().unwrap_or("")
            ),
        });
        if let Some(h) = &report.handshake {
            lines.push(format!("handshake: {h}"));
        }
        for p in &report.problems {
            lines.push(format!("problem: {p}"));
        }
        lines.push(
            if report.ok {
                "verify: ok"
            } else {
                "verify: FAILED"
            }
            .into(),
        );
        lines.join("\n")
    });
    if report.ok {
        Ok(())
    } else {
        Err(Verdict {
            code: "VERIFY_FAILED",
            error: format!("verify failed: {}", report.problems.join("; ")),
        }
        .into())
    }
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The virtual Duo's time factor (1.0 = a real Duo's timing).
    #[arg(long, default_value_t = 0.01, env = "DUOPROV_DEMO_TIME_FACTOR")]
    time_factor: f64,
    /// Keep the work directory (virtual Duo, key files, backups) here
    /// instead of a temporary one removed at the end. DIR must be new or
    /// empty.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

pub fn demo(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<()> {
    let temp;
    let work_dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile_dir()?;
            temp.0.clone()
        }
    };
    let options = DemoOptions {
        work_dir,
        time_factor: args.time_factor,
        clock: duo_provisioning::time::system(),
    };
    let json = ctx.json;
    let mut print = |step: &DemoStep| {
        if !json {
            out(&format!(
                "{} {:>2}. {} ({} ms)\n     did:      {}\n     expected: {}\n     actual:   {}",
                mark(step.ok),
                step.number,
                step.title,
                step.millis,
                step.did,
                step.expected,
                step.actual
            ));
        }
    };
    let report = run_demo(&options, &mut print)?;
    ctx.emit(&report, || summary(&report));
    if report.ok {
        Ok(())
    } else {
        let failed = report.steps.iter().filter(|s| !s.ok).count();
        Err(Verdict {
            code: "VERIFY_FAILED",
            error: format!(
                "{failed} of {} demo steps did not go as expected",
                report.steps.len()
            ),
        }
        .into())
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

fn summary(report: &DemoReport) -> String {
    let width = report
        .steps
        .iter()
        .map(|s| s.title.chars().count())
        .max()
        .unwrap_or(4);
    let mut lines = vec![
        String::new(),
        format!("   #  {:<width$}  result  time", "step"),
    ];
    for s in &report.steps {
        lines.push(format!(
            "  {:>2}  {:<width$}  {}       {} ms",
            s.number,
            s.title,
            mark(s.ok),
            s.millis
        ));
    }
    let failed = report.steps.iter().filter(|s| !s.ok).count();
    let total: u64 = report.steps.iter().map(|s| s.millis).sum();
    lines.push(format!(
        "{} of {} steps as expected in {total} ms{}",
        report.steps.len() - failed,
        report.steps.len(),
        if failed == 0 { "" } else { ": the demo FAILED" }
    ));
    lines.join("\n")
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    let mut bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let dir = std::env::temp_dir().join(format!("duoprov-demo-{}", hex::encode(bytes)));
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(TempDir(dir))
}
