//! The Python exception hierarchy and the one place core errors become Python errors.
//! `PerfError` subclasses `OSError` so `e.errno` is the errno the kernel would return.

use perfcore::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    perfcore._core,
    PerfError,
    PyOSError,
    "The kernel's answer: an errno and the reason, naming the field and value."
);
create_exception!(perfcore._core, UsageError, PyValueError, "Misuse of the perfcore API (not a kernel answer).");
create_exception!(
    perfcore._core,
    NotFoundError,
    PyKeyError,
    "A handle (event, task, cache, object) that does not exist."
);
create_exception!(
    perfcore._core,
    PerfDataError,
    PyValueError,
    "A malformed perf.data file; the message gives the byte offset and the field."
);
create_exception!(
    perfcore._core,
    InternalError,
    PyRuntimeError,
    "A bug in perfcore: a Rust panic or an impossible state. Please report it."
);

/// Convert a core error into the matching Python exception.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Perf { errno, reason } => PerfError::new_err((errno.code(), format!("{errno}: {reason}"))),
        Error::Usage(m) => UsageError::new_err(m),
        Error::NotFound(m) => NotFoundError::new_err(m),
        Error::Internal(m) => InternalError::new_err(m),
        e @ Error::PerfData { .. } => PerfDataError::new_err(e.to_string()),
    }
}

/// Register the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PerfError", py.get_type::<PerfError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("PerfDataError", py.get_type::<PerfDataError>())?;
    Ok(())
}
