//! Access to every `perf_event_attr` field by its uapi name (used by the Python `Attr` and by
//! scenario files): numeric fields, union aliases, one-bit flags, `precise_ip` and the
//! `aux_action` bits. Values are range-checked against the field's C width.

use super::attr::{PerfEventAttr, AUX_PAUSE, AUX_RESUME, AUX_START_PAUSED};
use super::AttrFlag;
use crate::{Error, Result};

/// Every settable name: numeric fields and aliases, then flags.
pub fn field_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = NUMERIC.iter().map(|(n, _)| *n).collect();
    v.extend(AttrFlag::ALL.iter().map(|(_, n, _)| *n));
    v.extend(["precise_ip", "aux_start_paused", "aux_pause", "aux_resume"]);
    v
}

/// Numeric fields with their width in bits.
const NUMERIC: &[(&str, u32)] = &[
    ("type", 32),
    ("size", 32),
    ("config", 64),
    ("sample_period", 64),
    ("sample_freq", 64),
    ("sample_type", 64),
    ("read_format", 64),
    ("flags", 64),
    ("wakeup_events", 32),
    ("wakeup_watermark", 32),
    ("bp_type", 32),
    ("config1", 64),
    ("bp_addr", 64),
    ("config2", 64),
    ("bp_len", 64),
    ("branch_sample_type", 64),
    ("sample_regs_user", 64),
    ("sample_stack_user", 32),
    ("clockid", 32),
    ("sample_regs_intr", 64),
    ("aux_watermark", 32),
    ("sample_max_stack", 16),
    ("__reserved_2", 16),
    ("aux_sample_size", 32),
    ("aux_action", 32),
    ("sig_data", 64),
    ("config3", 64),
];

impl PerfEventAttr {
    /// Read a field by name (`clockid` as its 32-bit two's complement pattern).
    pub fn get_field(&self, name: &str) -> Result<u64> {
        if let Some(f) = AttrFlag::from_name(name) {
            return Ok(u64::from(self.flag(f)));
        }
        Ok(match name {
            "type" => u64::from(self.type_),
            "size" => u64::from(self.size),
            "config" => self.config,
            "sample_period" | "sample_freq" => self.sample_period,
            "sample_type" => self.sample_type,
            "read_format" => self.read_format,
            "flags" => self.flags,
            "wakeup_events" | "wakeup_watermark" => u64::from(self.wakeup_events),
            "bp_type" => u64::from(self.bp_type),
            "config1" | "bp_addr" => self.config1,
            "config2" | "bp_len" => self.config2,
            "branch_sample_type" => self.branch_sample_type,
            "sample_regs_user" => self.sample_regs_user,
            "sample_stack_user" => u64::from(self.sample_stack_user),
            "clockid" => u64::from(self.clockid as u32),
            "sample_regs_intr" => self.sample_regs_intr,
            "aux_watermark" => u64::from(self.aux_watermark),
            "sample_max_stack" => u64::from(self.sample_max_stack),
            "__reserved_2" => u64::from(self.reserved_2),
            "aux_sample_size" => u64::from(self.aux_sample_size),
            "aux_action" => u64::from(self.aux_action),
            "sig_data" => self.sig_data,
            "config3" => self.config3,
            "precise_ip" => u64::from(self.precise_ip()),
            "aux_start_paused" => u64::from(self.aux_start_paused()),
            "aux_pause" => u64::from(self.aux_pause()),
            "aux_resume" => u64::from(self.aux_resume()),
            _ => return Err(unknown(name)),
        })
    }

    /// Set a field by name; the value must fit the field's C width (flags take 0 or 1,
    /// `precise_ip` 0-3, `clockid` any value of an `s32` or its `u32` pattern).
    pub fn set_field(&mut self, name: &str, value: i128) -> Result<()> {
        let fits = |bits: u32| -> Result<u64> {
            let max = if bits == 64 { u64::MAX as i128 } else { (1i128 << bits) - 1 };
            if value < 0 || value > max {
                Err(Error::Usage(format!("attr.{name} = {value} does not fit in {bits} unsigned bits")))
            } else {
                Ok(value as u64)
            }
        };
        if let Some(f) = AttrFlag::from_name(name) {
            let v = fits(1)?;
            self.set_flag(f, v == 1);
            return Ok(());
        }
        match name {
            "clockid" => {
                if value < i128::from(i32::MIN) || value > i128::from(u32::MAX) {
                    return Err(Error::Usage(format!("attr.clockid = {value} does not fit in 32 bits")));
                }
                self.clockid = (value as i64) as i32;
                return Ok(());
            }
            "precise_ip" => {
                let v = fits(2)?;
                self.set_precise_ip(v as u8);
                return Ok(());
            }
            "aux_start_paused" | "aux_pause" | "aux_resume" => {
                let bit = match name {
                    "aux_start_paused" => AUX_START_PAUSED,
                    "aux_pause" => AUX_PAUSE,
                    _ => AUX_RESUME,
                };
                if fits(1)? == 1 {
                    self.aux_action |= bit;
                } else {
                    self.aux_action &= !bit;
                }
                return Ok(());
            }
            _ => {}
        }
        let bits = NUMERIC.iter().find(|(n, _)| *n == name).map(|(_, b)| *b).ok_or_else(|| unknown(name))?;
        let v = fits(bits)?;
        match name {
            "type" => self.type_ = v as u32,
            "size" => self.size = v as u32,
            "config" => self.config = v,
            "sample_period" | "sample_freq" => self.sample_period = v,
            "sample_type" => self.sample_type = v,
            "read_format" => self.read_format = v,
            "flags" => self.flags = v,
            "wakeup_events" | "wakeup_watermark" => self.wakeup_events = v as u32,
            "bp_type" => self.bp_type = v as u32,
            "config1" | "bp_addr" => self.config1 = v,
            "config2" | "bp_len" => self.config2 = v,
            "branch_sample_type" => self.branch_sample_type = v,
            "sample_regs_user" => self.sample_regs_user = v,
            "sample_stack_user" => self.sample_stack_user = v as u32,
            "sample_regs_intr" => self.sample_regs_intr = v,
            "aux_watermark" => self.aux_watermark = v as u32,
            "sample_max_stack" => self.sample_max_stack = v as u16,
            "__reserved_2" => self.reserved_2 = v as u16,
            "aux_sample_size" => self.aux_sample_size = v as u32,
            "aux_action" => self.aux_action = v as u32,
            "sig_data" => self.sig_data = v,
            "config3" => self.config3 = v,
            _ => return Err(unknown(name)),
        }
        Ok(())
    }
}

fn unknown(name: &str) -> Error {
    Error::Usage(format!("perf_event_attr has no field {name:?} (known: {})", field_names().join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_width_is_enforced() {
        for name in field_names() {
            let mut a = PerfEventAttr::new();
            let one = if name == "size" { 64 } else { 1 };
            a.set_field(name, one).unwrap();
            assert_eq!(a.get_field(name).unwrap(), one as u64, "{name}");
        }
        let mut a = PerfEventAttr::new();
        assert!(a.set_field("sample_max_stack", 65536).is_err());
        assert!(a.set_field("disabled", 2).is_err());
        assert!(a.set_field("precise_ip", 4).is_err());
        assert!(a.set_field("config", -1).is_err());
        a.set_field("clockid", -1).unwrap();
        assert_eq!(a.clockid, -1);
        assert!(a.set_field("nonsense", 0).unwrap_err().to_string().contains("nonsense"));
    }

    #[test]
    fn aliases_share_the_union_slot() {
        let mut a = PerfEventAttr::new();
        a.set_field("sample_freq", 4000).unwrap();
        assert_eq!(a.sample_period, 4000);
        a.set_field("wakeup_watermark", 8192).unwrap();
        assert_eq!(a.get_field("wakeup_events").unwrap(), 8192);
        a.set_field("aux_pause", 1).unwrap();
        assert_eq!(a.aux_action, AUX_PAUSE);
    }
}
