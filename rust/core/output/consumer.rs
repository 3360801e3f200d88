//! The user side of a ring: the consumer's half of the head/tail protocol (load `data_head`
//! with acquire, copy records, store `data_tail` with release) and the reading rules perf uses
//! for forward, backward and overwrite rings. Models what tools/perf/util/mmap.c
//! (perf_mmap__read_init / perf_mmap__consume) and Documentation/userspace-api/perf_ring_buffer.rst
//! describe; facts: spec/ring-buffer-aux-records.md §2.1, §2.5.

use super::mmap_page::{read_userpage, OFF_DATA_HEAD, OFF_DATA_TAIL};
use super::ring::Shared;
use crate::error::{Error, Result};
use crate::sync::{Arc, Ordering};

const HEAD_WORD: usize = OFF_DATA_HEAD / 8;
const TAIL_WORD: usize = OFF_DATA_TAIL / 8;

/// The user side of a ring: loads `data_head` (acquire), copies records, stores `data_tail`
/// (release). Cheap to clone; any thread.
#[derive(Clone, Debug)]
pub struct RingConsumer {
    shared: Arc<Shared>,
}

impl RingConsumer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RingConsumer { shared }
    }

    /// `data_head` (acquire: records below it are complete).
    pub fn data_head(&self) -> u64 {
        self.shared.mem.load(HEAD_WORD, Ordering::Acquire) // C, pairs with B
    }
    /// `data_tail`.
    pub fn data_tail(&self) -> u64 {
        self.shared.mem.load(TAIL_WORD, Ordering::Relaxed)
    }
    /// Store `data_tail` (release: our reads happen before the producer reuses the space).
    pub fn set_data_tail(&self, v: u64) {
        self.shared.mem.store(TAIL_WORD, v, Ordering::Release) // D, pairs with A
    }
    /// `data_size`.
    pub fn data_size(&self) -> u64 {
        self.shared.data_size
    }
    /// The user page's fields by name.
    pub fn user_page(&self) -> Vec<(&'static str, u64)> {
        read_userpage(&self.shared.mem)
    }
    /// Copy of the whole mapping (user page + data pages).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.shared.mem.len_bytes()];
        self.shared.mem.read_bytes(0, &mut v);
        v
    }
    /// Pointer and length of the mapping's bytes, for a zero-copy read-only view.
    #[cfg(not(loom))]
    pub fn raw_pages(&self) -> (*const u8, usize) {
        (self.shared.mem.as_ptr(), self.shared.mem.len_bytes())
    }
    /// Copy `len` stream bytes from free-running position `from`, across the wrap.
    pub fn copy_stream(&self, from: u64, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len);
        self.shared.copy_stream(from, len, &mut v);
        v
    }

    /// Consume everything readable and return each record's bytes in the order they were
    /// written (oldest first), advancing `data_tail`.
    ///
    /// Forward rings read `[data_tail, data_head)`. Backward writable rings hold `[data_head,
    /// data_tail)` newest first. Backward overwrite rings are read from `data_head` over at
    /// most `data_size` bytes, keeping only whole records (as perf does). A forward overwrite
    /// ring that ran more than `data_size` ahead has lost its record boundaries: that is an
    /// error (set `data_tail` to `data_head` to resynchronise).
    pub fn read_records(&self) -> Result<Vec<Vec<u8>>> {
        let sh = &self.shared;
        if sh.data_size == 0 {
            return Ok(Vec::new());
        }
        let head = self.data_head();
        let tail = self.data_tail();
        let mut out = Vec::new();
        if !sh.backward {
            let avail = head.wrapping_sub(tail);
            if avail > sh.data_size {
                return Err(Error::Usage(format!(
                    "data_head {head} is {avail} bytes ahead of data_tail {tail}, more than data_size {}: \
                     record boundaries are lost (overwrite mode); set data_tail to data_head to resynchronise",
                    sh.data_size
                )));
            }
            let stream = self.copy_stream(tail, avail as usize);
            for (off, size) in super::decode::split_records(&stream)? {
                out.push(stream[off..off + size].to_vec());
            }
        } else {
            let avail = if sh.overwrite {
                head.wrapping_neg().min(sh.data_size)
            } else {
                let a = tail.wrapping_sub(head);
                if a > sh.data_size {
                    return Err(Error::Usage(format!(
                        "backward ring: data_tail {tail} is {a} bytes above data_head {head}, more than data_size {}",
                        sh.data_size
                    )));
                }
                a
            };
            let stream = self.copy_stream(head, avail as usize);
            let mut off = 0usize;
            while stream.len() - off >= 8 {
                let size = u16::from_le_bytes([stream[off + 6], stream[off + 7]]) as usize;
                if size < 8 || off + size > stream.len() {
                    if sh.overwrite {
                        break; // the oldest record was partly overwritten
                    }
                    return Err(Error::Usage(format!(
                        "backward ring: record at stream position {} has header.size {size} with {} bytes left",
                        head.wrapping_add(off as u64),
                        stream.len() - off
                    )));
                }
                out.push(stream[off..off + size].to_vec());
                off += size;
            }
            out.reverse();
        }
        self.set_data_tail(head);
        Ok(out)
    }

    /// The AUX area, once mapped.
    pub fn aux(&self) -> Option<super::aux::AuxConsumer> {
        let mem = self.shared.aux.get()?;
        Some(super::aux::AuxConsumer { mem: std::sync::Arc::clone(mem), page: Arc::clone(&self.shared) })
    }
}
