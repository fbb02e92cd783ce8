//! `duo_provisioning::sim`: the virtual Duo and the local cloud, for test
//! rigs. A `VirtualDuo` object names a device directory and opens the device
//! for each call (its state lives in the directory, so `openDevice(selector)`
//! and other processes see the same board).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::sim::cloud::{Account, LocalCloudOptions, RunningCloud, SeededDevice};
use duo_provisioning::sim::cloud::{Fault as CloudFault, LocalCloud as CoreCloud};
use duo_provisioning::sim::duo::{CreateOptions, Fault, VirtualDuo as CoreDuo};
use duo_provisioning::{platform, FACTORY_DCT_IMAGE};
use napi::bindgen_prelude::{AsyncTask, Buffer, Either};
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::Value;

use crate::convert::{snake_case, to_js};
use crate::error::{throw, CoreError};
use crate::task::{self, Work};

#[napi(object)]
pub struct VirtualDuoOptions {
    /// A 32 KiB DCT image to start from (default: RedBear's factory image).
    pub from_dct: Option<Buffer>,
    /// 24 hex digits (default: random).
    pub device_id: Option<String>,
    /// Scale of the device's declared busy times (1 = a real Duo; default 1).
    pub time_factor: Option<f64>,
    /// `duo` (default), `photon` or `p1`.
    pub platform: Option<String>,
}

/// A virtual RedBear Duo in a directory: its DFU bootloader, DCT and the
/// firmware's key rule at boot.
#[napi]
pub struct VirtualDuo {
    dir: PathBuf,
    device_id: String,
}

#[napi]
impl VirtualDuo {
    /// Make a new device in `dir` (absent or empty), in DFU mode.
    #[napi(factory)]
    pub fn create(env: Env, dir: String, options: Option<VirtualDuoOptions>) -> napi::Result<Self> {
        let made = (|| -> Result<VirtualDuo, CoreError> {
            let o = options.unwrap_or(VirtualDuoOptions {
                from_dct: None,
                device_id: None,
                time_factor: None,
                platform: None,
            });
            let platform = match o.platform.as_deref() {
                None => &platform::DUO,
                Some(name) => platform::by_name(name).ok_or_else(|| {
                    CoreError::Argument(format!("unknown platform {name:?}: use duo, photon or p1"))
                })?,
            };
            let device_id = o
                .device_id
                .as_deref()
                .map(DeviceId::parse)
                .transpose()?
                .map(|id| id.to_bytes());
            let duo = CoreDuo::create(
                PathBuf::from(&dir).as_path(),
                CreateOptions {
                    platform,
                    dct_image: o.from_dct.map(|b| b.to_vec()),
                    device_id,
                    time_factor: o.time_factor.unwrap_or(1.0),
                    ..CreateOptions::default()
                },
            )?;
            Ok(VirtualDuo {
                dir: duo.dir().to_path_buf(),
                device_id: duo.device_id_hex(),
            })
        })();
        made.map_err(|e| throw(&env, e))
    }

    /// Open a device made before (by this or another process).
    #[napi(factory)]
    pub fn open(env: Env, dir: String) -> napi::Result<Self> {
        let duo = CoreDuo::open(PathBuf::from(dir).as_path()).map_err(|e| throw(&env, e))?;
        Ok(VirtualDuo {
            dir: duo.dir().to_path_buf(),
            device_id: duo.device_id_hex(),
        })
    }

    /// The device selector for `openDevice`: `sim:DIR`.
    #[napi(getter)]
    pub fn selector(&self) -> String {
        format!("sim:{}", self.dir.display())
    }

    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.dir.display().to_string()
    }

    /// The MCU's device id, 24 hex digits.
    #[napi(getter)]
    pub fn device_id(&self) -> String {
        self.device_id.clone()
    }

    /// Leave DFU mode and run the firmware's key rule (a factory device
    /// generates its key), then its cloud connection to the server its DCT
    /// names (REFERENCE §5). Resolves with the boot report
    /// `{ slotFirstByte, generatedKey, fingerprint, connection }`, where
    /// `connection.outcome` is `connected`, `rejected` (with the `step`) or
    /// `not_tried` (a server that is not loopback, e.g. the factory
    /// `device.spark.io`). Close any device opened on it first.
    #[napi(ts_return_type = "Promise<BootReport>")]
    pub fn boot(&self) -> AsyncTask<Work<duo_provisioning::sim::duo::BootReport>> {
        let dir = self.dir.clone();
        task::spawn(task::report(move || Ok(CoreDuo::open(&dir)?.boot()?)))
    }

    /// Enter DFU mode (the buttons dance), reconnecting a vanished device.
    #[napi]
    pub fn enter_dfu(&self, env: Env) -> napi::Result<()> {
        self.with(&env, |duo| duo.enter_dfu())
    }

    /// What the device is doing: `{ mode, connected, deviceId, timeFactor,
    /// armedFaults, firedFaults, lastBoot, stats, … }`.
    #[napi(ts_return_type = "VirtualDuoStatus")]
    pub fn status<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let duo = CoreDuo::open(&self.dir).map_err(|e| throw(env, e))?;
        to_js(env, &duo.status())
    }

    /// Arm a one-shot fault, in the CLI's spelling: `stall:N`,
    /// `write-error:N`, `address-error:N`, `vanish:BYTES`, `stuck-busy[:N]`,
    /// `short-status:N[:LEN]`.
    #[napi]
    pub fn arm_fault(&self, env: Env, spec: String) -> napi::Result<()> {
        let fault: Fault = spec
            .parse()
            .map_err(|reason: String| throw(&env, CoreError::Argument(reason)))?;
        self.with(&env, |duo| duo.arm_fault(fault))
    }

    /// Disarm every fault.
    #[napi]
    pub fn clear_faults(&self, env: Env) -> napi::Result<()> {
        self.with(&env, |duo| duo.clear_faults())
    }

    fn with(
        &self,
        env: &Env,
        f: impl FnOnce(&mut CoreDuo) -> Result<(), duo_provisioning::sim::duo::SimError>,
    ) -> napi::Result<()> {
        CoreDuo::open(&self.dir)
            .and_then(|mut duo| f(&mut duo))
            .map_err(|e| throw(env, e))
    }
}

/// RedBear's factory DCT image (32 KiB), e.g. for `VirtualDuo.create(dir, { fromDct })`.
#[napi]
pub fn factory_dct() -> Buffer {
    FACTORY_DCT_IMAGE.to_vec().into()
}

/// An account of the local cloud: its tokens act for it.
#[napi(object)]
pub struct CloudAccount {
    pub name: String,
    pub tokens: Vec<String>,
    /// Tokens past their lifetime: 401 "has expired".
    pub expired_tokens: Option<Vec<String>>,
}

/// A device that had its initial provisioning, with its owner and product.
#[napi(object)]
pub struct CloudDevice {
    pub device_id: String,
    /// Default: the default account (the one `tokens` act for).
    pub account: Option<String>,
    /// Default 88.
    pub product_id: Option<u16>,
}

#[napi(object)]
pub struct LocalCloudStartOptions {
    /// Access tokens of the default account.
    pub tokens: Option<Vec<String>>,
    /// Accounts with their tokens; another account's token gets 403 for a device.
    pub accounts: Option<Vec<CloudAccount>>,
    /// Devices that had their initial provisioning (others get 403): an id
    /// (the default account's, product 88) or `{ deviceId, account, productId }`.
    pub devices: Option<Vec<Either<String, CloudDevice>>>,
    /// A fault to start with, e.g. `{ kind: 'status', status: 500, body: 'html' }`.
    #[napi(ts_type = "CloudFault")]
    pub faults: Option<Value>,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub addr: Option<String>,
}

/// The local cloud: the Particle provisioning API on loopback.
#[napi]
pub struct LocalCloud {
    running: Mutex<Option<RunningCloud>>,
    url: String,
    device_addr: String,
}

fn cloud_fault(value: Value) -> Result<CloudFault, CoreError> {
    serde_json::from_value(snake_case(value))
        .map_err(|e| CoreError::Argument(format!("not a local-cloud fault: {e}")))
}

#[napi]
impl LocalCloud {
    /// Start serving; resolves once it listens.
    #[napi(factory)]
    pub fn start(env: Env, options: Option<LocalCloudStartOptions>) -> napi::Result<Self> {
        let started = (|| -> Result<LocalCloud, CoreError> {
            let o = options.unwrap_or(LocalCloudStartOptions {
                tokens: None,
                accounts: None,
                devices: None,
                faults: None,
                addr: None,
            });
            let tokens = |list: Vec<String>| -> Result<Vec<AccessToken>, CoreError> {
                Ok(list
                    .into_iter()
                    .map(AccessToken::new)
                    .collect::<Result<_, _>>()?)
            };
            let mut core = LocalCloudOptions {
                tokens: tokens(o.tokens.unwrap_or_default())?,
                ..LocalCloudOptions::default()
            };
            for account in o.accounts.unwrap_or_default() {
                core.accounts.push(Account {
                    name: account.name,
                    tokens: tokens(account.tokens)?,
                    expired_tokens: tokens(account.expired_tokens.unwrap_or_default())?,
                });
            }
            for device in o.devices.unwrap_or_default() {
                match device {
                    Either::A(id) => core.devices.push(DeviceId::parse(&id)?),
                    // The core's serde defaults fill in a missing account and product.
                    Either::B(d) => {
                        let mut entry = serde_json::Map::new();
                        entry.insert(
                            "device_id".into(),
                            DeviceId::parse(&d.device_id)?.to_string().into(),
                        );
                        if let Some(account) = d.account {
                            entry.insert("account".into(), account.into());
                        }
                        if let Some(product) = d.product_id {
                            entry.insert("product_id".into(), product.into());
                        }
                        core.seeded.push(
                            serde_json::from_value::<SeededDevice>(entry.into()).map_err(|e| {
                                CoreError::Argument(format!("invalid device entry: {e}"))
                            })?,
                        );
                    }
                }
            }
            if let Some(addr) = o.addr {
                core.addr = addr.parse::<SocketAddr>().map_err(|e| {
                    CoreError::Argument(format!("invalid listen address {addr:?}: {e}"))
                })?;
            }
            if let Some(fault) = o.faults {
                core.fault = cloud_fault(fault)?;
            }
            let running = CoreCloud::start(core)?;
            Ok(LocalCloud {
                url: running.base_url().to_string(),
                device_addr: running.device_addr().to_string(),
                running: Mutex::new(Some(running)),
            })
        })();
        started.map_err(|e| throw(&env, e))
    }

    /// `http://127.0.0.1:PORT`: the `apiUrl` to provision against.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `127.0.0.1:PORT`: where the device endpoint (REFERENCE §5, TCP)
    /// listens, the address a virtual Duo connects to after `boot()`.
    #[napi(getter)]
    pub fn device_addr(&self) -> String {
        self.device_addr.clone()
    }

    /// The server key block for DCT offset 2082 that points a device at
    /// this cloud (its RSA-2048 public key, `deviceAddr`'s IPv4 address and
    /// port): `(await openDevice(duo.selector)).writeServerKey(block)`. The
    /// server key is made on first use.
    #[napi]
    pub fn server_key_block(&self, env: Env) -> napi::Result<Buffer> {
        self.with(&env, |c| Ok(c.server_key_block()?.into()))
    }

    fn with<T>(
        &self,
        env: &Env,
        f: impl FnOnce(&RunningCloud) -> Result<T, CoreError>,
    ) -> napi::Result<T> {
        let guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(running) => f(running),
            None => Err(CoreError::Argument(format!(
                "the local cloud at {} was stopped",
                self.url
            ))),
        }
        .map_err(|e| throw(env, e))
    }

    /// Set the fault mode, e.g. `{ kind: 'status', status: 503 }`,
    /// `{ kind: 'delay', ms: 100 }`, `{ kind: 'drop' }`; `{ kind: 'none' }` clears.
    #[napi]
    pub fn set_fault(
        &self,
        env: Env,
        #[napi(ts_arg_type = "CloudFault")] fault: Value,
    ) -> napi::Result<()> {
        let fault = cloud_fault(fault).map_err(|e| throw(&env, e))?;
        self.with(&env, |c| {
            c.set_fault(fault);
            Ok(())
        })
    }

    /// Accept one more token.
    #[napi]
    pub fn add_token(&self, env: Env, token: String) -> napi::Result<()> {
        self.with(&env, |c| {
            c.add_token(&AccessToken::new(token)?);
            Ok(())
        })
    }

    /// Seed more devices (initial provisioning); returns how many were new.
    #[napi]
    pub fn add_devices(&self, env: Env, ids: Vec<String>) -> napi::Result<u32> {
        self.with(&env, |c| {
            let ids = ids
                .iter()
                .map(|id| DeviceId::parse(id))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(c.add_devices(ids)? as u32)
        })
    }

    /// The PEM public key the cloud holds for a device, if any.
    #[napi]
    pub fn public_key(&self, env: Env, device_id: String) -> napi::Result<Option<String>> {
        self.with(&env, |c| Ok(c.public_key(&DeviceId::parse(&device_id)?)))
    }

    /// Every accepted provisioning, oldest first.
    #[napi(ts_return_type = "CloudRecord[]")]
    pub fn records<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let records = self.with(env, |c| Ok(c.records()))?;
        to_js(env, &records)
    }

    /// Request counters.
    #[napi(ts_return_type = "CloudStats")]
    pub fn stats<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let stats = self.with(env, |c| Ok(c.stats()))?;
        to_js(env, &stats)
    }

    /// Stop serving (requests in flight get a short grace); resolves when
    /// the server thread has ended. Stopping twice is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self) -> AsyncTask<Work<()>> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        task::spawn(task::with(
            move || {
                if let Some(running) = running {
                    running.shutdown();
                }
                Ok(())
            },
            task::native,
        ))
    }
}
