//! Event contexts and their scheduling: the group rbtree ([`groups`], on the arena tree of
//! [`rbtree`]), the context / pmu-context / cpu-pmu-context structures ([`context`]),
//! scheduling ([`sched`]), the context switch ([`switch`]) and inheritance across fork, exit
//! and exec ([`inherit`]). Spec: context-and-scheduling.md §1-§6.

pub mod cgroup;
pub mod context;
pub mod engine;
pub mod groups;
pub mod inherit;
pub mod rbtree;
pub mod read;
pub mod sched;
pub mod switch;

pub use cgroup::{CgrpTime, ROOT_CGROUP};
pub use context::{CpcId, CpuPmuContext, CtxId, CtxKind, CtxTime, EpcId, EventContext, PmuContext};
pub use engine::{Engine, EngineStats, EventSpec, InheritAttr, SEvent, SchedPmu};
pub use groups::{GroupKey, GroupTree, VisitStats};
pub use inherit::CloneFlags;
pub use switch::SwitchOutcome;
