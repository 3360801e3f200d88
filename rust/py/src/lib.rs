//! `perfcore._core`: the Python bindings. This crate holds no model logic: it converts
//! arguments, maps errors (`errors`), turns panics into `InternalError` and releases the GIL on
//! long calls (`guard`). Each submodule binds one core area and registers its classes.

mod attr;
mod errors;
mod event_mmap;
mod guard;
mod ioctl;
mod machine;
mod mm;
mod ring;
mod sched;
mod sim;
mod slab;
mod task_data;
mod tasks;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Force a Rust panic inside a guarded entry point (used by the test that proves panics never
/// abort the interpreter).
#[pyfunction]
fn _force_panic() -> PyResult<()> {
    guard::guard(|| -> perfcore::Result<()> { panic!("forced by _force_panic()") })
}

/// Every named uapi constant: {name: value}.
#[pyfunction]
fn abi_constants(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in perfcore::abi::all_constants() {
        d.set_item(name, value)?;
    }
    Ok(d)
}

/// The name tables used to parse strings: {"sample_type": {name: bit}, ...}.
#[pyfunction]
fn abi_names(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    use perfcore::abi::names::*;
    let d = PyDict::new(py);
    let tables: [(&str, &[(&str, u64)]); 6] = [
        ("sample_type", SAMPLE_TYPE_NAMES),
        ("read_format", READ_FORMAT_NAMES),
        ("branch_sample_type", BRANCH_SAMPLE_NAMES),
        ("hardware", HW_EVENT_NAMES),
        ("software", SW_EVENT_NAMES),
        ("open_flags", OPEN_FLAG_NAMES),
    ];
    for (k, t) in tables {
        let sub = PyDict::new(py);
        for (n, v) in t {
            sub.set_item(*n, *v)?;
        }
        d.set_item(k, sub)?;
    }
    let types = PyDict::new(py);
    for (n, v) in TYPE_NAMES {
        types.set_item(*n, *v)?;
    }
    d.set_item("type", types)?;
    Ok(d)
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    mm::register(m)?;
    ring::register(m)?;
    m.add_function(wrap_pyfunction!(_force_panic, m)?)?;
    m.add_function(wrap_pyfunction!(abi_constants, m)?)?;
    m.add_function(wrap_pyfunction!(abi_names, m)?)?;
    m.add_class::<attr::PyAttr>()?;
    m.add_class::<machine::PyMachine>()?;
    m.add_class::<machine::PyEvent>()?;
    slab::register(m)?;
    task_data::register(m)?;
    Ok(())
}
