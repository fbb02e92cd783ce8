//! Tests of the virtual Duo through raw control transfers on the
//! [`ControlTransport`] seam, with a manual clock (no wall-clock waits).

mod boot;
mod dct;
mod descriptors;
mod faults;
mod firmware_rules;
mod media;
mod state_machine;
mod store;

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use super::{CreateOptions, ManualClock, SimTransport, VirtualDuo};
pub use crate::dfu::protocol::request::{ABORT, CLRSTATUS, DNLOAD, GETSTATE, GETSTATUS, UPLOAD};
pub use crate::dfu::protocol::{
    DfuState, DfuStatus, StatusReply, REQUEST_TYPE_IN as IN, REQUEST_TYPE_OUT as OUT,
};
use crate::dfu::transport::{ControlTransport, Setup, TransportError};

/// A virtual Duo in a temporary directory, opened as a transport, with the
/// clock the device judges time by.
pub struct Bench {
    pub dir: TempDir,
    pub t: SimTransport,
    pub clock: Arc<ManualClock>,
}

/// A factory Duo (default DCT) with time factor `factor`.
pub fn bench(factor: f64) -> Bench {
    bench_with(CreateOptions {
        time_factor: factor,
        device_id: Some(*b"\x2f\xff\x27\xff\xfc\x47\x35\x30\xff\xf2\x36\x37"),
        ..CreateOptions::default()
    })
}

/// A board with `bootloader` + `firmware` (REFERENCE §1 board model).
pub fn bench_board(bootloader: &str, firmware: &str, factor: f64) -> Bench {
    bench_with(CreateOptions {
        board: Some(
            crate::platform::Board::by_names(&crate::platform::DUO, bootloader, firmware).unwrap(),
        ),
        time_factor: factor,
        device_id: Some(*b"\x2f\xff\x27\xff\xfc\x47\x35\x30\xff\xf2\x36\x37"),
        ..CreateOptions::default()
    })
}

pub fn bench_with(options: CreateOptions) -> Bench {
    let dir = TempDir::new().unwrap();
    let clock = ManualClock::new();
    let path = dir.path().join("vd");
    let duo = VirtualDuo::create_with_clock(&path, options, clock.clone()).unwrap();
    Bench {
        dir,
        t: SimTransport::new(duo).unwrap(),
        clock,
    }
}

impl Bench {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("vd")
    }

    /// Close the device and open it again on a fresh clock, as the next
    /// host process would.
    pub fn reopen(self) -> Bench {
        let path = self.path();
        drop(self.t);
        let clock = ManualClock::new();
        Bench {
            dir: self.dir,
            t: SimTransport::open_with_clock(&path, clock.clone()).unwrap(),
            clock,
        }
    }

    pub fn class_in(
        &mut self,
        request: u8,
        value: u16,
        length: u16,
    ) -> Result<Vec<u8>, TransportError> {
        let mut buf = vec![0u8; usize::from(length)];
        let n = self
            .t
            .control_in(setup(IN, request, value, length), &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    pub fn class_out(
        &mut self,
        request: u8,
        value: u16,
        data: &[u8],
    ) -> Result<usize, TransportError> {
        self.t
            .control_out(setup(OUT, request, value, data.len() as u16), data)
    }

    pub fn dnload(&mut self, block: u16, data: &[u8]) -> Result<usize, TransportError> {
        self.class_out(DNLOAD, block, data)
    }

    pub fn upload(&mut self, block: u16, len: u16) -> Result<Vec<u8>, TransportError> {
        self.class_in(UPLOAD, block, len)
    }

    pub fn status(&mut self) -> StatusReply {
        self.try_status().unwrap()
    }

    /// GETSTATUS, which stalls when the operation it runs fails.
    pub fn try_status(&mut self) -> Result<StatusReply, TransportError> {
        let bytes = self.class_in(GETSTATUS, 0, 6)?;
        assert_eq!(bytes.len(), 6, "GETSTATUS reply {bytes:02x?}");
        Ok(StatusReply::parse(&bytes).unwrap())
    }

    /// GETSTATUS timed on the device's clock: the reply and how long the
    /// transfer took (the operation it ran, REFERENCE §1).
    pub fn timed_status(&mut self) -> (Result<StatusReply, TransportError>, Duration) {
        let before = self.clock.elapsed();
        let reply = self.try_status();
        (reply, self.clock.elapsed() - before)
    }

    pub fn state(&mut self) -> DfuState {
        DfuState::from_code(self.class_in(GETSTATE, 0, 1).unwrap()[0]).unwrap()
    }

    pub fn clrstatus(&mut self) {
        self.class_out(CLRSTATUS, 0, &[]).unwrap();
    }

    pub fn abort(&mut self) -> Result<usize, TransportError> {
        self.class_out(ABORT, 0, &[])
    }

    pub fn alt(&mut self, alt: u8) {
        self.t.set_alt_setting(0, alt).unwrap();
    }

    /// GETSTATUS until the device is no longer busy, advancing the clock
    /// by each bwPollTimeout as a well-behaved host waits.
    pub fn wait(&mut self) -> StatusReply {
        self.try_wait().unwrap()
    }

    /// As [`Bench::wait`]; a failed operation is `Err(Stall)`.
    pub fn try_wait(&mut self) -> Result<StatusReply, TransportError> {
        loop {
            let s = self.try_status()?;
            if s.state != DfuState::DfuDnBusy {
                return Ok(s);
            }
            self.clock.advance(s.poll_timeout);
        }
    }

    /// DNLOAD then wait for the result.
    pub fn download(&mut self, block: u16, data: &[u8]) -> StatusReply {
        self.try_download(block, data).unwrap()
    }

    pub fn try_download(&mut self, block: u16, data: &[u8]) -> Result<StatusReply, TransportError> {
        self.dnload(block, data)?;
        self.try_wait()
    }

    pub fn set_address(&mut self, addr: u32) -> StatusReply {
        let mut cmd = vec![0x21];
        cmd.extend_from_slice(&addr.to_le_bytes());
        self.download(0, &cmd)
    }

    pub fn erase(&mut self, addr: u32) -> StatusReply {
        self.try_erase(addr).unwrap()
    }

    pub fn try_erase(&mut self, addr: u32) -> Result<StatusReply, TransportError> {
        let mut cmd = vec![0x41];
        cmd.extend_from_slice(&addr.to_le_bytes());
        self.try_download(0, &cmd)
    }

    /// dfu-util's way: set address, then one block per 4 KiB at block 2…
    pub fn write(&mut self, addr: u32, data: &[u8]) -> StatusReply {
        self.try_write(addr, data).unwrap()
    }

    /// As [`Bench::write`], stopping at the first block whose GETSTATUS
    /// stalls (a failed write, REFERENCE §1).
    pub fn try_write(&mut self, addr: u32, data: &[u8]) -> Result<StatusReply, TransportError> {
        let s = self.set_address(addr);
        assert_eq!(s.status, DfuStatus::Ok, "set address {addr:#x}: {s:?}");
        let mut last = s;
        for (i, chunk) in data.chunks(4096).enumerate() {
            last = self.try_download(2 + i as u16, chunk)?;
        }
        Ok(last)
    }

    /// Set address, back to idle, upload blocks from 2.
    pub fn read(&mut self, addr: u32, len: usize) -> Vec<u8> {
        let s = self.set_address(addr);
        assert_eq!(s.status, DfuStatus::Ok, "set address {addr:#x}: {s:?}");
        self.abort().unwrap();
        let mut out = Vec::new();
        let mut block = 2;
        while out.len() < len {
            let want = (len - out.len()).min(4096) as u16;
            let got = self.upload(block, want).unwrap();
            let short = got.len() < usize::from(want);
            out.extend_from_slice(&got);
            if short {
                break;
            }
            block += 1;
        }
        self.abort().unwrap();
        out
    }

    /// Leave DFU as dfu-util does (zero-length DNLOAD, GETSTATUS), then let
    /// the ~500 ms (scaled) until the reset pass (REFERENCE §1): afterwards
    /// the board has booted its firmware and is gone from this handle.
    pub fn leave(&mut self) {
        self.dnload(0, &[]).unwrap();
        assert_eq!(self.status().state, DfuState::DfuDnloadIdle);
        let factor = self.t.device().time_factor();
        self.clock
            .advance(Duration::from_secs_f64(0.5 * factor) + Duration::from_micros(1));
        assert_eq!(
            self.class_in(GETSTATUS, 0, 6),
            Err(TransportError::NoDevice)
        );
    }

    /// Back to dfuIDLE from an error, as hosts do.
    pub fn recover(&mut self) {
        if self.status().state == DfuState::DfuError {
            self.clrstatus();
        }
        assert_eq!(self.status().state, DfuState::DfuIdle);
    }
}

pub fn setup(request_type: u8, request: u8, value: u16, length: u16) -> Setup {
    Setup {
        request_type,
        request,
        value,
        index: 0,
        length,
    }
}

/// The GETSTATUS reply a test expects.
pub fn reply(status: DfuStatus, poll_ms: u64, state: DfuState) -> StatusReply {
    StatusReply {
        status,
        poll_timeout: Duration::from_millis(poll_ms),
        state,
        string_index: 0,
    }
}
