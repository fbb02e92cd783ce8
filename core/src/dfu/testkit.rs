//! A minimal scripted DfuSe target and a fake clock for the engine's unit
//! tests. It follows ST's DFU class closely enough to exercise the host
//! (DNLOAD → GETSTATUS dfuDNBUSY with a poll timeout → GETSTATUS
//! dfuDNLOAD_IDLE); the faithful device model is `sim::duo`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::layout::MemoryLayout;
use super::protocol::{request, DfuState, DfuStatus, StatusReply};
use super::transport::{ControlTransport, Setup, TransportError};
use crate::platform::DUO;
use crate::time::Clock;

/// Records every sleep; time advances only by sleeping.
#[derive(Debug, Default)]
pub struct FakeClock {
    pub sleeps: Mutex<Vec<Duration>>,
}

impl FakeClock {
    pub fn total(&self) -> Duration {
        self.sleeps.lock().unwrap().iter().sum()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        // A fixed origin plus slept time; no test reads it.
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now) + self.total()
    }
    fn sleep(&self, d: Duration) {
        self.sleeps.lock().unwrap().push(d);
    }
}

/// One request as the target saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Req {
    In(Setup),
    Out(Setup, Vec<u8>),
    SetAlt(u8),
    Reset,
}

#[derive(Debug, Clone)]
enum Op {
    SetAddress(u32),
    Erase(u32),
    MassErase,
    Write(u32, Vec<u8>),
}

pub struct Memory {
    pub base: u32,
    pub data: Vec<u8>,
    pub layout: MemoryLayout,
}

pub struct Target {
    pub functional_len: usize,
    pub state: DfuState,
    pub status: DfuStatus,
    pub alt: u8,
    pub pointer: u32,
    pub mem: Vec<Memory>,
    pending: Option<Op>,
    data_blocks: u32,
    pub log: Vec<Req>,
    /// Sum of every bwPollTimeout this target declared.
    pub declared: Duration,
    /// Fault: errWRITE on the nth data block (1-based).
    pub fail_write_block: Option<u32>,
    /// Fault: GETSTATUS replies this many bytes only.
    pub short_status: Option<usize>,
    /// Fault: dfuDNBUSY forever once an operation starts.
    pub stuck_busy: bool,
    /// Fault: stall the nth request (0-based index into `log`).
    pub stall_at: Option<usize>,
    /// State reported after the zero-length leave download.
    pub leave_state: DfuState,
    /// Fault: gone after the zero-length leave download.
    pub vanish_on_leave: bool,
    /// bwPollTimeout of replies that declare none (idle and error states),
    /// as r5/r6 bootloaders leave the last operation's value (0: reset).
    pub stale_poll_ms: u64,
    gone: bool,
}

const XFER: usize = 4096;

impl Target {
    /// A Duo bootloader: the three alt settings of REFERENCE §1 over small
    /// but real-sized memories (1 MiB internal, 16 KiB DCT, 2 MiB serial).
    pub fn duo() -> Self {
        let mem = DUO
            .factory_alt_settings()
            .iter()
            .map(|a| {
                let layout = MemoryLayout::parse(a.name).unwrap();
                let base = layout.segments[0].start;
                let len = (layout.segments.last().unwrap().end() - u64::from(base)) as usize;
                Memory {
                    base,
                    data: vec![0xFF; len],
                    layout,
                }
            })
            .collect();
        Target {
            functional_len: 9,
            state: DfuState::DfuIdle,
            status: DfuStatus::Ok,
            alt: 0,
            pointer: 0,
            mem,
            pending: None,
            data_blocks: 0,
            log: Vec::new(),
            declared: Duration::ZERO,
            fail_write_block: None,
            short_status: None,
            stuck_busy: false,
            stall_at: None,
            leave_state: DfuState::DfuManifest,
            vanish_on_leave: false,
            stale_poll_ms: 0,
            gone: false,
        }
    }

    pub fn bytes(&self, alt: u8, addr: u32, len: usize) -> &[u8] {
        let m = &self.mem[usize::from(alt)];
        let off = (addr - m.base) as usize;
        &m.data[off..off + len]
    }

    /// DfuSe commands (block 0 DNLOADs) seen, as (command byte, address).
    pub fn commands(&self) -> Vec<(u8, Option<u32>)> {
        self.log
            .iter()
            .filter_map(|r| match r {
                Req::Out(s, d) if s.request == request::DNLOAD && s.value == 0 => Some((
                    d[0],
                    (d.len() == 5).then(|| u32::from_le_bytes([d[1], d[2], d[3], d[4]])),
                )),
                _ => None,
            })
            .collect()
    }

    /// wBlockNum of every DNLOAD / UPLOAD data block, in order.
    pub fn data_block_numbers(&self, req: u8) -> Vec<u16> {
        self.log
            .iter()
            .filter_map(|r| match r {
                Req::Out(s, d) if s.request == req && s.value >= 2 && !d.is_empty() => {
                    Some(s.value)
                }
                Req::In(s) if s.request == req && s.request_type == 0xA1 && s.value >= 2 => {
                    Some(s.value)
                }
                _ => None,
            })
            .collect()
    }

    fn descriptor(&self, kind: u8, index: u8) -> Option<Vec<u8>> {
        match kind {
            1 => Some(vec![
                18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x04, 0x2b, 0x58, 0xd0, 0x00, 0x02, 1, 2, 3, 1,
            ]),
            2 => {
                let mut b = vec![9, 2, 0, 0, 1, 1, 0, 0xC0, 50];
                for alt in 0..3u8 {
                    b.extend_from_slice(&[9, 4, 0, alt, 0, 0xFE, 0x01, 0x02, 4 + alt]);
                }
                let fd = [9, 0x21, 0x0B, 0xFF, 0, 0x00, 0x10, 0x1A, 0x01];
                b.push(self.functional_len as u8);
                b.extend_from_slice(&fd[1..self.functional_len]);
                let total = b.len() as u16;
                b[2..4].copy_from_slice(&total.to_le_bytes());
                Some(b)
            }
            3 => {
                let text = match index {
                    0 => return Some(vec![4, 3, 0x09, 0x04]),
                    1 => "RedBear",
                    2 => "RedBear DFU Mode",
                    3 => "00000000010C",
                    i @ 4..=6 => DUO.factory_alt_settings()[usize::from(i - 4)].name,
                    _ => return None,
                };
                let mut b = vec![0, 3];
                for u in text.encode_utf16() {
                    b.extend_from_slice(&u.to_le_bytes());
                }
                b[0] = b.len() as u8;
                Some(b)
            }
            _ => None,
        }
    }

    fn fail(&mut self, status: DfuStatus) -> Result<usize, TransportError> {
        self.state = DfuState::DfuError;
        self.status = status;
        Err(TransportError::Stall)
    }

    fn reply(&mut self, status: DfuStatus, ms: u64, buf: &mut [u8]) -> usize {
        let ms = if ms == 0 { self.stale_poll_ms } else { ms };
        let r = StatusReply {
            status,
            poll_timeout: Duration::from_millis(ms),
            state: self.state,
            string_index: 0,
        };
        self.declared += r.poll_timeout;
        let n = self.short_status.unwrap_or(6).min(buf.len());
        buf[..n].copy_from_slice(&r.encode()[..n]);
        n
    }

    fn poll_ms(&self, op: &Op) -> u64 {
        match (op, self.alt) {
            (Op::Write(..), 1) => 500,
            (Op::Write(..), _) => 5,
            (Op::Erase(_) | Op::MassErase, 1) => 1,
            (Op::Erase(_) | Op::MassErase, _) => 30,
            (Op::SetAddress(_), _) => 2,
        }
    }

    /// Carry out the pending operation; Err is the status to report.
    fn execute(&mut self, op: Op) -> Result<(), DfuStatus> {
        let alt = self.alt;
        let m = &mut self.mem[usize::from(alt)];
        match op {
            Op::SetAddress(a) => {
                m.layout
                    .segment_at(u64::from(a))
                    .ok_or(DfuStatus::ErrAddress)?;
                self.pointer = a;
            }
            Op::Erase(a) => {
                let s = m
                    .layout
                    .sector_at(u64::from(a))
                    .ok_or(DfuStatus::ErrAddress)?;
                if alt != 1 {
                    if !s.perms.erasable {
                        return Err(DfuStatus::ErrErase);
                    }
                    let off = (s.start - m.base) as usize;
                    m.data[off..off + s.size as usize].fill(0xFF);
                }
            }
            Op::MassErase => m.data.fill(0xFF),
            Op::Write(a, data) => {
                self.data_blocks += 1;
                if self.fail_write_block == Some(self.data_blocks) {
                    return Err(DfuStatus::ErrWrite);
                }
                let end = u64::from(a) + data.len() as u64;
                let segs = m
                    .layout
                    .segments_in(u64::from(a), data.len() as u64)
                    .map_err(|_| DfuStatus::ErrAddress)?;
                if segs.iter().any(|s| !s.perms.writable)
                    || end > m.data.len() as u64 + u64::from(m.base)
                {
                    return Err(DfuStatus::ErrWrite);
                }
                let off = (a - m.base) as usize;
                for (cell, byte) in m.data[off..off + data.len()].iter_mut().zip(&data) {
                    // NOR flash programs only clear bits; the DCT is rewritten.
                    *cell = if alt == 1 { *byte } else { *cell & byte };
                }
            }
        }
        Ok(())
    }

    fn get_status(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        if self.gone {
            return Err(TransportError::NoDevice);
        }
        match self.state {
            DfuState::DfuDnloadSync => {
                let ms = self.pending.as_ref().map_or(0, |op| self.poll_ms(op));
                if self.pending.is_some() {
                    self.state = DfuState::DfuDnBusy;
                } else {
                    self.state = DfuState::DfuDnloadIdle;
                }
                Ok(self.reply(DfuStatus::Ok, ms, buf))
            }
            DfuState::DfuDnBusy if self.stuck_busy => {
                let ms = self.pending.as_ref().map_or(0, |op| self.poll_ms(op));
                Ok(self.reply(DfuStatus::Ok, ms, buf))
            }
            DfuState::DfuDnBusy => {
                let op = self.pending.take().expect("busy without an operation");
                match self.execute(op) {
                    Ok(()) => {
                        self.state = DfuState::DfuDnloadIdle;
                        Ok(self.reply(DfuStatus::Ok, 0, buf))
                    }
                    Err(status) => {
                        self.state = DfuState::DfuError;
                        self.status = status;
                        Ok(self.reply(status, 0, buf))
                    }
                }
            }
            DfuState::DfuManifestSync => {
                if self.vanish_on_leave {
                    self.gone = true;
                    return Err(TransportError::NoDevice);
                }
                self.state = self.leave_state;
                Ok(self.reply(DfuStatus::Ok, 1, buf))
            }
            _ => {
                let status = self.status;
                Ok(self.reply(status, 0, buf))
            }
        }
    }
}

impl ControlTransport for Target {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.log.push(Req::In(setup));
        if self.stall_at == Some(self.log.len() - 1) {
            return self.fail(DfuStatus::ErrStalledPkt);
        }
        if setup.request_type == 0x80 && setup.request == 6 {
            let d = self
                .descriptor((setup.value >> 8) as u8, setup.value as u8)
                .ok_or(TransportError::Stall)?;
            let n = d.len().min(buf.len());
            buf[..n].copy_from_slice(&d[..n]);
            return Ok(n);
        }
        match setup.request {
            request::GETSTATUS => self.get_status(buf),
            request::GETSTATE => {
                buf[0] = self.state.code();
                Ok(1)
            }
            request::UPLOAD if setup.value >= 2 => {
                if !matches!(self.state, DfuState::DfuIdle | DfuState::DfuUploadIdle) {
                    return self.fail(DfuStatus::ErrStalledPkt);
                }
                let m = &self.mem[usize::from(self.alt)];
                let addr = u64::from(self.pointer) + u64::from(setup.value - 2) * XFER as u64;
                let len = usize::from(setup.length).min(buf.len());
                if addr < u64::from(m.base)
                    || addr + len as u64 > u64::from(m.base) + m.data.len() as u64
                {
                    return self.fail(DfuStatus::ErrAddress);
                }
                let off = (addr - u64::from(m.base)) as usize;
                buf[..len].copy_from_slice(&m.data[off..off + len]);
                self.state = DfuState::DfuUploadIdle;
                Ok(len)
            }
            _ => self.fail(DfuStatus::ErrStalledPkt),
        }
    }

    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        self.log.push(Req::Out(setup, data.to_vec()));
        if self.gone {
            return Err(TransportError::NoDevice);
        }
        if self.stall_at == Some(self.log.len() - 1) {
            return self.fail(DfuStatus::ErrStalledPkt);
        }
        match setup.request {
            request::DNLOAD => {
                if !matches!(self.state, DfuState::DfuIdle | DfuState::DfuDnloadIdle) {
                    return self.fail(DfuStatus::ErrStalledPkt);
                }
                if data.is_empty() {
                    self.state = DfuState::DfuManifestSync;
                    return Ok(0);
                }
                let op = match (setup.value, data) {
                    (0, [0x21, a @ ..]) if a.len() == 4 => {
                        Op::SetAddress(u32::from_le_bytes([a[0], a[1], a[2], a[3]]))
                    }
                    (0, [0x41, a @ ..]) if a.len() == 4 => {
                        Op::Erase(u32::from_le_bytes([a[0], a[1], a[2], a[3]]))
                    }
                    (0, [0x41]) => Op::MassErase,
                    (n, _) if n >= 2 => {
                        Op::Write(self.pointer + u32::from(n - 2) * XFER as u32, data.to_vec())
                    }
                    _ => return self.fail(DfuStatus::ErrStalledPkt),
                };
                self.pending = Some(op);
                self.state = DfuState::DfuDnloadSync;
                Ok(data.len())
            }
            request::CLRSTATUS if self.state == DfuState::DfuError => {
                self.state = DfuState::DfuIdle;
                self.status = DfuStatus::Ok;
                Ok(0)
            }
            request::ABORT if self.state != DfuState::DfuError => {
                self.state = DfuState::DfuIdle;
                self.pending = None;
                Ok(0)
            }
            _ => self.fail(DfuStatus::ErrStalledPkt),
        }
    }

    fn set_alt_setting(&mut self, _interface: u8, alt: u8) -> Result<(), TransportError> {
        self.log.push(Req::SetAlt(alt));
        self.alt = alt;
        Ok(())
    }

    fn reset(&mut self) -> Result<(), TransportError> {
        self.log.push(Req::Reset);
        Ok(())
    }
}

/// A Duo target and a fake clock, wired into an engine.
pub fn open(target: Target) -> (super::Dfu<Target>, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::default());
    let dfu = super::Dfu::open(target, clock.clone()).expect("probe the fake Duo");
    (dfu, clock)
}
