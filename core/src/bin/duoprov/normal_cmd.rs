//! `duoprov identify` and `duoprov mode`: a board in normal mode (firmware
//! running), without its buttons (REFERENCE §7). The work is the library's
//! `normal` module; this file parses arguments and renders reports.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use duo_provisioning::normal::virtual_board;
use duo_provisioning::normal::workflow::Routes;

use crate::device_cmd::selector;
use crate::output::Ctx;

#[derive(Args, Debug)]
pub struct ModeArgs {
    /// The mode to put the board in.
    pub target: Target,
    /// Do not use Particle's service requests (firmware 0.3.2+).
    #[arg(long)]
    pub no_service_request: bool,
    /// Do not use the legacy 0x50 vendor request (firmware 0.3.0+).
    #[arg(long)]
    pub no_legacy_request: bool,
    /// Do not use the 14400-baud trigger on the serial port.
    #[arg(long)]
    pub no_baud_trigger: bool,
    /// Seconds to wait for the board to come back in DFU mode.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum Target {
    /// DFU mode (LED blinking yellow): the bootloader, for key work.
    Dfu,
}

/// The virtual board the selector names; USB boards in normal mode are not
/// reached yet.
fn sim_dir(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    match selector(ctx)? {
        Some(sel) if sel.sim_dir().is_some() => Ok(sel.sim_dir().unwrap().to_path_buf()),
        _ => anyhow::bail!(
            "identify and mode need --device sim:DIR for now: boards in normal mode are reached \
             only as virtual Duos in this version. For a USB board, enter DFU mode with the \
             buttons (hold SETUP, tap RESET)"
        ),
    }
}

pub fn identify(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = sim_dir(ctx)?;
    let report = virtual_board::identify(&dir, duo_provisioning::time::system().as_ref())?;
    ctx.emit(&report, || {
        let id = &report.identity;
        let modules = match &id.modules {
            Some(m) => m
                .modules
                .iter()
                .map(|m| {
                    format!(
                        "{}{} v{} ({} bytes)",
                        m.function, m.index, m.version, m.size
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            None => "unknown".into(),
        };
        format!(
            "device id:        {} (from {:?})\nfirmware version: {}\nmodules:          {}",
            id.device_id,
            id.device_id_from,
            id.firmware_version.as_deref().unwrap_or("unknown"),
            modules
        )
    });
    Ok(())
}

pub fn mode(args: ModeArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let dir = sim_dir(ctx)?;
    let Target::Dfu = args.target;
    let routes = Routes {
        service: !args.no_service_request,
        legacy: !args.no_legacy_request,
        baud: !args.no_baud_trigger,
    };
    let report = virtual_board::enter_dfu(
        &dir,
        duo_provisioning::time::system().as_ref(),
        routes,
        Duration::from_secs(args.timeout),
    )?;
    ctx.emit(&report, || {
        format!(
            "{} is in DFU mode: entered by {:?}, recognised by its {}",
            dir.display(),
            report.route,
            report.matched_by.replace('_', " ")
        )
    });
    Ok(())
}
