//! Events: the attr copy-in and checks of `perf_event_open()`, and the event arena.

pub mod attr_copy;
pub mod event;
pub mod open;
pub mod poll;
pub mod sched_glue;
pub mod task_lifecycle;

pub use event::{Event, EventArena, EventId, EventState};
