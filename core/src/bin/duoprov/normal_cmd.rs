//! `duoprov identify` and `duoprov mode`: a board in normal mode (firmware
//! running), without its buttons (REFERENCE §7), on USB or virtual
//! (`sim:DIR`). The work is the library's `normal::board`; this file parses
//! arguments and renders reports.

use std::time::Duration;

use clap::{Args, ValueEnum};
use duo_provisioning::normal::board;
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
    /// Listening mode (LED blinking blue): the firmware's serial console.
    Listen,
    /// Leave listening mode: the firmware runs on (normal operation).
    Normal,
}

pub fn identify(ctx: &Ctx) -> anyhow::Result<()> {
    let selector = selector(ctx)?;
    let report = board::identify(
        selector.as_ref(),
        ctx.port.as_deref(),
        duo_provisioning::time::system().as_ref(),
    )?;
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
            "board:            {}\ndevice id:        {} (from {:?})\nfirmware version: {}\nmodules:          {}",
            report.board,
            id.device_id,
            id.device_id_from,
            id.firmware_version.as_deref().unwrap_or("unknown"),
            modules
        )
    });
    Ok(())
}

pub fn mode(args: ModeArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let selector = selector(ctx)?;
    let clock = duo_provisioning::time::system();
    let port = ctx.port.as_deref();
    let on = match args.target {
        Target::Dfu => {
            let routes = Routes {
                service: !args.no_service_request,
                legacy: !args.no_legacy_request,
                baud: !args.no_baud_trigger,
            };
            let report = board::enter_dfu(
                selector.as_ref(),
                port,
                clock.as_ref(),
                routes,
                Duration::from_secs(args.timeout),
            )?;
            ctx.emit(&report, || {
                format!(
                    "{} is in DFU mode at {}: entered by {:?}, recognised by its {}",
                    report.board,
                    report.dfu_board,
                    report.route,
                    report.matched_by.replace('_', " ")
                )
            });
            return Ok(());
        }
        Target::Listen => true,
        Target::Normal => false,
    };
    let report = board::set_listening(selector.as_ref(), port, clock.as_ref(), on)?;
    ctx.emit(&report, || {
        format!(
            "{} {} listening mode (by {:?})",
            report.board,
            if report.listening { "is in" } else { "left" },
            report.route
        )
    });
    Ok(())
}
