//! `perfcore.Attr`: `struct perf_event_attr` with keyword construction by field name; masks and
//! event names may be strings (`sample_type="ip|tid|time"`, `config="cpu-clock"`).

use crate::guard::guard;
use perfcore::abi::attr::PerfEventAttr;
use perfcore::abi::names;
use perfcore::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// A perf_event_attr. Every uapi field (and flag) is an attribute.
#[pyclass(module = "perfcore._core", name = "Attr", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyAttr {
    pub inner: PerfEventAttr,
}

/// A Python value for an attr field: an int, a bool, or a string to parse for that field.
fn field_value(attr: &PerfEventAttr, name: &str, v: &Bound<'_, PyAny>) -> PyResult<i128> {
    if let Ok(b) = v.cast::<pyo3::types::PyBool>() {
        return Ok(i128::from(b.is_true()));
    }
    if let Ok(i) = v.extract::<i128>() {
        return Ok(i);
    }
    if let Ok(s) = v.extract::<String>() {
        return guard(|| -> perfcore::Result<i128> {
            Ok(match name {
                "type" => i128::from(names::resolve_type(&s)?),
                "config" => i128::from(names::resolve_config(attr.type_, &s)?),
                "sample_type" => i128::from(names::parse_mask(name, names::SAMPLE_TYPE_NAMES, &s)?),
                "read_format" => i128::from(names::parse_mask(name, names::READ_FORMAT_NAMES, &s)?),
                "branch_sample_type" => i128::from(names::parse_mask(name, names::BRANCH_SAMPLE_NAMES, &s)?),
                _ => i128::from(
                    names::parse_number(&s)
                        .ok_or_else(|| Error::Usage(format!("attr.{name}: {s:?} is not a number")))?,
                ),
            })
        });
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "attr.{name} takes an int, a bool or a string, not {}",
        v.get_type().name()?
    )))
}

impl PyAttr {
    fn set(&mut self, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let val = field_value(&self.inner, name, v)?;
        guard(|| self.inner.set_field(name, val))
    }
}

#[pymethods]
impl PyAttr {
    /// `Attr(type="software", config="cpu-clock", sample_period=10000, sample_type="ip|tid", disabled=True, ...)`.
    /// `size` defaults to 136 (VER8). `type` is applied first so `config` names resolve for it.
    #[new]
    #[pyo3(signature = (**fields))]
    fn new(fields: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut a = PyAttr { inner: PerfEventAttr::new() };
        if let Some(f) = fields {
            if let Some(t) = f.get_item("type")? {
                a.set("type", &t)?;
            }
            for (k, v) in f.iter() {
                let k: String = k.extract()?;
                if k != "type" {
                    a.set(&k, &v)?;
                }
            }
        }
        Ok(a)
    }

    /// The attr as `size` bytes (default: its `size` field, or 136 when that is 0 or above 136
    /// it is zero-padded), exactly as user space passes it to the kernel.
    #[pyo3(signature = (size = None))]
    fn to_bytes<'py>(&self, py: Python<'py>, size: Option<usize>) -> PyResult<Bound<'py, PyBytes>> {
        let n = size.unwrap_or(if self.inner.size == 0 { 136 } else { self.inner.size as usize });
        if n > 1 << 16 {
            return Err(crate::errors::UsageError::new_err(format!("size = {n} is larger than 65536")));
        }
        Ok(PyBytes::new(py, &self.inner.to_bytes(n)))
    }

    /// Decode user bytes (any length; fields past the end are zero, bytes past 136 ignored).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> Self {
        PyAttr { inner: PerfEventAttr::from_bytes(data) }
    }

    /// Every field name `Attr` accepts.
    #[staticmethod]
    fn field_names() -> Vec<&'static str> {
        perfcore::abi::attr_fields::field_names()
    }

    /// The non-zero fields as a dict of ints (flags as 0/1).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for name in perfcore::abi::attr_fields::field_names() {
            if matches!(name, "flags" | "sample_freq" | "wakeup_watermark" | "bp_addr" | "bp_len" | "aux_action") {
                continue;
            }
            let v = guard(|| self.inner.get_field(name))?;
            if v != 0 {
                d.set_item(name, v)?;
            }
        }
        Ok(d)
    }

    /// A copy with some fields replaced: `attr.replace(disabled=True)`.
    #[pyo3(signature = (**fields))]
    fn replace(&self, fields: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut a = self.clone();
        if let Some(f) = fields {
            for (k, v) in f.iter() {
                let k: String = k.extract()?;
                a.set(&k, &v)?;
            }
        }
        Ok(a)
    }

    fn __getattr__(&self, name: &str) -> PyResult<u64> {
        self.inner.get_field(name).map_err(|e| pyo3::exceptions::PyAttributeError::new_err(e.to_string()))
    }

    fn __setattr__(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set(name, value)
    }

    fn __repr__(&self) -> String {
        let a = &self.inner;
        let mut parts = Vec::new();
        for name in perfcore::abi::attr_fields::field_names() {
            if matches!(name, "flags" | "sample_freq" | "wakeup_watermark" | "bp_addr" | "bp_len" | "aux_action") {
                continue;
            }
            let v = a.get_field(name).unwrap_or(0);
            if v == 0 {
                continue;
            }
            let shown = match name {
                "sample_type" => names::format_mask(names::SAMPLE_TYPE_NAMES, v),
                "read_format" => names::format_mask(names::READ_FORMAT_NAMES, v),
                "branch_sample_type" => names::format_mask(names::BRANCH_SAMPLE_NAMES, v),
                _ => v.to_string(),
            };
            let quoted = if shown.contains('|') || shown.starts_with("0x") { format!("{shown:?}") } else { shown };
            parts.push(format!("{name}={quoted}"));
        }
        format!("Attr({})", parts.join(", "))
    }
}
