//! Whole-range DfuSe operations: read, write (with erase of the touched
//! sectors) and leave. Every range is checked against the alt's memory layout
//! before anything is sent, so a refused request leaves the device untouched.

use super::engine::Dfu;
use super::error::DfuError;
use super::layout::{MemoryLayout, Segment};
use super::protocol::{dfuse, DfuState, DfuStatus, Step};
use super::transport::{ControlTransport, TransportError};
use crate::progress::{Monitor, Phase, Unit};

/// Which sectors a write erases first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErasePolicy {
    /// Erase every sector of an erasable segment the write touches — except on
    /// the DCT alt, where the bootloader's erase is a no-op (REFERENCE §1)
    /// and the round trips would be waste.
    #[default]
    TouchedSectors,
    /// Erase nothing (the caller knows the range is erased, or it is the DCT).
    Never,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteSummary {
    /// Start addresses of the sectors erased, in order.
    pub erased: Vec<u32>,
    /// Data blocks sent.
    pub blocks: u32,
}

/// How the device left DFU mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// GETSTATUS answered with this state (dfuMANIFEST, dfuMANIFEST_WAIT_RESET,
    /// or dfuDNLOAD_IDLE on Particle Gen 2 bootloaders); the device resets.
    Manifesting(DfuState),
    /// The device was gone before answering: it reset straight away.
    Vanished(TransportError),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl<T: ControlTransport> Dfu<T> {
    /// Check `[addr, addr + len)` against `alt`'s layout. Sends nothing.
    fn plan(
        &self,
        access: Access,
        alt: u8,
        addr: u32,
        len: u64,
    ) -> Result<(MemoryLayout, Vec<Segment>), DfuError> {
        let layout = self.layout(alt)?;
        let op = match access {
            Access::Read => "reading",
            Access::Write => "writing",
        };
        let start = u64::from(addr);
        // `len` comes from the caller as a usize: near u64::MAX the end wraps.
        let end = start.saturating_add(len);
        let out_of_range = |first_bad: u64| DfuError::OutOfRange {
            op,
            alt,
            memory: layout.name.clone(),
            addr,
            end,
            len,
            first_bad,
            map: layout.describe_map(),
        };
        if end > 1 << 32 {
            return Err(out_of_range(1 << 32));
        }
        if !self.layout_checks {
            return Ok((layout, Vec::new()));
        }
        if len == 0 && layout.segment_at(start).is_none() {
            return Err(out_of_range(start));
        }
        let segments = layout.segments_in(start, len).map_err(out_of_range)?;
        for seg in &segments {
            let allowed = match access {
                Access::Read => seg.perms.readable,
                Access::Write => seg.perms.writable,
            };
            if !allowed {
                let bootloader = access == Access::Write
                    && self.platform().is_some()
                    && !self.is_dct_alt(alt)
                    && layout.segments.first() == Some(seg);
                return Err(DfuError::NotPermitted {
                    op: match access {
                        Access::Read => "read",
                        Access::Write => "write",
                    },
                    alt,
                    memory: layout.name.clone(),
                    addr: addr.max(seg.start),
                    segment_start: seg.start,
                    segment_end: seg.end(),
                    perms: seg.perms.to_string(),
                    letter: seg.letter,
                    hint: if bootloader {
                        ": it holds the bootloader, which DFU cannot rewrite"
                    } else {
                        ""
                    },
                });
            }
        }
        Ok((layout, segments))
    }

    /// Read `len` bytes at `addr` of `alt` (DfuSe UPLOAD, blocks of
    /// wTransferSize from wBlockNum 2, the last one short). A pointer this
    /// session already set at `addr` is used as it is ([`Dfu::pointer`]).
    pub fn read(&mut self, alt: u8, addr: u32, len: usize) -> Result<Vec<u8>, DfuError> {
        self.read_with(alt, addr, len, &Monitor::default())
    }

    /// [`Dfu::read`], reporting [`Phase::Read`] in bytes after every block
    /// and stopping with [`DfuError::Cancelled`] between blocks or in a wait
    /// once `monitor`'s token is cancelled.
    pub fn read_with(
        &mut self,
        alt: u8,
        addr: u32,
        len: usize,
        monitor: &Monitor,
    ) -> Result<Vec<u8>, DfuError> {
        self.read_as(alt, addr, len, Phase::Read, monitor)
    }

    /// [`Dfu::read_with`] reporting its events as `phase` (a key load's
    /// backup and verify are reads).
    pub(crate) fn read_as(
        &mut self,
        alt: u8,
        addr: u32,
        len: usize,
        phase: Phase,
        monitor: &Monitor,
    ) -> Result<Vec<u8>, DfuError> {
        let result = self.monitored(monitor, |dfu| dfu.read_range(alt, addr, len, phase));
        self.tracked(result)
    }

    fn read_range(
        &mut self,
        alt: u8,
        addr: u32,
        len: usize,
        phase: Phase,
    ) -> Result<Vec<u8>, DfuError> {
        self.plan(Access::Read, alt, addr, len as u64)?;
        let monitor = self.monitor.clone();
        let total = len as u64;
        monitor.check()?;
        monitor.report(phase, 0, total, Unit::Bytes);
        self.select_alt(alt)?;
        self.get_to_idle()?;
        let xfer = self.transfer_size();
        let run_bytes = xfer * self.max_blocks_per_run as usize;
        let blocks = len.div_ceil(xfer) as u32;
        let mut out = vec![0u8; len];
        let mut block_index = 0u32;
        for (run_no, run) in out.chunks_mut(run_bytes).enumerate() {
            let run_addr = addr + (run_no * run_bytes) as u32;
            if run_no > 0 {
                self.abort(&Step::Abort)?;
            }
            if self.pointer() != Some(run_addr) {
                self.set_address(run_addr)?;
                // UPLOAD is only accepted in dfuIDLE / dfuUPLOAD_IDLE.
                self.abort(&Step::Abort)?;
            }
            for (i, chunk) in run.chunks_mut(xfer).enumerate() {
                block_index += 1;
                let step = Step::Upload {
                    block: block_index,
                    blocks,
                    at: self.location(run_addr + (i * xfer) as u32),
                };
                let block_num = dfuse::FIRST_DATA_BLOCK + i as u16;
                monitor.check()?;
                let got = self.upload(block_num, chunk, &step)?;
                if got != chunk.len() {
                    return Err(DfuError::ShortTransfer {
                        step,
                        got,
                        expected: chunk.len(),
                    });
                }
                self.stats.bytes_up += got as u64;
                let done = self.stats_done(addr, run_addr, i, got);
                monitor.report(phase, done, total, Unit::Bytes);
            }
        }
        if len > 0 {
            self.abort(&Step::Abort)?;
        }
        Ok(out)
    }

    fn stats_done(&self, addr: u32, run_addr: u32, i: usize, got: usize) -> u64 {
        u64::from(run_addr - addr) + (i * self.transfer_size() + got) as u64
    }

    /// Write `data` at `addr` of `alt`: erase the touched sectors (per
    /// `erase`), set the pointer once per run of up to 65534 blocks (not at
    /// all when this session's pointer is already there, see
    /// [`Dfu::pointer`]), then send wTransferSize blocks numbered from 2.
    pub fn write(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        erase: ErasePolicy,
    ) -> Result<WriteSummary, DfuError> {
        self.write_with(alt, addr, data, erase, &Monitor::default())
    }

    /// [`Dfu::write`], reporting [`Phase::Erase`] (bytes of the sectors
    /// erased) and [`Phase::Write`] (bytes sent) after every sector and
    /// block, and stopping with [`DfuError::Cancelled`] before the next
    /// sector or block, or in a wait, once `monitor`'s token is cancelled.
    /// A block already sent is never cut: the device applies it whole.
    pub fn write_with(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        erase: ErasePolicy,
        monitor: &Monitor,
    ) -> Result<WriteSummary, DfuError> {
        self.write_as(alt, addr, data, erase, Phase::Write, monitor)
    }

    /// [`Dfu::write_with`] reporting its blocks as `phase` (a restore is a
    /// write).
    pub(crate) fn write_as(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        erase: ErasePolicy,
        phase: Phase,
        monitor: &Monitor,
    ) -> Result<WriteSummary, DfuError> {
        let result = self.monitored(monitor, |dfu| {
            dfu.write_range(alt, addr, data, erase, phase)
        });
        self.tracked(result)
    }

    fn write_range(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        erase: ErasePolicy,
        phase: Phase,
    ) -> Result<WriteSummary, DfuError> {
        let (layout, _) = self.plan(Access::Write, alt, addr, data.len() as u64)?;
        let monitor = self.monitor.clone();
        let total = data.len() as u64;
        monitor.check()?;
        let mut summary = WriteSummary::default();
        if data.is_empty() {
            return Ok(summary);
        }
        self.select_alt(alt)?;
        self.get_to_idle()?;
        if erase == ErasePolicy::TouchedSectors && !self.is_dct_alt(alt) {
            let sectors = layout
                .sectors_in(u64::from(addr), total)
                .unwrap_or_default();
            let erasable: Vec<_> = sectors.iter().filter(|s| s.perms.erasable).collect();
            let erase_total: u64 = erasable.iter().map(|s| u64::from(s.size)).sum();
            let mut erased = 0;
            if !erasable.is_empty() {
                monitor.report(Phase::Erase, 0, erase_total, Unit::Bytes);
            }
            for sector in erasable {
                monitor.check()?;
                self.erase_sector(sector.start)?;
                summary.erased.push(sector.start);
                erased += u64::from(sector.size);
                monitor.report(Phase::Erase, erased, erase_total, Unit::Bytes);
            }
        }
        monitor.report(phase, 0, total, Unit::Bytes);
        let xfer = self.transfer_size();
        let run_bytes = xfer * self.max_blocks_per_run as usize;
        let blocks = data.len().div_ceil(xfer) as u32;
        for (run_no, run) in data.chunks(run_bytes).enumerate() {
            let run_addr = addr + (run_no * run_bytes) as u32;
            if self.pointer() != Some(run_addr) {
                self.set_address(run_addr)?;
            }
            for (i, chunk) in run.chunks(xfer).enumerate() {
                summary.blocks += 1;
                let step = Step::Download {
                    block: summary.blocks,
                    blocks,
                    at: self.location(run_addr + (i * xfer) as u32),
                };
                monitor.check()?;
                self.download_block(dfuse::FIRST_DATA_BLOCK + i as u16, chunk, &step)?;
                let done = self.stats_done(addr, run_addr, i, chunk.len());
                monitor.report(phase, done, total, Unit::Bytes);
            }
        }
        Ok(summary)
    }

    /// Leave DFU mode (dfu-util's `:leave`): optionally point the device at
    /// `start`, send a zero-length DNLOAD, then GETSTATUS. A device that has
    /// already gone (reset) counts as having left.
    pub fn leave(&mut self, start: Option<u32>) -> Result<LeaveOutcome, DfuError> {
        let result = self.leave_session(start);
        // Whatever happened, the session is over (or in doubt).
        self.forget();
        result
    }

    fn leave_session(&mut self, start: Option<u32>) -> Result<LeaveOutcome, DfuError> {
        let step = Step::Leave;
        if start.is_some() && self.current_alt().is_none() {
            let first = self.info().config.alt_settings.first().map_or(0, |a| a.alt);
            self.select_alt(first)?;
        }
        self.get_to_idle()?;
        if let Some(addr) = start {
            self.set_address(addr)?;
        }
        match self.dnload(dfuse::FIRST_DATA_BLOCK, &[], &step) {
            Err(DfuError::Transport {
                source: TransportError::NoDevice,
                ..
            }) => return Ok(LeaveOutcome::Vanished(TransportError::NoDevice)),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let reply = match self.get_status(&step) {
            Err(DfuError::Transport { source, .. })
                if matches!(
                    source,
                    TransportError::NoDevice | TransportError::Stall | TransportError::Timeout
                ) =>
            {
                return Ok(LeaveOutcome::Vanished(source));
            }
            other => other?,
        };
        if reply.status != DfuStatus::Ok {
            return Err(DfuError::Status {
                step,
                status: reply.status,
                state: reply.state,
                stalled: false,
            });
        }
        let tolerant = self.info().functional.manifestation_tolerant();
        match reply.state {
            DfuState::DfuManifest
            | DfuState::DfuManifestSync
            | DfuState::DfuManifestWaitReset
            | DfuState::DfuDnloadIdle => {}
            DfuState::DfuIdle if tolerant => {}
            state => {
                return Err(DfuError::UnexpectedState {
                    step,
                    state,
                    expected: "dfuMANIFEST, dfuMANIFEST_WAIT_RESET or dfuDNLOAD_IDLE",
                })
            }
        }
        // DFU 1.1 §7: a device that will not detach itself waits for a bus reset.
        if reply.state == DfuState::DfuManifestWaitReset && !self.info().functional.will_detach() {
            let _ = self.transport_mut().reset();
        }
        Ok(LeaveOutcome::Manifesting(reply.state))
    }
}
