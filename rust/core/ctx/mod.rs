//! Event contexts and their scheduling: the group rbtree ([`groups`], on the arena tree of
//! [`rbtree`]), the context / pmu-context / cpu-pmu-context structures ([`context`]).
//! Spec: context-and-scheduling.md §1-§5.

pub mod cgroup;
pub mod context;
pub mod engine;
pub mod groups;
pub mod rbtree;
pub mod read;
pub mod sched;

pub use cgroup::{CgrpTime, ROOT_CGROUP};
pub use context::{CpcId, CpuPmuContext, CtxId, CtxKind, CtxTime, EpcId, EventContext, PmuContext};
pub use engine::{Engine, EngineStats, EventSpec, SEvent, SchedPmu};
pub use groups::{GroupKey, GroupTree, VisitStats};
