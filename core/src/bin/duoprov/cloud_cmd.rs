//! `duoprov provision …` and `duoprov cloud serve`: thin renderings of
//! `duo_provisioning::cloud` (client, batches) and `sim::cloud` (local cloud).

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use duo_provisioning::cloud::batch::{
    prepare_jobs, read_batch_file, BatchOptions, BatchSummary, DeviceResult,
};
use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::config::{resolve, ArgNames, Sources};
use duo_provisioning::cloud::{
    AccessToken, CloudConfig, DeviceId, KeySource, ProvisionKey, RetryNotice, RetryPolicy,
};
use duo_provisioning::sim::cloud::{
    read_devices_file, Account, LocalCloud, LocalCloudOptions, SeededDevice,
};
use duo_provisioning::ErrorInfo;
use serde::Serialize;
use serde_json::{json, Value};

use crate::output::{out, Ctx, Reported};

/// Where the cloud is and how to talk to it (shared by single and batch runs).
#[derive(Args, Debug)]
pub struct ProvisionArgs {
    /// The device id: 24 hexadecimal digits (read it in listening mode with
    /// the serial command `i`). Not with --batch.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
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
    /// Retries after the first attempt, for 429, 502/503/504 and connection errors.
    #[arg(long, default_value_t = 3, value_name = "N")]
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
    /// Allow an --addr that is not loopback (e.g. 0.0.0.0:8080, every
    /// interface): other hosts can then reach this test cloud, over plain
    /// HTTP. Prints a warning naming the real address.
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
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    device_addr: SocketAddr,
    /// Write the server key block for DCT 2082 (this cloud's server key,
    /// its device endpoint's address and port) to FILE, for
    /// `duoprov keys server FILE` or `dfu-util -a 1 -s 2082 -D FILE`.
    #[arg(long, value_name = "FILE")]
    server_key_out: Option<PathBuf>,
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
        (None, None) => anyhow::bail!(
            "give a device id (24 hexadecimal digits) or --batch FILE, e.g. \
             `duoprov provision 2fff27fffc473530fff23637`"
        ),
    }
}

/// Resolve token and URL, say where they came from, and build the client.
/// A CA certificate file for `--ca-cert`.
pub fn read_ca_cert(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("--ca-cert {}: cannot read it", path.display()))?;
    anyhow::ensure!(
        String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----"),
        "--ca-cert {}: not a PEM certificate (-----BEGIN CERTIFICATE-----)",
        path.display()
    );
    Ok(bytes)
}

fn client(ctx: &Ctx, args: &ProvisionArgs) -> anyhow::Result<BlockingClient> {
    let mut sources = Sources::from_env(args.token.clone(), args.api_url.clone());
    sources.names = ArgNames {
        token: "--token",
        api_url: "--api-url",
    };
    let resolved = resolve(&sources, args.insecure_http)?;
    ctx.info(format!(
        "using the access token from {}; API {} (from {})",
        resolved.token_origin,
        resolved.api_url_shown(),
        resolved.api_url_origin
    ));
    // try_from: `Duration::from_secs_f64` panics on values too large for a
    // Duration (e.g. 1e300); a value under 1 ms would time out every request.
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| *t >= Duration::from_millis(1))
        .with_context(|| {
            format!(
                "--timeout {} is not a number of seconds from 0.001 to about 10^19",
                args.timeout
            )
        })?;
    let mut config = CloudConfig::new(resolved.api_url, resolved.token);
    config.timeout = timeout;
    config.connect_timeout = timeout.min(Duration::from_secs(10));
    config.retry = RetryPolicy::with_retries(args.retries);
    config.insecure_http = args.insecure_http;
    if let Some(path) = &args.ca_cert {
        config.ca_certs.push(read_ca_cert(path)?);
    }
    // Retries are never silent: each one and its wait, on stderr.
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
    Ok(BlockingClient::new(config)?)
}

fn describe_key(key: &ProvisionKey) -> String {
    match &key.source {
        KeySource::Generic => "using generic public key".to_string(),
        KeySource::File { path } => format!(
            "using the public key of {} (fingerprint {})",
            path.display(),
            key.fingerprint_prefix()
        ),
        KeySource::PemText => format!(
            "using the public key given as PEM text (fingerprint {})",
            key.fingerprint_prefix()
        ),
    }
}

#[derive(Serialize)]
struct ProvisionReport<'a> {
    ok: bool,
    device_id: &'a DeviceId,
    attempts: u32,
    fingerprint: &'a str,
    product_id: u16,
    order: &'a str,
    key_source: &'a KeySource,
    response: &'a Value,
}

fn provision_one(ctx: &Ctx, args: &ProvisionArgs, id: &str) -> anyhow::Result<()> {
    // A malformed id is refused before anything else, so no request is made.
    let device_id = DeviceId::parse(id)?;
    let key = ProvisionKey::from_arg(args.keyfile.as_deref())?;
    ctx.info(describe_key(&key));
    let client = client(ctx, args)?;
    ctx.info(format!(
        "attempting to add a new public key for device {device_id}"
    ));
    let attempted = client.provision_counted(&device_id, &key, args.product_id);
    match attempted.result {
        Ok(done) => {
            let report = ProvisionReport {
                ok: true,
                device_id: &done.device_id,
                attempts: done.attempts,
                fingerprint: &done.fingerprint,
                product_id: done.product_id,
                order: &done.order,
                key_source: &key.source,
                response: &done.response,
            };
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
    let entries = read_batch_file(batch)?;
    let generic = Arc::new(ProvisionKey::generic()?);
    let jobs = prepare_jobs(entries, generic, &batch.display().to_string())?;
    let client = client(ctx, args)?;
    let mut report = match &args.report {
        Some(path) => {
            duo_provisioning::keys::check_target(path, args.force)?;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .with_context(|| format!("cannot create the report file {}", path.display()))?;
            Some(BufWriter::new(file))
        }
        None => None,
    };
    ctx.info(format!(
        "provisioning {}, {} at a time",
        plural(jobs.len(), "device"),
        args.concurrency
    ));

    let watch = crate::progress::Watch::new(ctx);
    let mut report_error: Option<std::io::Error> = None;
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
                if let Err(e) = writeln!(w, "{}", tagged("device", result)) {
                    report_error.get_or_insert(e);
                }
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

    if let Some(mut w) = report.take() {
        let written = writeln!(w, "{}", tagged("summary", &summary)).and_then(|()| w.flush());
        if let Err(e) = written {
            report_error.get_or_insert(e);
        }
    }
    print_summary(ctx, &summary);
    if let (Some(e), Some(path)) = (report_error, &args.report) {
        anyhow::bail!("cannot write the report file {}: {e}", path.display());
    }
    if summary.all_ok() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// A serialisable value as a JSON object with `"type": kind` added.
fn tagged(kind: &str, value: &impl Serialize) -> Value {
    let mut v = serde_json::to_value(value).expect("result serialises");
    if let Value::Object(map) = &mut v {
        map.insert("type".into(), Value::String(kind.into()));
    }
    v
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
        out(&tagged("summary", summary).to_string());
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
            let (name, token) = spec
                .split_once('=')
                .filter(|(name, token)| !name.is_empty() && !token.is_empty())
                .with_context(|| format!("--account number {} is not NAME=TOKEN", i + 1))?;
            let token = AccessToken::new(token)
                .with_context(|| format!("--account number {} cannot be used", i + 1))?;
            Ok(Account::new(name).token(token))
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
        duo_provisioning::keys::write_atomic(path, &block, false, true)?;
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
        out(&running.device_addr().to_string());
        if let Some(ca) = running.ca_cert_path() {
            out(&ca.display().to_string());
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
    running.shutdown();
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
