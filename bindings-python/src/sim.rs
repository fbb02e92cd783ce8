//! `sim`: the virtual Duo and the local cloud, as Python context managers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::platform;
use duo_provisioning::sim::cloud::{Account, LocalCloudOptions, RunningCloud, SeededDevice};
use duo_provisioning::sim::cloud::{Fault as CloudFault, LocalCloud as CoreCloud};
use duo_provisioning::sim::duo::VirtualDuo as CoreDuo;
use duo_provisioning::sim::duo::{CreateOptions, Fault};

use crate::convert::{report, reports};
use crate::error::{argument, Core};

/// A virtual RedBear Duo (or Photon / P1) kept in a state directory: USB
/// descriptors, the DFU state machine, flash and the firmware's boot rule for
/// the device key. Every method opens the directory for the call only, so
/// `open_device(duo.selector)` and other processes (`duoprov --device
/// sim:DIR`) can use it in between. Usable as a context manager.
#[pyclass(module = "duo_provisioning", frozen)]
pub struct VirtualDuo {
    dir: PathBuf,
}

impl VirtualDuo {
    /// Open the device for one call, without the GIL.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut CoreDuo) -> Result<T, duo_provisioning::sim::duo::SimError> + Send,
    ) -> PyResult<T> {
        py.detach(|| CoreDuo::open(&self.dir).and_then(|mut duo| f(&mut duo)))
            .py()
    }
}

#[pymethods]
impl VirtualDuo {
    /// Make a new virtual device in `path` (absent or empty), in DFU mode.
    /// `from_dct`: the 32 KiB DCT image to start from (bytes or a file path;
    /// default the factory image, whose key slot is erased so the first boot
    /// generates a key). `device_id`: 24 hex digits (default random).
    /// `time_factor`: scale of the device's busy times (1.0 = real timing;
    /// tests use small ones).
    #[staticmethod]
    #[pyo3(signature = (path, *, from_dct=None, device_id=None, time_factor=1.0, platform="duo"))]
    fn create(
        py: Python<'_>,
        path: PathBuf,
        from_dct: Option<&Bound<'_, PyAny>>,
        device_id: Option<&str>,
        time_factor: f64,
        platform: &str,
    ) -> PyResult<VirtualDuo> {
        let platform = platform::by_name(platform).ok_or_else(|| {
            argument(format!(
                "unknown platform {platform:?}: use \"duo\", \"photon\" or \"p1\""
            ))
        })?;
        let dct_image = match from_dct {
            None => None,
            Some(obj) => match obj.cast::<PyBytes>() {
                Ok(bytes) => Some(bytes.as_bytes().to_vec()),
                Err(_) => {
                    let file: PathBuf = obj.extract()?;
                    Some(std::fs::read(&file).map_err(|e| {
                        pyo3::exceptions::PyOSError::new_err(format!(
                            "cannot read the DCT image {}: {e}",
                            file.display()
                        ))
                    })?)
                }
            },
        };
        let device_id = device_id
            .map(|id| DeviceId::parse(id.trim()).map(|id| id.to_bytes()))
            .transpose()
            .py()?;
        let options = CreateOptions {
            platform,
            dct_image,
            device_id,
            time_factor,
            ..CreateOptions::default()
        };
        py.detach(|| CoreDuo::create(&path, options)).py()?;
        Ok(VirtualDuo { dir: path })
    }

    /// An existing virtual device in `path`.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<VirtualDuo> {
        py.detach(|| CoreDuo::probe(&path)).py()?;
        Ok(VirtualDuo { dir: path })
    }

    /// Its state directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The selector that opens it: `sim:PATH` (for `open_device`, `list_devices`
    /// and `duoprov --device`).
    #[getter]
    fn selector(&self) -> String {
        format!("sim:{}", self.dir.display())
    }

    /// Its device id, 24 lower-case hex digits.
    #[getter]
    fn device_id(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |duo| Ok(duo.device_id_hex()))
    }

    /// Run the firmware: leave DFU mode, apply the boot rule for the key slot
    /// (an erased slot or the reset request makes it generate a key), then
    /// connect to the cloud its DCT's server block names (REFERENCE §5).
    /// Returns a `BootReport` (generated_key, fingerprint, slot_first_byte,
    /// and `connection`: a `ConnectOutcome` whose `outcome` is `connected`,
    /// `rejected` (with `step` and `reason`) or `not_tried`).
    fn boot(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let booted = self.with(py, |duo| duo.boot())?;
        report(py, "BootReport", &booted)
    }

    /// Put the board in DFU mode (as holding SETUP and tapping RESET does).
    fn enter_dfu(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |duo| duo.enter_dfu())
    }

    /// Mode, connection, device id, time factor, faults, last boot and
    /// counters, as a `DuoStatus`.
    fn status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let status = self.with(py, |duo| Ok(duo.status()))?;
        report(py, "DuoStatus", &status)
    }

    /// Arm a fault, in `duoprov sim fault` syntax: `stall:N`, `write-error:N`,
    /// `address-error:N`, `vanish:BYTES`, `stuck-busy:N`, `short-status:N:LEN`
    /// (N is 1-based: 1 = the next one).
    fn arm_fault(&self, py: Python<'_>, spec: &str) -> PyResult<()> {
        let fault: Fault = spec
            .parse()
            .map_err(duo_provisioning::sim::duo::SimError::InvalidFault)
            .py()?;
        self.with(py, |duo| duo.arm_fault(fault))
    }

    /// Disarm every fault.
    fn clear_faults(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |duo| duo.clear_faults())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Nothing to release: the device lives in its directory.
    fn __exit__(
        &self,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        false
    }

    fn __repr__(&self) -> String {
        format!("VirtualDuo({:?})", self.dir.display().to_string())
    }
}

/// A local Particle Cloud on loopback serving the provisioning API
/// (REFERENCE §4), for tests and benchmarks. `tokens`: access tokens of the
/// default account; `accounts`: more accounts, `{name: [token, …]}`;
/// `devices`: the devices that had their initial provisioning, each a 24-hex
/// id (owned by the default account, product 88) or a dict
/// `{"device_id": …, "account": …, "product_id": …}`. A token gets 403
/// Permission Denied for a device of another account, as on the real cloud.
/// Serves from a background thread until `close()` or the end of its `with`
/// block.
#[pyclass(module = "duo_provisioning", frozen)]
pub struct LocalCloud {
    running: Mutex<Option<RunningCloud>>,
    url: String,
}

impl LocalCloud {
    fn with<T>(&self, f: impl FnOnce(&RunningCloud) -> PyResult<T>) -> PyResult<T> {
        let guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(cloud) => f(cloud),
            None => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "this LocalCloud is closed; start a new one",
            )),
        }
    }
}

fn device_ids(ids: &[String]) -> PyResult<Vec<DeviceId>> {
    ids.iter().map(|id| DeviceId::parse(id).py()).collect()
}

fn tokens(tokens: Vec<String>) -> PyResult<Vec<AccessToken>> {
    tokens
        .into_iter()
        .map(|t| AccessToken::new(t).py())
        .collect()
}

#[pymethods]
impl LocalCloud {
    #[new]
    #[pyo3(signature = (tokens=None, devices=None, *, accounts=None, addr="127.0.0.1:0", state_dir=None))]
    fn new(
        py: Python<'_>,
        tokens: Option<Vec<String>>,
        devices: Option<Vec<Bound<'_, PyAny>>>,
        accounts: Option<HashMap<String, Vec<String>>>,
        addr: &str,
        state_dir: Option<PathBuf>,
    ) -> PyResult<LocalCloud> {
        let accounts = accounts
            .unwrap_or_default()
            .into_iter()
            .map(|(name, list)| {
                Ok(Account {
                    tokens: self::tokens(list)?,
                    ..Account::new(name)
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let (mut ids, mut seeded) = (Vec::new(), Vec::new());
        for device in devices.unwrap_or_default() {
            match device.extract::<String>() {
                Ok(id) => ids.push(id),
                Err(_) => seeded.push(
                    pythonize::depythonize::<SeededDevice>(&device)
                        .map_err(|e| argument(format!("invalid seeded device: {e}")))?,
                ),
            }
        }
        let options = LocalCloudOptions {
            addr: addr.parse().map_err(|e| {
                argument(format!("invalid address {addr:?}: {e}; e.g. 127.0.0.1:0"))
            })?,
            state_dir,
            tokens: self::tokens(tokens.unwrap_or_default())?,
            devices: device_ids(&ids)?,
            accounts,
            seeded,
            ..LocalCloudOptions::default()
        };
        let running = py.detach(|| CoreCloud::start(options)).py()?;
        Ok(LocalCloud {
            url: running.base_url().to_string(),
            running: Mutex::new(Some(running)),
        })
    }

    /// `http://127.0.0.1:PORT`: the `api_url` to provision against.
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// `127.0.0.1:PORT`: where the device endpoint (REFERENCE §5, TCP)
    /// listens, the address a virtual Duo's server key block must name.
    #[getter]
    fn device_addr(&self) -> PyResult<String> {
        self.with(|cloud| Ok(cloud.device_addr().to_string()))
    }

    /// The server key block for DCT offset 2082 (REFERENCE §3) that points a
    /// device at this cloud: its server public key, the device endpoint's
    /// address and port. Write it with `Device.write_server_key`.
    fn server_key_block(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        let block = self.with(|cloud| py.detach(|| cloud.server_key_block()).py())?;
        Ok(PyBytes::new(py, &block).unbind())
    }

    /// Accept another access token.
    fn add_token(&self, token: String) -> PyResult<()> {
        let token = AccessToken::new(token).py()?;
        self.with(|cloud| {
            cloud.add_token(&token);
            Ok(())
        })
    }

    /// Seed devices (24-hex ids); returns how many were new.
    fn add_devices(&self, devices: Vec<String>) -> PyResult<usize> {
        let ids = device_ids(&devices)?;
        self.with(|cloud| cloud.add_devices(ids).py())
    }

    /// Make the API misbehave: a dict such as `{"kind": "delay", "ms": 500}`,
    /// `{"kind": "status", "status": 503}`, `{"kind": "rate_limit", "after": 10,
    /// "retry_after_secs": 1}`, `{"kind": "drop"}`; `None` answers normally.
    #[pyo3(signature = (fault=None))]
    fn set_fault(&self, fault: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let fault: CloudFault = match fault {
            Some(obj) => pythonize::depythonize(obj)
                .map_err(|e| argument(format!("invalid local cloud fault: {e}")))?,
            None => CloudFault::None,
        };
        self.with(|cloud| {
            cloud.set_fault(fault);
            Ok(())
        })
    }

    /// Every accepted provisioning, oldest first (`CloudRecord`s).
    fn records(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.with(|cloud| reports(py, "CloudRecord", &cloud.records()))
    }

    /// The seeded devices and the key each holds (`CloudDevice`s).
    fn devices(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.with(|cloud| reports(py, "CloudDevice", &cloud.devices()))
    }

    /// The PEM public key the cloud holds for a device, or `None`.
    fn public_key(&self, device_id: &str) -> PyResult<Option<String>> {
        let id = DeviceId::parse(device_id).py()?;
        self.with(|cloud| Ok(cloud.public_key(&id)))
    }

    /// Request counters (`CloudStats`).
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.with(|cloud| report(py, "CloudStats", &cloud.stats()))
    }

    /// Stop serving (requests in flight finish first). Idempotent.
    fn close(&self, py: Python<'_>) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(cloud) = running {
            py.detach(|| cloud.shutdown());
        }
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
        format!("LocalCloud(url={:?})", self.url)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<VirtualDuo>()?;
    m.add_class::<LocalCloud>()?;
    Ok(())
}
