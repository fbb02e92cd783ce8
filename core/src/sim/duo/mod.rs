//! The virtual Duo: a board in a directory, behaving like the Duo's DFU
//! bootloader and, for the key slot, like its firmware (REFERENCE §1–§2).
//!
//! - [`usb`]: descriptors and standard requests (what `dfu-util -l` sees);
//! - [`dfu`]: the DFU 1.1 / DfuSe state machine of ST's DFU class;
//! - `memory`, [`media`]: internal flash and serial flash as NOR, alt 1 as the
//!   application DCT with its copy-on-write, and what each medium declares
//!   as its busy time (the memory maps are parsed by [`crate::dfu::layout`],
//!   the states and status codes are [`crate::dfu::protocol`]'s);
//! - `boot`: the firmware's key rule at boot;
//! - [`faults`]: injected failures;
//! - `store`: the state directory shared by processes;
//! - [`SimTransport`]: the in-process [`ControlTransport`].
//!
//! A device is in DFU mode (it enumerates as 2b04:d058 and answers DFU) or
//! runs firmware (it does not answer at all: [`TransportError::NoDevice`]).
//! Leaving DFU and [`VirtualDuo::boot`] run the firmware; [`VirtualDuo::enter_dfu`]
//! is the SETUP + RESET buttons.

mod boot;
mod clock;
mod connect;
pub mod dfu;
mod error;
pub mod faults;
pub mod firmware;
pub mod media;
mod memory;
mod reset;
pub mod serial;
pub mod setup;
mod status;
mod store;
mod transport;
pub mod usb;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dfu::protocol::{request, DfuState, DfuStatus};
use crate::dfu::transport::{Setup, TransportError};
use crate::platform::{self, Board, Platform};
use crate::time::Clock;

pub use crate::protocol::connect::{ConnectOutcome, HELLO_DEADLINE, KEEP_ALIVE_INTERVAL};
pub use boot::BootReport;
pub use clock::ManualClock;
pub use connect::ServerKeySource;
pub use error::SimError;
pub use faults::Fault;
pub use status::DuoStatus;
pub use store::STATE_FILE;
pub use transport::SimTransport;

use clock::DeviceClock;
use dfu::{Dfu, DfuRegs, Outcome};
use faults::FaultPlan;
use memory::Memory;
use usb::UsbRegs;

/// What the board is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The bootloader's DFU mode (LED blinking yellow).
    Dfu,
    /// Running firmware: no DFU interface.
    Firmware,
}

/// Counters, persisted with the device so a benchmark can read them after
/// the host process ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Control transfers the device answered (STALLs included).
    pub control_transfers: u64,
    /// Sum of the bwPollTimeouts the device reported when it ran a block,
    /// in ms (after time scaling; REFERENCE §1: 1 ms per DCT data block).
    pub poll_timeout_ms_total: u64,
    /// Sum of the time the device held the bus running operations inside
    /// GETSTATUS, in µs (after time scaling): the protocol's real floor.
    #[serde(default)]
    pub busy_us_total: u64,
    pub data_blocks_downloaded: u64,
    pub data_blocks_uploaded: u64,
    pub stalls: u64,
}

/// How to make a new virtual device.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub platform: &'static Platform,
    /// Bootloader revision and system firmware (`platform` must be the
    /// board's); default the platform's factory board (Duo: r4 + 0.2.4).
    pub board: Option<Board>,
    /// The 32 KiB DCT region (both partitions); default
    /// [`Platform::initial_dct_image`].
    pub dct_image: Option<Vec<u8>>,
    /// The MCU's 12-byte device id; default random.
    pub device_id: Option<[u8; 12]>,
    /// Scale of every declared busy time: 1.0 = real device timing.
    pub time_factor: f64,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            platform: &platform::DUO,
            board: None,
            dct_image: None,
            device_id: None,
            time_factor: 1.0,
        }
    }
}

/// How `boot_with` treats the cloud connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// Keep the session up this long (device time, scaled by the time
    /// factor), with a keep-alive ping every 15 s.
    pub stay: std::time::Duration,
}

/// What the state file says, readable without taking the device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub platform: &'static Platform,
    /// Bootloader revision and system firmware.
    pub board: Board,
    pub mode: Mode,
    /// False after the vanish fault fired, until `enter_dfu`, and while the
    /// board re-enumerates after a reset into DFU mode.
    pub connected: bool,
    pub device_id: [u8; 12],
    pub time_factor: f64,
    /// Normal mode: in listening mode.
    pub listening: bool,
}

/// How long a board takes to re-enumerate in DFU mode after its firmware
/// resets it (the simulator's figure, scaled by the time factor).
pub const REENUMERATE_MS: u64 = 1000;

/// Version of the state file. 2: DFU states and status codes are stored by
/// their spec names (`dfuIDLE`, `errWRITE`). 3: the bootloader revision and
/// the system firmware.
const STATE_FORMAT: u32 = 3;

/// Everything of the device except the flash images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DeviceState {
    format: u32,
    platform: String,
    /// `r3` … `r6` (`particle` on a Photon / P1).
    bootloader: String,
    /// `0.2.4`, `0.3.1`, `0.3.3`, or none.
    firmware: Option<String>,
    #[serde(with = "hex_id")]
    device_id: [u8; 12],
    time_factor: f64,
    mode: Mode,
    disconnected: bool,
    usb: UsbRegs,
    dfu: DfuRegs,
    faults: FaultPlan,
    stats: Stats,
    boots: u64,
    last_boot: Option<BootReport>,
    last_boot_error: Option<String>,
    /// Normal mode: the service requests in flight (REFERENCE §7).
    #[serde(default)]
    service: firmware::ServiceRegs,
    /// Normal mode: listening mode (LED blinking blue).
    #[serde(default)]
    listening: bool,
    /// After a reset into DFU mode by request or baud rate: the board is
    /// off the bus until then (re-enumerating), in calendar time.
    #[serde(default)]
    reappear_at: Option<std::time::SystemTime>,
    /// After the leave GETSTATUS: when the bootloader saves its system
    /// flags and resets into firmware (REFERENCE §1, ~500 ms), in calendar
    /// time. Until then the board stays in dfuMANIFEST_WAIT_RESET.
    #[serde(default)]
    reset_at: Option<std::time::SystemTime>,
    /// The bootloader booted a WICED application (`wiced_application` =
    /// 0x5AA5, REFERENCE §1) instead of the system firmware: no Particle
    /// USB face, no key rule, no cloud.
    #[serde(default)]
    wiced_app_running: bool,
}

impl DeviceState {
    fn platform(&self, dir: &Path) -> Result<&'static Platform, SimError> {
        platform::by_name(&self.platform).ok_or_else(|| SimError::Corrupt {
            path: dir.join(STATE_FILE),
            detail: format!("unknown platform {:?}", self.platform),
        })
    }

    fn board(&self, dir: &Path) -> Result<Board, SimError> {
        let platform = self.platform(dir)?;
        let firmware = self.firmware.as_deref().unwrap_or("none");
        Board::by_names(platform, &self.bootloader, firmware).map_err(|e| SimError::Corrupt {
            path: dir.join(STATE_FILE),
            detail: e.to_string(),
        })
    }
}

/// The format number alone, so an old state file is named as such rather
/// than as a field that does not parse.
#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

fn check_format(dir: &Path) -> Result<(), SimError> {
    let FormatOnly { format } = store::read_state(dir)?;
    if format != STATE_FORMAT {
        return Err(SimError::Corrupt {
            path: dir.join(STATE_FILE),
            detail: format!("state format {format} (this build reads {STATE_FORMAT})"),
        });
    }
    Ok(())
}

/// An open virtual device. Holds the device's lock until dropped.
#[derive(Debug)]
pub struct VirtualDuo {
    dir: PathBuf,
    _lock: File,
    clock: DeviceClock,
    board: Board,
    state: DeviceState,
    /// The state file's content as last written.
    written: String,
    mem: Memory,
    /// The caller's control-transfer timeout (`None`: wait as long as the
    /// device takes), honoured by every transfer.
    timeout: Option<Duration>,
    /// The face this handle sees on the bus: a handle opened to the DFU
    /// bootloader loses the board when it boots its firmware (the board
    /// re-enumerates as another USB device), and one opened in normal mode
    /// loses it when it resets into DFU mode.
    enumerated_as: Mode,
}

impl VirtualDuo {
    /// Make a new device in `dir` (absent or empty), in DFU mode, and open it.
    pub fn create(dir: &Path, options: CreateOptions) -> Result<Self, SimError> {
        Self::create_with_clock(dir, options, crate::time::system())
    }

    /// See [`check_time_factor`].
    pub fn create_with_clock(
        dir: &Path,
        options: CreateOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SimError> {
        let board = options
            .board
            .unwrap_or_else(|| Board::factory(options.platform));
        let platform = board.platform;
        check_time_factor(options.time_factor)?;
        let image = options
            .dct_image
            .unwrap_or_else(|| platform.initial_dct_image().to_vec());
        let expected = 2 * platform.dct_partition_size;
        if image.len() != expected {
            return Err(SimError::DctImageSize {
                expected,
                got: image.len(),
            });
        }
        // The bootloader and firmware need a current partition to work with.
        crate::dct::DctImage::from_bytes(platform, &image)?.current_partition()?;
        let device_id = match options.device_id {
            Some(id) => id,
            None => {
                let mut id = [0u8; 12];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
                id
            }
        };
        let new_dir = std::fs::symlink_metadata(dir).is_err();
        store::check_creatable(dir)?;
        // The directory was absent or empty: a failure half-way (a full
        // disk) takes back what was made, so no half board is left.
        let made = Self::create_in(dir, board, &image, device_id, options.time_factor, clock);
        if made.is_err() {
            store::undo_create(dir, new_dir);
        }
        made
    }

    fn create_in(
        dir: &Path,
        board: Board,
        image: &[u8],
        device_id: [u8; 12],
        time_factor: f64,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SimError> {
        let platform = board.platform;
        let lock = store::lock(dir, clock.as_ref(), store::LOCK_PATIENCE)?;
        let mem = Memory::create(dir, board, image)?;
        let state = DeviceState {
            format: STATE_FORMAT,
            platform: platform.name.to_string(),
            bootloader: board.bootloader.name.to_string(),
            firmware: board.firmware.map(|f| f.version.to_string()),
            device_id,
            time_factor,
            mode: Mode::Dfu,
            disconnected: false,
            usb: UsbRegs::default(),
            dfu: DfuRegs::default(),
            faults: FaultPlan::default(),
            stats: Stats::default(),
            boots: 0,
            last_boot: None,
            last_boot_error: None,
            service: Default::default(),
            listening: false,
            reappear_at: None,
            reset_at: None,
            wiced_app_running: false,
        };
        let mut duo = VirtualDuo {
            dir: dir.to_path_buf(),
            _lock: lock,
            clock: DeviceClock::new(clock),
            board,
            state,
            written: String::new(),
            mem,
            timeout: None,
            enumerated_as: Mode::Dfu,
        };
        duo.persist()?;
        Ok(duo)
    }

    /// Open the device in `dir`, in whatever mode it is.
    pub fn open(dir: &Path) -> Result<Self, SimError> {
        Self::open_with_clock(dir, crate::time::system())
    }

    pub fn open_with_clock(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, SimError> {
        Self::open_within(dir, clock, store::LOCK_PATIENCE)
    }

    /// Open the device only if nobody holds it right now ([`SimError::Busy`]
    /// at once otherwise): for callers with something better to do than
    /// wait, like answering a descriptor request from the platform table.
    pub fn try_open(dir: &Path) -> Result<Self, SimError> {
        Self::open_within(dir, crate::time::system(), std::time::Duration::ZERO)
    }

    fn open_within(
        dir: &Path,
        clock: Arc<dyn Clock>,
        patience: std::time::Duration,
    ) -> Result<Self, SimError> {
        check_format(dir)?;
        let lock = store::lock(dir, clock.as_ref(), patience)?;
        // Re-read under the lock: the previous holder may have just written.
        let state: DeviceState = store::read_state(dir)?;
        let board = state.board(dir)?;
        let mem = Memory::open(dir, board)?;
        let written = serde_json::to_string_pretty(&state).unwrap_or_default();
        let mut duo = VirtualDuo {
            dir: dir.to_path_buf(),
            _lock: lock,
            clock: DeviceClock::new(clock),
            board,
            enumerated_as: state.mode,
            state,
            written,
            mem,
            timeout: None,
        };
        // A reset that came due while nobody held the board has happened;
        // whoever opens it finds the board as the reset left it.
        if duo.settle()? {
            duo.enumerated_as = duo.state.mode;
        }
        Ok(duo)
    }

    /// Read what the device is without taking it (for listing devices while
    /// another program may hold one).
    pub fn probe(dir: &Path) -> Result<DeviceInfo, SimError> {
        check_format(dir)?;
        let state: DeviceState = store::read_state(dir)?;
        Ok(DeviceInfo {
            platform: state.platform(dir)?,
            board: state.board(dir)?,
            mode: state.mode,
            connected: !state.disconnected
                && match state.reappear_at {
                    Some(at) => DeviceClock::new(crate::time::system()).now() >= at,
                    None => true,
                },
            device_id: state.device_id,
            time_factor: state.time_factor,
            listening: state.listening,
        })
    }

    fn persist(&mut self) -> Result<(), SimError> {
        let json = serde_json::to_string_pretty(&self.state).map_err(|e| SimError::Corrupt {
            path: self.dir.join(STATE_FILE),
            detail: e.to_string(),
        })?;
        if json != self.written {
            store::write_state(&self.dir, &json)?;
            self.written = json;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn platform(&self) -> &'static Platform {
        self.board.platform
    }

    /// Bootloader revision and system firmware.
    pub fn board(&self) -> Board {
        self.board
    }

    pub fn mode(&self) -> Mode {
        self.state.mode
    }

    /// Whether the device is on the bus (false after the vanish fault).
    pub fn connected(&self) -> bool {
        !self.state.disconnected
    }

    pub fn device_id(&self) -> [u8; 12] {
        self.state.device_id
    }

    /// The device id as 24 lower-case hex digits.
    pub fn device_id_hex(&self) -> String {
        hex::encode(self.state.device_id)
    }

    pub fn time_factor(&self) -> f64 {
        self.state.time_factor
    }

    pub fn set_time_factor(&mut self, factor: f64) -> Result<(), SimError> {
        check_time_factor(factor)?;
        self.state.time_factor = factor;
        self.persist()
    }

    /// The caller's control-transfer timeout: a transfer the device holds
    /// longer (an operation inside GETSTATUS, REFERENCE §1) fails with
    /// [`TransportError::Timeout`] after it, while the device carries on.
    pub fn set_transfer_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The DFU class's state and status as the device holds them.
    pub fn dfu_state(&self) -> (DfuState, DfuStatus) {
        (self.state.dfu.state, self.state.dfu.status)
    }

    /// The application DCT of the current partition (REFERENCE §2 table,
    /// [`platform::APP_DCT_SIZE`] bytes): what alt 1 reads.
    pub fn app_dct_bytes(&self) -> Vec<u8> {
        self.mem.app_dct_read(0, self.board.dct_layout().size())
    }

    /// The DCT region (both partitions) as it is in internal flash.
    pub fn dct_region(&self) -> &[u8] {
        self.mem.dct_region()
    }

    /// The whole internal flash image (index 0 = 0x08000000).
    pub fn internal_flash(&self) -> &[u8] {
        self.mem.internal()
    }

    /// The whole serial flash image, if the platform has one.
    pub fn serial_flash(&self) -> Option<&[u8]> {
        self.mem.serial()
    }

    pub fn stats(&self) -> Stats {
        self.state.stats.clone()
    }

    pub fn reset_stats(&mut self) -> Result<(), SimError> {
        self.state.stats = Stats::default();
        self.persist()
    }

    /// How the last boot treated the key slot, and the error if it failed.
    pub fn last_boot(&self) -> (Option<&BootReport>, Option<&str>) {
        (
            self.state.last_boot.as_ref(),
            self.state.last_boot_error.as_deref(),
        )
    }

    /// Arm a fault (see [`Fault`]); it fires in whichever process reaches it.
    pub fn arm_fault(&mut self, fault: Fault) -> Result<(), SimError> {
        self.state
            .faults
            .arm(fault)
            .map_err(SimError::InvalidFault)?;
        self.persist()
    }

    pub fn clear_faults(&mut self) -> Result<(), SimError> {
        self.state.faults.clear();
        self.persist()
    }

    /// Faults armed and not yet fired.
    pub fn armed_faults(&self) -> Vec<Fault> {
        self.state
            .faults
            .armed
            .iter()
            .map(|a| a.fault.clone())
            .collect()
    }

    /// Faults that have fired, oldest first.
    pub fn fired_faults(&self) -> &[Fault] {
        &self.state.faults.fired
    }

    /// Reset into firmware (DFU leave, `duoprov sim boot`): the firmware's
    /// key rule runs (REFERENCE §2), then its cloud connection (§5, see
    /// [`ConnectOutcome`]). The device ends in firmware mode even if the
    /// rule fails (e.g. a damaged DCT); the error is returned and kept.
    pub fn boot(&mut self) -> Result<BootReport, SimError> {
        self.boot_with(BootOptions::default())
    }

    /// [`VirtualDuo::boot`], staying connected as `options` say.
    pub fn boot_with(&mut self, options: BootOptions) -> Result<BootReport, SimError> {
        self.state.disconnected = false;
        self.state.dfu = DfuRegs::default();
        self.state.usb = UsbRegs::default();
        self.state.boots += 1;
        self.state.service = Default::default();
        self.state.listening = false;
        self.state.reappear_at = None;
        self.state.reset_at = None;
        self.state.wiced_app_running = false;
        if self.board.firmware.is_none() {
            // No system firmware: the bootloader stays in DFU mode.
            self.state.mode = Mode::Dfu;
            let e = SimError::NoFirmware {
                dir: self.dir.clone(),
            };
            self.state.last_boot = None;
            self.state.last_boot_error = Some(e.to_string());
            self.persist()?;
            return Err(e);
        }
        self.state.mode = Mode::Firmware;
        if let Some(report) = self.wiced_application()? {
            return Ok(report);
        }
        self.install_newer_bootloader()?;
        let mut result = boot::apply_key_rule(&mut self.mem);
        if matches!(&result, Ok(report) if report.reset_after_key) {
            // REFERENCE §2: after generating its key the firmware resets.
            self.state.boots += 1;
        }
        if let Ok(report) = &mut result {
            let clock = self.clock.clone();
            let platform = self.platform();
            let builtin = self.board.firmware.is_some_and(|f| f.builtin_server_key);
            let block = platform::known_field("server_public_key");
            report.server_key = Some(connect::server_key_source(
                &self.mem.app_dct_read(block.offset, block.size),
                builtin,
            ));
            report.connection = Some(connect::connect(
                &self.mem,
                connect::ConnectContext {
                    platform,
                    device_id: self.state.device_id,
                    stay: options.stay,
                    time_factor: self.state.time_factor,
                    sleep: &|d| clock.sleep(d),
                    builtin_server_key: builtin,
                },
            ));
        }
        match &result {
            Ok(report) => {
                self.state.last_boot = Some(report.clone());
                self.state.last_boot_error = None;
            }
            Err(e) => {
                self.state.last_boot = None;
                self.state.last_boot_error = Some(e.to_string());
            }
        }
        self.persist()?;
        result
    }

    /// The system firmware replaces an older bootloader with its own at
    /// boot (0.3.x over r3/r4, REFERENCE §1), moving the flash map to the
    /// 32 KiB generation.
    fn install_newer_bootloader(&mut self) -> Result<(), SimError> {
        let after = self.board.after_boot();
        if after != self.board {
            self.mem.install_bootloader(after)?;
            self.board = after;
            self.state.bootloader = after.bootloader.name.to_string();
        }
        Ok(())
    }

    /// The buttons: reset into the bootloader's DFU mode with a fresh DFU
    /// state (dfuIDLE). Also reconnects a vanished device.
    pub fn enter_dfu(&mut self) -> Result<(), SimError> {
        self.enter_dfu_state();
        // Whoever pressed the buttons reopens the board in DFU mode.
        self.enumerated_as = Mode::Dfu;
        self.persist()
    }

    fn enter_dfu_state(&mut self) {
        self.state.mode = Mode::Dfu;
        self.state.reset_at = None;
        self.state.wiced_app_running = false;
        self.state.service = Default::default();
        self.state.listening = false;
        self.state.reappear_at = None;
        self.state.disconnected = false;
        self.state.dfu = DfuRegs::default();
        self.state.usb = UsbRegs::default();
    }

    /// The 18-byte device descriptor.
    pub fn device_descriptor(&self) -> [u8; 18] {
        match (self.state.mode, self.board.firmware) {
            (Mode::Firmware, Some(_)) => firmware::device_descriptor(&self.board),
            _ => usb::device_descriptor(&self.board),
        }
    }

    /// The configuration descriptor with its interface and DFU functional
    /// descriptors.
    pub fn config_descriptor(&self) -> Vec<u8> {
        match (self.state.mode, self.board.firmware) {
            (Mode::Firmware, Some(_)) => firmware::config_descriptor(),
            _ => usb::config_descriptor(&self.board),
        }
    }

    /// String descriptor `index` as sent on the wire.
    pub fn string_descriptor(&self, index: u8) -> Option<Vec<u8>> {
        match (self.state.mode, self.board.firmware) {
            (Mode::Firmware, Some(fw)) => {
                firmware::string_descriptor(&self.board, fw, &self.state.device_id, index)
            }
            _ => usb::string_descriptor(&self.board, &self.state.device_id, index),
        }
    }

    /// Whether the device answers on the bus at all: in DFU mode, and in
    /// normal mode when it has system firmware; not while re-enumerating.
    fn present(&mut self) -> Result<(), TransportError> {
        if self.state.disconnected {
            return Err(TransportError::NoDevice);
        }
        if let Some(at) = self.state.reappear_at {
            if self.clock.now() < at {
                return Err(TransportError::NoDevice);
            }
            self.state.reappear_at = None;
        }
        if self.state.mode != self.enumerated_as {
            return Err(TransportError::NoDevice);
        }
        match self.state.mode {
            Mode::Dfu => Ok(()),
            Mode::Firmware if self.state.wiced_app_running => Err(TransportError::NoDevice),
            Mode::Firmware if self.board.firmware.is_some() => Ok(()),
            Mode::Firmware => Err(TransportError::NoDevice),
        }
    }

    /// Whether the board is in listening mode (normal mode only).
    pub fn listening(&self) -> bool {
        self.state.listening
    }

    pub fn set_listening(&mut self, on: bool) -> Result<(), SimError> {
        self.state.listening = on && self.state.mode == Mode::Firmware;
        self.persist()
    }

    /// The firmware resets the board into DFU mode (a vendor request, the
    /// 14400-baud trigger): it leaves the bus and re-appears in DFU mode
    /// after [`REENUMERATE_MS`] (scaled by the time factor).
    pub fn reset_into_dfu(&mut self) -> Result<(), SimError> {
        let delay = std::time::Duration::from_secs_f64(
            REENUMERATE_MS as f64 / 1000.0 * self.state.time_factor,
        );
        self.enter_dfu_state();
        self.state.reappear_at = Some(self.clock.now() + delay);
        self.persist()
    }

    /// Normal mode: requests answered by the running firmware.
    fn firmware_dispatch(&mut self, setup: &Setup) -> Result<Vec<u8>, TransportError> {
        let fw = self.board.firmware.ok_or(TransportError::NoDevice)?;
        let (reply, action) = firmware::request(
            &self.board,
            fw,
            &self.state.device_id,
            &mut self.state.usb.configuration,
            &mut self.state.service,
            setup,
        )
        .ok_or(TransportError::Stall)?;
        // The reply goes out, then the firmware acts.
        match action {
            firmware::Action::None => {}
            firmware::Action::EnterDfu => self.reset_into_dfu().map_err(storage_failed)?,
            firmware::Action::Reset => {
                let _ = self.boot();
            }
            firmware::Action::Listen(on) => self.state.listening = on,
        }
        Ok(reply)
    }

    /// Device-to-host control transfer; returns the bytes sent (at most
    /// `buf.len()` and wLength).
    pub fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        let reply = self.transfer(&setup, &[])?;
        let n = reply.len().min(buf.len()).min(usize::from(setup.length));
        buf[..n].copy_from_slice(&reply[..n]);
        Ok(n)
    }

    /// Host-to-device control transfer; returns the bytes taken.
    pub fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        let data = &data[..data.len().min(usize::from(setup.length))];
        self.transfer(&setup, data)?;
        Ok(data.len())
    }

    /// SET_INTERFACE, as libusb sends it.
    pub fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError> {
        let setup = Setup {
            request_type: 0x01,
            request: usb::REQ_SET_INTERFACE,
            value: u16::from(alt),
            index: u16::from(interface),
            length: 0,
        };
        self.transfer(&setup, &[]).map(|_| ())
    }

    /// USB port reset: the device re-enumerates still in DFU mode; the DFU
    /// class restarts in dfuIDLE (the address pointer is kept, as ST's
    /// static `Pointer` is) and a device stuck in dfuDNBUSY is freed.
    pub fn usb_reset(&mut self) -> Result<(), TransportError> {
        self.settle().map_err(storage_failed)?;
        self.present()?;
        if self.state.mode != Mode::Dfu {
            return Err(TransportError::NoDevice);
        }
        self.state.dfu = self.state.dfu.restarted();
        self.state.usb = UsbRegs {
            alt: 0,
            ..self.state.usb
        };
        self.persist().map_err(storage_failed)
    }

    fn transfer(&mut self, setup: &Setup, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.settle().map_err(storage_failed)?;
        self.present()?;
        self.wait_until_free()?;
        self.state.stats.control_transfers += 1;
        let result = match self.dispatch(setup, data) {
            Ok((reply, Some((hold, failed)))) => self.hold_bus(reply, hold, failed),
            Ok((reply, None)) => Ok(reply),
            Err(e) => Err(e),
        };
        if matches!(result, Err(TransportError::Stall)) {
            self.state.stats.stalls += 1;
        }
        self.persist().map_err(storage_failed)?;
        result
    }

    /// An operation still holds the bus (a transfer that timed out on the
    /// host's side): wait for its end, within the caller's timeout.
    fn wait_until_free(&mut self) -> Result<(), TransportError> {
        let Some(until) = self.state.dfu.busy_until else {
            return Ok(());
        };
        let left = until
            .duration_since(self.clock.now())
            .unwrap_or(Duration::ZERO);
        if let Some(limit) = self.timeout.filter(|limit| *limit < left) {
            self.clock.sleep(limit);
            return Err(TransportError::Timeout);
        }
        self.clock.sleep(left);
        self.state.dfu.busy_until = None;
        Ok(())
    }

    /// The GETSTATUS that runs an operation completes after it (REFERENCE
    /// §1), or fails with a timeout after the caller's limit; a failed
    /// operation stalls its status stage.
    fn hold_bus(
        &mut self,
        reply: Vec<u8>,
        hold: Duration,
        failed: bool,
    ) -> Result<Vec<u8>, TransportError> {
        self.state.dfu.busy_until = Some(self.clock.now() + hold);
        // Other processes see the bus held while this one waits.
        self.persist().map_err(storage_failed)?;
        self.wait_until_free()?;
        if failed {
            Err(TransportError::Stall)
        } else {
            Ok(reply)
        }
    }

    /// The reply, and for a GETSTATUS that runs an operation, how long it
    /// holds the bus and whether it fails.
    #[allow(clippy::type_complexity)]
    fn dispatch(
        &mut self,
        setup: &Setup,
        data: &[u8],
    ) -> Result<(Vec<u8>, Option<(Duration, bool)>), TransportError> {
        if self.state.mode == Mode::Firmware {
            return self.firmware_dispatch(setup).map(|reply| (reply, None));
        }
        let is_class = setup.request_type & 0x60 == 0x20;
        let to_interface_0 = setup.request_type & 0x1F == 1 && setup.index == 0;
        let dfu_request = is_class && to_interface_0 && self.state.usb.configuration != 0;
        if self.state.faults.on_request() {
            return Err(TransportError::Stall);
        }
        match setup.request_type & 0x60 {
            0x00 => {
                let reply = usb::standard_request(
                    &self.board,
                    &self.state.device_id,
                    &mut self.state.usb,
                    setup,
                )
                .ok_or(TransportError::Stall)?;
                if setup.request == usb::REQ_SET_CONFIGURATION && setup.request_type & 0x1F == 0 {
                    // ST: (re)configuring initialises the DFU class.
                    self.state.dfu = self.state.dfu.restarted();
                }
                if setup.request == crate::dfu::descriptor::GET_DESCRIPTOR
                    && setup.request_type == 0x80
                    && setup.value >> 8 == 2
                {
                    // Reading the configuration descriptor arms the
                    // `wiced_application` trigger (REFERENCE §1).
                    self.state.dfu.wiced_trigger = true;
                }
                Ok((reply, None))
            }
            _ if dfu_request => {
                let outcome = self.dfu().handle(setup, data).map_err(storage_failed)?;
                let mut held = None;
                let mut reply = match outcome {
                    Outcome::Data(reply) => reply,
                    Outcome::Held {
                        reply,
                        hold,
                        failed,
                    } => {
                        held = Some((hold, failed));
                        reply
                    }
                    Outcome::Stall => return Err(TransportError::Stall),
                    Outcome::Vanish => {
                        self.state.disconnected = true;
                        return Err(TransportError::NoDevice);
                    }
                    Outcome::Leave(reply) => {
                        // The reply goes out; the board resets into
                        // firmware about 500 ms later (`settle`).
                        let delay = dfu::scale(dfu::LEAVE_RESET_DELAY, self.state.time_factor);
                        self.state.reset_at = Some(self.clock.now() + delay);
                        reply
                    }
                };
                if setup.request == request::GETSTATUS {
                    if let Some(len) = self.state.faults.on_getstatus() {
                        reply.truncate(len);
                    }
                }
                Ok((reply, held))
            }
            0x40 => usb::vendor_request(&self.board, setup)
                .map(|reply| (reply, None))
                .ok_or(TransportError::Stall),
            _ => Err(TransportError::Stall),
        }
    }

    fn dfu(&mut self) -> Dfu<'_> {
        Dfu {
            regs: &mut self.state.dfu,
            mem: &mut self.mem,
            faults: &mut self.state.faults,
            stats: &mut self.state.stats,
            board: self.board,
            alt: self.state.usb.alt,
            time_factor: self.state.time_factor,
        }
    }
}

/// The device id as 24 hex digits in the state file.
mod hex_id {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &[u8; 12], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(id))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 12], D::Error> {
        let text = String::deserialize(d)?;
        let mut id = [0u8; 12];
        hex::decode_to_slice(&text, &mut id).map_err(D::Error::custom)?;
        Ok(id)
    }
}

fn storage_failed(e: SimError) -> TransportError {
    TransportError::Other(format!("the virtual device's storage failed: {e}"))
}

/// The slowest time factor accepted: a thousand times a real board. A larger one
/// (`1e308`) would make one DCT write wait for centuries.
pub const MAX_TIME_FACTOR: f64 = 1000.0;

/// A time factor is a finite number from 0 to [`MAX_TIME_FACTOR`].
pub fn check_time_factor(factor: f64) -> Result<(), SimError> {
    if factor.is_finite() && (0.0..=MAX_TIME_FACTOR).contains(&factor) {
        Ok(())
    } else {
        Err(SimError::TimeFactor(factor))
    }
}
