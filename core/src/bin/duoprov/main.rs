//! `duoprov`: the command line front end. Every command renders a core result
//! as human text or, with `--json`, as one JSON document on stdout (the
//! contract is in `output.rs`). Errors go to stderr (and as
//! `{"ok":false,"error":…,"code":…}` on stdout with `--json`); any failure,
//! a failed write to stdout included, exits non-zero.

mod cloud_cmd;
mod dct_cmd;
mod device_cmd;
mod keys_cmd;
mod lifecycle_cmd;
mod normal_cmd;
mod output;
mod progress;
mod remedy;
mod sim_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use output::Ctx;

#[derive(Parser, Debug)]
#[command(
    name = "duoprov",
    version,
    about = "Back up, restore, reset and cloud-provision the keys of RedBear Duo, Photon and P1 boards",
    propagate_version = true
)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Which device to talk to: usb:VID:PID, usb:BUS-PORT, serial:STRING,
    /// id:DEVICE_ID (the board that tells this id, in either mode), sim:DIR.
    #[arg(long, global = true, env = "DUOPROV_DEVICE", value_name = "SELECTOR")]
    device: Option<String>,

    /// If the board runs its firmware (normal mode), put it in DFU mode
    /// first, without its buttons (service request, legacy request or
    /// 14400 baud), for the commands that need DFU mode.
    #[arg(long, global = true)]
    enter_dfu: bool,

    /// The serial port of a board in normal mode (e.g. /dev/ttyACM0), for
    /// the console and the 14400-baud trigger when it cannot be found by
    /// its USB ids in /sys/class/tty.
    #[arg(long, global = true, env = "DUOPROV_SERIAL_PORT", value_name = "PATH")]
    serial_port: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read, explain and edit a DCT (Device Configuration Table).
    #[command(subcommand)]
    Dct(dct_cmd::DctCommand),
    /// Make, inspect, back up, restore and reset device keys; write server keys.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Make and drive a virtual Duo (use it with --device sim:DIR).
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
    /// List boards in DFU mode and in normal mode (USB, or the virtual one
    /// of --device sim:DIR).
    List,
    /// Who a board in normal mode is: device id, firmware version, modules
    /// (USB serial, vendor requests, else the listening-mode console).
    Identify,
    /// Put a board in normal mode into DFU mode, or in and out of listening
    /// mode, without its buttons.
    Mode(normal_cmd::ModeArgs),
    /// Raw DFU reads and writes of a board's memories.
    #[command(subcommand)]
    Dfu(device_cmd::DfuCommand),
    /// Print the udev rule that lets non-root users reach boards in DFU mode.
    Udev,
    /// Send device public keys to the Particle Cloud: one device, or a batch.
    Provision(cloud_cmd::ProvisionArgs),
    /// Run a local cloud (the provisioning API on loopback).
    #[command(subcommand)]
    Cloud(cloud_cmd::CloudCommand),
    /// Check a device's key and server block over DFU (the key is valid and
    /// matches the public key in the DCT; the block says where it connects);
    /// with --handshake, also connect as the device from this host.
    Verify(lifecycle_cmd::VerifyArgs),
    /// The seed guide's key lifecycle on a temporary virtual Duo and a local
    /// cloud, with the real handshake at each boot: every step with what it
    /// did, what was expected and what happened, then a summary table. Exit
    /// 0 only if every expectation held.
    Demo(lifecycle_cmd::DemoArgs),
}

fn main() -> ExitCode {
    // `--json` anywhere before `--` asks for JSON, argument errors included.
    let json_requested = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return output::argument_error(e, json_requested),
    };
    let device_from_env =
        matches.value_source("device") == Some(clap::parser::ValueSource::EnvVariable);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return output::argument_error(e, json_requested),
    };
    let ctx = Ctx {
        json: cli.json,
        device: cli.device,
        device_from_env,
        enter_dfu: cli.enter_dfu,
        port: cli.serial_port,
        ..Ctx::default()
    };
    let result = match cli.command {
        Command::Dct(cmd) => dct_cmd::run(cmd, &ctx),
        Command::Keys(cmd) => keys_cmd::run(cmd, &ctx),
        Command::Sim(cmd) => sim_cmd::run(cmd, &ctx),
        Command::List => device_cmd::list(&ctx),
        Command::Identify => normal_cmd::identify(&ctx),
        Command::Mode(args) => normal_cmd::mode(args, &ctx),
        Command::Dfu(cmd) => device_cmd::run_dfu(cmd, &ctx),
        Command::Udev => {
            device_cmd::udev(&ctx);
            Ok(())
        }
        Command::Provision(args) => cloud_cmd::run_provision(args, &ctx),
        Command::Cloud(cmd) => cloud_cmd::run_cloud(cmd, &ctx),
        Command::Verify(args) => lifecycle_cmd::verify_cmd(&ctx, args),
        Command::Demo(args) => lifecycle_cmd::demo(&ctx, args),
    };
    output::finish(&ctx, result)
}
