//! `duoprov sim …`: make and drive a virtual Duo (a board in a directory).
//! Use it with `--device sim:DIR` as if it were plugged in.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use duo_provisioning::platform::Platform;
use duo_provisioning::sim::duo::serial;
use duo_provisioning::sim::duo::setup::{
    boot_stay, boot_virtual_board, create_virtual_board, CreateRequest,
};
use duo_provisioning::sim::duo::{BootReport, DuoStatus, Fault, Mode, Stats, VirtualDuo};
use serde::Serialize;

use crate::output::Ctx;

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Make a new virtual device in DIR (absent or empty), in DFU mode.
    Create {
        /// The directory holding the virtual board's state (absent or
        /// empty); use it as `--device sim:DIR` (an absolute path keeps
        /// working after `cd`).
        dir: PathBuf,
        /// The 32 KiB DCT region image (both partitions) to start from.
        /// Default: RedBear's factory image (key slots erased).
        #[arg(long, value_name = "DCT.bin")]
        from: Option<PathBuf>,
        /// The MCU's device id, 24 hex digits. Default: random.
        #[arg(long, value_name = "HEX24", value_parser = parse_device_id)]
        device_id: Option<[u8; 12]>,
        /// Scale of every busy time the device declares: 1.0 is a real
        /// board's timing, 0.001 makes a 500 ms DCT write take 1 ms.
        #[arg(long, value_name = "F", default_value_t = 1.0)]
        time_factor: f64,
        /// Board family: duo, photon or p1.
        #[arg(long, default_value = "duo", value_parser = crate::output::parse_platform)]
        platform: &'static Platform,
        /// Duo bootloader revision: r3 (firmware 0.2.0–0.2.3), r4 (0.2.4,
        /// factory boards), r5 (0.3.0/0.3.1) or r6 (0.3.2+). It decides the
        /// DFU descriptors (bcdDevice, serial), the internal-flash map
        /// (16 KiB bootloader and DCT at 0x08004000 on r3/r4, 32 KiB and
        /// 0x08008000 on r5/r6) and the DFU timing and failures. Default:
        /// the factory board's (r4 on a Duo; Photon and P1 have one).
        #[arg(long, value_name = "REV")]
        bootloader: Option<String>,
        /// System firmware: 0.2.4, 0.3.1, 0.3.3 or none. It decides the DCT
        /// layout, the key rules at boot and normal mode. Firmware 0.3.x
        /// replaces an r3/r4 bootloader at its first boot; r5/r6 with
        /// 0.2.4 is refused (that destroys the bootloader). Default: the
        /// factory board's (0.2.4 on a Duo; none on a Photon / P1).
        #[arg(long, value_name = "VERSION")]
        firmware: Option<String>,
    },
    /// Reset the board into its firmware (like tapping RESET): the firmware
    /// keeps the key in the slot, or generates one if the slot's first byte
    /// is 0xFF, then connects to the cloud in its server key block (DCT
    /// 2082) with the real handshake: prints `connected to HOST:PORT` or
    /// `rejected at STEP: REASON` (exit 1). Only loopback addresses are
    /// tried; for others (the factory device.spark.io) it says where it
    /// would connect. The device then no longer answers DFU.
    Boot {
        /// The virtual board's directory (as made by `sim create`).
        dir: PathBuf,
        /// Stay connected SECONDS (device time, scaled by the time factor),
        /// with a keep-alive ping every 15 s.
        #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
        stay: f64,
    },
    /// Put the board back in DFU mode (hold SETUP, tap RESET).
    Dfu {
        /// The virtual board's directory (as made by `sim create`).
        dir: PathBuf,
    },
    /// Serve the board's serial port until it leaves firmware mode (what
    /// `sim boot` starts in the background).
    #[command(hide = true)]
    ServeSerial {
        /// The virtual board's directory.
        dir: PathBuf,
    },
    /// Arm failures for the next DFU session: stall:N (the Nth request),
    /// write-error:N / address-error:N (the Nth data block fails as on the
    /// real bootloader: the GETSTATUS that runs it stalls), vanish:BYTES
    /// (disconnect after BYTES of download data), stuck-busy:N (the Nth data
    /// block never finishes), short-status:N[:LEN] (the Nth GETSTATUS reply
    /// cut to LEN bytes). Each fires once.
    Fault {
        /// The virtual board's directory (as made by `sim create`).
        dir: PathBuf,
        /// Faults to arm, e.g. write-error:1 stall:3.
        #[arg(value_name = "SPEC", value_parser = parse_fault)]
        faults: Vec<Fault>,
        /// Disarm every armed fault first.
        #[arg(long)]
        clear: bool,
        /// Only list armed and fired faults.
        #[arg(long, conflicts_with_all = ["faults", "clear"])]
        list: bool,
    },
    /// Mode, device id, time factor, faults, last boot and counters.
    Show {
        /// The virtual board's directory (as made by `sim create`).
        dir: PathBuf,
    },
    /// The device's counters (control transfers, reported poll time, time
    /// spent in operations, blocks).
    Stats {
        /// The virtual board's directory (as made by `sim create`).
        dir: PathBuf,
        /// Zero the counters after printing them.
        #[arg(long)]
        reset: bool,
    },
}

fn parse_device_id(s: &str) -> Result<[u8; 12], String> {
    duo_provisioning::cloud::DeviceId::parse(s.trim())
        .map(|id| id.to_bytes())
        .map_err(|e| e.to_string())
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    s.parse()
}

pub fn run(cmd: SimCommand, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        SimCommand::Create {
            dir,
            from,
            device_id,
            time_factor,
            platform,
            bootloader,
            firmware,
        } => create(
            ctx,
            &dir,
            &CreateRequest {
                platform,
                bootloader,
                firmware,
                dct_image_file: from,
                device_id,
                time_factor,
            },
        ),
        SimCommand::Boot { dir, stay } => boot(ctx, &dir, stay),
        SimCommand::ServeSerial { dir } => {
            let stop = std::sync::atomic::AtomicBool::new(false);
            serial::serve(&dir, duo_provisioning::time::system(), &stop, |_| {})?;
            Ok(())
        }
        SimCommand::Dfu { dir } => {
            let mut duo = VirtualDuo::open(&dir)?;
            duo.enter_dfu()?;
            let view = View::of(&duo);
            ctx.emit(&view, || {
                format!(
                    "{} is in DFU mode (LED blinking yellow): use --device sim:{}",
                    dir.display(),
                    dir.display()
                )
            });
            Ok(())
        }
        SimCommand::Fault {
            dir,
            faults,
            clear,
            list,
        } => fault(ctx, &dir, faults, clear, list),
        SimCommand::Show { dir } => {
            let duo = VirtualDuo::open(&dir)?;
            let view = View::of(&duo);
            ctx.emit(&view, || view.render());
            Ok(())
        }
        SimCommand::Stats { dir, reset } => {
            let mut duo = VirtualDuo::open(&dir)?;
            let stats = duo.stats();
            if reset {
                duo.reset_stats()?;
            }
            ctx.emit(
                &serde_json::json!({ "dir": dir, "stats": stats, "reset": reset }),
                || {
                    let mut text = render_stats(&stats);
                    if reset {
                        text.push_str("\n(counters reset to zero)");
                    }
                    text
                },
            );
            Ok(())
        }
    }
}

fn create(ctx: &Ctx, dir: &Path, request: &CreateRequest) -> anyhow::Result<()> {
    let duo = create_virtual_board(dir, request)?;
    let board = duo.board();
    let view = View::of(&duo);
    ctx.emit(&view, || {
        format!(
            "created a virtual {} in {} ({}; DFU mode, device id {}, time factor {})\n\
             use it with --device sim:{}",
            board.platform.display_name,
            dir.display(),
            board.describe(),
            view.device_id,
            view.time_factor,
            dir.display()
        )
    });
    Ok(())
}

fn boot(ctx: &Ctx, dir: &Path, stay: f64) -> anyhow::Result<()> {
    let stay = boot_stay(stay, "--stay")?;
    // The board's lock is let go before the serial server starts.
    let mut result = boot_virtual_board(dir, stay)?;
    if result.has_firmware {
        let exe = std::env::current_exe().context("cannot find the duoprov executable")?;
        let mut command = std::process::Command::new(exe);
        command.arg("sim").arg("serve-serial").arg(dir);
        result.serial_port = Some(
            serial::spawn_server(
                command,
                dir,
                duo_provisioning::time::system().as_ref(),
                std::time::Duration::from_secs(10),
            )
            .with_context(|| {
                format!(
                    "{} booted, but its serial port did not start",
                    dir.display()
                )
            })?,
        );
    }
    ctx.emit(&result, || {
        describe_boot(dir, result.serial_port.as_deref(), &result.report)
    });
    match &result.report.connection {
        Some(c) if c.is_rejected() => Err(crate::output::Verdict {
            code: "CLOUD_REJECTED",
            error: format!("the connection to the cloud was {c}"),
        }
        .into()),
        _ => Ok(()),
    }
}

fn describe_boot(dir: &Path, port: Option<&Path>, report: &BootReport) -> String {
    let port = match port {
        Some(port) => format!(
            "serial port: {} (linked as {})",
            port.display(),
            dir.join(serial::PORT_LINK).display()
        ),
        None => "no serial port: the board has no system firmware".to_string(),
    };
    let connection = report
        .connection
        .as_ref()
        .map(|c| format!("{c}\n"))
        .unwrap_or_default();
    format!(
        "{} is running firmware: {}\n{connection}{port}\nback to DFU mode: duoprov sim dfu {}",
        dir.display(),
        boot_summary(report),
        dir.display()
    )
}

/// What the firmware did with the key slot.
fn boot_summary(report: &BootReport) -> String {
    match (report.generated_key, &report.fingerprint) {
        (true, Some(fp)) => format!(
            "the key slot was empty (first byte 0xFF): the firmware generated a new RSA-1024 \
             key, sha256 fingerprint {fp}"
        ),
        (true, None) => "the firmware generated a new key".to_string(),
        (false, Some(fp)) => format!("kept the key in the slot, sha256 fingerprint {fp}"),
        (false, None) => format!(
            "kept the slot (first byte 0x{:02X}) although it is not a valid key: this device \
             will fail the cloud handshake. Fix it with `duoprov keys reset` or `duoprov keys \
             load BACKUP` in DFU mode",
            report.slot_first_byte
        ),
    }
}

fn fault(ctx: &Ctx, dir: &Path, faults: Vec<Fault>, clear: bool, list: bool) -> anyhow::Result<()> {
    let mut duo = VirtualDuo::open(dir)?;
    if !list && !clear && faults.is_empty() {
        anyhow::bail!("give a fault to arm (e.g. write-error:1), --clear to disarm all, or --list");
    }
    if clear {
        duo.clear_faults()?;
    }
    for f in faults {
        duo.arm_fault(f)?;
    }
    let view = View::of(&duo);
    ctx.emit(
        &serde_json::json!({
            "dir": dir, "armed": view.armed_faults, "fired": view.fired_faults,
        }),
        || {
            format!(
                "armed: {}\nfired: {}",
                list_or_none(&view.armed_faults),
                list_or_none(&view.fired_faults)
            )
        },
    );
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What `sim show` (and the other commands with --json) report.
#[derive(Serialize)]
#[serde(transparent)]
struct View(DuoStatus);

impl std::ops::Deref for View {
    type Target = DuoStatus;
    fn deref(&self) -> &DuoStatus {
        &self.0
    }
}

impl View {
    fn of(duo: &VirtualDuo) -> View {
        View(duo.status())
    }

    fn render(&self) -> String {
        let mode = match (self.mode, self.connected) {
            (Mode::Dfu, true) => "DFU mode (bootloader, answers DFU)".to_string(),
            (Mode::Dfu, false) => format!(
                "disconnected (vanish fault); reconnect with `duoprov sim dfu {}`",
                self.dir.display()
            ),
            (Mode::Firmware, _) if self.listening => {
                "running firmware, in listening mode (does not answer DFU)".to_string()
            }
            (Mode::Firmware, _) => "running firmware (does not answer DFU)".to_string(),
        };
        let port = match &self.serial_port {
            Some(path) => path.display().to_string(),
            None => "none".to_string(),
        };
        let boot = match (&self.last_boot, &self.last_boot_error) {
            (_, Some(e)) => format!("failed: {e}"),
            (Some(b), None) => boot_summary(b),
            (None, None) => "never booted".to_string(),
        };
        format!(
            "directory:     {}\nplatform:      {}\nbootloader:    {}\nfirmware:      {}\n\
             mode:          {mode}\ndevice id:     {}\nserial port:   {port}\n\
             time factor:   {}\narmed faults:  {}\nfired faults:  {}\nlast boot:     {boot}\n{}",
            self.dir.display(),
            self.platform,
            self.bootloader,
            self.firmware.unwrap_or("none"),
            self.device_id,
            self.time_factor,
            list_or_none(&self.armed_faults),
            list_or_none(&self.fired_faults),
            render_stats(&self.stats)
        )
    }
}

fn render_stats(s: &Stats) -> String {
    format!(
        "control transfers:     {}\n\
         reported poll time:    {} ms\n\
         time the bus was held: {} ms\n\
         data blocks down/up:   {} / {}\n\
         stalls:                {}",
        s.control_transfers,
        s.poll_timeout_ms_total,
        s.busy_us_total / 1000,
        s.data_blocks_downloaded,
        s.data_blocks_uploaded,
        s.stalls
    )
}
