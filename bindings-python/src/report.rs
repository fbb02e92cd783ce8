//! `report`: explaining a DCT.

use pyo3::prelude::*;

use duo_provisioning::dct::DctFile;
use duo_provisioning::platform;
use duo_provisioning::report::DctReport;

use crate::convert::report;
use crate::error::Core;

/// Explain a DCT dump: the 32 KiB DCT image (both partitions) or the
/// application DCT as alt 1 reads it. Returns a `DctReport` (platform, kind,
/// device id, both key slots classified, the server block, every field and
/// warnings); raises `DctFormatError` for a dump of neither kind.
#[pyfunction]
#[pyo3(signature = (data, *, platform="duo"))]
fn parse_dct(py: Python<'_>, data: &[u8], platform: &str) -> PyResult<Py<PyAny>> {
    let platform = platform::by_name(platform).ok_or_else(|| {
        crate::error::argument(format!(
            "unknown platform {platform:?}: use \"duo\", \"photon\" or \"p1\""
        ))
    })?;
    let parsed = DctFile::detect(platform, data)
        .and_then(|file| DctReport::from_file(&file))
        .py()?;
    report(py, "DctReport", &parsed)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_dct, m)?)
}
