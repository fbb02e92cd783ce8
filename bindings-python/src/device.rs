//! `device`: boards in DFU mode, found by selector (`usb:…`, `serial:…`,
//! `sim:DIR`), and the key / DCT work on them.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use duo_provisioning::device::{list_devices as core_list, Device as CoreDevice, KeyToLoad};
use duo_provisioning::dfu::DeviceSelector;
use duo_provisioning::keys;
use duo_provisioning::report::DctReport;
use duo_provisioning::time;

use crate::convert::{report, reports};
use crate::error::{Core, Error};

/// What `write_private_key` accepts: key bytes, a `PrivateKey` (its
/// `der`), or a file path.
fn key_to_load(key: &Bound<'_, PyAny>) -> PyResult<KeyToLoad> {
    if let Ok(bytes) = key.cast::<PyBytes>() {
        return KeyToLoad::from_bytes(bytes.as_bytes(), BYTES_KEY_NAME).py();
    }
    if let Ok(der) = key.getattr("der") {
        if let Ok(bytes) = der.cast::<PyBytes>() {
            return KeyToLoad::from_bytes(bytes.as_bytes(), BYTES_KEY_NAME).py();
        }
    }
    let path: PathBuf = key.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "key must be bytes (DER or PEM), a PrivateKey or a key file path",
        )
    })?;
    KeyToLoad::from_file(&path).py()
}

/// The name a key given in memory goes by (its backup: `backup_rsa_key.der`).
const BYTES_KEY_NAME: &str = "key";

fn selector(text: Option<&str>) -> PyResult<Option<DeviceSelector>> {
    text.map(str::parse::<DeviceSelector>).transpose().py()
}

/// The boards in DFU mode that `selector` designates (`None`: every
/// supported board on USB; `sim:DIR`: that virtual Duo), as `ListedDevice`s.
/// Raises `DfuError` (code `NO_DEVICE`) when there is none.
#[pyfunction]
#[pyo3(signature = (selector=None))]
fn list_devices(py: Python<'_>, selector: Option<&str>) -> PyResult<Py<PyAny>> {
    let sel = self::selector(selector)?;
    let found = py.detach(|| core_list(sel.as_ref(), time::system())).py()?;
    reports(py, "ListedDevice", &found)
}

/// Open the board `selector` designates (`None`: the one board in DFU mode
/// on USB). Returns a `Device`; use it as a context manager so the board is
/// released at the end of the block.
#[pyfunction]
#[pyo3(signature = (selector=None))]
fn open_device(py: Python<'_>, selector: Option<&str>) -> PyResult<Device> {
    let sel = self::selector(selector)?;
    let device = py
        .detach(|| CoreDevice::open(sel.as_ref(), time::system()))
        .py()?;
    Ok(Device {
        description: device.description().to_string(),
        inner: Mutex::new(Some(device)),
    })
}

/// An open board in DFU mode (from `open_device`). Every method blocks
/// without holding the GIL; `close()` (or the end of a `with` block)
/// releases the board.
#[pyclass(module = "duo_provisioning", frozen)]
pub struct Device {
    inner: Mutex<Option<CoreDevice>>,
    description: String,
}

impl Device {
    /// Run `f` on the open device without the GIL.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut CoreDevice) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                Some(device) => f(device).map_err(PyErr::from),
                None => Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "{} is closed; open it again with open_device()",
                    self.description
                ))),
            }
        })
    }
}

#[pymethods]
impl Device {
    /// `RedBear Duo (virtual, sim:DIR)`, `RedBear Duo at usb:1-4`.
    #[getter]
    fn description(&self) -> String {
        self.description.clone()
    }

    /// The first 612 bytes of the device key slot (DCT offset 34), what the
    /// firmware reads at boot: classify them with `inspect_key`.
    fn read_key_slot(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        let slot = self.with(py, |d| Ok(d.read_key_slot()?))?;
        Ok(PyBytes::new(py, &slot).unbind())
    }

    /// Save the device key as `BASE.der`, `BASE.pem` (both 0600) and
    /// `BASE.pub.pem` (particle-cli's files). Refuses to overwrite unless
    /// `force`; refuses a slot without a valid key. Returns a `SaveReport`.
    #[pyo3(signature = (base, *, force=false))]
    fn save_private_key(&self, py: Python<'_>, base: PathBuf, force: bool) -> PyResult<Py<PyAny>> {
        let saved = self.with(py, |d| Ok(d.save_key(&base, force)?))?;
        report(py, "SaveReport", &saved)
    }

    /// The device key, in memory: a `PrivateKey` with `der` (PKCS#1 DER
    /// bytes, what `generate_key` returns), `pem`, `fingerprint`, `bits` and
    /// `report` (the `KeyReport`). Raises `DuoError` (code `SLOT_EMPTY` or
    /// `SLOT_CORRUPT`) when the slot holds no valid key.
    fn read_private_key(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let (der, pem, inspected, bits, fingerprint) = self.with(py, |d| {
            let key = d.read_key()?;
            let der = keys::private_key_to_der(&key)?;
            let pem = keys::private_key_to_pem(&key)?;
            let inspected = keys::inspect_key(&der);
            let fingerprint = keys::fingerprint(&key.to_public_key());
            Ok((der, pem, inspected, keys::key_bits(&key), fingerprint))
        })?;
        let data = PyDict::new(py);
        data.set_item("der", PyBytes::new(py, &der))?;
        data.set_item("pem", pem)?;
        data.set_item("fingerprint", fingerprint)?;
        data.set_item("bits", bits)?;
        data.set_item("report", pythonize::pythonize(py, &inspected)?)?;
        let cls = py
            .import("duo_provisioning._reports")?
            .getattr("PrivateKey")?;
        Ok(cls.call1((data,))?.unbind())
    }

    /// Write a private key into the slot. `key`: bytes (DER or PEM, PKCS#1
    /// or PKCS#8 — what `generate_key` returns), a `PrivateKey` (from
    /// `read_private_key`), or a key file path (`str` / `os.PathLike`). The
    /// previous slot is first saved as a verified backup in `backup_dir`
    /// (`backup_rsa_NAME.der`, NAME the file's name or `key`); the write is
    /// read back; on failure the previous slot is restored. Returns a
    /// `LoadReport`.
    #[pyo3(signature = (key, *, backup_dir))]
    fn write_private_key(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        backup_dir: PathBuf,
    ) -> PyResult<Py<PyAny>> {
        let key = key_to_load(key)?;
        let loaded = self.with(py, |d| Ok(d.load_key_into(&key, &backup_dir)?))?;
        report(py, "LoadReport", &loaded)
    }

    /// Write the reset request over the slot (keeping a verified backup of a
    /// key it held, named after `backup_name`: `backup_rsa_NAME.der`) and,
    /// if `leave`, leave DFU mode so the firmware generates a new key at
    /// boot. Returns a `ResetReport`.
    #[pyo3(signature = (backup_name, *, leave=true))]
    fn reset_private_key(
        &self,
        py: Python<'_>,
        backup_name: PathBuf,
        leave: bool,
    ) -> PyResult<Py<PyAny>> {
        let reset = self.with(py, |d| Ok(d.reset_key(leave, &backup_name)?))?;
        report(py, "ResetReport", &reset)
    }

    /// Write a server key block (from `format_server_key`) over the whole
    /// 768-byte field at DCT offset 2082, verified. Returns its `ServerKey`.
    fn write_server_key(&self, py: Python<'_>, block: Vec<u8>) -> PyResult<Py<PyAny>> {
        let written = self.with(py, |d| Ok(d.write_server_key(&block)?))?;
        report(py, "ServerKey", &written)
    }

    /// The server key block on the device, as a `ServerKey`.
    fn read_server_key(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let summary = self.with(py, |d| Ok(d.read_server_address()?))?;
        report(py, "ServerKey", &summary)
    }

    /// Read the application DCT and explain it (a `DctReport`, as `parse_dct`).
    fn read_dct(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let explained = self.with(py, |d| Ok(DctReport::from_app(&d.read_app_dct()?)))?;
        report(py, "DctReport", &explained)
    }

    /// Leave DFU mode: the board resets into its firmware.
    fn leave(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |d| Ok(d.leave().map(|_| ())?))
    }

    /// Release the board. Idempotent.
    fn close(&self, py: Python<'_>) {
        let device = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(|| drop(device));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("<Device {}>", self.description)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(list_devices, m)?)?;
    m.add_function(wrap_pyfunction!(open_device, m)?)?;
    m.add_class::<Device>()?;
    Ok(())
}
