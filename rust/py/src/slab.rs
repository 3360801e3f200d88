//! Bindings of `perfcore::slab`: `KmemCache`, `KmallocModel` and the XSAVE helpers. No logic
//! here: arguments are converted, the core is called under a `Mutex` (the core API is
//! `&mut self`), and errors are mapped by `guard`.

use crate::guard::{detached, guard};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use perfcore::slab::kmalloc::kmalloc_index;
use perfcore::slab::xsave::{xsave_into, xsave_support};
use perfcore::slab::{KmallocAlignRule, KmallocModel, KmemCache, Misaligned, SlabFlags, SlabInfo, XsaveKind};
use perfcore::Error;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};
use std::sync::{Mutex, MutexGuard};

/// Objects one `alloc_many` call may allocate.
const MAX_BULK: usize = 1 << 26;

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, Error> {
    m.lock().map_err(|_| Error::Internal("slab state poisoned by an earlier panic".into()))
}

fn kind(compact: bool) -> XsaveKind {
    if compact {
        XsaveKind::Compacted
    } else {
        XsaveKind::Standard
    }
}

fn misaligned(allow_fault: bool) -> Misaligned {
    if allow_fault {
        Misaligned::Execute
    } else {
        Misaligned::Refuse
    }
}

pub(crate) fn info_dict<'py>(py: Python<'py>, s: &SlabInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &s.name)?;
    for (k, v) in [
        ("active_objs", s.active_objs),
        ("num_objs", s.num_objs),
        ("objsize", s.objsize),
        ("objperslab", s.objperslab),
        ("pagesperslab", s.pagesperslab),
        ("active_slabs", s.active_slabs),
        ("num_slabs", s.num_slabs),
        ("inuse_objs", s.inuse_objs),
        ("object_size", s.object_size),
        ("padding_bytes", s.padding_bytes),
        ("tail_waste_bytes", s.tail_waste_bytes),
        ("total_bytes", s.total_bytes),
        ("cpu_slabs", s.cpu_slabs),
        ("cpu_partial_slabs", s.cpu_partial_slabs),
        ("node_partial_slabs", s.node_partial_slabs),
        ("full_slabs", s.full_slabs),
    ] {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// Creation flags as a string ("HWCACHE_ALIGN|RED_ZONE") or perfcore's integer encoding.
#[derive(FromPyObject)]
enum FlagsArg {
    Str(String),
    Int(u32),
}

/// A SLUB-style `kmem_cache` over real memory (see `perfcore::slab::KmemCache`).
#[pyclass(module = "perfcore._core", name = "KmemCache", frozen)]
pub struct PyKmemCache {
    inner: Mutex<KmemCache>,
}

impl PyKmemCache {
    fn with<T>(&self, f: impl FnOnce(&mut KmemCache) -> Result<T, Error>) -> PyResult<T> {
        guard(|| f(&mut *lock(&self.inner)?))
    }
}

#[pymethods]
impl PyKmemCache {
    #[new]
    #[pyo3(signature = (name, size, align = 0, flags = None, nr_cpus = 8))]
    fn new(name: &str, size: usize, align: usize, flags: Option<FlagsArg>, nr_cpus: usize) -> PyResult<Self> {
        guard(|| {
            let flags = match flags {
                None => SlabFlags::empty(),
                Some(FlagsArg::Str(s)) => SlabFlags::parse(&s)?,
                Some(FlagsArg::Int(i)) => SlabFlags::from_bits(i)?,
            };
            Ok(PyKmemCache { inner: Mutex::new(KmemCache::new(name, size, align, flags, nr_cpus)?) })
        })
    }

    /// `kmem_cache_alloc()` on simulated CPU `cpu`: the object's address.
    #[pyo3(signature = (cpu = 0))]
    fn alloc(&self, cpu: usize) -> PyResult<usize> {
        self.with(|c| c.alloc(cpu))
    }

    /// `kmem_cache_zalloc()`: `object_size` bytes zeroed.
    #[pyo3(signature = (cpu = 0))]
    fn zalloc(&self, cpu: usize) -> PyResult<usize> {
        self.with(|c| c.zalloc(cpu))
    }

    /// `kmem_cache_free()` on `cpu`.
    #[pyo3(signature = (addr, cpu = 0))]
    fn free(&self, addr: usize, cpu: usize) -> PyResult<()> {
        self.with(|c| c.free(addr, cpu))
    }

    /// Allocate `n` objects on `cpu` (zeroed if `zero`): a uint64 array of addresses.
    #[pyo3(signature = (n, cpu = 0, zero = false))]
    fn alloc_many<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        cpu: usize,
        zero: bool,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let v = detached(py, || {
            if n > MAX_BULK {
                return Err(Error::Usage(format!(
                    "alloc_many: n = {n} exceeds the limit of {MAX_BULK} objects per call"
                )));
            }
            let mut c = lock(&self.inner)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let a = if zero { c.zalloc(cpu) } else { c.alloc(cpu) };
                match a {
                    Ok(a) => v.push(a as u64),
                    Err(e) => {
                        for a in v {
                            let _ = c.free(a as usize, cpu);
                        }
                        return Err(e);
                    }
                }
            }
            Ok(v)
        })?;
        Ok(v.into_pyarray(py))
    }

    /// Free every address of `addrs` on `cpu`, in order. On the first bad address this raises
    /// and the addresses before it stay freed.
    #[pyo3(signature = (addrs, cpu = 0))]
    fn free_many(&self, py: Python<'_>, addrs: PyReadonlyArray1<'_, u64>, cpu: usize) -> PyResult<()> {
        let v = addrs.as_array().to_vec();
        detached(py, || {
            let mut c = lock(&self.inner)?;
            v.iter().try_for_each(|&a| c.free(a as usize, cpu))
        })
    }

    /// `kmem_cache_shrink()`: flush the CPU slabs and release empty slabs.
    fn shrink(&self) -> PyResult<()> {
        self.with(|c| {
            c.shrink();
            Ok(())
        })
    }

    /// `kmem_cache_destroy()`: raises (listing the live objects) if objects remain.
    fn destroy(&self) -> PyResult<()> {
        self.with(|c| c.destroy())
    }

    /// The `/proc/slabinfo` row as a dict, with exact and waste columns.
    fn slabinfo<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with(|c| Ok(c.slabinfo()))?;
        info_dict(py, &s)
    }

    /// The line `/proc/slabinfo` would print.
    fn proc_line(&self) -> PyResult<String> {
        self.with(|c| Ok(c.slabinfo().proc_line()))
    }

    /// Addresses of the allocated objects (uint64 array).
    fn live_objects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let v = self.with(|c| Ok(c.live_objects().into_iter().map(|a| a as u64).collect::<Vec<u64>>()))?;
        Ok(v.into_pyarray(py))
    }

    /// The `object_size` bytes of the live object at `addr`.
    fn read<'py>(&self, py: Python<'py>, addr: usize) -> PyResult<Bound<'py, PyBytes>> {
        let v = self.with(|c| Ok(c.object_bytes(addr)?.to_vec()))?;
        Ok(PyBytes::new(py, &v))
    }

    /// Write `data` into the live object at `addr`, starting `offset` bytes in.
    #[pyo3(signature = (addr, data, offset = 0))]
    fn write(&self, addr: usize, data: &[u8], offset: usize) -> PyResult<()> {
        self.with(|c| {
            let obj = c.object_bytes_mut(addr)?;
            let end = offset.checked_add(data.len()).filter(|e| *e <= obj.len()).ok_or_else(|| {
                Error::Usage(format!("write: offset {offset} + {} bytes exceeds object_size {}", data.len(), obj.len()))
            })?;
            obj[offset..end].copy_from_slice(data);
            Ok(())
        })
    }

    /// Run `XSAVE` (or `XSAVEC` if `compact`) with mask x87|SSE into the live object at
    /// `addr`. A misaligned object raises, unless `allow_fault`, which executes the instruction
    /// and kills the process with SIGSEGV (for child-process demonstrations).
    #[pyo3(signature = (addr, compact = false, allow_fault = false))]
    fn xsave(&self, addr: usize, compact: bool, allow_fault: bool) -> PyResult<()> {
        self.with(|c| c.xsave(addr, kind(compact), misaligned(allow_fault)))
    }

    /// Counters: allocs, frees, alloc_slowpath, free_slowpath, slabs_allocated, slabs_freed.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let k = self.with(|c| Ok(c.counters()))?;
        let d = PyDict::new(py);
        d.set_item("allocs", k.allocs)?;
        d.set_item("frees", k.frees)?;
        d.set_item("alloc_slowpath", k.alloc_slowpath)?;
        d.set_item("free_slowpath", k.free_slowpath)?;
        d.set_item("slabs_allocated", k.slabs_allocated)?;
        d.set_item("slabs_freed", k.slabs_freed)?;
        Ok(d)
    }

    /// Cache name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        self.with(|c| Ok(c.name().to_string()))
    }
    /// Creation flags as names.
    #[getter]
    fn flags(&self) -> PyResult<String> {
        self.with(|c| Ok(c.flags().to_string()))
    }
    /// `s->size`: the object stride.
    #[getter]
    fn size(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().size))
    }
    /// Alias of `size`.
    #[getter]
    fn stride(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().size))
    }
    /// `s->object_size`.
    #[getter]
    fn object_size(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().object_size))
    }
    /// `s->align`.
    #[getter]
    fn align(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().align))
    }
    /// `s->inuse`: bytes of an object in use (word-rounded, plus the right red zone word).
    #[getter]
    fn inuse(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().inuse))
    }
    /// `s->offset`: free pointer offset from the object start.
    #[getter]
    fn offset(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().offset))
    }
    /// `s->red_left_pad`.
    #[getter]
    fn red_left_pad(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().red_left_pad))
    }
    /// Preferred slab order.
    #[getter]
    fn order(&self) -> PyResult<u32> {
        self.with(|c| Ok(c.layout().order))
    }
    /// Objects per slab at the preferred order.
    #[getter]
    fn objects_per_slab(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().objects))
    }
    /// Fallback order (`s->min`).
    #[getter]
    fn min_order(&self) -> PyResult<u32> {
        self.with(|c| Ok(c.layout().min_order))
    }
    /// Objects per slab at the fallback order.
    #[getter]
    fn min_objects(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().min_objects))
    }
    /// `s->min_partial`.
    #[getter]
    fn min_partial(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().min_partial))
    }
    /// `s->cpu_partial` (objects).
    #[getter]
    fn cpu_partial(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().cpu_partial))
    }
    /// Bytes of one slab.
    #[getter]
    fn slab_bytes(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.slab_bytes()))
    }
    /// Unused bytes at the end of each slab.
    #[getter]
    fn tail_waste(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.layout().tail_waste()))
    }
    /// Simulated CPUs.
    #[getter]
    fn nr_cpus(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.nr_cpus()))
    }
    /// Objects allocated right now.
    #[getter]
    fn nr_allocated(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.inuse()))
    }
    /// Whether `destroy()` succeeded.
    #[getter]
    fn destroyed(&self) -> PyResult<bool> {
        self.with(|c| Ok(c.is_destroyed()))
    }

    fn __repr__(&self) -> PyResult<String> {
        self.with(|c| {
            let l = c.layout();
            Ok(format!(
                "KmemCache({:?}, object_size={}, align={}, stride={}, order={}, objects_per_slab={}, nr_cpus={})",
                c.name(),
                l.object_size,
                l.align,
                l.size,
                l.order,
                l.objects,
                c.nr_cpus()
            ))
        })
    }
}

/// The generic kmalloc caches of one machine (see `perfcore::slab::KmallocModel`).
#[pyclass(module = "perfcore._core", name = "KmallocModel", frozen)]
pub struct PyKmallocModel {
    inner: Mutex<KmallocModel>,
    nr_cpus: usize,
}

impl PyKmallocModel {
    fn with<T>(&self, f: impl FnOnce(&mut KmallocModel) -> Result<T, Error>) -> PyResult<T> {
        guard(|| f(&mut *lock(&self.inner)?))
    }
}

#[pymethods]
impl PyKmallocModel {
    #[new]
    #[pyo3(signature = (debug_redzone = false, nr_cpus = 8, align_rule = "6.11"))]
    fn new(debug_redzone: bool, nr_cpus: usize, align_rule: &str) -> PyResult<Self> {
        guard(|| {
            let rule = KmallocAlignRule::parse(align_rule)?;
            Ok(PyKmallocModel { inner: Mutex::new(KmallocModel::new(nr_cpus, rule, debug_redzone)?), nr_cpus })
        })
    }

    /// `kmalloc(size)` on `cpu`.
    #[pyo3(signature = (size, cpu = 0))]
    fn kmalloc(&self, size: usize, cpu: usize) -> PyResult<usize> {
        self.with(|m| m.kmalloc(size, cpu))
    }

    /// `kzalloc(size)` on `cpu`.
    #[pyo3(signature = (size, cpu = 0))]
    fn kzalloc(&self, size: usize, cpu: usize) -> PyResult<usize> {
        self.with(|m| m.kzalloc(size, cpu))
    }

    /// `kfree(addr)` on `cpu` (0 and ZERO_SIZE_PTR are ignored).
    #[pyo3(signature = (addr, cpu = 0))]
    fn kfree(&self, addr: usize, cpu: usize) -> PyResult<()> {
        self.with(|m| m.kfree(addr, cpu))
    }

    /// `ksize(addr)`.
    fn ksize(&self, addr: usize) -> PyResult<usize> {
        self.with(|m| m.ksize(addr))
    }

    /// The bytes of the live object at `addr`.
    fn read<'py>(&self, py: Python<'py>, addr: usize) -> PyResult<Bound<'py, PyBytes>> {
        let v = self.with(|m| Ok(m.object_bytes(addr)?.to_vec()))?;
        Ok(PyBytes::new(py, &v))
    }

    /// Name of the cache serving `size` ("kmalloc-1k"), or None (0, or above 8 KiB).
    fn size_class_of(&self, size: usize) -> PyResult<Option<String>> {
        self.with(|m| Ok(m.cache_for(size).map(|c| c.name().to_string())))
    }

    /// Layout of the cache serving `size` as a dict, or None.
    fn class_info<'py>(&self, py: Python<'py>, size: usize) -> PyResult<Option<Bound<'py, PyDict>>> {
        let l = self.with(|m| Ok(m.cache_for(size).map(|c| (c.name().to_string(), c.layout().clone()))))?;
        let Some((name, l)) = l else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("name", name)?;
        d.set_item("object_size", l.object_size)?;
        d.set_item("stride", l.size)?;
        d.set_item("align", l.align)?;
        d.set_item("red_left_pad", l.red_left_pad)?;
        d.set_item("order", l.order)?;
        d.set_item("objects_per_slab", l.objects)?;
        d.set_item("tail_waste", l.tail_waste())?;
        Ok(Some(d))
    }

    /// The alignment a caller may rely on for `kmalloc(size)` under this model's rule.
    fn guaranteed_align(&self, size: usize) -> PyResult<usize> {
        self.with(|m| Ok(m.rule().guaranteed_align(size)))
    }

    /// `/proc/slabinfo` rows of the 13 caches (list of dicts).
    fn slabinfo<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let rows = self.with(|m| Ok(m.slabinfo()))?;
        rows.iter().map(|r| info_dict(py, r)).collect()
    }

    /// `XSAVE`/`XSAVEC` into the live object at `addr` (see `KmemCache.xsave`).
    #[pyo3(signature = (addr, compact = false, allow_fault = false))]
    fn xsave(&self, addr: usize, compact: bool, allow_fault: bool) -> PyResult<()> {
        self.with(|m| m.xsave(addr, kind(compact), misaligned(allow_fault)))
    }

    /// Whether red zoning is on.
    #[getter]
    fn debug_redzone(&self) -> PyResult<bool> {
        self.with(|m| Ok(m.debug_redzone()))
    }
    /// The alignment rule ("minalign", "pow2" or "6.11").
    #[getter]
    fn align_rule(&self) -> PyResult<String> {
        self.with(|m| Ok(m.rule().name().to_string()))
    }
    /// Simulated CPUs.
    #[getter]
    fn nr_cpus(&self) -> usize {
        self.nr_cpus
    }
    /// Objects allocated right now (slab objects plus large blocks).
    #[getter]
    fn nr_allocated(&self) -> PyResult<usize> {
        self.with(|m| Ok(m.inuse()))
    }

    fn __repr__(&self) -> PyResult<String> {
        self.with(|m| {
            Ok(format!(
                "KmallocModel(debug_redzone={}, nr_cpus={}, align_rule={:?})",
                if m.debug_redzone() { "True" } else { "False" },
                self.nr_cpus,
                m.rule().name()
            ))
        })
    }
}

/// Name of the kmalloc cache serving `size` without building a model, or None.
#[pyfunction]
fn kmalloc_size_class(size: usize) -> PyResult<Option<String>> {
    guard(|| {
        Ok(kmalloc_index(size).map(|i| perfcore::slab::kmalloc::class_name(perfcore::slab::kmalloc::KMALLOC_SIZES[i])))
    })
}

/// What this CPU supports: {"xsave": bool, "xsavec": bool}.
#[pyfunction]
fn xsave_supported(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = guard(|| Ok(xsave_support()))?;
    let d = PyDict::new(py);
    d.set_item("xsave", s.xsave)?;
    d.set_item("xsavec", s.xsavec)?;
    Ok(d)
}

/// Run XSAVE (XSAVEC if `compact`) with mask x87|SSE into `buf[offset:offset+576]`.
/// Out-of-bounds targets raise. A target that is not 64-byte aligned raises, unless
/// `allow_fault`, which executes the instruction: the CPU raises #GP and the process dies with
/// SIGSEGV (use it in a child process only).
#[pyfunction]
#[pyo3(signature = (buf, offset, compact = false, allow_fault = false))]
fn xsave_at(buf: &Bound<'_, PyByteArray>, offset: usize, compact: bool, allow_fault: bool) -> PyResult<()> {
    guard(|| {
        // SAFETY: we hold the GIL and run no Python code while the slice lives, so nothing can
        // resize or otherwise touch the bytearray's buffer meanwhile.
        let bytes = unsafe { buf.as_bytes_mut() };
        xsave_into(bytes, offset, kind(compact), misaligned(allow_fault))
    })
}

/// Register the slab classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKmemCache>()?;
    m.add_class::<PyKmallocModel>()?;
    m.add_function(wrap_pyfunction!(kmalloc_size_class, m)?)?;
    m.add_function(wrap_pyfunction!(xsave_supported, m)?)?;
    m.add_function(wrap_pyfunction!(xsave_at, m)?)?;
    m.add("XSAVE_ALIGNMENT", perfcore::slab::xsave::XSAVE_ALIGNMENT)?;
    m.add("XSAVE_FPSSE_SIZE", perfcore::slab::xsave::XSAVE_FPSSE_SIZE)?;
    m.add("ZERO_SIZE_PTR", perfcore::slab::kmalloc::ZERO_SIZE_PTR)?;
    Ok(())
}
