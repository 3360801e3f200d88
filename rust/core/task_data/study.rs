//! The LBR call-stack completeness mini-scenario (no full scheduler): one CPU, the
//! `tchain_edit` task and `k` noise tasks switched round-robin every `slice_ns`, a sampling
//! clock every `sample_period_ns` that records the LBR-derived call stack when `tchain_edit`
//! runs. It replays the claim of cb4369129339 / 3cec9fd03543 (spec/task-data-slab-page-size.md
//! A.3): system-wide LBR call stacks were truncated before v6.15 because CPU-wide events had no
//! task data and intel_pmu_lbr_sched_task() reset the LBR on every sched-in.
//!
//! Conventions (the test's oracle relies on them): at an instant where several things are due,
//! the context switch happens first, then the incoming task applies its calls/returns due at
//! its own time, then the sample is taken. The outgoing task's calls due exactly at the switch
//! are applied when it next runs.

use super::alloc::{StdBlobAlloc, TaskDataAlloc};
use super::callstack::{CallScript, ScriptCursor};
use super::lbr::{BlobLayout, LbrBlob, LbrCpu, LbrFormat, LbrStats};
use super::perf_ctx_data::TaskDataTable;
use super::pmu_context_data::{CtxKind, PmuContextData};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which event and which task-data design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StudyMode {
    /// Per-process event on tchain_edit, data in `task_struct` (6.15+).
    PerProcess,
    /// Per-process event on tchain_edit, data in its task pmu context (6.2-6.14).
    PerProcessPmuContext,
    /// CPU-wide event, 6.2-6.14: no task data for CPU contexts, LBR reset on sched-in.
    SystemWidePmuContext,
    /// CPU-wide event, 6.15+: global data attached to every thread.
    SystemWideTaskStruct,
}

impl StudyMode {
    /// Parse the Python spelling.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "per_process" => StudyMode::PerProcess,
            "per_process_pmu_context" => StudyMode::PerProcessPmuContext,
            "system_wide_pmu_context" => StudyMode::SystemWidePmuContext,
            "system_wide_task_struct" => StudyMode::SystemWideTaskStruct,
            _ => {
                return Err(Error::Usage(format!(
                    "mode {s:?}: expected per_process, per_process_pmu_context, system_wide_pmu_context or system_wide_task_struct"
                )))
            }
        })
    }
    fn system_wide(self) -> bool {
        matches!(self, StudyMode::SystemWidePmuContext | StudyMode::SystemWideTaskStruct)
    }
}

/// Scenario parameters.
#[derive(Clone, Debug)]
pub struct StudyParams {
    /// Design and event kind.
    pub mode: StudyMode,
    /// Preempting noise tasks (k).
    pub noise_tasks: u32,
    /// Round-robin slice (T).
    pub slice_ns: u64,
    /// Sampling period (P).
    pub sample_period_ns: u64,
    /// Simulated time.
    pub duration_ns: u64,
    /// tchain_edit timings.
    pub main_ns: u64,
    /// Work in f1 before calling f2.
    pub f1_ns: u64,
    /// Work in f2 before calling f3.
    pub f2_ns: u64,
    /// Hot work in f3.
    pub f3_ns: u64,
    /// LBR depth (8..=64).
    pub lbr_depth: u32,
    /// Blob layout.
    pub lbr_format: LbrFormat,
}

impl Default for StudyParams {
    fn default() -> Self {
        StudyParams {
            mode: StudyMode::SystemWideTaskStruct,
            noise_tasks: 3,
            slice_ns: 4_000_000,
            sample_period_ns: 100_000,
            duration_ns: 2_000_000_000,
            main_ns: 20_000,
            f1_ns: 20_000,
            f2_ns: 20_000,
            f3_ns: 3_000_000,
            lbr_depth: 32,
            lbr_format: LbrFormat::ArchXsave,
        }
    }
}

/// Scenario outcome.
#[derive(Clone, Debug, Default)]
pub struct StudyResult {
    /// Samples taken while tchain_edit ran.
    pub samples: u64,
    /// Sampled LBR-derived stacks, outermost first ("main-f1-f2-f3"), with counts.
    pub shapes: BTreeMap<String, u64>,
    /// Samples whose LBR stack equals the task's true stack.
    pub full: u64,
    /// Samples taken in f3.
    pub f3_samples: u64,
    /// f3 samples showing main-f1-f2-f3.
    pub f3_full: u64,
    /// LBR save/restore/reset counters.
    pub lbr: LbrStats,
    /// Context switches simulated.
    pub switches: u64,
    /// Task-data blobs that existed (per task) during the run.
    pub blobs: u64,
}

struct Sim {
    p: StudyParams,
    layout: BlobLayout,
    scripts: Vec<CallScript>,
    cursors: Vec<ScriptCursor>,
    lbr: LbrCpu,
    table: TaskDataTable,
    pmu_ctx: Vec<PmuContextData>,
    global_users: u64,
}

impl Sim {
    fn lbr_active_for(&self, task: usize) -> bool {
        self.p.mode.system_wide() || task == 0
    }

    /// One side of `intel_pmu_lbr_sched_task()` for `task`, with its blob in the mode's design.
    fn sched_task(&mut self, task: usize, sched_in: bool) -> Result<()> {
        let (layout, gu) = (self.layout, self.global_users);
        match self.p.mode {
            StudyMode::PerProcess | StudyMode::SystemWideTaskStruct => {
                let g = self.table.rcu_read_lock();
                match self.table.ctx_data(&g, task as u32) {
                    Some(cd) => {
                        let owner = cd.blob().addr();
                        // SAFETY: single-threaded driver: this CPU's switch path is the only
                        // code touching the blob, and `g` is held for the slice's lifetime.
                        let mut b = LbrBlob::new(unsafe { cd.blob_mut() }, layout)?;
                        self.lbr.sched_task(Some((&mut b, owner)), sched_in, gu);
                    }
                    None => self.lbr.sched_task(None, sched_in, gu),
                }
            }
            StudyMode::PerProcessPmuContext | StudyMode::SystemWidePmuContext => {
                // Per-process: the task's own pmu context; system-wide: the CPU context's.
                let ctx = if self.p.mode == StudyMode::SystemWidePmuContext { self.pmu_ctx.len() - 1 } else { task };
                match self.pmu_ctx[ctx].data_mut() {
                    Some(d) => {
                        let owner = d.addr();
                        let mut b = LbrBlob::new(d.bytes_mut(), layout)?;
                        self.lbr.sched_task(Some((&mut b, owner)), sched_in, gu);
                    }
                    None => self.lbr.sched_task(None, sched_in, gu),
                }
            }
        }
        Ok(())
    }

    fn sched_out(&mut self, task: usize) -> Result<()> {
        if self.lbr_active_for(task) {
            self.sched_task(task, false)?;
        }
        if !self.p.mode.system_wide() && task == 0 {
            self.lbr.lbr_users -= 1; // intel_pmu_lbr_del() as the per-task event goes out
        }
        Ok(())
    }

    fn sched_in(&mut self, task: usize) -> Result<()> {
        if !self.p.mode.system_wide() && task == 0 {
            self.lbr.lbr_users += 1; // intel_pmu_lbr_add()
        }
        if self.lbr_active_for(task) {
            self.sched_task(task, true)?;
        }
        Ok(())
    }
}

fn validate(p: &StudyParams) -> Result<()> {
    let usage = |m: String| Err(Error::Usage(m));
    if p.slice_ns == 0 {
        return usage("slice_ns must be > 0".into());
    }
    if p.sample_period_ns == 0 {
        return usage("sample_period_ns must be > 0".into());
    }
    if p.noise_tasks > 1024 {
        return usage(format!("noise_tasks {} is above 1024", p.noise_tasks));
    }
    if p.duration_ns / p.sample_period_ns > 100_000_000 {
        return usage(format!(
            "duration_ns {} / sample_period_ns {} exceeds 1e8 samples",
            p.duration_ns, p.sample_period_ns
        ));
    }
    if p.duration_ns / p.slice_ns > 100_000_000 {
        return usage(format!("duration_ns {} / slice_ns {} exceeds 1e8 switches", p.duration_ns, p.slice_ns));
    }
    let l = p.main_ns.saturating_add(p.f1_ns).saturating_add(p.f2_ns).saturating_add(p.f3_ns);
    if l == 0 || p.duration_ns / l > 100_000_000 {
        return usage(format!("tchain_edit loop of {l} ns is too short for duration_ns {}", p.duration_ns));
    }
    Ok(())
}

/// Run the scenario.
pub fn lbr_callstack_study(p: &StudyParams) -> Result<StudyResult> {
    validate(p)?;
    let layout = BlobLayout::new(p.lbr_format, p.lbr_depth)?;
    let cache: Arc<dyn TaskDataAlloc> = Arc::new(StdBlobAlloc::new(layout.size, layout.align)?);
    let ntasks = 1 + p.noise_tasks as usize;
    let mut scripts = vec![CallScript::tchain_edit(p.main_ns, p.f1_ns, p.f2_ns, p.f3_ns)?];
    for i in 0..p.noise_tasks {
        // Noise loops of a different length from tchain's, so phases drift.
        scripts.push(CallScript::noise(&format!("noise{i}"), 37_000 + 1_000 * i as u64)?);
    }
    let mut sim = Sim {
        p: p.clone(),
        layout,
        cursors: vec![ScriptCursor::new(); ntasks],
        scripts,
        lbr: LbrCpu::new(p.lbr_depth),
        table: TaskDataTable::new(ntasks as u32),
        pmu_ctx: Vec::new(),
        global_users: 0,
    };
    for t in 0..ntasks as u32 {
        sim.table.spawn(t)?;
    }
    let mut blobs = 0;
    match p.mode {
        StudyMode::PerProcess => {
            sim.table.attach_task_ctx_data(0, &cache, false)?;
            let g = sim.table.rcu_read_lock();
            let cd = sim.table.ctx_data(&g, 0).ok_or_else(|| Error::Internal("attach left no data".into()))?;
            // SAFETY: single-threaded setup; nobody else touches the blob.
            LbrBlob::new(unsafe { cd.blob_mut() }, layout)?.set_users(1);
            blobs = 1;
        }
        StudyMode::SystemWideTaskStruct => {
            sim.table.attach_global_ctx_data(&cache)?;
            sim.global_users = 1; // x86_pmu.lbr_callstack_users
            sim.lbr.lbr_users = 1;
            blobs = sim.table.nr_published();
        }
        StudyMode::PerProcessPmuContext => {
            for t in 0..ntasks {
                let mut c = PmuContextData::new(CtxKind::Task);
                if t == 0 {
                    c.attach_event(true, &cache, 0)?;
                    let d = c.data_mut().ok_or_else(|| Error::Internal("no task ctx data".into()))?;
                    LbrBlob::new(d.bytes_mut(), layout)?.set_users(1);
                    blobs += 1;
                }
                sim.pmu_ctx.push(c);
            }
        }
        StudyMode::SystemWidePmuContext => {
            let mut c = PmuContextData::new(CtxKind::Cpu);
            c.attach_event(true, &cache, 0)?; // CPU context: allocates nothing
            sim.pmu_ctx.push(c);
            sim.lbr.lbr_users = 1;
        }
    }

    let mut r = StudyResult { blobs, ..Default::default() };
    let names: Vec<Vec<String>> = sim.scripts.iter().map(|s| s.names().to_vec()).collect();
    let mut running = 0usize;
    sim.sched_in(0)?;
    let (mut t, mut next_switch, mut next_sample) = (0u64, p.slice_ns, p.sample_period_ns);
    while t < p.duration_ns {
        {
            let (s, c) = (&sim.scripts[running], &mut sim.cursors[running]);
            c.settle(s, &mut sim.lbr);
        }
        let due = t + sim.cursors[running].until_next_op();
        let t_next = next_switch.min(next_sample).min(due).min(p.duration_ns);
        sim.cursors[running].advance(t_next - t);
        t = t_next;
        if t == next_switch {
            if ntasks > 1 {
                sim.sched_out(running)?;
                running = (running + 1) % ntasks;
                sim.sched_in(running)?;
                r.switches += 1;
            }
            next_switch += p.slice_ns;
        }
        {
            let (s, c) = (&sim.scripts[running], &mut sim.cursors[running]);
            c.settle(s, &mut sim.lbr);
        }
        if t == next_sample {
            if running == 0 {
                let c = &sim.cursors[0];
                let truth: Vec<&str> = c.stack().iter().map(|&f| names[0][f as usize].as_str()).collect();
                let mut chain: Vec<&str> = sim
                    .lbr
                    .callchain(c.ip())
                    .iter()
                    .map(|&a| sim.scripts[0].symbolize(a).unwrap_or("[unknown]"))
                    .collect();
                chain.reverse();
                let shape = chain.join("-");
                r.samples += 1;
                if chain == truth {
                    r.full += 1;
                }
                if truth.last() == Some(&"f3") {
                    r.f3_samples += 1;
                    if shape == "main-f1-f2-f3" {
                        r.f3_full += 1;
                    }
                }
                *r.shapes.entry(shape).or_insert(0) += 1;
            }
            next_sample += p.sample_period_ns;
        }
    }
    r.lbr = sim.lbr.stats;
    Ok(r)
}
