//! The output side of perf_events: the mmap'ed ring buffer (user page + data pages), the AUX
//! area, the mmap rules and their errnos, record encoding for every record the model emits,
//! the decoder, and a simulated AUX trace PMU. Models kernel/events/ring_buffer.c, the output
//! half of kernel/events/core.c and perf_mmap(); facts: spec/ring-buffer-aux-records.md §1-§7.
//!
//! Everything here is standalone: a [`RingBuffer`] is created from a [`RingConfig`], records
//! are plain data ([`SampleData`], [`Record`]), and mmap checks are pure functions over an
//! explicit view of the event and of the accounting state ([`mmap_rules`]).

pub mod aux;
pub mod consumer;
pub mod decode;
pub mod mmap_page;
pub mod mmap_rules;
pub mod record;
pub mod ring;
pub mod sample;
pub mod trace_pmu;

pub use aux::{AuxConfig, AuxConsumer, AuxEnd, AuxHandle};
pub use decode::{decode_record, decode_stream, split_records, DecodedRecord};
pub use mmap_page::UserPageCounters;
pub use record::{Mmap2File, Record, RecordBody, TaskRecord};
pub use ring::{Handle, OutputEvent, RingBuffer, RingConfig, RingConsumer, RingStats};
pub use sample::{BranchEntry, BranchStack, OutputFormat, ReadValue, ReadValues, Regs, SampleData, SampleId, Sink};
pub use trace_pmu::{trace_byte, trace_bytes, TracePmu, TraceRun};
