//! Tests of the virtual Duo through raw control transfers on the
//! [`ControlTransport`] seam, with a manual clock (no wall-clock waits).

mod boot;
mod dct;
mod descriptors;
mod faults;
mod media;
mod state_machine;
mod store;

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use super::{CreateOptions, ManualClock, SimTransport, VirtualDuo};
use crate::dfu::transport::{ControlTransport, Setup, TransportError};

pub const OUT: u8 = 0x21;
pub const IN: u8 = 0xA1;

pub const DNLOAD: u8 = 1;
pub const UPLOAD: u8 = 2;
pub const GETSTATUS: u8 = 3;
pub const CLRSTATUS: u8 = 4;
pub const GETSTATE: u8 = 5;
pub const ABORT: u8 = 6;

pub const IDLE: u8 = 2;
pub const DNBUSY: u8 = 4;
pub const DNLOAD_IDLE: u8 = 5;
pub const UPLOAD_IDLE: u8 = 9;
pub const ERROR: u8 = 10;

pub const OK: u8 = 0x00;
pub const ERR_WRITE: u8 = 0x03;
pub const ERR_ERASE: u8 = 0x04;
pub const ERR_ADDRESS: u8 = 0x08;
pub const ERR_UNKNOWN: u8 = 0x0E;
pub const ERR_STALLEDPKT: u8 = 0x0F;

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

    pub fn status(&mut self) -> DfuStatus {
        DfuStatus::parse(&self.class_in(GETSTATUS, 0, 6).unwrap())
    }

    pub fn state(&mut self) -> u8 {
        self.class_in(GETSTATE, 0, 1).unwrap()[0]
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
    pub fn wait(&mut self) -> DfuStatus {
        loop {
            let s = self.status();
            if s.state != DNBUSY {
                return s;
            }
            self.clock
                .advance(Duration::from_millis(u64::from(s.poll_ms)));
        }
    }

    /// DNLOAD then wait for the result.
    pub fn download(&mut self, block: u16, data: &[u8]) -> DfuStatus {
        self.dnload(block, data).unwrap();
        self.wait()
    }

    pub fn set_address(&mut self, addr: u32) -> DfuStatus {
        let mut cmd = vec![0x21];
        cmd.extend_from_slice(&addr.to_le_bytes());
        self.download(0, &cmd)
    }

    pub fn erase(&mut self, addr: u32) -> DfuStatus {
        let mut cmd = vec![0x41];
        cmd.extend_from_slice(&addr.to_le_bytes());
        self.download(0, &cmd)
    }

    /// dfu-util's way: set address, then one block per 4 KiB at block 2…
    pub fn write(&mut self, addr: u32, data: &[u8]) -> DfuStatus {
        let s = self.set_address(addr);
        assert_eq!(s.status, OK, "set address {addr:#x}: {s:?}");
        let mut last = s;
        for (i, chunk) in data.chunks(4096).enumerate() {
            last = self.download(2 + i as u16, chunk);
            if last.status != OK {
                return last;
            }
        }
        last
    }

    /// Set address, back to idle, upload blocks from 2.
    pub fn read(&mut self, addr: u32, len: usize) -> Vec<u8> {
        let s = self.set_address(addr);
        assert_eq!(s.status, OK, "set address {addr:#x}: {s:?}");
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

    /// Back to dfuIDLE from an error, as hosts do.
    pub fn recover(&mut self) {
        if self.status().state == ERROR {
            self.clrstatus();
        }
        assert_eq!(self.status().state, IDLE);
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

/// A GETSTATUS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DfuStatus {
    pub status: u8,
    pub poll_ms: u32,
    pub state: u8,
}

impl DfuStatus {
    pub fn parse(b: &[u8]) -> Self {
        assert_eq!(b.len(), 6, "GETSTATUS reply {b:02x?}");
        DfuStatus {
            status: b[0],
            poll_ms: u32::from_le_bytes([b[1], b[2], b[3], 0]),
            state: b[4],
        }
    }
}
