//! The Deribit normalizer fed a script of raw frames and REST bodies (see the fuzz crate
//! docs). The first byte picks the book depth.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketprism_exchanges::Venue;
use marketprism_fuzz::{depth_of, drive};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, script)) = data.split_first() else {
        return;
    };
    drive(Venue::Deribit, depth_of(sel), script);
});
