//! `duo_provisioning::device`: a board in DFU mode (USB, or a virtual Duo
//! through `sim:DIR`) and the guide's key work on it. Every call runs off
//! the JS thread; the open device sits behind a mutex, one call at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use duo_provisioning::device::{list_devices as core_list, Device as CoreDevice, KeyToLoad};
use duo_provisioning::dfu::DeviceSelector;
use duo_provisioning::keys;
use duo_provisioning::report::DctReport;
use duo_provisioning::time;
use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Object};
use napi::Env;
use napi_derive::napi;

use crate::convert::json;
use crate::error::CoreError;
use crate::task::{self, ProgressFn, Watch, Work};

fn parse_selector(text: Option<&str>) -> Result<Option<DeviceSelector>, CoreError> {
    Ok(text
        .map(str::parse::<DeviceSelector>)
        .transpose()
        .map_err(duo_provisioning::device::DeviceError::from)?)
}

/// The boards in DFU mode (`{ selector, usbId, platform, serial, altSettings, … }`);
/// with a selector, only those it designates. Rejects with `NO_DEVICE` when
/// there is none.
#[napi(ts_return_type = "Promise<ListedDevice[]>")]
pub fn list_devices(
    selector: Option<String>,
) -> AsyncTask<Work<Vec<duo_provisioning::device::ListedDevice>>> {
    task::spawn(task::report(move || {
        let sel = parse_selector(selector.as_deref())?;
        Ok(core_list(sel.as_ref(), time::system())?)
    }))
}

/// Open a board in DFU mode: `usb:BUS-PORT`, `usb:VID:PID`, `serial:STRING`,
/// `sim:DIR` (a virtual Duo), or none for the one board on USB.
#[napi(ts_return_type = "Promise<Device>")]
pub fn open_device(selector: Option<String>) -> AsyncTask<Work<Device>> {
    task::spawn(task::with(
        move || {
            let sel = parse_selector(selector.as_deref())?;
            let device = CoreDevice::open(sel.as_ref(), time::system())?;
            Ok(Device {
                description: device.description().to_string(),
                inner: Shared {
                    device: Arc::new(Mutex::new(Some(device))),
                    closing: Arc::new(AtomicBool::new(false)),
                },
            })
        },
        task::native,
    ))
}

#[napi(object)]
pub struct PrivateKeyRead {
    /// What the slot holds (`state`: erased, reset-request, valid, corrupt).
    #[napi(ts_type = "KeyReport")]
    pub report: serde_json::Value,
    /// The key as PKCS#1 DER, when the slot holds a valid key.
    pub der: Option<Buffer>,
    /// The whole 1216-byte slot as read.
    pub slot: Buffer,
}

/// How `writePrivateKey` works: where the backup goes, progress, abort.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct WriteKeyOptions<'a> {
    /// Where to keep the replaced key (`backup_rsa_NAME.der`). Default:
    /// beside the key file for a path, the working directory for a Buffer.
    pub backup_dir: Option<String>,
    /// Called with each `{ phase, done, total, unit }` of the work
    /// (`backup`, `write`, `verify`, `restore`); the work waits for it.
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<ProgressFn>,
    /// Aborts the write where the slot holds one whole key: the call rejects
    /// with code `CANCELLED`, `backupPath` and which key the slot holds.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

/// How `resetPrivateKey` works.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ResetOptions<'a> {
    /// Where to keep the replaced key (`backup_rsa_reset.der`); default the
    /// working directory.
    pub backup_dir: Option<String>,
    /// Leave DFU mode so the firmware makes a new key (default true).
    pub leave: Option<bool>,
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<ProgressFn>,
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'a>>,
}

/// The name a key given as bytes has in reports and its backup's name
/// (`backup_rsa_key.der`).
const BYTES_KEY_NAME: &str = "key";

/// An open board in DFU mode.
#[napi]
pub struct Device {
    inner: Shared,
    description: String,
}

/// The open device, one call at a time, and whether `close()` was asked
/// for while a call held it (then the call lets it go when it ends).
#[derive(Clone)]
struct Shared {
    device: Arc<Mutex<Option<CoreDevice>>>,
    closing: Arc<AtomicBool>,
}

fn closed() -> CoreError {
    CoreError::Argument("the device was closed; open it again with openDevice()".into())
}

fn on_device<T>(
    inner: &Shared,
    f: impl FnOnce(&mut CoreDevice) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    if inner.closing.load(Ordering::SeqCst) {
        return Err(closed());
    }
    let mut guard = inner.device.lock().unwrap_or_else(|p| p.into_inner());
    let result = match guard.as_mut() {
        Some(device) => f(device),
        None => Err(closed()),
    };
    if inner.closing.load(Ordering::SeqCst) {
        guard.take();
    }
    result
}

#[napi]
impl Device {
    /// How the board is reached, e.g. `RedBear Duo (virtual, sim:/tmp/d)`.
    #[napi(getter)]
    pub fn description(&self) -> String {
        self.description.clone()
    }

    /// Read the device key slot into memory (no file is written): the
    /// slot's state, the key as PKCS#1 DER when it holds one, and the raw slot.
    #[napi(ts_return_type = "Promise<PrivateKeyRead>")]
    pub fn read_private_key(&self) -> AsyncTask<Work<PrivateKeyRead>> {
        let inner = self.inner.clone();
        task::spawn(task::with(
            move || {
                let slot = on_device(&inner, |d| Ok(d.read_full_key_slot()?))?;
                let der = keys::parse_private_key(&slot)
                    .ok()
                    .and_then(|k| keys::private_key_to_der(&k).ok());
                Ok(PrivateKeyRead {
                    report: json(&keys::inspect_key(&slot)),
                    der: der.map(Buffer::from),
                    slot: slot.into(),
                })
            },
            task::native,
        ))
    }

    /// Write a private key into the slot: a Buffer (DER or PEM, PKCS#1 or
    /// PKCS#8) or a key file path. The key is checked first, the current slot
    /// kept as a verified backup (`backup_rsa_NAME.der`, see `backupDir`),
    /// the new one read back and compared; on any failure or abort the
    /// previous slot is put back. Resolves with the core's `LoadReport`.
    #[napi(ts_return_type = "Promise<LoadReport>")]
    pub fn write_private_key(
        &self,
        env: Env,
        key: Either<Buffer, String>,
        options: Option<WriteKeyOptions<'_>>,
    ) -> napi::Result<AsyncTask<Work<duo_provisioning::device::LoadReport>>> {
        let WriteKeyOptions {
            backup_dir,
            on_progress,
            signal,
        } = options.unwrap_or_default();
        let watch = Watch::new(&env, signal, on_progress)?;
        let inner = self.inner.clone();
        let key = match key {
            Either::A(bytes) => Either::A(bytes.to_vec()),
            Either::B(path) => Either::B(path),
        };
        Ok(task::spawn(task::report(move || {
            let monitor = watch.monitor;
            let key = match key {
                Either::A(bytes) => KeyToLoad::from_bytes(&bytes, BYTES_KEY_NAME)?,
                Either::B(path) => KeyToLoad::from_file(Path::new(&path))?,
            };
            let dir = match backup_dir {
                Some(dir) => PathBuf::from(dir),
                None => key.path.parent().unwrap_or(Path::new("")).to_path_buf(),
            };
            Watch::check(&monitor)?;
            on_device(&inner, |d| Ok(d.load_key_into_with(&key, &dir, &monitor)?))
        })))
    }

    /// Have the firmware make a new key: the reset request is written over
    /// the slot (the replaced key kept as a verified backup first) and, unless
    /// `leave: false`, the board leaves DFU mode.
    #[napi(ts_return_type = "Promise<ResetReport>")]
    pub fn reset_private_key(
        &self,
        env: Env,
        options: Option<ResetOptions<'_>>,
    ) -> napi::Result<AsyncTask<Work<duo_provisioning::device::ResetReport>>> {
        let ResetOptions {
            backup_dir,
            leave,
            on_progress,
            signal,
        } = options.unwrap_or_default();
        let watch = Watch::new(&env, signal, on_progress)?;
        let inner = self.inner.clone();
        Ok(task::spawn(task::report(move || {
            let monitor = watch.monitor;
            let base = backup_dir
                .map_or_else(PathBuf::new, PathBuf::from)
                .join("reset");
            Watch::check(&monitor)?;
            on_device(&inner, |d| {
                Ok(d.reset_key_with(leave.unwrap_or(true), &base, &monitor)?)
            })
        })))
    }

    /// Write a server key block (see `formatServerKey`) at DCT offset 2082
    /// and read it back; resolves with its `ServerKeySummary`.
    #[napi(ts_return_type = "Promise<ServerKeySummary>")]
    pub fn write_server_key(
        &self,
        block: Buffer,
    ) -> AsyncTask<Work<duo_provisioning::server_key::ServerKeySummary>> {
        let inner = self.inner.clone();
        let block = block.to_vec();
        task::spawn(task::report(move || {
            on_device(&inner, |d| Ok(d.write_server_key(&block)?))
        }))
    }

    /// Read and decode the DCT (the core's `DctReport`).
    #[napi(ts_return_type = "Promise<DctReport>")]
    pub fn read_dct(&self) -> AsyncTask<Work<DctReport>> {
        let inner = self.inner.clone();
        task::spawn(task::report(move || {
            on_device(&inner, |d| Ok(DctReport::from_app(&d.read_app_dct()?)))
        }))
    }

    /// Let the board go (a virtual Duo can then boot). Closing twice is
    /// harmless; closing during a call (e.g. from `onProgress`) lets the
    /// board go when that call ends, without blocking the JS thread.
    #[napi]
    pub fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        match self.inner.device.try_lock() {
            Ok(mut device) => drop(device.take()),
            Err(TryLockError::Poisoned(p)) => drop(p.into_inner().take()),
            Err(TryLockError::WouldBlock) => {}
        }
    }
}
