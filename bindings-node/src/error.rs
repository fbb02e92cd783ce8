//! The core's errors as JS `Error` objects: `message` is the core's message,
//! `code` its stable [`ErrorCode`] string, `remedy` its next step in this
//! package's names, and the facts a program needs are properties
//! (`status`, `retryAfter`, `deviceId`, `backupPath`, `dfuStep`, `dfuStatus`,
//! `path`, `slot`). No message or property holds the access token: the core redacts
//! it from everything it reports.

use std::path::PathBuf;

use duo_provisioning::{ErrorInfo, Remedy};
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue};

/// Any error of a core call this binding makes.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An error of the core, with its code, facts and remedy.
    #[error("{0}")]
    Core(Box<dyn ErrorInfo>),
    /// An argument the JS caller passed that the core's types refuse.
    #[error("{0}")]
    Argument(String),
}

impl<E: ErrorInfo> From<E> for CoreError {
    fn from(e: E) -> Self {
        CoreError::Core(Box::new(e))
    }
}

impl CoreError {
    /// The stable code string (the core's `ErrorCode`).
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Core(e) => e.code().as_str(),
            CoreError::Argument(_) => "INVALID_ARGUMENT",
        }
    }

    /// The JS `Error` object for this error.
    pub fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let mut error = env.create_error(napi::Error::from_reason(self.to_string()))?;
        error.set_named_property("code", self.code())?;
        let CoreError::Core(e) = self else {
            return Ok(error);
        };
        if let Some(remedy) = e.remedy() {
            error.set_named_property("remedy", render(&remedy))?;
        }
        let facts = e.facts();
        if let Some(status) = facts.http_status {
            error.set_named_property("status", u32::from(status))?;
        }
        if let Some(secs) = facts.retry_after {
            error.set_named_property("retryAfter", secs)?;
        }
        if let Some(id) = facts.device_id {
            error.set_named_property("deviceId", id)?;
        }
        if let Some(path) = facts.backup {
            error.set_named_property("backupPath", path.display().to_string())?;
        }
        if let Some(step) = facts.step {
            error.set_named_property("dfuStep", step)?;
        }
        if let Some(status) = facts.status {
            error.set_named_property("dfuStatus", status)?;
        }
        if let Some(state) = facts.state {
            error.set_named_property("dfuState", state)?;
        }
        if let Some(path) = facts.path {
            error.set_named_property("path", path.display().to_string())?;
        }
        if let Some(restore) = facts.restore {
            error.set_named_property("restore", restore)?;
        }
        if let Some(slot) = facts.slot {
            error.set_named_property("slot", slot)?;
        }
        Ok(error)
    }

    /// A `napi::Error` that rejects / throws with [`CoreError::to_js`].
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self.to_js(env) {
            Ok(object) => napi::Error::from(object.to_unknown()),
            Err(e) => e,
        }
    }
}

/// Throw `error` from a synchronous binding function.
pub fn throw(env: &Env, error: impl Into<CoreError>) -> napi::Error {
    error.into().into_napi(env)
}

/// A remedy in this package's names (the CLI renders the same values as its
/// commands and flags). Values this binding does not name are worded as the
/// core words them.
fn render(remedy: &Remedy) -> String {
    let vd = |dir: &Option<PathBuf>, with: &str, without: &str| match dir {
        Some(dir) => format!("VirtualDuo.open({:?}).{with}", dir.display().to_string()),
        None => without.to_string(),
    };
    match remedy {
        Remedy::EnterDfuMode { virtual_device } => vd(
            virtual_device,
            "enterDfu()",
            "put the board in DFU mode (hold SETUP, tap RESET, release SETUP when the LED blinks yellow)",
        ),
        Remedy::BootThenSaveKey { virtual_device } => format!(
            "let the firmware boot ({}), put the board back in DFU mode ({}), then device.readPrivateKey() again",
            vd(virtual_device, "boot()", "tap RESET"),
            vd(virtual_device, "enterDfu()", "hold SETUP, tap RESET"),
        ),
        Remedy::SaveKeyAfterBoot { virtual_device } => format!(
            "the board is booting and makes a new key; put it back in DFU mode ({}) and call device.readPrivateKey()",
            vd(virtual_device, "enterDfu()", "hold SETUP, tap RESET"),
        ),
        Remedy::Boot { virtual_device } => format!(
            "the firmware makes a new key at its next boot ({})",
            vd(virtual_device, "boot()", "tap RESET")
        ),
        Remedy::RestoreBackup { backup, virtual_device, .. } => format!(
            "put the board back in DFU mode ({}) and call (await openDevice()).writePrivateKey({:?})",
            vd(virtual_device, "enterDfu()", "hold SETUP, tap RESET"),
            backup.display().to_string()
        ),
        Remedy::ResetOrRestoreKey => {
            "call device.resetPrivateKey() for a new key, or device.writePrivateKey(backup) to restore one".into()
        }
        Remedy::UseKeyOperations => "use device.writePrivateKey(key) or device.resetPrivateKey()".into(),
        Remedy::GenerateKey => "make one with generateKey()".into(),
        Remedy::ChooseDevice { example } => format!("pass a selector to openDevice(), e.g. openDevice({example:?})"),
        Remedy::GiveAccessToken => "pass the token to provision(deviceId, token), set PARTICLE_ACCESS_TOKEN, or log in with `particle login`".into(),
        Remedy::GiveValidAccessToken => "pass a valid token to provision(deviceId, token), set PARTICLE_ACCESS_TOKEN, or log in again with `particle login`".into(),
        Remedy::FixParticleConfig => "fix or remove the file, or pass the token to provision(deviceId, token)".into(),
        Remedy::CheckApiUrl => "check that the apiUrl option points at the Particle API".into(),
        Remedy::CheckNetwork => "check the network and the apiUrl option".into(),
        Remedy::RaiseTimeout => "check the network or raise the timeoutMs option".into(),
        Remedy::RetryLater { after: Some(after) } => format!("wait {} s and try again, or lower the concurrency option", after.as_secs()),
        Remedy::RetryLater { after: None } => "wait and try again, or lower the concurrency option".into(),
        Remedy::UseHttps => "use an https:// apiUrl (plain http:// only to loopback)".into(),
        Remedy::TokenNotInUrl => "pass the token as provision()'s token argument, not in apiUrl".into(),
        Remedy::CreateVirtualDevice { dir } => format!("create one with VirtualDuo.create({:?})", dir.display().to_string()),
        Remedy::ChooseListenAddress => "pick another addr for LocalCloud.start() (port 0 picks a free one)".into(),
        Remedy::GivePortSeparately => "give the port as formatServerKey()'s port option".into(),
        Remedy::BuildServerBlock => "build a block from a bare key with formatServerKey(key, { host, port })".into(),
        other => other.to_string(),
    }
}
