//! The instrument table of one venue: native ⇄ normalized symbol mapping, loaded from the
//! exchange's instrument endpoint.

use std::{collections::HashMap, sync::Arc};

/// A map keyed by short exchange strings (symbols), looked up on every frame: foldhash is
/// several times cheaper than SipHash on such keys and still randomly seeded per map.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use marketprism_core::model::{Instrument, TimestampNs};

/// Instruments of one venue, looked up by native or normalized symbol.
///
/// ```
/// use marketprism_core::model::{ExchangeId, Instrument, MarketType};
/// use marketprism_exchanges::InstrumentMap;
/// let map = InstrumentMap::from_iter([
///     Instrument::new(ExchangeId::OKX, MarketType::Perpetual, "BTC-USDT-SWAP", "BTC", "USDT"),
/// ]);
/// assert_eq!(map.by_native("BTC-USDT-SWAP").map(|i| i.symbol.as_str()), Some("BTC-USDT-PERP"));
/// assert_eq!(map.by_symbol("BTC-USDT-PERP").map(|i| i.native_symbol.as_str()), Some("BTC-USDT-SWAP"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct InstrumentMap {
    by_native: FastMap<Box<str>, Arc<Instrument>>,
    by_symbol: FastMap<Box<str>, Arc<Instrument>>,
}

impl InstrumentMap {
    /// An empty map.
    pub fn new() -> Self {
        InstrumentMap::default()
    }

    /// Adds or replaces an instrument.
    pub fn insert(&mut self, instrument: Instrument) {
        let instrument = Arc::new(instrument);
        if let Some(old) = self.by_native.insert(
            instrument.native_symbol.as_str().into(),
            Arc::clone(&instrument),
        ) {
            self.by_symbol.remove(old.symbol.as_str());
        }
        self.by_symbol
            .insert(instrument.symbol.as_str().into(), instrument);
    }

    /// Looks up by the exchange's symbol (exact case).
    #[inline]
    pub fn by_native(&self, native: &str) -> Option<&Arc<Instrument>> {
        self.by_native.get(native)
    }

    /// Looks up by normalized symbol.
    pub fn by_symbol(&self, symbol: &str) -> Option<&Arc<Instrument>> {
        self.by_symbol.get(symbol)
    }

    /// Removes instruments expired at `now` (ns), returning them.
    pub fn remove_expired(&mut self, now: TimestampNs) -> Vec<Arc<Instrument>> {
        let expired: Vec<Arc<Instrument>> = self
            .by_native
            .values()
            .filter(|i| i.is_expired(now))
            .cloned()
            .collect();
        for i in &expired {
            self.by_native.remove(i.native_symbol.as_str());
            self.by_symbol.remove(i.symbol.as_str());
        }
        expired
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.by_native.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_native.is_empty()
    }

    /// All instruments, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Instrument>> {
        self.by_native.values()
    }
}

impl FromIterator<Instrument> for InstrumentMap {
    fn from_iter<T: IntoIterator<Item = Instrument>>(iter: T) -> Self {
        let mut map = InstrumentMap::new();
        for i in iter {
            map.insert(i);
        }
        map
    }
}

impl Extend<Instrument> for InstrumentMap {
    fn extend<T: IntoIterator<Item = Instrument>>(&mut self, iter: T) {
        for i in iter {
            self.insert(i);
        }
    }
}
