//! A simulated instruction-trace PMU ("trace"): the AUX-capable PMU of the model, standing where
//! Intel PT or ARM CoreSight stand in the kernel. It registers with a dynamic type, has
//! `PERF_PMU_CAP_ITRACE` (it has `setup_aux`, so its events may map an AUX area) and
//! `PERF_PMU_CAP_AUX_PAUSE`, and lives in software context like `intel_pt` does. The bytes it
//! writes into the AUX area come from `output::trace_pmu`.

use super::{caps, Pmu, TaskCtxNr};
use crate::abi::attr::PerfEventAttr;
use crate::abi::sample::PERF_SAMPLE_BRANCH_STACK;
use crate::{Errno, Error, Result};

/// The "trace" PMU driver.
#[derive(Debug, Default)]
pub struct TracePmuDriver;

impl Pmu for TracePmuDriver {
    fn name(&self) -> &str {
        "trace"
    }
    fn requested_type(&self) -> Option<u32> {
        None
    }
    fn capabilities(&self) -> u32 {
        caps::ITRACE | caps::AUX_PAUSE
    }
    fn task_ctx_nr(&self) -> TaskCtxNr {
        TaskCtxNr::Software
    }
    fn event_init(&self, attr: &PerfEventAttr, own_type: u32, _cpu: i32) -> Result<()> {
        if attr.type_ != own_type {
            return Err(Error::perf(Errno::ENOENT, format!("attr.type = {} is not the trace PMU", attr.type_)));
        }
        if attr.config != 0 {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("attr.config = {:#x}: the trace PMU has no config bits", attr.config),
            ));
        }
        if attr.sample_type & PERF_SAMPLE_BRANCH_STACK != 0 {
            return Err(Error::perf(Errno::EOPNOTSUPP, "attr.sample_type: the trace PMU has no branch stack"));
        }
        Ok(())
    }
}
