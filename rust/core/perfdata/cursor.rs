//! A bounds-checked reader over bytes taken from a perf.data file: every read checks the bytes
//! left, every count is checked against them before anything is allocated, and every error
//! carries the file offset and the field (the way tools/perf/util/header.c do_read_u32() /
//! do_read_string() read feature payloads, minus the trust in sizes).

use super::header::{le32, le64};
use crate::error::{Error, Result};

/// `NAME_ALIGN`: header strings are NUL-padded to a multiple of 64 bytes.
pub const NAME_ALIGN: usize = 64;

/// Reader over `b`, whose first byte is at file offset `base`.
pub struct FileCursor<'a> {
    b: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> FileCursor<'a> {
    /// A cursor over `b`, which starts at file offset `base`.
    pub fn new(b: &'a [u8], base: u64) -> Self {
        FileCursor { b, pos: 0, base }
    }

    /// File offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes not read yet.
    pub fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    fn need(&self, field: &str, n: usize) -> Result<()> {
        if self.left() < n {
            return Err(Error::perf_data(
                self.offset(),
                format!("{field} needs {n} bytes but only {} are left in its section", self.left()),
            ));
        }
        Ok(())
    }

    /// Next `n` bytes.
    pub fn bytes(&mut self, field: &str, n: usize) -> Result<&'a [u8]> {
        self.need(field, n)?;
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Next little-endian u32.
    pub fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(le32(self.bytes(field, 4)?))
    }

    /// Next little-endian u64.
    pub fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(le64(self.bytes(field, 8)?))
    }

    /// A u32 count of items of at least `min_item` bytes each, rejected before any allocation
    /// if the bytes left cannot hold that many.
    pub fn count32(&mut self, field: &str, min_item: usize) -> Result<usize> {
        let at = self.offset();
        let n = self.u32(field)? as usize;
        if n > self.left() / min_item.max(1) {
            return Err(Error::perf_data(
                at,
                format!(
                    "{field} = {n} items of at least {min_item} bytes do not fit in the {} bytes left",
                    self.left()
                ),
            ));
        }
        Ok(n)
    }

    /// A `struct perf_header_string`: `u32 len` then `len` bytes holding a NUL-terminated
    /// string (padded); the text up to the first NUL.
    pub fn string(&mut self, field: &str) -> Result<String> {
        let at = self.offset();
        let len = self.u32(field)? as usize;
        if len > self.left() {
            return Err(Error::perf_data(
                at,
                format!("{field}: string length {len} exceeds the {} bytes left", self.left()),
            ));
        }
        let raw = self.bytes(field, len)?;
        let text = match raw.iter().position(|&c| c == 0) {
            Some(n) => &raw[..n],
            None => {
                return Err(Error::perf_data(at, format!("{field}: the {len}-byte string has no NUL terminator")));
            }
        };
        Ok(String::from_utf8_lossy(text).into_owned())
    }
}

/// Append a `struct perf_header_string` (length includes the NUL padding to [`NAME_ALIGN`]).
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = (s.len() + 1).div_ceil(NAME_ALIGN) * NAME_ALIGN;
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.resize(out.len() + len - s.len(), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_padded_to_64_and_read_back() {
        let mut v = Vec::new();
        put_string(&mut v, "x86_64");
        assert_eq!(v.len(), 4 + 64);
        assert_eq!(le32(&v), 64);
        let mut c = FileCursor::new(&v, 100);
        assert_eq!(c.string("arch").unwrap(), "x86_64");
        assert_eq!(c.left(), 0);
    }

    #[test]
    fn counts_and_lengths_past_the_section_are_errors_with_offsets() {
        let b = [0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4];
        let e = FileCursor::new(&b, 0x40).count32("nr", 8).unwrap_err();
        assert!(matches!(e, Error::PerfData { offset: 0x40, .. }), "{e}");
        let e = FileCursor::new(&b, 0x40).string("hostname").unwrap_err().to_string();
        assert!(e.contains("hostname") && e.contains("2147483647"), "{e}");
        let e = FileCursor::new(&[4, 0, 0, 0, b'a', b'b', b'c', b'd'], 0).string("s").unwrap_err().to_string();
        assert!(e.contains("no NUL"), "{e}");
    }
}
