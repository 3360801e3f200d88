//! Every entry point runs its body through [`guard`] (or [`detached`] for long calls, which also
//! releases the GIL), so a Rust panic becomes `perfcore.InternalError` instead of aborting the
//! interpreter, and core errors become their Python classes.

use crate::errors::{to_py, InternalError};
use perfcore::Error;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Run `f` with the GIL held; panics become `InternalError`, core errors their classes.
pub fn guard<T>(f: impl FnOnce() -> Result<T, Error>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(p) => Err(InternalError::new_err(format!("perfcore panicked: {}", panic_message(p)))),
    }
}

/// Run `f` with the GIL released (for long calls); same error mapping as [`guard`].
#[allow(dead_code)] // the first long-running calls (ring and scheduler bulk runs) are being merged
pub fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, Error> + Send) -> PyResult<T> {
    let r = py.detach(move || catch_unwind(AssertUnwindSafe(f)));
    match r {
        Ok(r) => r.map_err(to_py),
        Err(p) => Err(InternalError::new_err(format!("perfcore panicked: {}", panic_message(p)))),
    }
}
