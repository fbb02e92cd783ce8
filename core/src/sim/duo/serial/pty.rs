//! A pseudo-terminal whose master the virtual Duo holds (REFERENCE §7): the
//! slave is the board's serial port. Termios calls on the slave are visible
//! on the master (`TCGETS2` gives the exact speed even when the host set a
//! non-standard rate with `BOTHER`, as the `serialport` crate does), and
//! with `EXTPROC` on the slave and packet mode (`TIOCPKT`) on the master,
//! each host `tcsetattr` wakes the master. Dropping the pty closes the
//! master: the host sees a hang-up, like an unplug.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

/// `TIOCPKT_IOCTL`: the packet-mode status bit for a termios change
/// (`<linux/tty.h>`; not in the `libc` crate).
const TIOCPKT_IOCTL: u8 = 0x40;

/// What one wait on the master brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Bytes the host wrote.
    Data(Vec<u8>),
    /// The host changed the termios (or another status change).
    Status,
    /// Nothing within the wait.
    Idle,
}

#[derive(Debug)]
pub struct Pty {
    master: OwnedFd,
    /// Held open so the master never sees the slave side hang up while no
    /// host has the port open.
    _slave: OwnedFd,
    path: PathBuf,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Pty {
    /// A new pty, its slave raw at 9600 baud with `EXTPROC`, its master in
    /// packet mode.
    pub fn open() -> io::Result<Pty> {
        // SAFETY: plain libc calls on descriptors this function owns.
        unsafe {
            let fd = check(libc::posix_openpt(
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            let master = OwnedFd::from_raw_fd(fd);
            check(libc::grantpt(fd))?;
            check(libc::unlockpt(fd))?;
            let mut name = [0 as libc::c_char; 128];
            let err = libc::ptsname_r(fd, name.as_mut_ptr(), name.len());
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
            let path = CStr::from_ptr(name.as_ptr()).to_owned();
            let sfd = check(libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            let slave = OwnedFd::from_raw_fd(sfd);
            let mut t: libc::termios = std::mem::zeroed();
            check(libc::tcgetattr(sfd, &mut t))?;
            libc::cfmakeraw(&mut t);
            t.c_lflag |= libc::EXTPROC;
            check(libc::cfsetspeed(&mut t, libc::B9600))?;
            check(libc::tcsetattr(sfd, libc::TCSANOW, &t))?;
            let on: libc::c_int = 1;
            check(libc::ioctl(fd, libc::TIOCPKT, &on))?;
            Ok(Pty {
                master,
                _slave: slave,
                path: PathBuf::from(path.to_string_lossy().into_owned()),
            })
        }
    }

    /// The slave's path (`/dev/pts/N`): the board's serial port.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The line's output speed as the host set it, in baud.
    pub fn speed(&self) -> io::Result<u32> {
        // SAFETY: TCGETS2 fills a termios2.
        unsafe {
            let mut t: libc::termios2 = std::mem::zeroed();
            check(libc::ioctl(self.master.as_raw_fd(), libc::TCGETS2, &mut t))?;
            Ok(t.c_ospeed)
        }
    }

    /// Wait up to `wait` for the host.
    pub fn wait(&self, wait: Duration) -> io::Result<Event> {
        let mut pfd = libc::pollfd {
            fd: self.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Event::Idle)
            } else {
                Err(e)
            };
        }
        if n == 0 || pfd.revents & libc::POLLIN == 0 {
            return Ok(Event::Idle);
        }
        let mut buf = [0u8; 1024];
        // SAFETY: reading into a local buffer.
        let got =
            unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got as usize;
        match buf[..got] {
            [] => Ok(Event::Idle),
            [0, ..] => Ok(Event::Data(buf[1..got].to_vec())),
            [status, ..] if status & TIOCPKT_IOCTL != 0 => Ok(Event::Status),
            _ => Ok(Event::Status),
        }
    }

    /// Send bytes to the host.
    pub fn write(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            // SAFETY: writing from a live slice.
            let n =
                unsafe { libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }
}
