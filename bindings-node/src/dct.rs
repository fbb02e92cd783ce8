//! `duo_provisioning::report`: a DCT explained (what `duoprov dct show` prints).

use duo_provisioning::dct::DctFile;
use duo_provisioning::platform;
use duo_provisioning::report::DctReport;
use napi::bindgen_prelude::Buffer;
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::convert::to_js;
use crate::error::{throw, CoreError};

#[napi(object)]
pub struct DctOptions {
    /// `duo` (default), `photon` or `p1`.
    pub platform: Option<String>,
}

/// Decode a DCT — a 32 KiB DCT image or an alt-1 dump — into the core's
/// `DctReport`: every field, the key slots classified, the server block.
#[napi(ts_return_type = "DctReport")]
pub fn parse_dct<'env>(
    env: &'env Env,
    dct: Buffer,
    options: Option<DctOptions>,
) -> napi::Result<Unknown<'env>> {
    let name = options.and_then(|o| o.platform);
    let platform = match name.as_deref() {
        None => &platform::DUO,
        Some(name) => platform::by_name(name).ok_or_else(|| {
            throw(
                env,
                CoreError::Argument(format!("unknown platform {name:?}: use duo, photon or p1")),
            )
        })?,
    };
    let report = DctFile::detect(platform, &dct)
        .and_then(|file| DctReport::from_file(&file))
        .map_err(|e| throw(env, CoreError::from(e)))?;
    to_js(env, &report)
}
