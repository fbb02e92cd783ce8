//! `duo_provisioning::device`: a board in DFU mode (USB, or a virtual Duo
//! through `sim:DIR`) and the guide's key work on it. Every call runs off
//! the JS thread; the open device sits behind a mutex, one call at a time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use duo_provisioning::device::{list_devices as core_list, Device as CoreDevice, KeyToLoad};
use duo_provisioning::dfu::DeviceSelector;
use duo_provisioning::keys;
use duo_provisioning::report::DctReport;
use duo_provisioning::time;
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use crate::convert::json;
use crate::error::CoreError;
use crate::task::{self, Work};

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
    task::spawn(
        task::report(move || {
            let sel = parse_selector(selector.as_deref())?;
            Ok(core_list(sel.as_ref(), time::system())?)
        }),
        None,
    )
}

/// Open a board in DFU mode: `usb:BUS-PORT`, `usb:VID:PID`, `serial:STRING`,
/// `sim:DIR` (a virtual Duo), or none for the one board on USB.
#[napi(ts_return_type = "Promise<Device>")]
pub fn open_device(selector: Option<String>) -> AsyncTask<Work<Device>> {
    task::spawn(
        task::with(
            move || {
                let sel = parse_selector(selector.as_deref())?;
                let device = CoreDevice::open(sel.as_ref(), time::system())?;
                Ok(Device {
                    description: device.description().to_string(),
                    inner: Arc::new(Mutex::new(Some(device))),
                })
            },
            task::native,
        ),
        None,
    )
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

#[napi(object)]
pub struct ResetOptions {
    /// Where to keep the replaced key (`backup_rsa_reset.der`); default the
    /// working directory.
    pub backup_dir: Option<String>,
    /// Leave DFU mode so the firmware makes a new key (default true).
    pub leave: Option<bool>,
}

/// An open board in DFU mode.
#[napi]
pub struct Device {
    inner: Arc<Mutex<Option<CoreDevice>>>,
    description: String,
}

type Shared = Arc<Mutex<Option<CoreDevice>>>;

fn on_device<T>(
    inner: &Shared,
    f: impl FnOnce(&mut CoreDevice) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_mut() {
        Some(device) => f(device),
        None => Err(CoreError::Argument(
            "the device was closed; open it again with openDevice()".into(),
        )),
    }
}

#[napi]
impl Device {
    /// How the board is reached, e.g. `RedBear Duo (virtual, sim:/tmp/d)`.
    #[napi(getter)]
    pub fn description(&self) -> String {
        self.description.clone()
    }

    /// Read the device key slot.
    #[napi(ts_return_type = "Promise<PrivateKeyRead>")]
    pub fn read_private_key(&self) -> AsyncTask<Work<PrivateKeyRead>> {
        let inner = self.inner.clone();
        task::spawn(
            task::with(
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
            ),
            None,
        )
    }

    /// Write a private key file into the slot: validated first, the current
    /// slot kept as a verified backup next to the file
    /// (`backup_rsa_NAME.der`), read back and compared; on any failure the
    /// previous slot is put back. Resolves with the core's `LoadReport`.
    #[napi(ts_return_type = "Promise<LoadReport>")]
    pub fn write_private_key(
        &self,
        key_file: String,
    ) -> AsyncTask<Work<duo_provisioning::device::LoadReport>> {
        let inner = self.inner.clone();
        task::spawn(
            task::report(move || {
                let key = KeyToLoad::from_file(Path::new(&key_file))?;
                on_device(&inner, |d| Ok(d.load_key(&key)?))
            }),
            None,
        )
    }

    /// Have the firmware make a new key: the reset request is written over
    /// the slot (the replaced key kept as a verified backup first) and, unless
    /// `leave: false`, the board leaves DFU mode.
    #[napi(ts_return_type = "Promise<ResetReport>")]
    pub fn reset_private_key(
        &self,
        options: Option<ResetOptions>,
    ) -> AsyncTask<Work<duo_provisioning::device::ResetReport>> {
        let inner = self.inner.clone();
        let (dir, leave) = options.map_or((None, None), |o| (o.backup_dir, o.leave));
        task::spawn(
            task::report(move || {
                let base = dir.map_or_else(PathBuf::new, PathBuf::from).join("reset");
                on_device(&inner, |d| Ok(d.reset_key(leave.unwrap_or(true), &base)?))
            }),
            None,
        )
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
        task::spawn(
            task::report(move || on_device(&inner, |d| Ok(d.write_server_key(&block)?))),
            None,
        )
    }

    /// Read and decode the DCT (the core's `DctReport`).
    #[napi(ts_return_type = "Promise<DctReport>")]
    pub fn read_dct(&self) -> AsyncTask<Work<DctReport>> {
        let inner = self.inner.clone();
        task::spawn(
            task::report(move || {
                on_device(&inner, |d| Ok(DctReport::from_app(&d.read_app_dct()?)))
            }),
            None,
        )
    }

    /// Let the board go (a virtual Duo can then boot). Closing twice is harmless.
    #[napi]
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
