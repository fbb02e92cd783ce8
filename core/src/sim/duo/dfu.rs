//! The bootloader's DFU class: DFU 1.1 with ST's DfuSe extension, as the ST
//! STM32 USB device library (`usbd_dfu_core.c`, V1.1.0, the version in
//! Particle's Device OS tree) implements it, plus the error reporting the
//! project needs (REFERENCE §1).
//!
//! Where the simulator follows the ST code:
//! - the work of a DNLOAD happens on the GETSTATUS that follows it in
//!   dfuDNLOAD_SYNC: that reply says dfuDNBUSY with the medium's declared
//!   time (erase time for an erase command, programming time for every other
//!   block, commands included), then the device is busy for that long;
//! - the zero-length DNLOAD ("leave") goes to dfuMANIFEST_SYNC and the next
//!   GETSTATUS reports dfuDNLOAD_IDLE — Particle's edit of the ST code, so
//!   dfu-util ends on a tidy line — after which the device resets;
//! - CLRSTATUS outside dfuERROR puts the device in dfuERROR with errUNKNOWN,
//!   without a STALL; ABORT and DETACH return to dfuIDLE from the states the
//!   ST code lists; GETSTATE is answered in every state;
//! - UPLOAD of block 0 returns the command list; UPLOAD of length 0 returns
//!   to dfuIDLE.
//!
//! Where it is stricter than the ST code (which ignores the media layer's
//! return values and never reports an error): a request the current state
//! does not allow, an unknown DfuSe command, block number 1, or a block
//! longer than wTransferSize is STALLed and moves the device to dfuERROR
//! with errSTALLEDPKT (DFU 1.1 §6.1.2 behaviour; in dfuERROR the first
//! status is kept); media failures are reported on that GETSTATUS as
//! dfuERROR with errADDRESS (outside the alt setting's map), errERASE
//! (erasing a read-only sector) or errWRITE (programming a read-only sector,
//! or a DCT write the copy-on-write refuses).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::dfu::protocol::{dfuse, request, DfuState, DfuStatus, StatusReply};
use crate::dfu::transport::Setup;

use super::faults::{BlockFate, FaultPlan};
use super::memory::{Failure, Memory};
use super::{SimError, Stats};

/// Where the address pointer starts after reset. The ST code starts at its
/// `APP_DEFAULT_ADD`; the Duo's value is not known, and every host sets the
/// address before using it. Taken as the start of internal flash.
pub(crate) const DEFAULT_POINTER: u32 = 0x0800_0000;

/// What the device does with a received download block when it executes
/// it; decided by the fault plan when the block arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Fate {
    Normal,
    Fail(DfuStatus),
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
    /// End of the current dfuDNBUSY period, in calendar time so that it
    /// means the same in every process.
    pub busy_until: Option<SystemTime>,
    /// bwPollTimeout reported while stuck (fault), in ms.
    pub busy_poll_ms: u32,
    /// Wedged in dfuDNBUSY by the stuck-busy fault until a USB reset.
    pub stuck: bool,
}

impl Default for DfuRegs {
    fn default() -> Self {
        DfuRegs {
            state: DfuState::DfuIdle,
            status: DfuStatus::Ok,
            pointer: DEFAULT_POINTER,
            pending: None,
            busy_until: None,
            busy_poll_ms: 0,
            stuck: false,
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
    /// Reply, then the device resets out of DFU mode.
    Leave(Vec<u8>),
    /// The device disconnected during the transfer.
    Vanish,
}

/// Declared time `ms` scaled by the time factor, rounded up to whole ms so
/// that waiting the reported bwPollTimeout is always enough.
pub(crate) fn scale_ms(ms: u32, factor: f64) -> u32 {
    if ms == 0 {
        return 0;
    }
    (f64::from(ms) * factor)
        .ceil()
        .clamp(0.0, f64::from(0xFF_FFFF)) as u32
}

fn ceil_ms(d: Duration) -> u32 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).unwrap_or(u32::MAX).min(0xFF_FFFF)
}

/// One request's view of the device.
pub(crate) struct Dfu<'a> {
    pub regs: &'a mut DfuRegs,
    pub mem: &'a mut Memory,
    pub faults: &'a mut FaultPlan,
    pub stats: &'a mut Stats,
    pub alt: u8,
    pub now: SystemTime,
    pub time_factor: f64,
    pub transfer_size: u16,
}

impl Dfu<'_> {
    /// A DFU class request addressed to interface 0.
    pub fn handle(&mut self, setup: &Setup, data_out: &[u8]) -> Result<Outcome, SimError> {
        self.settle();
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

    /// The end of a busy period: ST's `EP0_TxSent` has finished the work
    /// and set dfuDNLOAD_SYNC.
    fn settle(&mut self) {
        if self.regs.state == DfuState::DfuDnBusy && !self.regs.stuck {
            let done = self.regs.busy_until.map_or(true, |until| self.now >= until);
            if done {
                self.regs.state = DfuState::DfuDnloadSync;
                self.regs.busy_until = None;
            }
        }
    }

    /// STALL the request and enter dfuERROR. A device wedged by the
    /// stuck-busy fault only stalls.
    pub fn refuse(&mut self) -> Outcome {
        if self.regs.stuck {
            return Outcome::Stall;
        }
        if self.regs.state != DfuState::DfuError {
            self.regs.status = DfuStatus::ErrStalledPkt;
        }
        self.enter_error_state();
        Outcome::Stall
    }

    fn enter_error_state(&mut self) {
        self.regs.state = DfuState::DfuError;
        self.regs.pending = None;
        self.regs.busy_until = None;
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
            *self.regs = DfuRegs {
                pointer: self.regs.pointer,
                ..DfuRegs::default()
            };
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
        if data.len() > usize::from(self.transfer_size) {
            return self.refuse();
        }
        let fate = match setup.value {
            0 if valid_command(data) => Fate::Normal,
            0 | 1 => return self.refuse(),
            _ => match self.faults.on_data_block(data.len()) {
                BlockFate::Vanish => return Outcome::Vanish,
                BlockFate::Normal => Fate::Normal,
                BlockFate::Fail(status) => Fate::Fail(status),
                BlockFate::Stuck => Fate::Stuck,
            },
        };
        if setup.value >= 2 {
            self.stats.data_blocks_downloaded += 1;
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
        if len > usize::from(self.transfer_size) {
            return Ok(self.refuse());
        }
        match setup.value {
            0 => {
                let commands = [
                    dfuse::GET_COMMANDS,
                    dfuse::SET_ADDRESS,
                    dfuse::ERASE,
                    dfuse::READ_UNPROTECT,
                ];
                self.regs.state = DfuState::DfuUploadIdle;
                Ok(Outcome::Data(commands[..len.min(commands.len())].to_vec()))
            }
            1 => Ok(self.refuse()),
            block => {
                let read = self
                    .block_address(block)
                    .ok_or(Failure::Status(DfuStatus::ErrAddress))
                    .and_then(|addr| self.mem.read(self.alt, addr, len));
                match read {
                    Ok(bytes) => {
                        self.regs.state = DfuState::DfuUploadIdle;
                        self.stats.data_blocks_uploaded += 1;
                        Ok(Outcome::Data(bytes))
                    }
                    Err(Failure::Status(status)) => {
                        self.regs.status = status;
                        self.enter_error_state();
                        Ok(Outcome::Stall)
                    }
                    Err(Failure::Io(e)) => Err(e),
                }
            }
        }
    }

    fn getstatus(&mut self) -> Result<Outcome, SimError> {
        match self.regs.state {
            DfuState::DfuDnloadSync => match self.regs.pending.take() {
                Some(pending) => self.execute(pending),
                None => {
                    self.regs.state = DfuState::DfuDnloadIdle;
                    Ok(Outcome::Data(self.status_reply(0, self.regs.state)))
                }
            },
            DfuState::DfuDnBusy => {
                let poll = if self.regs.stuck {
                    self.regs.busy_poll_ms
                } else {
                    let until = self.regs.busy_until.unwrap_or(self.now);
                    ceil_ms(until.duration_since(self.now).unwrap_or_default())
                };
                Ok(Outcome::Data(self.status_reply(poll, DfuState::DfuDnBusy)))
            }
            DfuState::DfuManifestSync => {
                // Particle: report dfuDNLOAD_IDLE, then reset (REFERENCE §1 quirk).
                self.regs.state = DfuState::DfuManifest;
                Ok(Outcome::Leave(
                    self.status_reply(0, DfuState::DfuDnloadIdle),
                ))
            }
            state => Ok(Outcome::Data(self.status_reply(0, state))),
        }
    }

    /// Run a received block (ST: decided in `DFU_Req_GETSTATUS`, done in
    /// `EP0_TxSent` right after the reply).
    fn execute(&mut self, pending: Pending) -> Result<Outcome, SimError> {
        let result = match pending.fate {
            Fate::Fail(status) => Err(Failure::Status(status)),
            Fate::Stuck => {
                let poll = scale_ms(self.mem.program_ms(self.alt), self.time_factor);
                self.regs.stuck = true;
                self.regs.busy_poll_ms = poll;
                self.regs.busy_until = None;
                self.regs.state = DfuState::DfuDnBusy;
                return Ok(Outcome::Data(self.status_reply(poll, DfuState::DfuDnBusy)));
            }
            Fate::Normal if pending.block == 0 => self.command(&pending.data),
            Fate::Normal => match self.block_address(pending.block) {
                Some(addr) => self.mem.write(self.alt, addr, &pending.data),
                None => Err(Failure::Status(DfuStatus::ErrAddress)),
            },
        };
        match result {
            Ok(declared_ms) => {
                let poll = scale_ms(declared_ms, self.time_factor);
                self.regs.state = DfuState::DfuDnBusy;
                self.regs.busy_until = Some(self.now + Duration::from_millis(u64::from(poll)));
                self.stats.poll_timeout_ms_total += u64::from(poll);
                Ok(Outcome::Data(self.status_reply(poll, DfuState::DfuDnBusy)))
            }
            Err(Failure::Status(status)) => {
                self.regs.status = status;
                self.enter_error_state();
                Ok(Outcome::Data(self.status_reply(0, DfuState::DfuError)))
            }
            Err(Failure::Io(e)) => Err(e),
        }
    }

    fn command(&mut self, data: &[u8]) -> Result<u32, Failure> {
        let program_ms = self.mem.program_ms(self.alt);
        match (data[0], data.get(1..5)) {
            (dfuse::SET_ADDRESS, Some(a)) => {
                let addr = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
                self.mem.check_address(self.alt, addr)?;
                self.regs.pointer = addr;
                Ok(program_ms)
            }
            (dfuse::ERASE, Some(a)) => {
                let addr = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
                self.regs.pointer = addr;
                self.mem.erase(self.alt, addr)
            }
            (dfuse::ERASE, None) => self.mem.mass_erase(self.alt),
            // Get-commands through DNLOAD does nothing; read unprotect has
            // nothing to remove (the virtual flash is never read-protected).
            _ => Ok(program_ms),
        }
    }

    fn clrstatus(&mut self) -> Outcome {
        if self.regs.state == DfuState::DfuError {
            self.regs.state = DfuState::DfuIdle;
            self.regs.status = DfuStatus::Ok;
        } else if !self.regs.stuck {
            self.regs.status = DfuStatus::ErrUnknown;
            self.enter_error_state();
        }
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
                Outcome::Data(Vec::new())
            }
            _ => self.refuse(),
        }
    }

    /// DfuSe block addressing: pointer + (wBlockNum − 2) × wTransferSize.
    fn block_address(&self, block: u16) -> Option<u32> {
        let offset = u64::from(block - dfuse::FIRST_DATA_BLOCK) * u64::from(self.transfer_size);
        u32::try_from(u64::from(self.regs.pointer) + offset).ok()
    }

    fn status_reply(&self, poll_ms: u32, reported: DfuState) -> Vec<u8> {
        StatusReply {
            status: self.regs.status,
            poll_timeout: Duration::from_millis(u64::from(poll_ms)),
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

/// DfuSe commands the bootloader accepts, with their exact lengths.
fn valid_command(data: &[u8]) -> bool {
    matches!(
        (data[0], data.len()),
        (dfuse::GET_COMMANDS, 1)
            | (dfuse::SET_ADDRESS, 5)
            | (dfuse::ERASE, 1)
            | (dfuse::ERASE, 5)
            | (dfuse::READ_UNPROTECT, 1)
    )
}
