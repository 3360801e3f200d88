//! `perfcore._core`: the Python bindings. This crate holds no model logic: it converts
//! arguments, maps errors (`errors`), turns panics into `InternalError` and releases the GIL on
//! long calls (`guard`). Each submodule binds one core area and registers its classes.

mod errors;
mod guard;
mod ring;

use pyo3::prelude::*;

/// Force a Rust panic inside a guarded entry point (used by the test that proves panics never
/// abort the interpreter).
#[pyfunction]
fn _force_panic() -> PyResult<()> {
    guard::guard(|| -> perfcore::Result<()> { panic!("forced by _force_panic()") })
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    ring::register(m)?;
    m.add_function(wrap_pyfunction!(_force_panic, m)?)?;
    Ok(())
}
