//! Conversions at the edge: core reports (anything `Serialize`) become the
//! typed report classes of `duo_provisioning._reports`.

use pyo3::prelude::*;
use serde::Serialize;

/// `duo_provisioning._reports.<class>(<value as a dict>)`.
pub fn report<T: Serialize>(py: Python<'_>, class: &str, value: &T) -> PyResult<Py<PyAny>> {
    let data = pythonize::pythonize(py, value)?;
    let cls = py.import("duo_provisioning._reports")?.getattr(class)?;
    Ok(cls.call1((data,))?.unbind())
}

/// A list of reports of one class.
pub fn reports<T: Serialize>(py: Python<'_>, class: &str, values: &[T]) -> PyResult<Py<PyAny>> {
    let list = values
        .iter()
        .map(|v| report(py, class, v))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(list.into_pyobject(py)?.into_any().unbind())
}
