//! Core errors → Python exceptions. The exception classes live in
//! `duo_provisioning._errors`; this file only hands over the error's stable
//! code, its message, its remedy and its fields.

use pyo3::prelude::*;

use duo_provisioning::ErrorInfo;

/// Any core error a binding call can end with: each answers the core's
/// `ErrorInfo` (stable code, message, remedy, facts).
pub struct Error(Box<dyn ErrorInfo>);

impl<E: ErrorInfo> From<E> for Error {
    fn from(e: E) -> Self {
        Error(Box::new(e))
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match build(py, e.0.as_ref()) {
            Ok(exc) => PyErr::from_value(exc),
            Err(failed) => failed,
        })
    }
}

/// `duo_provisioning._errors.from_core(code, message, remedy, neutral_remedy,
/// facts)`: the class is chosen and the remedy worded on the Python side.
fn build<'py>(py: Python<'py>, e: &dyn ErrorInfo) -> PyResult<Bound<'py, PyAny>> {
    let report = e.report();
    let remedy = report
        .remedy
        .as_ref()
        .map(|r| pythonize::pythonize(py, r))
        .transpose()?;
    let neutral = report.remedy.as_ref().map(ToString::to_string);
    let facts = pythonize::pythonize(py, &report.facts)?;
    py.import("duo_provisioning._errors")?
        .getattr("from_core")?
        .call1((report.code.as_str(), report.message, remedy, neutral, facts))
}

/// `result.py()?`: a core result as a Python one.
pub trait Core<T> {
    fn py(self) -> PyResult<T>;
}

impl<T, E: Into<Error>> Core<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| PyErr::from(e.into()))
    }
}

/// A bad argument caught at the edge (wrong type or value for Python).
pub fn argument(message: impl Into<String>) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message.into())
}
