//! Cache creation flags (`slab_flags_t` in include/linux/slab.h) that change the modelled
//! layout. Only the flags the model implements are accepted; the others are refused by name
//! instead of being silently ignored. The bit values are perfcore's own encoding (the kernel
//! has renumbered its flags over time): use the names where possible.

use crate::{Error, Result};
use std::fmt;

/// A set of cache flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlabFlags(u32);

impl SlabFlags {
    /// `SLAB_HWCACHE_ALIGN`: align objects on a cache line (halved for small objects).
    pub const HWCACHE_ALIGN: SlabFlags = SlabFlags(0x0000_2000);
    /// `SLAB_RED_ZONE`: debug red zones left and right of each object.
    pub const RED_ZONE: SlabFlags = SlabFlags(0x0000_0400);
    /// `SLAB_KMALLOC`: the cache is one of the generic kmalloc caches (set by the kmalloc model).
    pub const KMALLOC: SlabFlags = SlabFlags(0x0100_0000);

    const NAMED: [(&'static str, SlabFlags); 3] = [
        ("HWCACHE_ALIGN", SlabFlags::HWCACHE_ALIGN),
        ("RED_ZONE", SlabFlags::RED_ZONE),
        ("KMALLOC", SlabFlags::KMALLOC),
    ];

    /// No flags.
    pub const fn empty() -> Self {
        SlabFlags(0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Flags from raw bits; unknown bits are an error naming them.
    pub fn from_bits(bits: u32) -> Result<Self> {
        let known = SlabFlags::NAMED.iter().fold(0, |a, (_, f)| a | f.0);
        if bits & !known != 0 {
            return Err(Error::Usage(format!(
                "kmem_cache flags 0x{bits:x} have unsupported bits 0x{:x} (supported: {})",
                bits & !known,
                SlabFlags::NAMED.iter().map(|(n, f)| format!("{n}=0x{:x}", f.0)).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(SlabFlags(bits))
    }

    /// Parse `"HWCACHE_ALIGN|RED_ZONE"` (names with or without the `SLAB_` prefix, any case,
    /// separated by `|`, `,` or spaces; empty means none).
    pub fn parse(s: &str) -> Result<Self> {
        let mut out = SlabFlags::empty();
        for tok in s.split(['|', ',', ' ']).filter(|t| !t.is_empty()) {
            let up = tok.to_ascii_uppercase();
            let name = up.strip_prefix("SLAB_").unwrap_or(&up);
            match SlabFlags::NAMED.iter().find(|(n, _)| *n == name) {
                Some((_, f)) => out = out | *f,
                None => {
                    return Err(Error::Usage(format!(
                        "kmem_cache flag {tok:?} is not supported (supported: HWCACHE_ALIGN, RED_ZONE)"
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: SlabFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for SlabFlags {
    type Output = SlabFlags;
    fn bitor(self, rhs: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for SlabFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = SlabFlags::NAMED.iter().filter(|(_, fl)| self.contains(*fl)).map(|(n, _)| *n).collect();
        f.write_str(&names.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let f = SlabFlags::parse("SLAB_HWCACHE_ALIGN|red_zone").unwrap();
        assert!(f.contains(SlabFlags::HWCACHE_ALIGN) && f.contains(SlabFlags::RED_ZONE));
        assert_eq!(SlabFlags::parse(&f.to_string()).unwrap(), f);
        assert_eq!(SlabFlags::parse("").unwrap(), SlabFlags::empty());
        let e = SlabFlags::parse("POISON").unwrap_err().to_string();
        assert!(e.contains("POISON"), "{e}");
        assert!(SlabFlags::from_bits(0x1).is_err());
        assert_eq!(SlabFlags::from_bits(0x2400).unwrap(), SlabFlags::HWCACHE_ALIGN | SlabFlags::RED_ZONE);
    }
}
