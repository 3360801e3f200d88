//! Bad input never panics: random bytes as attrs (any length, any size field) through the whole
//! perf_event_open() model, with random pid/cpu/flags, always end in Ok or a kernel errno; and
//! E2BIG is exactly when the kernel would write the size back.

use perfcore::abi::attr::PerfEventAttr;
use perfcore::{Errno, Machine, MachineConfig};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                pid in prop_oneof![Just(-1), Just(0), any::<i32>()],
                                cpu in prop_oneof![Just(-1), Just(0), any::<i32>()],
                                flags in prop_oneof![Just(0u64), any::<u64>()]) {
        let mut m = Machine::new(MachineConfig::default()).unwrap();
        let mut user = bytes.clone();
        match m.perf_event_open(&mut user, pid, cpu, None, flags) {
            Ok(id) => prop_assert!(m.events.contains(id)),
            Err(e) => {
                let errno = e.errno();
                prop_assert!(errno.is_some(), "non-kernel error {e}");
                let written = user.len() >= 8 && user[4..8] != bytes[4..8];
                if written {
                    prop_assert_eq!(errno, Some(Errno::E2BIG));
                    prop_assert_eq!(u32::from_le_bytes(user[4..8].try_into().unwrap()), 136);
                }
            }
        }
    }

    #[test]
    fn valid_sizes_of_a_zero_attr_open(size_idx in 0usize..9) {
        let size = perfcore::abi::attr::PERF_ATTR_SIZES[size_idx];
        let mut a = PerfEventAttr::new();
        a.type_ = perfcore::abi::types::PERF_TYPE_SOFTWARE;
        a.config = perfcore::abi::types::PERF_COUNT_SW_DUMMY;
        a.size = size;
        let mut m = Machine::new(MachineConfig::default()).unwrap();
        let mut user = a.to_bytes(size as usize);
        prop_assert!(m.perf_event_open(&mut user, 0, -1, None, 0).is_ok());
    }
}
