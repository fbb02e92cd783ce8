//! `duo_provisioning._native`: the Python binding of the `duo-provisioning`
//! core. A thin translation: one file per core module, Python types converted
//! at the edge ([`convert`]), core errors mapped to exceptions in [`error`].
//! Every call that touches a device, a file or the network releases the GIL.

mod cloud;
mod convert;
mod device;
mod error;
mod keys;
mod monitor;
mod report;
mod sim;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    keys::register(m)?;
    report::register(m)?;
    device::register(m)?;
    sim::register(m)?;
    cloud::register(m)?;
    Ok(())
}
