//! The bootloader's DFU class: DFU 1.1 with ST's DfuSe extension, as the ST
//! STM32 USB device library (`usbd_dfu_core.c`, V1.1.0, Particle's and
//! RedBear's copy) implements it on the Duo's bootloaders r3–r6
//! (REFERENCE §1, "How the bootloader's DFU class handles the address
//! pointer and timing").
//!
//! - The work of a DNLOAD happens on the GETSTATUS that follows it in
//!   dfuDNLOAD_SYNC: that reply says dfuDNBUSY with a bwPollTimeout taken
//!   from the medium — **inverted** by ST's bug: an erase command reports the
//!   medium's write time, every other block its erase time (DCT alt: 1 ms
//!   after a data block or set-address, 500 ms after an erase; internal and
//!   serial flash 5 ms on r3/r4, 0 on r5/r6). The medium consulted is the
//!   alt's, when the pointer before the command lies in its map.
//! - The operation itself runs while the device finishes that GETSTATUS: the
//!   transfer is held for the operation's (scaled) duration
//!   ([`Outcome::Held`]), then the device is in dfuDNLOAD_SYNC and the next
//!   GETSTATUS says dfuDNLOAD_IDLE.
//! - r3/r4 zero bwPollTimeout after each operation, ABORT and CLRSTATUS;
//!   r5/r6 never do, so later replies carry the last value.
//! - A failed write or erase stalls EP0 in the status stage of that same
//!   GETSTATUS; bStatus stays OK and dfuERROR is never entered. An UPLOAD
//!   from a bad address returns data anyway: the stale transfer buffer on
//!   r3–r5, zeros on r6.
//! - Commands: get-commands (`00 21 41`), set address pointer, erase
//!   sector. Mass erase, read unprotect and anything else are stalled.
//!   DNLOAD block 1 is a no-op; UPLOAD block 1 stalls; UPLOAD from
//!   dfuDNLOAD_IDLE and DNLOAD from dfuUPLOAD_IDLE stall. A stalled request
//!   changes nothing (ST's `USBD_CtlError`).
//! - Leave: the zero-length DNLOAD goes to dfuMANIFEST_SYNC; the next
//!   GETSTATUS reports dfuDNLOAD_IDLE, the state becomes
//!   dfuMANIFEST_WAIT_RESET (GETSTATUS now says so), and
//!   [`LEAVE_RESET_DELAY`] later (scaled) r3–r5 save their system flags (a
//!   DCT write) and the board resets ([`super::VirtualDuo`] runs that).
//! - CLRSTATUS outside dfuERROR puts the device in dfuERROR with
//!   errUNKNOWN, as ST's code does; nothing else enters dfuERROR.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::dfu::protocol::{dfuse, request, DfuState, DfuStatus, StatusReply};
use crate::dfu::transport::Setup;
use crate::platform::board::BadUpload;
use crate::platform::Board;

use super::faults::{BlockFate, FaultPlan};
use super::memory::{Failure, Memory};
use super::{SimError, Stats};

/// From the leave GETSTATUS to the reset (REFERENCE §1: "about 500 ms
/// later the bootloader saves its system flags … and resets").
pub(crate) const LEAVE_RESET_DELAY: Duration = Duration::from_millis(500);

/// Where the address pointer starts when the bootloader starts (REFERENCE §1).
pub(crate) const DEFAULT_POINTER: u32 = 0x0802_0000;

/// What the device does with a received download block when it executes
/// it; decided by the fault plan when the block arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Fate {
    Normal,
    /// Injected failure: the block is not applied and the GETSTATUS that
    /// runs it stalls, as a real failed write does.
    Fail,
    Stuck,
}

/// A DNLOAD block received and not yet executed (ST's `MAL_Buffer`,
/// `wBlockNum`, `wlength`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub block: u16,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
    pub fate: Fate,
}

/// The DFU class's registers, persisted between host processes as on a
/// board that stays powered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DfuRegs {
    pub state: DfuState,
    pub status: DfuStatus,
    pub pointer: u32,
    pub pending: Option<Pending>,
    /// End of the operation that holds EP0, in calendar time so that it
    /// means the same in every process: a request arriving before it waits.
    pub busy_until: Option<SystemTime>,
    /// bwPollTimeout of the next GETSTATUS reply, ms after time scaling.
    pub poll_ms: u32,
    /// Wedged in dfuDNBUSY by the stuck-busy fault until a USB reset.
    pub stuck: bool,
    /// The transfer buffer (`MAL_Buffer`) as the last data block left it:
    /// what an UPLOAD from a bad address returns on r3–r5.
    #[serde(with = "hex_bytes", default)]
    pub buffer: Vec<u8>,
    /// The `wiced_application` trigger is armed: the host read the
    /// configuration descriptor (as every host does when the board
    /// enumerates) and no data block has been written since (REFERENCE §1).
    #[serde(default)]
    pub wiced_trigger: bool,
}

impl Default for DfuRegs {
    fn default() -> Self {
        DfuRegs {
            state: DfuState::DfuIdle,
            status: DfuStatus::Ok,
            pointer: DEFAULT_POINTER,
            pending: None,
            busy_until: None,
            poll_ms: 0,
            stuck: false,
            buffer: Vec::new(),
            wiced_trigger: true,
        }
    }
}

impl DfuRegs {
    /// After a USB reset or (re)configuration: the class restarts in
    /// dfuIDLE; the pointer, the buffer and the trigger are static
    /// variables and stay (a USB reset re-enumerates, and the host's read
    /// of the configuration descriptor arms the trigger again).
    pub fn restarted(&self) -> DfuRegs {
        DfuRegs {
            pointer: self.pointer,
            buffer: self.buffer.clone(),
            wiced_trigger: self.wiced_trigger,
            ..DfuRegs::default()
        }
    }
}

/// How the DFU class answered a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Data stage of an IN request (empty for OUT requests).
    Data(Vec<u8>),
    /// STALL.
    Stall,
    /// The GETSTATUS that runs an operation: `reply` goes out, the transfer
    /// completes only after `hold`, and then stalls if the operation failed.
    Held {
        reply: Vec<u8>,
        hold: Duration,
        failed: bool,
    },
    /// Reply, then the device resets out of DFU mode.
    Leave(Vec<u8>),
    /// The device disconnected during the transfer.
    Vanish,
}

/// A time scaled by the time factor (`SimError::TimeFactor` keeps it finite).
pub(crate) fn scale(d: Duration, factor: f64) -> Duration {
    Duration::from_secs_f64((d.as_secs_f64() * factor).min(4.0 * 3600.0))
}

/// Declared time `ms` scaled by the time factor, rounded up to whole ms.
pub(crate) fn scale_ms(ms: u32, factor: f64) -> u32 {
    if ms == 0 {
        return 0;
    }
    (f64::from(ms) * factor)
        .ceil()
        .clamp(0.0, f64::from(0xFF_FFFF)) as u32
}

/// One request's view of the device.
pub(crate) struct Dfu<'a> {
    pub regs: &'a mut DfuRegs,
    pub mem: &'a mut Memory,
    pub faults: &'a mut FaultPlan,
    pub stats: &'a mut Stats,
    pub board: Board,
    pub alt: u8,
    pub time_factor: f64,
}

impl Dfu<'_> {
    fn transfer_size(&self) -> u16 {
        self.board.platform.transfer_size
    }

    /// A DFU class request addressed to interface 0.
    pub fn handle(&mut self, setup: &Setup, data_out: &[u8]) -> Result<Outcome, SimError> {
        let is_in = setup.request_type & 0x80 != 0;
        match (setup.request, is_in) {
            (request::DETACH, false) => Ok(self.detach()),
            (request::DNLOAD, false) => Ok(self.dnload(setup, data_out)),
            (request::UPLOAD, true) => self.upload(setup),
            (request::GETSTATUS, true) => self.getstatus(),
            (request::CLRSTATUS, false) => Ok(self.clrstatus()),
            (request::GETSTATE, true) => Ok(Outcome::Data(vec![self.regs.state.code()])),
            (request::ABORT, false) => Ok(self.abort()),
            _ => Ok(self.refuse()),
        }
    }

    /// STALL the request (ST's `USBD_CtlError`): the state does not change.
    pub fn refuse(&mut self) -> Outcome {
        Outcome::Stall
    }

    fn detach(&mut self) -> Outcome {
        if matches!(
            self.regs.state,
            DfuState::DfuIdle
                | DfuState::DfuDnloadSync
                | DfuState::DfuDnloadIdle
                | DfuState::DfuManifestSync
                | DfuState::DfuUploadIdle
        ) {
            *self.regs = self.regs.restarted();
        }
        Outcome::Data(Vec::new())
    }

    fn dnload(&mut self, setup: &Setup, data: &[u8]) -> Outcome {
        if !matches!(self.regs.state, DfuState::DfuIdle | DfuState::DfuDnloadIdle) {
            return self.refuse();
        }
        let data = &data[..data.len().min(usize::from(setup.length))];
        if data.is_empty() {
            self.regs.state = DfuState::DfuManifestSync;
            return Outcome::Data(Vec::new());
        }
        if data.len() > usize::from(self.transfer_size()) {
            return self.refuse();
        }
        let fate = match setup.value {
            0 if supported_command(data) => Fate::Normal,
            0 => return self.refuse(),
            1 => Fate::Normal,
            _ => match self.faults.on_data_block(data.len()) {
                BlockFate::Vanish => return Outcome::Vanish,
                BlockFate::Normal => Fate::Normal,
                BlockFate::Fail => Fate::Fail,
                BlockFate::Stuck => Fate::Stuck,
            },
        };
        if setup.value >= 2 {
            self.stats.data_blocks_downloaded += 1;
            self.regs.buffer = data.to_vec();
        }
        self.regs.pending = Some(Pending {
            block: setup.value,
            data: data.to_vec(),
            fate,
        });
        self.regs.state = DfuState::DfuDnloadSync;
        Outcome::Data(Vec::new())
    }

    fn upload(&mut self, setup: &Setup) -> Result<Outcome, SimError> {
        if !matches!(self.regs.state, DfuState::DfuIdle | DfuState::DfuUploadIdle) {
            return Ok(self.refuse());
        }
        let len = usize::from(setup.length);
        if len == 0 {
            self.regs.state = DfuState::DfuIdle;
            return Ok(Outcome::Data(Vec::new()));
        }
        if len > usize::from(self.transfer_size()) {
            return Ok(self.refuse());
        }
        match setup.value {
            0 => {
                let commands = [dfuse::GET_COMMANDS, dfuse::SET_ADDRESS, dfuse::ERASE];
                self.regs.state = DfuState::DfuUploadIdle;
                Ok(Outcome::Data(commands[..len.min(commands.len())].to_vec()))
            }
            1 => Ok(self.refuse()),
            block => {
                let addr = self.block_address(block);
                let bytes = match addr.map(|a| self.mem.read(self.alt, a, len)) {
                    Some(Ok(bytes)) => {
                        // The read went through the transfer buffer.
                        if self.regs.buffer.len() < bytes.len() {
                            self.regs.buffer.resize(bytes.len(), 0);
                        }
                        self.regs.buffer[..bytes.len()].copy_from_slice(&bytes);
                        bytes
                    }
                    Some(Err(Failure::Io(e))) => return Err(e),
                    // REFERENCE §1: no stall; stale buffer (r3–r5) or zeros (r6).
                    _ => self.bad_upload(len),
                };
                self.regs.state = DfuState::DfuUploadIdle;
                self.stats.data_blocks_uploaded += 1;
                Ok(Outcome::Data(bytes))
            }
        }
    }

    fn bad_upload(&self, len: usize) -> Vec<u8> {
        match self.board.bootloader.bad_upload {
            BadUpload::Zeros => vec![0; len],
            BadUpload::StaleBuffer => {
                let mut out = self.regs.buffer.clone();
                out.resize(len, 0);
                out
            }
        }
    }

    fn getstatus(&mut self) -> Result<Outcome, SimError> {
        match self.regs.state {
            DfuState::DfuDnloadSync => match self.regs.pending.take() {
                Some(pending) => self.execute(pending),
                None => {
                    self.regs.state = DfuState::DfuDnloadIdle;
                    Ok(Outcome::Data(self.status_reply(self.regs.state)))
                }
            },
            DfuState::DfuManifestSync => {
                // Particle: report dfuDNLOAD_IDLE; the state is now
                // dfuMANIFEST_WAIT_RESET, and the reset comes about 500 ms
                // later (REFERENCE §1 quirk; `VirtualDuo` times it).
                self.regs.state = DfuState::DfuManifestWaitReset;
                Ok(Outcome::Leave(self.status_reply(DfuState::DfuDnloadIdle)))
            }
            state => Ok(Outcome::Data(self.status_reply(state))),
        }
    }

    /// Run a received block (ST: decided in `DFU_Req_GETSTATUS`, done in
    /// `EP0_TxSent` while the reply's transfer completes).
    fn execute(&mut self, pending: Pending) -> Result<Outcome, SimError> {
        let erase = pending.block == 0 && pending.data[0] == dfuse::ERASE;
        let declared = self.declared_poll_ms(erase);
        if let Some(ms) = declared {
            self.regs.poll_ms = scale_ms(ms, self.time_factor);
        }
        self.regs.state = DfuState::DfuDnBusy;
        let reply = self.status_reply(DfuState::DfuDnBusy);
        self.stats.poll_timeout_ms_total += u64::from(self.regs.poll_ms);
        let result = match pending.fate {
            Fate::Stuck => {
                self.regs.stuck = true;
                return Ok(Outcome::Data(reply));
            }
            Fate::Fail => Err(Failure::Refused),
            Fate::Normal => match pending.block {
                0 => self.command(&pending.data),
                1 => Ok(Duration::ZERO),
                block => match self.block_address(block) {
                    Some(addr) => match self.wiced_trigger(addr, &pending.data) {
                        Ok(()) => self.mem.write(self.alt, addr, &pending.data),
                        Err(e) => Err(e),
                    },
                    None => Err(Failure::Refused),
                },
            },
        };
        let (took, failed) = match result {
            Ok(took) => (took, false),
            Err(Failure::Refused) => (Duration::ZERO, true),
            Err(Failure::Io(e)) => return Err(e),
        };
        self.regs.state = DfuState::DfuDnloadSync;
        if self.board.bootloader.resets_poll_timeout {
            self.regs.poll_ms = 0;
        }
        let hold = scale(took, self.time_factor);
        self.stats.busy_us_total += hold.as_micros() as u64;
        Ok(Outcome::Held {
            reply,
            hold,
            failed,
        })
    }

    /// The Duo's `wiced_application` trigger (REFERENCE §1): the first data
    /// block after the configuration descriptor was read clears it, and
    /// sets the DCT flag if it is written at a trigger address and opens
    /// with an initial stack pointer. The flag goes to the DCT the way the
    /// bootloader reaches it (not at all on an r6 without system firmware).
    fn wiced_trigger(&mut self, addr: u32, data: &[u8]) -> Result<(), Failure> {
        if !std::mem::take(&mut self.regs.wiced_trigger) {
            return Ok(());
        }
        let (Some(trigger), Some(word)) = (self.board.bootloader.wiced_trigger, data.get(..4))
        else {
            return Ok(());
        };
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let Some(flag) = trigger.flag_for(addr, word) else {
            return Ok(());
        };
        if !self.board.dct_alt_works() {
            return Ok(());
        }
        match self
            .mem
            .app_dct_write(trigger.flag_offset, &flag.to_le_bytes())
        {
            Ok(_) | Err(SimError::Dct(_)) => Ok(()),
            Err(e) => Err(Failure::Io(e)),
        }
    }

    /// The bwPollTimeout the medium declares, inverted (REFERENCE §1): an
    /// erase reports the write time, everything else the erase time. `None`
    /// when the pointer lies outside the alt's medium (the value stays).
    fn declared_poll_ms(&self, erase: bool) -> Option<u32> {
        let (erase_ms, write_ms) = self.mem.declared_ms(self.alt, self.regs.pointer)?;
        Some(if erase { write_ms } else { erase_ms })
    }

    fn command(&mut self, data: &[u8]) -> Result<Duration, Failure> {
        match (data[0], data.get(1..5)) {
            (dfuse::SET_ADDRESS, Some(a)) => {
                self.regs.pointer = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
                Ok(Duration::ZERO)
            }
            (dfuse::ERASE, Some(a)) => {
                let addr = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
                self.regs.pointer = addr;
                self.mem.erase(self.alt, addr)
            }
            // Get-commands through DNLOAD does nothing.
            _ => Ok(Duration::ZERO),
        }
    }

    fn clrstatus(&mut self) -> Outcome {
        if self.regs.state == DfuState::DfuError {
            self.regs.state = DfuState::DfuIdle;
            self.regs.status = DfuStatus::Ok;
        } else if !self.regs.stuck {
            self.regs.status = DfuStatus::ErrUnknown;
            self.regs.state = DfuState::DfuError;
            self.regs.pending = None;
        }
        self.reset_poll();
        Outcome::Data(Vec::new())
    }

    fn abort(&mut self) -> Outcome {
        match self.regs.state {
            DfuState::DfuIdle
            | DfuState::DfuDnloadSync
            | DfuState::DfuDnloadIdle
            | DfuState::DfuManifestSync
            | DfuState::DfuUploadIdle => {
                self.regs.state = DfuState::DfuIdle;
                self.regs.status = DfuStatus::Ok;
                self.regs.pending = None;
                self.reset_poll();
                Outcome::Data(Vec::new())
            }
            _ => self.refuse(),
        }
    }

    fn reset_poll(&mut self) {
        if self.board.bootloader.resets_poll_timeout {
            self.regs.poll_ms = 0;
        }
    }

    /// DfuSe block addressing: pointer + (wBlockNum − 2) × wTransferSize.
    fn block_address(&self, block: u16) -> Option<u32> {
        let offset = u64::from(block - dfuse::FIRST_DATA_BLOCK) * u64::from(self.transfer_size());
        u32::try_from(u64::from(self.regs.pointer) + offset).ok()
    }

    fn status_reply(&self, reported: DfuState) -> Vec<u8> {
        StatusReply {
            status: self.regs.status,
            poll_timeout: Duration::from_millis(u64::from(self.regs.poll_ms)),
            state: reported,
            string_index: 0,
        }
        .encode()
        .to_vec()
    }
}

/// Block data as hex in the state file.
mod hex_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// The DfuSe commands the Duo bootloader supports, with their exact
/// lengths (REFERENCE §1): get commands, set address pointer, erase sector.
fn supported_command(data: &[u8]) -> bool {
    matches!(
        (data[0], data.len()),
        (dfuse::GET_COMMANDS, 1) | (dfuse::SET_ADDRESS, 5) | (dfuse::ERASE, 5)
    )
}
