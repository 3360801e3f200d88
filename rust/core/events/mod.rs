//! Events: the attr copy-in and checks of `perf_event_open()`, the event arena, ioctls, and
//! the output paths into the rings the machine owns.

pub mod attr_copy;
pub mod event;
pub mod ioctl;
pub mod open;
pub mod output;
pub mod poll;
pub mod rb;
pub mod sched_glue;
pub mod task_lifecycle;

pub use event::{Event, EventArena, EventId, EventState};
