//! Bindings of `perfcore::mm`: the `AddressSpaces` class (mappings and the page-size walk),
//! the zero-run detector, the page-size histogram and `page_size_name`. No logic here: convert,
//! call the core, map errors.

use crate::guard::{detached, guard};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use perfcore::mm as core;
use perfcore::Error;
use pyo3::prelude::*;
use std::collections::BTreeMap;

fn to_vec(a: &PyReadonlyArray1<'_, u64>) -> Vec<u64> {
    match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    }
}

fn view(mm: Option<u32>, kernel_thread: bool) -> core::TaskMmView {
    core::TaskMmView { mm: mm.map(core::MmId), active_mm: mm.map(core::MmId), is_kernel_thread: kernel_thread }
}

/// `(start, end, kind, page_size, populated)` of one VMA.
type MappingRow = (u64, u64, &'static str, u64, bool);
/// `(mm, huge_blocks, [(start, why_skipped)])` of a build from smaps.
type SmapsResult = (u32, u64, Vec<(u64, String)>);

/// Every address space of a simulated machine (`init_mm` is id 0) and the lock-free
/// page-size walk of `PERF_SAMPLE_DATA_PAGE_SIZE` / `CODE_PAGE_SIZE`.
#[pyclass(module = "perfcore._core", frozen)]
pub struct AddressSpaces {
    inner: core::AddressSpaces,
}

#[pymethods]
impl AddressSpaces {
    #[new]
    #[pyo3(signature = (levels = 4, gbpages = true, defer_table_free = true, max_tables = 65536))]
    fn new(levels: u32, gbpages: bool, defer_table_free: bool, max_tables: usize) -> PyResult<Self> {
        guard(|| {
            let paging = match levels {
                4 => core::Paging::FourLevel,
                5 => core::Paging::FiveLevel,
                _ => return Err(Error::Usage(format!("levels {levels} is not 4 or 5"))),
            };
            let table_free = if defer_table_free { core::TableFree::Deferred } else { core::TableFree::Immediate };
            if max_tables == 0 || max_tables > core::pgtable::MAX_TABLES {
                return Err(Error::Usage(format!(
                    "max_tables {max_tables} is not in 1..={}",
                    core::pgtable::MAX_TABLES
                )));
            }
            let cfg = core::MmConfig { paging, gbpages, table_free, max_tables, ..core::MmConfig::default() };
            Ok(AddressSpaces { inner: core::AddressSpaces::new(cfg)? })
        })
    }

    /// The id of `init_mm` (0).
    #[getter]
    fn init_mm(&self) -> u32 {
        core::INIT_MM.0
    }

    /// Paging levels: 4 or 5.
    #[getter]
    fn levels(&self) -> u32 {
        match self.inner.paging() {
            core::Paging::FourLevel => 4,
            core::Paging::FiveLevel => 5,
        }
    }

    fn new_mm(&self) -> PyResult<u32> {
        guard(|| Ok(self.inner.new_mm()?.0))
    }

    fn drop_mm(&self, mm: u32) -> PyResult<()> {
        guard(|| self.inner.drop_mm(core::MmId(mm)))
    }

    #[pyo3(signature = (mm, addr, length, page_size = 4096, kind = "anon", populate = true))]
    #[allow(clippy::too_many_arguments)] // the Python signature is the API
    fn mmap(
        &self,
        py: Python<'_>,
        mm: u32,
        addr: u64,
        length: u64,
        page_size: u64,
        kind: &str,
        populate: bool,
    ) -> PyResult<()> {
        let kind = guard(|| core::MapKind::parse(kind))?;
        detached(py, || self.inner.mmap(core::MmId(mm), addr, length, page_size, kind, populate))
    }

    fn munmap(&self, py: Python<'_>, mm: u32, addr: u64, length: u64) -> PyResult<()> {
        detached(py, || self.inner.munmap(core::MmId(mm), addr, length))
    }

    #[pyo3(signature = (mm, addr, length = 2_097_152))]
    fn collapse(&self, py: Python<'_>, mm: u32, addr: u64, length: u64) -> PyResult<u64> {
        detached(py, || self.inner.collapse(core::MmId(mm), addr, length))
    }

    fn split(&self, mm: u32, addr: u64) -> PyResult<bool> {
        guard(|| self.inner.split(core::MmId(mm), addr))
    }

    #[pyo3(signature = (mm, addr, kernel_thread = false))]
    fn page_size(&self, mm: Option<u32>, addr: u64, kernel_thread: bool) -> PyResult<u64> {
        guard(|| Ok(self.inner.perf_get_page_size(view(mm, kernel_thread), addr)))
    }

    #[pyo3(signature = (active_mm, addr))]
    fn page_size_active_mm(&self, active_mm: Option<u32>, addr: u64) -> PyResult<Option<u64>> {
        let v = core::TaskMmView { mm: None, active_mm: active_mm.map(core::MmId), is_kernel_thread: true };
        guard(|| Ok(self.inner.perf_get_page_size_active_mm(v, addr).ok()))
    }

    #[pyo3(signature = (mm, addrs, kernel_thread = false))]
    fn page_sizes<'py>(
        &self,
        py: Python<'py>,
        mm: Option<u32>,
        addrs: PyReadonlyArray1<'py, u64>,
        kernel_thread: bool,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let a = to_vec(&addrs);
        let out = detached(py, || {
            let mut out = vec![0u64; a.len()];
            self.inner.page_sizes_into(view(mm, kernel_thread), &a, &mut out);
            Ok(out)
        })?;
        Ok(out.into_pyarray(py))
    }

    fn synchronize(&self) -> PyResult<usize> {
        guard(|| self.inner.synchronize())
    }

    fn stats(&self) -> PyResult<BTreeMap<&'static str, u64>> {
        guard(|| {
            let s = self.inner.stats();
            Ok(BTreeMap::from([
                ("mms", s.mms),
                ("tables_live", s.tables_live),
                ("tables_deferred", s.tables_deferred),
                ("tables_reclaimed", s.tables_reclaimed),
                ("grace_periods", s.grace_periods),
                ("readers", s.readers),
                ("collapses", s.collapses),
                ("splits", s.splits),
            ]))
        })
    }

    fn mappings(&self, mm: u32) -> PyResult<Vec<MappingRow>> {
        guard(|| {
            Ok(self
                .inner
                .mappings(core::MmId(mm))?
                .into_iter()
                .map(|m| (m.start, m.end, m.kind.name(), m.page_size, m.populated))
                .collect())
        })
    }

    fn huge_blocks(&self, mm: u32) -> PyResult<Vec<u64>> {
        guard(|| self.inner.huge_pmd_blocks(core::MmId(mm)))
    }

    fn kernel_regions(&self) -> PyResult<Vec<(&'static str, u64, u64, u64)>> {
        guard(|| Ok(self.inner.kernel_regions().iter().map(|r| (r.name, r.start, r.size, r.page_size)).collect()))
    }

    fn mm_from_smaps(&self, py: Python<'_>, text: &str) -> PyResult<SmapsResult> {
        let text = text.to_string();
        detached(py, || {
            let ranges = core::parse_smaps(&text)?;
            let b = self.inner.mm_from_smaps(&ranges)?;
            let mm = b.mm.ok_or_else(|| Error::Internal("smaps build made no mm".into()))?;
            Ok((mm.0, b.huge_blocks, b.skipped))
        })
    }

    fn __repr__(&self) -> String {
        let s = self.inner.stats();
        format!("AddressSpaces(levels={}, mms={}, tables_live={})", self.levels(), s.mms, s.tables_live)
    }
}

/// Runs of at least `min_run` zero page sizes: `[(start, length, likely_cause), ...]`.
#[pyfunction]
#[pyo3(signature = (sizes, min_run = 64, addrs = None))]
fn find_zero_runs(
    sizes: PyReadonlyArray1<'_, u64>,
    min_run: usize,
    addrs: Option<PyReadonlyArray1<'_, u64>>,
) -> PyResult<Vec<(usize, usize, &'static str)>> {
    let s = to_vec(&sizes);
    let a = addrs.map(|a| to_vec(&a));
    guard(|| {
        if let Some(a) = &a {
            if a.len() != s.len() {
                return Err(Error::Usage(format!("addrs has {} entries but sizes has {}", a.len(), s.len())));
            }
        }
        Ok(core::find_zero_runs(&s, a.as_deref(), min_run).into_iter().map(|r| (r.start, r.len, r.cause)).collect())
    })
}

/// Samples per page size: `{size: count}` (0 = not resolved).
#[pyfunction]
fn page_size_histogram(sizes: PyReadonlyArray1<'_, u64>) -> PyResult<BTreeMap<u64, u64>> {
    let s = to_vec(&sizes);
    guard(|| Ok(core::page_size_histogram(&s)))
}

/// `get_page_size_name()` of perf: "N/A", "4K", "2M", "1G".
#[pyfunction]
fn page_size_name(size: u64) -> PyResult<String> {
    guard(|| Ok(core::page_size_name(size)))
}

/// Register the class and functions on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AddressSpaces>()?;
    m.add_function(wrap_pyfunction!(find_zero_runs, m)?)?;
    m.add_function(wrap_pyfunction!(page_size_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(page_size_name, m)?)?;
    Ok(())
}
