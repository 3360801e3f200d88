//! perf.data files (file mode, little endian): a writer whose files `perf script` and
//! `perf report` read, and a bounds-checked reader for files from perf or perfcore. Models the
//! file layout that tools/perf/util/header.c and session.c write and read; facts:
//! spec/ring-buffer-aux-records.md §8 and tools/perf/Documentation/perf.data-file-format.txt.
//!
//! One concept per file: [`header`] (the 104-byte file header and sections), [`cursor`]
//! (bounds-checked reads of file bytes), [`features`] (feature sections), [`evlist`] (attrs,
//! ids and which attr a record belongs to), [`reader`] and [`writer`].

pub mod cursor;
pub mod evlist;
pub mod features;
pub mod header;
pub mod reader;
pub mod writer;

pub use evlist::{EventList, FileAttr};
pub use features::{EventDesc, Features};
pub use header::{FileHeader, FileSection};
pub use reader::{record_type_name, FileRecord, PerfData, PerfDataReader, Records};
pub use writer::{PerfDataWriter, WriterOptions};
