//! The kernel's copy-in and first validation of `struct perf_event_attr`: models
//! `perf_copy_attr()` (with `copy_struct_from_user()`) and the arch hook `perf_reg_validate()`
//! for x86-64, in the kernel's order. Facts: spec/ring-buffer-aux-records.md §7 and
//! spec/anchors-performance-reliability.md §4.5; errnos checked against the running kernel by
//! tests/test_open_differential.py.

use crate::abi::attr::{PerfEventAttr, FLAGS_RESERVED_SHIFT, PERF_ATTR_SIZE_VER0, PERF_ATTR_SIZE_VER8};
use crate::abi::sample::*;
use crate::abi::{AttrFlag, PAGE_SIZE};
use crate::machine_settings::{perf_allow_kernel, Caller, Sysctls};
use crate::{Errno, Error, Result};

/// What `perf_copy_attr()` did: the attr as the kernel holds it, or the error together with the
/// `size` value the kernel wrote back into the caller's struct (it does so on E2BIG only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedAttr {
    pub result: Result<PerfEventAttr>,
    /// `Some(136)` when the kernel overwrote `uattr->size` (every E2BIG path).
    pub size_written_back: Option<u32>,
}

/// x86-64 registers that `perf_reg_validate()` refuses: DS, ES, FS, GS (`REG_NOSUPPORT`).
const X86_REG_NOSUPPORT: u64 =
    (1 << PERF_REG_X86_DS) | (1 << PERF_REG_X86_ES) | (1 << PERF_REG_X86_FS) | (1 << PERF_REG_X86_GS);
/// Bits between R15 and XMM0 (`PERF_REG_X86_RESERVED`).
const X86_REG_RESERVED: u64 = ((1u64 << PERF_REG_X86_XMM0) - 1) & !((1u64 << PERF_REG_X86_64_MAX) - 1);

/// x86-64 `perf_reg_validate()`: a non-empty mask with no unsupported or reserved bit. XMM bits
/// (32-63) pass here; whether the PMU can sample them is checked later (EOPNOTSUPP).
pub fn perf_reg_validate(field: &str, mask: u64) -> Result<()> {
    if mask == 0 {
        return Err(Error::perf(Errno::EINVAL, format!("attr.{field} is 0 (no register selected)")));
    }
    let bad = mask & (X86_REG_NOSUPPORT | X86_REG_RESERVED);
    if bad != 0 {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("attr.{field} = {mask:#x} selects unsupported x86-64 register bit {}", bad.trailing_zeros()),
        ));
    }
    Ok(())
}

fn e2big(reason: String) -> CopiedAttr {
    CopiedAttr { result: Err(Error::perf(Errno::E2BIG, reason)), size_written_back: Some(PERF_ATTR_SIZE_VER8) }
}

/// Model of `perf_copy_attr()`: `user` is the caller's memory starting at the attr (at least
/// the first 8 bytes must be present; bytes past `attr.size` are never read).
pub fn perf_copy_attr(user: &[u8], sysctl: &Sysctls, caller: &Caller) -> CopiedAttr {
    if user.len() < 8 {
        return CopiedAttr {
            result: Err(Error::perf(Errno::EFAULT, "attr: fewer than 8 bytes readable")),
            size_written_back: None,
        };
    }
    let mut size = u32::from_le_bytes([user[4], user[5], user[6], user[7]]);
    // ABI compatibility quirk: size 0 means the first published layout
    if size == 0 {
        size = PERF_ATTR_SIZE_VER0;
    }
    if size < PERF_ATTR_SIZE_VER0 || size as usize > PAGE_SIZE {
        return e2big(format!(
            "attr.size = {size} is outside [{PERF_ATTR_SIZE_VER0}, {PAGE_SIZE}] (kernel wrote back {PERF_ATTR_SIZE_VER8})"
        ));
    }
    let n = size as usize;
    if user.len() < n {
        return CopiedAttr {
            result: Err(Error::perf(
                Errno::EFAULT,
                format!("attr.size = {size} but only {} bytes are readable", user.len()),
            )),
            size_written_back: None,
        };
    }
    let bytes = &user[..n];
    if PerfEventAttr::has_nonzero_tail(bytes) {
        let first = bytes[136..].iter().position(|&b| b != 0).unwrap_or(0) + 136;
        return e2big(format!(
            "attr.size = {size} and byte {first} (past the kernel's 136-byte struct) is not zero (kernel wrote back {PERF_ATTR_SIZE_VER8})"
        ));
    }
    let mut attr = PerfEventAttr::from_bytes(bytes);
    attr.size = size;
    CopiedAttr { result: check_copied(attr, sysctl, caller), size_written_back: None }
}

fn check_copied(mut attr: PerfEventAttr, sysctl: &Sysctls, caller: &Caller) -> Result<PerfEventAttr> {
    if attr.reserved_1() != 0 {
        let bit = attr.reserved_1().trailing_zeros() + FLAGS_RESERVED_SHIFT;
        return Err(Error::perf(Errno::EINVAL, format!("attr.__reserved_1 (flag bit {bit}) is set")));
    }
    if attr.reserved_2 != 0 {
        return Err(Error::perf(Errno::EINVAL, format!("attr.__reserved_2 = {:#x} is not zero", attr.reserved_2)));
    }
    if attr.reserved_3() != 0 {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("attr.aux_action = {:#x} has reserved bit {}", attr.aux_action, attr.reserved_3().trailing_zeros()),
        ));
    }
    let bad = attr.sample_type & !(PERF_SAMPLE_MAX - 1);
    if bad != 0 {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("attr.sample_type = {:#x} has unknown bit {}", attr.sample_type, bad.trailing_zeros()),
        ));
    }
    let bad = attr.read_format & !(PERF_FORMAT_MAX - 1);
    if bad != 0 {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("attr.read_format = {:#x} has unknown bit {}", attr.read_format, bad.trailing_zeros()),
        ));
    }
    if attr.sample_type & PERF_SAMPLE_BRANCH_STACK != 0 {
        let mut mask = attr.branch_sample_type;
        let bad = mask & !(PERF_SAMPLE_BRANCH_MAX - 1);
        if bad != 0 {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("attr.branch_sample_type = {mask:#x} has unknown bit {}", bad.trailing_zeros()),
            ));
        }
        if mask & !PERF_SAMPLE_BRANCH_PLM_ALL == 0 {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("attr.branch_sample_type = {mask:#x} selects no branch type (only privilege levels)"),
            ));
        }
        if mask & PERF_SAMPLE_BRANCH_PLM_ALL == 0 {
            // privilege levels follow the exclude_* bits when none is given
            if !attr.flag(AttrFlag::ExcludeKernel) {
                mask |= PERF_SAMPLE_BRANCH_KERNEL;
            }
            if !attr.flag(AttrFlag::ExcludeUser) {
                mask |= PERF_SAMPLE_BRANCH_USER;
            }
            if !attr.flag(AttrFlag::ExcludeHv) {
                mask |= PERF_SAMPLE_BRANCH_HV;
            }
            attr.branch_sample_type = mask;
        }
        if mask & PERF_SAMPLE_BRANCH_PERM_PLM != 0 && !perf_allow_kernel(sysctl, caller) {
            return Err(Error::perf(
                Errno::EACCES,
                format!(
                    "attr.branch_sample_type = {mask:#x} captures kernel/hv branches, which needs perf_event_paranoid <= 1 or CAP_PERFMON (paranoid is {})",
                    sysctl.perf_event_paranoid
                ),
            ));
        }
    }
    if attr.sample_type & PERF_SAMPLE_REGS_USER != 0 {
        perf_reg_validate("sample_regs_user", attr.sample_regs_user)?;
    }
    if attr.sample_type & PERF_SAMPLE_STACK_USER != 0 {
        // x86-64 has arch_perf_have_user_stack_dump()
        if attr.sample_stack_user >= u32::from(u16::MAX) {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("attr.sample_stack_user = {} is not below 65535", attr.sample_stack_user),
            ));
        }
        if attr.sample_stack_user % 8 != 0 {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("attr.sample_stack_user = {} is not a multiple of 8", attr.sample_stack_user),
            ));
        }
    }
    if attr.sample_max_stack == 0 {
        attr.sample_max_stack = u16::try_from(sysctl.perf_event_max_stack).unwrap_or(u16::MAX);
    }
    // the kernel remembers a REGS_INTR failure but only returns it if nothing later fails
    let regs_intr = if attr.sample_type & PERF_SAMPLE_REGS_INTR != 0 {
        perf_reg_validate("sample_regs_intr", attr.sample_regs_intr)
    } else {
        Ok(())
    };
    if attr.sample_type & PERF_SAMPLE_WEIGHT != 0 && attr.sample_type & PERF_SAMPLE_WEIGHT_STRUCT != 0 {
        return Err(Error::perf(
            Errno::EINVAL,
            "attr.sample_type has both PERF_SAMPLE_WEIGHT and PERF_SAMPLE_WEIGHT_STRUCT",
        ));
    }
    if !attr.flag(AttrFlag::Inherit) && attr.flag(AttrFlag::InheritThread) {
        return Err(Error::perf(Errno::EINVAL, "attr.inherit_thread = 1 needs attr.inherit = 1"));
    }
    if attr.flag(AttrFlag::RemoveOnExec) && attr.flag(AttrFlag::EnableOnExec) {
        return Err(Error::perf(Errno::EINVAL, "attr.remove_on_exec = 1 conflicts with attr.enable_on_exec = 1"));
    }
    if attr.flag(AttrFlag::Sigtrap) && !attr.flag(AttrFlag::RemoveOnExec) {
        return Err(Error::perf(Errno::EINVAL, "attr.sigtrap = 1 needs attr.remove_on_exec = 1"));
    }
    regs_intr.map(|()| attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(a: &PerfEventAttr, size: usize) -> CopiedAttr {
        let mut b = a.to_bytes(size);
        b[4..8].copy_from_slice(&(size as u32).to_le_bytes());
        perf_copy_attr(&b, &Sysctls::default(), &Caller::root())
    }

    #[test]
    fn size_rules_and_write_back() {
        let a = PerfEventAttr::new();
        for (size, errno) in [(63, Some(Errno::E2BIG)), (64, None), (4096, None), (4097, Some(Errno::E2BIG))] {
            let r = copy(&a, size);
            assert_eq!(r.result.as_ref().err().and_then(Error::errno), errno, "size {size}");
            assert_eq!(r.size_written_back, errno.map(|_| 136));
        }
        // size 0 is VER0
        let mut b = a.to_bytes(64);
        b[4..8].copy_from_slice(&0u32.to_le_bytes());
        let r0 = perf_copy_attr(&b, &Sysctls::default(), &Caller::root());
        assert_eq!(r0.result.unwrap().size, 64);
        // a non-zero byte past 136 is E2BIG
        let mut big = a.to_bytes(200);
        big[4..8].copy_from_slice(&200u32.to_le_bytes());
        big[150] = 1;
        let r = perf_copy_attr(&big, &Sysctls::default(), &Caller::root());
        assert_eq!(r.result.unwrap_err().errno(), Some(Errno::E2BIG));
        assert_eq!(r.size_written_back, Some(136));
    }

    #[test]
    fn regs_mask_rules() {
        assert!(perf_reg_validate("sample_regs_user", 1 << PERF_REG_X86_IP).is_ok());
        assert!(perf_reg_validate("sample_regs_user", 1 << 63).is_ok(), "XMM bits pass validation");
        for bit in [12, 13, 14, 15, 24, 30, 31] {
            assert!(perf_reg_validate("sample_regs_user", 1 << bit).is_err(), "bit {bit}");
        }
        assert!(perf_reg_validate("sample_regs_user", 0).is_err());
    }

    #[test]
    fn later_errors_win_over_a_bad_regs_intr_mask() {
        let mut a = PerfEventAttr::new();
        a.sample_type = PERF_SAMPLE_REGS_INTR;
        a.sample_regs_intr = 1 << 30;
        assert_eq!(copy(&a, 136).result.unwrap_err().errno(), Some(Errno::EINVAL));
        a.set_flag(AttrFlag::InheritThread, true);
        let e = copy(&a, 136).result.unwrap_err();
        assert!(e.to_string().contains("inherit_thread"), "{e}");
    }
}
