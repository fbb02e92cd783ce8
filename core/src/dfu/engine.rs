//! The DFU engine: one device behind a [`ControlTransport`], the DFU 1.1
//! requests, GETSTATUS polling through the injected [`Clock`], and the DfuSe
//! commands (REFERENCE §1). The whole-range operations built on top live in
//! `ops.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::descriptor::{self, DeviceInfo};
use super::error::DfuError;
use super::layout::MemoryLayout;
use super::protocol::{
    dfuse, request, DfuState, DfuStatus, Location, StatusReply, Step, REQUEST_TYPE_IN,
    REQUEST_TYPE_OUT, STATUS_LEN,
};
use super::transport::{ControlTransport, Setup, TransportError};
use crate::platform::{self, Platform};
use crate::progress::Monitor;
use crate::time::Clock;

/// Consecutive dfuDNBUSY replies tolerated in one wait. Each is preceded by
/// the device's own bwPollTimeout, so the time bound scales with what the
/// device declared (64 × 500 ms on a DCT write).
pub const DEFAULT_BUSY_LIMIT: u32 = 64;

/// Longest single wait honoured for one bwPollTimeout (a 24-bit field allows
/// 4.6 hours); longer declarations are counted in the stats but capped here.
pub const MAX_POLL_SLEEP: Duration = Duration::from_secs(10);

/// DfuSe data blocks are numbered 2..=0xFFFF; a longer run re-sets the pointer.
pub const MAX_BLOCKS_PER_RUN: u32 = 0xFFFF - dfuse::FIRST_DATA_BLOCK as u32 + 1;

/// Counters for benchmarks: what the protocol cost on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DfuStats {
    /// Every control transfer sent (descriptors, SET_INTERFACE and DFU requests).
    pub control_transfers: u64,
    /// Sum of every bwPollTimeout the device declared: the protocol's time floor.
    pub poll_timeout_total: Duration,
    /// GETSTATUS replies that said dfuDNBUSY.
    pub busy_polls: u64,
    /// Payload bytes received by UPLOAD.
    pub bytes_up: u64,
    /// Payload bytes sent in DNLOAD data blocks.
    pub bytes_down: u64,
}

/// The transport plus a transfer counter, so every request is counted,
/// including the descriptor probe.
pub(crate) struct Wire<T> {
    pub(crate) inner: T,
    pub(crate) transfers: u64,
}

impl<T: ControlTransport> ControlTransport for Wire<T> {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.transfers += 1;
        self.inner.control_in(setup, buf)
    }
    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        self.transfers += 1;
        self.inner.control_out(setup, data)
    }
    fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError> {
        self.transfers += 1;
        self.inner.set_alt_setting(interface, alt)
    }
    fn reset(&mut self) -> Result<(), TransportError> {
        self.inner.reset()
    }
    fn set_timeout(&mut self, timeout: Duration) {
        self.inner.set_timeout(timeout)
    }
}

/// A DFU-mode device and the host's view of it.
pub struct Dfu<T: ControlTransport> {
    pub(crate) wire: Wire<T>,
    clock: Arc<dyn Clock>,
    info: DeviceInfo,
    platform: Option<&'static Platform>,
    interface: u8,
    current_alt: Option<u8>,
    /// Where this session's address pointer is, when this engine set it
    /// (set-address) and nothing since can have moved it or left it in
    /// doubt: see [`Dfu::pointer`].
    pointer: Option<u32>,
    /// The DFU state the device is in, when this engine's last request tells
    /// it for certain (a GETSTATUS reply, an accepted ABORT / CLRSTATUS).
    known_state: Option<DfuState>,
    pub(crate) stats: DfuStats,
    busy_limit: u32,
    pub(crate) max_blocks_per_run: u32,
    pub(crate) layout_checks: bool,
    /// The monitor of the operation under way (`read_with`, `write_with`):
    /// every wait goes through it, so a cancellation ends the wait.
    pub(crate) monitor: Monitor,
}

impl<T: ControlTransport> Dfu<T> {
    /// Read the descriptors over `transport` and check that the device is in
    /// DFU mode.
    pub fn open(transport: T, clock: Arc<dyn Clock>) -> Result<Self, DfuError> {
        let mut wire = Wire {
            inner: transport,
            transfers: 0,
        };
        let info = descriptor::probe(&mut wire)?;
        let mut dfu = Self::with_info(wire.inner, clock, info)?;
        dfu.wire.transfers = wire.transfers;
        Ok(dfu)
    }

    /// Use descriptors the caller already has (no probe).
    pub fn with_info(
        transport: T,
        clock: Arc<dyn Clock>,
        info: DeviceInfo,
    ) -> Result<Self, DfuError> {
        if !info.in_dfu_mode() {
            return Err(DfuError::NotInDfuMode);
        }
        if info.functional.transfer_size == 0 {
            return Err(DfuError::Descriptor(
                "the DFU functional descriptor declares wTransferSize 0".into(),
            ));
        }
        let platform = platform::by_dfu_ids(info.device.vendor_id, info.device.product_id);
        let mut transport = transport;
        if platform.is_some() {
            // The bootloader runs each operation inside one GETSTATUS
            // (REFERENCE §1): a transfer must outlast the longest one.
            transport.set_timeout(platform::timing::CONTROL_TIMEOUT);
        }
        let interface = info
            .config
            .alt_settings
            .iter()
            .find(|a| a.protocol == descriptor::DFU_PROTOCOL_DFU_MODE)
            .map_or(0, |a| a.interface);
        Ok(Dfu {
            wire: Wire {
                inner: transport,
                transfers: 0,
            },
            clock,
            info,
            platform,
            interface,
            current_alt: None,
            pointer: None,
            known_state: None,
            stats: DfuStats::default(),
            busy_limit: DEFAULT_BUSY_LIMIT,
            max_blocks_per_run: MAX_BLOCKS_PER_RUN,
            layout_checks: true,
            monitor: Monitor::default(),
        })
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The board, if its DFU-mode USB ids are in the platform table.
    pub fn platform(&self) -> Option<&'static Platform> {
        self.platform
    }

    pub fn transfer_size(&self) -> usize {
        usize::from(self.info.functional.transfer_size)
    }

    pub fn stats(&self) -> DfuStats {
        DfuStats {
            control_transfers: self.wire.transfers,
            ..self.stats
        }
    }

    pub fn reset_stats(&mut self) {
        self.stats = DfuStats::default();
        self.wire.transfers = 0;
    }

    /// Consecutive busy polls tolerated before "device stayed busy".
    pub fn set_busy_limit(&mut self, polls: u32) {
        self.busy_limit = polls.max(1);
    }

    /// Turn off the host-side refusal of ranges outside the memory layout or
    /// without permission, so a device's own refusal can be observed (tests
    /// of a device model). Ranges past the 32-bit address space are still
    /// refused. On by default; the CLI never turns it off.
    pub fn set_layout_checks(&mut self, enabled: bool) {
        self.layout_checks = enabled;
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.wire.inner
    }

    pub fn into_transport(self) -> T {
        self.wire.inner
    }

    /// Run `op` with `monitor` as the monitor of every wait, then put the
    /// previous one back.
    pub(crate) fn monitored<R>(&mut self, monitor: &Monitor, op: impl FnOnce(&mut Self) -> R) -> R {
        let previous = std::mem::replace(&mut self.monitor, monitor.clone());
        let result = op(self);
        self.monitor = previous;
        result
    }

    /// USB port reset: frees a device stuck in dfuDNBUSY. The device comes
    /// back on alt 0, so the engine forgets which alt it had selected and
    /// selects it again before the next transfer.
    pub fn usb_reset(&mut self) -> Result<(), DfuError> {
        self.current_alt = None;
        self.forget();
        self.wire
            .reset()
            .map_err(|e| DfuError::transport(&Step::UsbReset, e))
    }

    /// The alt setting currently selected by this engine.
    pub fn current_alt(&self) -> Option<u8> {
        self.current_alt
    }

    /// The address pointer, if this engine knows it (REFERENCE §1: one
    /// pointer for the whole DFU session, moved only by set-address and
    /// erase; ABORT, GETSTATUS, the end of a transfer and data blocks leave
    /// it). Known after this engine's own successful set-address on the
    /// current alt; forgotten on an erase, an alt change, a USB reset,
    /// leaving, and any failed or refused request (after which the device
    /// may not have done what was asked). While known, a read or write
    /// starting there sends no set-address of its own.
    pub fn pointer(&self) -> Option<u32> {
        self.pointer
    }

    /// Forget the pointer and the state: after anything whose effect on the
    /// device is not certain.
    pub(crate) fn forget(&mut self) {
        self.pointer = None;
        self.known_state = None;
    }

    /// `result`, forgetting what the engine knew about the device if it is
    /// an error.
    pub(crate) fn tracked<R>(&mut self, result: Result<R, DfuError>) -> Result<R, DfuError> {
        if result.is_err() {
            self.forget();
        }
        result
    }

    /// The parsed memory layout of `alt`'s interface string.
    pub fn layout(&self, alt: u8) -> Result<MemoryLayout, DfuError> {
        let setting = self.info.alt(alt).ok_or_else(|| DfuError::UnknownAlt {
            alt,
            available: self.info.describe_alts(),
        })?;
        if !self.info.functional.is_dfuse() {
            return Err(DfuError::NotDfuse {
                version: self.info.functional.dfu_version,
            });
        }
        MemoryLayout::parse(setting.name.as_deref().unwrap_or(""))
    }

    /// True if `alt` maps onto the application DCT (platform `dct_alt`).
    pub fn is_dct_alt(&self, alt: u8) -> bool {
        self.platform.is_some_and(|p| p.dct_alt == alt)
    }

    pub(crate) fn location(&self, addr: u32) -> Location {
        let alt = self.current_alt.unwrap_or(0);
        Location {
            alt,
            addr,
            dct: self.is_dct_alt(alt),
        }
    }

    fn setup(&self, request_type: u8, request: u8, value: u16, length: usize) -> Setup {
        Setup {
            request_type,
            request,
            value,
            index: u16::from(self.interface),
            length: length as u16,
        }
    }

    /// SET_INTERFACE to `alt`, unless it is already selected.
    pub fn select_alt(&mut self, alt: u8) -> Result<(), DfuError> {
        if self.info.alt(alt).is_none() {
            return Err(DfuError::UnknownAlt {
                alt,
                available: self.info.describe_alts(),
            });
        }
        if self.current_alt != Some(alt) {
            // Addresses mean another memory now; set the pointer again.
            self.forget();
            self.current_alt = None;
            let iface = self.interface;
            self.wire
                .set_alt_setting(iface, alt)
                .map_err(|e| DfuError::transport(&Step::SelectAlt { alt }, e))?;
            self.current_alt = Some(alt);
        }
        Ok(())
    }

    /// One GETSTATUS. While an operation is under way (dfuDNBUSY, a sync or
    /// manifest state) it sleeps the declared bwPollTimeout before returning,
    /// so the next request is never early; a reply in an idle or error state
    /// has nothing to wait for (and on bootloaders r5/r6 carries a stale
    /// timeout, REFERENCE §1), so it returns at once. Does not judge the
    /// status.
    pub fn get_status(&mut self, step: &Step) -> Result<StatusReply, DfuError> {
        let setup = self.setup(REQUEST_TYPE_IN, request::GETSTATUS, 0, STATUS_LEN);
        let mut buf = [0u8; STATUS_LEN];
        let n = self.wire.control_in(setup, &mut buf);
        let n = self.tracked(n.map_err(|e| DfuError::transport(step, e)))?;
        let reply = StatusReply::parse(&buf[..n.min(STATUS_LEN)]).map_err(|reason| {
            DfuError::MalformedStatus {
                step: step.clone(),
                reason,
            }
        });
        let reply = self.tracked(reply)?;
        // dfuDNBUSY passes by itself; an error status leaves doubt.
        self.known_state = (reply.status == DfuStatus::Ok && reply.state != DfuState::DfuDnBusy)
            .then_some(reply.state);
        self.stats.poll_timeout_total += reply.poll_timeout;
        if reply.state.operation_pending() {
            let wait = reply.poll_timeout.min(MAX_POLL_SLEEP);
            if let Err(cancelled) = self.monitor.sleep(self.clock.as_ref(), wait) {
                // The device finishes (or not) on its own; the next request
                // must find out where it is.
                self.forget();
                return Err(cancelled.into());
            }
        }
        Ok(reply)
    }

    /// GETSTATE (one byte, no poll timeout).
    pub fn get_state(&mut self) -> Result<DfuState, DfuError> {
        let result = self.read_state();
        self.tracked(result)
    }

    fn read_state(&mut self) -> Result<DfuState, DfuError> {
        let step = Step::GetToIdle;
        let setup = self.setup(REQUEST_TYPE_IN, request::GETSTATE, 0, 1);
        let mut buf = [0u8; 1];
        let n = self
            .wire
            .control_in(setup, &mut buf)
            .map_err(|e| DfuError::transport(&step, e))?;
        if n < 1 {
            return Err(DfuError::ShortTransfer {
                step,
                got: n,
                expected: 1,
            });
        }
        DfuState::from_code(buf[0]).ok_or_else(|| DfuError::MalformedStatus {
            step,
            reason: format!("GETSTATE reply has unknown state {}", buf[0]),
        })
    }

    /// CLRSTATUS: dfuERROR → dfuIDLE.
    pub fn clear_status(&mut self, step: &Step) -> Result<(), DfuError> {
        self.simple_out(request::CLRSTATUS, step)
    }

    /// ABORT: any idle or sync state → dfuIDLE.
    pub fn abort(&mut self, step: &Step) -> Result<(), DfuError> {
        self.simple_out(request::ABORT, step)
    }

    /// CLRSTATUS or ABORT; accepted, either leaves the device in dfuIDLE.
    fn simple_out(&mut self, req: u8, step: &Step) -> Result<(), DfuError> {
        let setup = self.setup(REQUEST_TYPE_OUT, req, 0, 0);
        let sent = self.wire.control_out(setup, &[]);
        self.tracked(sent.map_err(|e| DfuError::transport(step, e)))?;
        self.known_state = Some(DfuState::DfuIdle);
        Ok(())
    }

    /// Poll GETSTATUS while the device says dfuDNBUSY. Returns the first
    /// non-busy reply; a non-OK status becomes a typed error naming `step`.
    pub fn wait_while_busy(&mut self, step: &Step) -> Result<StatusReply, DfuError> {
        let result = self.poll_while_busy(step);
        self.tracked(result)
    }

    fn poll_while_busy(&mut self, step: &Step) -> Result<StatusReply, DfuError> {
        let mut polls = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let reply = self.get_status(step)?;
            if reply.status != DfuStatus::Ok {
                return Err(DfuError::Status {
                    step: step.clone(),
                    status: reply.status,
                    state: reply.state,
                    stalled: false,
                });
            }
            if reply.state != DfuState::DfuDnBusy {
                return Ok(reply);
            }
            polls += 1;
            waited += reply.poll_timeout;
            self.stats.busy_polls += 1;
            if polls >= self.busy_limit {
                return Err(DfuError::StayedBusy {
                    step: step.clone(),
                    polls,
                    waited,
                });
            }
        }
    }

    /// What dfu-util does before each operation: clear dfuERROR, abort any
    /// unfinished transfer, wait out dfuDNBUSY, and refuse runtime or
    /// manifesting devices.
    ///
    /// When this engine's own last request left the device in a known state,
    /// no GETSTATUS is needed: dfuIDLE is kept as it is, dfuDNLOAD_IDLE and
    /// dfuUPLOAD_IDLE take one ABORT.
    pub fn get_to_idle(&mut self) -> Result<(), DfuError> {
        match self.known_state {
            Some(DfuState::DfuIdle) => return Ok(()),
            Some(DfuState::DfuDnloadIdle | DfuState::DfuUploadIdle) => {
                return self.abort(&Step::GetToIdle)
            }
            _ => {}
        }
        let result = self.poll_to_idle();
        self.tracked(result)
    }

    fn poll_to_idle(&mut self) -> Result<(), DfuError> {
        let step = Step::GetToIdle;
        let mut actions = 0;
        let mut busy = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let reply = self.get_status(&step)?;
            match reply.state {
                DfuState::DfuIdle => return Ok(()),
                DfuState::DfuError => self.clear_status(&step)?,
                DfuState::DfuDnloadSync
                | DfuState::DfuDnloadIdle
                | DfuState::DfuManifestSync
                | DfuState::DfuUploadIdle => self.abort(&step)?,
                DfuState::DfuDnBusy => {
                    busy += 1;
                    waited += reply.poll_timeout;
                    self.stats.busy_polls += 1;
                    if busy >= self.busy_limit {
                        return Err(DfuError::StayedBusy {
                            step,
                            polls: busy,
                            waited,
                        });
                    }
                    continue;
                }
                DfuState::AppIdle | DfuState::AppDetach => return Err(DfuError::NotInDfuMode),
                state @ (DfuState::DfuManifest | DfuState::DfuManifestWaitReset) => {
                    return Err(DfuError::Manifesting { step, state })
                }
            }
            actions += 1;
            if actions > 3 {
                return Err(DfuError::UnexpectedState {
                    step,
                    state: reply.state,
                    expected: "dfuIDLE after CLRSTATUS / ABORT",
                });
            }
        }
    }

    /// DNLOAD with `block` as wBlockNum. A stalled request is followed by one
    /// GETSTATUS so the error can carry the device's own status code.
    pub(crate) fn dnload(&mut self, block: u16, data: &[u8], step: &Step) -> Result<(), DfuError> {
        // dfuDNLOAD_SYNC (or manifesting) until the next GETSTATUS says.
        self.known_state = None;
        let setup = self.setup(REQUEST_TYPE_OUT, request::DNLOAD, block, data.len());
        let sent = self.wire.control_out(setup, data);
        let result = match sent {
            Ok(n) if n < data.len() => Err(DfuError::ShortTransfer {
                step: step.clone(),
                got: n,
                expected: data.len(),
            }),
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(step, e)),
        };
        self.tracked(result)
    }

    /// UPLOAD with `block` as wBlockNum into `buf`; returns the bytes received.
    pub(crate) fn upload(
        &mut self,
        block: u16,
        buf: &mut [u8],
        step: &Step,
    ) -> Result<usize, DfuError> {
        // dfuUPLOAD_IDLE, or dfuIDLE after a short frame.
        self.known_state = None;
        let setup = self.setup(REQUEST_TYPE_IN, request::UPLOAD, block, buf.len());
        let result = match self.wire.control_in(setup, buf) {
            Ok(n) => Ok(n.min(buf.len())),
            Err(e) => Err(self.explain(step, e)),
        };
        self.tracked(result)
    }

    fn explain(&mut self, step: &Step, e: TransportError) -> DfuError {
        if e == TransportError::Stall {
            if let Ok(reply) = self.get_status(step) {
                if reply.status != DfuStatus::Ok {
                    return DfuError::Status {
                        step: step.clone(),
                        status: reply.status,
                        state: reply.state,
                        stalled: true,
                    };
                }
            }
        }
        DfuError::transport(step, e)
    }

    /// GETSTATUS after a DNLOAD until the device is no longer busy. The
    /// bootloader runs the write or erase inside the first GETSTATUS and,
    /// if it fails, stalls that transfer's status stage with bStatus still
    /// OK (REFERENCE §1): a stall here is a failed operation. The state is
    /// then checked (dfuDNLOAD_IDLE on a Duo) and the device brought back
    /// to dfuIDLE, so the next step starts clean.
    fn finish_download(&mut self, step: &Step) -> Result<StatusReply, DfuError> {
        match self.wait_while_busy(step) {
            Err(DfuError::Transport {
                source: TransportError::Stall,
                ..
            }) => {
                let state = self.get_status(step).ok().map(|r| r.state);
                if matches!(
                    state,
                    Some(DfuState::DfuDnloadIdle | DfuState::DfuDnloadSync | DfuState::DfuError)
                ) {
                    let _ = self.get_to_idle();
                }
                Err(DfuError::OperationFailed {
                    step: step.clone(),
                    state,
                })
            }
            other => other,
        }
    }

    /// A DfuSe command (DNLOAD block 0), then GETSTATUS until not busy; the
    /// device must end in dfuDNLOAD_IDLE.
    fn dfuse_command(&mut self, payload: &[u8], step: &Step) -> Result<(), DfuError> {
        self.dnload(0, payload, step)?;
        let reply = self.finish_download(step)?;
        if reply.state != DfuState::DfuDnloadIdle {
            self.forget();
            return Err(DfuError::UnexpectedState {
                step: step.clone(),
                state: reply.state,
                expected: "dfuDNLOAD_IDLE",
            });
        }
        Ok(())
    }

    /// DfuSe `0x21 addr`: data blocks and uploads then count from `addr`.
    pub fn set_address(&mut self, addr: u32) -> Result<(), DfuError> {
        let step = Step::SetAddress {
            at: self.location(addr),
        };
        let mut cmd = [dfuse::SET_ADDRESS, 0, 0, 0, 0];
        cmd[1..].copy_from_slice(&addr.to_le_bytes());
        self.pointer = None;
        self.dfuse_command(&cmd, &step)?;
        self.pointer = Some(addr);
        Ok(())
    }

    /// DfuSe `0x41 addr`: erase the sector holding `addr`.
    pub fn erase_sector(&mut self, addr: u32) -> Result<(), DfuError> {
        let step = Step::Erase {
            at: self.location(addr),
        };
        let mut cmd = [dfuse::ERASE, 0, 0, 0, 0];
        cmd[1..].copy_from_slice(&addr.to_le_bytes());
        // An erase moves the pointer (REFERENCE §1); set it again after.
        self.pointer = None;
        self.dfuse_command(&cmd, &step)
    }

    /// One data block (wBlockNum ≥ 2) and its GETSTATUS round; the device
    /// must end in dfuDNLOAD_IDLE.
    pub(crate) fn download_block(
        &mut self,
        block_num: u16,
        data: &[u8],
        step: &Step,
    ) -> Result<(), DfuError> {
        self.dnload(block_num, data, step)?;
        let reply = self.finish_download(step)?;
        if reply.state != DfuState::DfuDnloadIdle {
            self.forget();
            return Err(DfuError::UnexpectedState {
                step: step.clone(),
                state: reply.state,
                expected: "dfuDNLOAD_IDLE",
            });
        }
        self.stats.bytes_down += data.len() as u64;
        Ok(())
    }
}
