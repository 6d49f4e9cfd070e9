//! Capture replay (`marketprism_exchanges::capture::replay`): arbitrary capture files,
//! i.e. JSON lines naming venues, connections, frames, REST bodies and instrument lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketprism_exchanges::capture::replay;

fuzz_target!(|data: &[u8]| {
    let mut events = 0u64;
    let mut errors = 0u64;
    if let Ok(stats) = replay(data, Some(20), |_| events += 1, |_, _| errors += 1) {
        assert_eq!(stats.events, events);
        assert_eq!(stats.errors, errors);
    }
});
