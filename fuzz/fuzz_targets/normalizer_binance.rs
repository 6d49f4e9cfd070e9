//! Binance spot / USDⓈ-M / COIN-M normalizers fed a script of raw frames and REST bodies
//! (see the fuzz crate docs). The first byte picks the venue and the book depth.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketprism_exchanges::Venue;
use marketprism_fuzz::{depth_of, drive};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, script)) = data.split_first() else {
        return;
    };
    let venue = [Venue::BinanceSpot, Venue::BinanceUsdm, Venue::BinanceCoinm][usize::from(sel % 3)];
    drive(venue, depth_of(sel / 3), script);
});
