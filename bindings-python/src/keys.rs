//! `keys` and `server_key`: device keys and the server key block.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use duo_provisioning::{keys, server_key};

use crate::convert::report;
use crate::error::Core;

/// Generate a fresh device key (RSA-1024, e = 65537, as the firmware makes
/// at boot) and return it as PKCS#1 DER bytes, the form particle-cli's
/// `NAME.der` files and the device key slot hold.
#[pyfunction]
fn generate_key(py: Python<'_>) -> PyResult<Py<PyBytes>> {
    let der = py
        .detach(|| keys::generate().and_then(|k| keys::private_key_to_der(&k)))
        .py()?;
    Ok(PyBytes::new(py, &der).unbind())
}

/// Inspect key bytes: a private or public key in any format (DER or PEM,
/// PKCS#1 or PKCS#8) or a raw dump of the device key slot. Returns a
/// `KeyReport` (kind, state, bits, format, fingerprint, notes); never raises
/// for bad key material: `state` says `corrupt` and `reason` why.
#[pyfunction]
fn inspect_key(py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
    report(py, "KeyReport", &keys::inspect_key(data))
}

/// Build a server key block for DCT offset 2082 (REFERENCE §3): the server's
/// public key (PEM or DER bytes; default the Particle Cloud's), then the
/// address (an IPv4 address or a domain name; default none, so the firmware
/// uses device.spark.io) and the port (default none: 5683). Raises
/// `KeyFormatError` for an unusable key or address.
#[pyfunction]
#[pyo3(signature = (public_key=None, *, address=None, port=None))]
fn format_server_key(
    py: Python<'_>,
    public_key: Option<&[u8]>,
    address: Option<&str>,
    port: Option<u16>,
) -> PyResult<Py<PyBytes>> {
    let key = match public_key {
        Some(bytes) => keys::parse_public_key(bytes).py()?,
        None => server_key::default_server_key(),
    };
    let address = address.map(server_key::parse_address).transpose().py()?;
    let block = server_key::format_server_key(&key, address.as_ref(), port).py()?;
    Ok(PyBytes::new(py, &block).unbind())
}

/// Parse a server key block (as read from DCT offset 2082) into a
/// `ServerKey` report: key bits and fingerprint, the address and port the
/// firmware will use, and what is stored (`None` = the firmware's default).
#[pyfunction]
fn parse_server_key(py: Python<'_>, block: &[u8]) -> PyResult<Py<PyAny>> {
    let parsed = server_key::parse_server_key(block).py()?;
    report(py, "ServerKey", &parsed.summary())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(inspect_key, m)?)?;
    m.add_function(wrap_pyfunction!(format_server_key, m)?)?;
    m.add_function(wrap_pyfunction!(parse_server_key, m)?)?;
    Ok(())
}
