//! `duoprov provision …` and `duoprov cloud serve`: thin renderings of
//! `duo_provisioning::cloud` (client, batches) and `sim::cloud` (local cloud).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use duo_provisioning::cloud::batch::{BatchOptions, BatchSummary, DeviceResult};
use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::config::ArgNames;
use duo_provisioning::cloud::report::{
    load_batch, summary_line, tagged, BatchReportWriter, ProvisionReport,
};
use duo_provisioning::cloud::settings::{ClientOptions, ClientSettings};
use duo_provisioning::cloud::{AccessToken, DeviceId, ProvisionKey, RetryNotice};
use duo_provisioning::sim::cloud::{
    read_devices_file, Account, LocalCloud, LocalCloudOptions, SeededDevice,
};
use duo_provisioning::ErrorInfo;
use serde_json::{json, Value};

use crate::output::{out, Ctx, Reported};

/// Where the cloud is and how to talk to it (shared by single and batch runs).
#[derive(Args, Debug)]
pub struct ProvisionArgs {
    /// The device id: 24 hexadecimal digits. Without it (and without
    /// --batch), the id of the one board attached (or named by --device):
    /// told in normal mode (`duoprov identify`), or by an r5/r6 bootloader
    /// in DFU mode. Not with --batch.
    #[arg(conflicts_with = "batch")]
    device_id: Option<String>,
    /// The key to provision: a PEM or DER public or private key file (a
    /// private key's public half is sent), or PEM text. Default: RedBear's
    /// generic public key; the device's next connection then tells the cloud
    /// its real key.
    #[arg(
        value_name = "KEYFILE",
        conflicts_with = "batch",
        allow_hyphen_values = true
    )]
    keyfile: Option<String>,
    /// Provision every device listed in FILE: one id a line, or CSV
    /// `device_id,keyfile` (key files relative to FILE); `#` comments and
    /// blank lines are skipped.
    #[arg(long, value_name = "FILE")]
    batch: Option<PathBuf>,
    /// Requests in flight at once with --batch.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// With --batch: write one JSON line per device, then the summary, to FILE.
    /// An existing FILE is refused unless --force; a symbolic link always.
    #[arg(long, value_name = "FILE", requires = "batch")]
    report: Option<PathBuf>,
    /// Replace an existing --report FILE.
    #[arg(long, requires = "report")]
    force: bool,
    /// Product id to provision under (88 = the Duo's platform id).
    #[arg(long, default_value_t = 88)]
    product_id: u16,
    /// Particle access token. Default: $PARTICLE_ACCESS_TOKEN, else
    /// particle-cli's login (~/.particle/<profile>.config.json). Never printed.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// API base URL. Default: $PARTICLE_API_URL, else particle-cli's
    /// `apiUrl`, else https://api.particle.io.
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// Allow plain http:// to a host that is not loopback.
    #[arg(long)]
    insecure_http: bool,
    /// Also trust the CA certificate (PEM) in FILE, besides the built-in
    /// roots: e.g. the ca.pem of a `cloud serve --tls`.
    #[arg(long, value_name = "FILE", env = "DUOPROV_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Give up on a request after SECS seconds (connect, send and reply).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    timeout: f64,
    /// Retries after the first attempt, for 429, 502/503/504 and connection
    /// errors: 0 to 20.
    #[arg(long, default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=20))]
    retries: u32,
}

#[derive(Subcommand, Debug)]
pub enum CloudCommand {
    /// Run a local cloud: the provisioning API on loopback, for tests, demos
    /// and other languages' tests.
    ///
    /// Prints its base URL (http://127.0.0.1:PORT) as the first line of
    /// stdout and its device endpoint (the Gen 2 handshake on TCP,
    /// 127.0.0.1:PORT) as the second (with --json, one JSON object with
    /// `url` and `device_addr`), then serves until Ctrl-C (SIGINT) or
    /// SIGTERM. Devices connect with the cloud's own RSA-2048 server key
    /// (kept in --state; write its server key block with --server-key-out).
    /// Admin surface (loopback clients only): /admin/tokens, /admin/devices,
    /// /admin/devices/ID/key, /admin/records, /admin/stats, /admin/fault,
    /// /admin/connections[/ID], /admin/unidentified.
    ///
    /// Admin surface (loopback clients only): /admin/tokens,
    /// /admin/accounts, /admin/devices, /admin/devices/ID/key,
    /// /admin/records, /admin/stats, /admin/reset-counters, /admin/fault.
    ///
    /// Fault modes (PUT /admin/fault with one of these JSON objects; DELETE
    /// clears it): {"kind":"status","status":500,"body":"json|html|empty",
    /// "retry_after_secs":N} answers every request with that status;
    /// {"kind":"delay","ms":N} waits, then answers normally;
    /// {"kind":"rate_limit","after":N,"retry_after_secs":S} answers N
    /// requests, then 429 (without Retry-After unless S is given, as the
    /// real cloud); {"kind":"drop"} closes the connection without a reply;
    /// {"kind":"sequence","steps":[…]} plays one fault per request, then
    /// answers normally.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. Only loopback
    /// (127.0.0.1, ::1) unless --beyond-loopback.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Allow an --addr or --device-addr that is not loopback (e.g.
    /// 0.0.0.0:8080, every interface): other hosts can then reach this test
    /// cloud, over plain HTTP. Prints a warning naming the real address.
    #[arg(long)]
    beyond_loopback: bool,
    /// Keep seeded devices and accepted records in DIR across restarts
    /// (tokens are never written).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// An access token of the account `default` (repeatable).
    #[arg(long = "token", value_name = "T")]
    tokens: Vec<String>,
    /// An access token of account NAME (repeatable): it may provision only
    /// NAME's devices; any other device gets 403 Permission Denied, as on
    /// the real cloud.
    #[arg(long = "account", value_name = "NAME=TOKEN")]
    accounts: Vec<String>,
    /// A device that had its initial provisioning (repeatable), as ID,
    /// ID:ACCOUNT or ID:ACCOUNT:PRODUCT_ID (default account `default`,
    /// product 88). Unknown devices, devices of another account, and a
    /// request naming another product_id get 403 Permission Denied.
    /// (`--device ID` on the command line seeds one device too; the board
    /// selector in $DUOPROV_DEVICE is never taken for one.)
    #[arg(long = "seed", value_name = "ID[:ACCOUNT[:PRODUCT]]")]
    seed: Vec<String>,
    /// More seeded devices: one a line, ID[,ACCOUNT[,PRODUCT_ID]] (`#`
    /// comments and a `device_id,…` header allowed).
    #[arg(long, value_name = "FILE")]
    devices_file: Option<PathBuf>,
    /// Where the device endpoint (TCP) listens; port 0 picks a free port.
    /// Only loopback unless --beyond-loopback.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    device_addr: SocketAddr,
    /// Write the server key block for DCT 2082 (this cloud's server key,
    /// its device endpoint's address and port) to FILE, for
    /// `duoprov keys server FILE` or `dfu-util -a 1 -s 2082 -D FILE`. An
    /// existing FILE is refused unless --force; a symbolic link always.
    #[arg(long, value_name = "FILE")]
    server_key_out: Option<PathBuf>,
    /// Replace an existing --server-key-out FILE.
    #[arg(long, requires = "server_key_out")]
    force: bool,
    /// Serve HTTPS only, with a certificate for 127.0.0.1 / ::1 /
    /// localhost from a CA made at start; the CA certificate is written to
    /// --state DIR/ca.pem (required) and named on the third stdout line
    /// (`ca_cert` with --json). Clients trust it with --ca-cert.
    #[arg(long, requires = "state")]
    tls: bool,
}

pub fn run_cloud(cmd: CloudCommand, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        CloudCommand::Serve(args) => serve(ctx, args),
    }
}

pub fn run_provision(args: ProvisionArgs, ctx: &Ctx) -> anyhow::Result<()> {
    match (&args.batch, &args.device_id) {
        (Some(batch), _) => provision_batch(ctx, &args, batch),
        (None, Some(id)) => provision_one(ctx, &args, id),
        (None, None) => {
            // The library decides where the id comes from (REFERENCE §7).
            let selector = crate::device_cmd::selector(ctx)?;
            let (id, from) = duo_provisioning::normal::board::attached_device_id(
                selector.as_ref(),
                ctx.port.as_deref(),
                duo_provisioning::time::system().as_ref(),
            )?;
            ctx.info(format!("device id {id} (told by the board: {from:?})"));
            provision_one(ctx, &args, &id)
        }
    }
}

/// The front end's names for the client options, in messages and origins.
pub const ARG_NAMES: ArgNames = ArgNames {
    token: "--token",
    api_url: "--api-url",
    timeout: "--timeout",
    ca_cert: "--ca-cert",
};

/// Resolve the client configuration (one library call), say where token and
/// URL came from, and build the client; with `announce_retries`, each
/// retry and its wait is said on stderr.
pub fn client(
    ctx: &Ctx,
    options: &ClientOptions,
    announce_retries: bool,
) -> anyhow::Result<BlockingClient> {
    let ClientSettings { mut config, report } = options.resolve()?;
    ctx.info(format!(
        "using the access token from {}; API {} (from {})",
        report.token_origin, report.api_url, report.api_url_origin
    ));
    if announce_retries {
        config.on_retry = Some(Arc::new(|n: &RetryNotice| {
            eprintln!(
                "retrying {} in {:.1} s (attempt {} of {} failed: {})",
                n.device_id,
                n.wait.as_secs_f64(),
                n.attempt,
                n.max_attempts,
                n.reason
            );
        }));
    }
    Ok(BlockingClient::new(config)?)
}

fn client_options(args: &ProvisionArgs) -> ClientOptions {
    ClientOptions {
        token: args.token.clone(),
        api_url: args.api_url.clone(),
        insecure_http: args.insecure_http,
        ca_certs: args.ca_cert.iter().cloned().collect(),
        timeout_secs: Some(args.timeout),
        retries: Some(args.retries),
        names: ARG_NAMES,
    }
}

fn provision_one(ctx: &Ctx, args: &ProvisionArgs, id: &str) -> anyhow::Result<()> {
    // A malformed id is refused before anything else, so no request is made.
    let device_id = DeviceId::parse(id)?;
    let key = ProvisionKey::from_arg(args.keyfile.as_deref())?;
    ctx.info(key.describe_use());
    let client = client(ctx, &client_options(args), true)?;
    ctx.info(format!(
        "attempting to add a new public key for device {device_id}"
    ));
    let attempted = client.provision_counted(&device_id, &key, args.product_id);
    match attempted.result {
        Ok(done) => {
            let report = ProvisionReport::new(&done, &key);
            ctx.emit(&report, || {
                format!(
                    "Success - device {} provisioned ({} attempt{}, key {})",
                    done.device_id,
                    done.attempts,
                    if done.attempts == 1 { "" } else { "s" },
                    key.fingerprint_prefix()
                )
            });
            Ok(())
        }
        Err(e) => {
            if ctx.json {
                let mut v = json!({
                    "ok": false,
                    "device_id": device_id,
                    "attempts": attempted.attempts,
                    "error_kind": e.kind(),
                    "code": e.code(),
                    "error": crate::remedy::render_info(&e),
                });
                if let (Value::Object(map), Ok(Value::Object(facts))) =
                    (&mut v, serde_json::to_value(e.facts()))
                {
                    for (k, f) in facts {
                        map.entry(k).or_insert(f);
                    }
                }
                out(&v.to_string());
            }
            let tries = match attempted.attempts {
                0 | 1 => String::new(),
                n => format!(" ({n} attempts)"),
            };
            eprintln!("error: {}{tries}", crate::remedy::render_info(&e));
            Err(Reported.into())
        }
    }
}

fn provision_batch(ctx: &Ctx, args: &ProvisionArgs, batch: &Path) -> anyhow::Result<()> {
    let jobs = load_batch(batch)?;
    let client = client(ctx, &client_options(args), true)?;
    let mut report = match &args.report {
        Some(path) => Some(BatchReportWriter::create(path, args.force)?),
        None => None,
    };
    ctx.info(format!(
        "provisioning {}, {} at a time",
        plural(jobs.len(), "device"),
        args.concurrency
    ));

    let watch = crate::progress::Watch::new(ctx);
    let options = BatchOptions {
        concurrency: args.concurrency as usize,
        product_id: args.product_id,
    };
    options.check_open_file_limit(jobs.len())?;
    let (_, summary) = client.run_batch_with(
        jobs,
        &options,
        |result| {
            let result = &cli_worded(result);
            if let Some(w) = report.as_mut() {
                w.device(result);
            }
            let line = if ctx.json {
                tagged("device", result).to_string()
            } else {
                device_line(result)
            };
            watch.suspend(|| out(&line));
        },
        watch.monitor(),
    );
    drop(watch);

    let written = report.map(|w| w.finish(&summary));
    print_summary(ctx, &summary);
    if let Some(Err(e)) = written {
        return Err(e.into());
    }
    if summary.all_ok() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// A device's result with its error worded as this CLI's commands and flags.
fn cli_worded(r: &DeviceResult) -> DeviceResult {
    let mut r = r.clone();
    if let Some(e) = &r.error {
        r.error = Some(crate::remedy::reword(e, &r.remedies));
    }
    r
}

fn device_line(r: &DeviceResult) -> String {
    let plural = if r.attempts == 1 { "" } else { "s" };
    match &r.error {
        None => format!(
            "ok    {} ({} attempt{plural}, key {}, {:.1} ms)",
            r.device_id,
            r.attempts,
            &r.fingerprint[..r.fingerprint.len().min(16)],
            r.latency_ms
        ),
        Some(e) => format!(
            "FAIL  {} (line {}, {} attempt{plural}): {e}",
            r.device_id, r.line, r.attempts
        ),
    }
}

fn print_summary(ctx: &Ctx, summary: &BatchSummary) {
    if ctx.json {
        out(&summary_line(summary).to_string());
    } else {
        out(&format!("summary: {summary}"));
    }
}

fn serve(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<()> {
    let tokens = args
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            AccessToken::new(t.clone())
                .with_context(|| format!("--token number {} cannot be used", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let accounts = args
        .accounts
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            Account::parse(spec).with_context(|| format!("--account number {}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut seeded = args
        .seed
        .iter()
        .map(|d| SeededDevice::parse(d).context("--seed"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // `cloud serve --device ID` (the global option, given on this command
    // line) seeds ID; DUOPROV_DEVICE, a board selector, does not.
    if let Some(d) = ctx.device.as_deref().filter(|_| !ctx.device_from_env) {
        seeded.push(SeededDevice::parse(d).context("--device")?);
    }
    if let Some(file) = &args.devices_file {
        seeded.extend(read_devices_file(file)?);
    }
    let token_count = tokens.len() + accounts.len();
    let device_count = seeded.len();
    if let Some(path) = &args.server_key_out {
        duo_provisioning::keys::check_target(path, args.force)?;
    }
    let running = LocalCloud::start(LocalCloudOptions {
        addr: args.addr,
        beyond_loopback: args.beyond_loopback,
        state_dir: args.state.clone(),
        tokens,
        accounts,
        seeded,
        device_addr: args.device_addr,
        tls: args.tls,
        ..LocalCloudOptions::default()
    })?;
    if let Some(path) = &args.server_key_out {
        let block = running.server_key_block()?;
        duo_provisioning::keys::write_atomic(path, &block, false, args.force)?;
    }
    // The first line of stdout is the base URL, the second the device
    // endpoint, for the processes that wait for them; with --json, stdout
    // stays JSON: {"ok":true,"url":…,"addr":…,"device_addr":…}.
    if ctx.json {
        out(&json!({
            "ok": true,
            "url": running.base_url(),
            "addr": running.addr().to_string(),
            "device_addr": running.device_addr().to_string(),
            "server_key_out": args.server_key_out,
            "ca_cert": running.ca_cert_path(),
        })
        .to_string());
    } else {
        out(running.base_url());
    }
    // Whoever waits for the URL cannot have it: stop, as a failure. A
    // reader may leave once it has the URL: the other lines are extra.
    crate::output::stdout_ok()?;
    if !ctx.json {
        crate::output::out_extra(&running.device_addr().to_string());
        if let Some(ca) = running.ca_cert_path() {
            crate::output::out_extra(&ca.display().to_string());
        }
    }
    if !running.addr().ip().is_loopback() {
        // Always on stderr, also with --json: this is a warning.
        eprintln!(
            "warning: the local cloud listens on {}{}, not only on loopback: other hosts \
             can reach it over plain HTTP (the admin surface still answers loopback only)",
            running.addr(),
            if running.addr().ip().is_unspecified() {
                " (every interface)"
            } else {
                ""
            }
        );
    }
    let device_listen = running.device_listen_addr();
    if !device_listen.ip().is_loopback() {
        eprintln!(
            "warning: the device endpoint listens on {device_listen}{}, not only on loopback:              other hosts can reach it",
            if device_listen.ip().is_unspecified() {
                " (every interface)"
            } else {
                ""
            }
        );
    }
    ctx.info(format!(
        "local cloud listening on {}, base URL {}: {}, {}{}; \
         admin at {}/admin; stop with Ctrl-C or SIGTERM",
        running.addr(),
        running.base_url(),
        plural(token_count, "token"),
        plural(running.devices().len().max(device_count), "seeded device"),
        match &args.state {
            Some(dir) => format!(", state in {}", dir.display()),
            None => String::new(),
        },
        running.base_url()
    ));
    if token_count == 0 {
        ctx.info("no --token or --account given: every request gets 401 until a token is added via POST /admin/tokens");
    }
    wait_for_stop_signal()?;
    running.stop();
    ctx.info("local cloud stopped");
    Ok(())
}

/// "1 token", "2 tokens".
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Block until SIGINT (Ctrl-C) or SIGTERM.
fn wait_for_stop_signal() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal listener")?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")?;
        Ok(())
    })
}
