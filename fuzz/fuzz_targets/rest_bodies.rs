//! REST bodies: instrument lists (`Exchange::parse_instruments`) and every polled or
//! snapshot body kind (`Normalizer::on_rest`) of every venue. The first byte picks the venue
//! and the request; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketprism_exchanges::{Output, Venue};
use marketprism_fuzz::{LOCAL_TS, instruments, rest_kind};

const KINDS: [&str; 5] = ["snap", "oi", "lsr", "fund", "vol"];
// Symbols present in the instrument tables (one per venue), and one that is not.
const SYMBOLS: [&str; 6] = [
    "BTCUSDT",
    "BTCUSD_PERP",
    "BTC-USDT",
    "BTC-PERPETUAL",
    "BTC",
    "NOPE",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let venue = Venue::ALL[usize::from(sel) % Venue::ALL.len()];
    let exchange = venue.as_exchange();
    let op = usize::from(sel) / Venue::ALL.len();
    if op % 7 == 6 {
        if let Ok(list) = exchange.parse_instruments(body) {
            for i in &list {
                // Parsed instruments must be usable: a symbol and a native symbol.
                assert!(
                    !i.native_symbol.as_str().is_empty(),
                    "{venue}: empty native symbol"
                );
            }
        }
        return;
    }
    let kind = rest_kind(KINDS[op % 5], SYMBOLS[(op / 5) % SYMBOLS.len()])
        .unwrap_or_else(|| unreachable!("known kind"));
    let mut n = exchange.normalizer(instruments(venue).clone(), Some(20));
    let mut out = Output::new();
    let _ = n.on_rest(&kind, body, LOCAL_TS, &mut out);
});
