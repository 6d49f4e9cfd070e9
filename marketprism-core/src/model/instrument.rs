use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ExchangeId, MarketType, Symbol, TimestampNs, normalized_symbol};

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    /// Call option.
    Call,
    /// Put option.
    Put,
}

/// A tradable instrument as an exchange lists it, with its native and normalized symbols.
///
/// Instruments are loaded from each exchange's instrument endpoint; there are no hand-written
/// symbol tables. [`Instrument::new`] derives the normalized symbol from the parts.
///
/// ```
/// use marketprism_core::model::{ExchangeId, Instrument, MarketType};
/// use rust_decimal::Decimal;
/// let btc = Instrument::new(ExchangeId::OKX, MarketType::Perpetual, "BTC-USDT-SWAP", "BTC", "USDT")
///     .with_settle("USDT")
///     .with_tick_size(Decimal::new(1, 1))
///     .with_contract_size(Decimal::new(1, 2));
/// assert_eq!(btc.symbol.as_str(), "BTC-USDT-PERP");
/// assert_eq!(btc.native_symbol, "BTC-USDT-SWAP");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Exchange that lists it.
    pub exchange: ExchangeId,
    /// Market type (spot, perpetual, future, option, index).
    pub market: MarketType,
    /// The exchange's own name (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC-PERPETUAL`).
    pub native_symbol: String,
    /// The normalized name (`BTC-USDT`, `BTC-USDT-PERP`, ...).
    pub symbol: Symbol,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// Settlement asset for derivatives.
    pub settle: Option<String>,
    /// Minimum price increment.
    pub tick_size: Option<Decimal>,
    /// Minimum size increment.
    pub lot_size: Option<Decimal>,
    /// Contract multiplier/value for derivatives.
    pub contract_size: Option<Decimal>,
    /// Expiry (ns) for futures and options.
    pub expiry: Option<TimestampNs>,
    /// Strike for options.
    pub strike: Option<Decimal>,
    /// Call or put for options.
    pub option_type: Option<OptionType>,
}

impl Instrument {
    /// A new instrument with the normalized symbol derived from its parts.
    ///
    /// ```
    /// use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// let i = Instrument::new(ExchangeId::BINANCE, MarketType::Spot, "BTCUSDT", "BTC", "USDT");
    /// assert_eq!(i.symbol.as_str(), "BTC-USDT");
    /// ```
    pub fn new(
        exchange: ExchangeId,
        market: MarketType,
        native_symbol: impl Into<String>,
        base: impl Into<String>,
        quote: impl Into<String>,
    ) -> Self {
        let base = base.into();
        let quote = quote.into();
        let symbol = Symbol::from(normalized_symbol(market, &base, &quote, None, None, None));
        Instrument {
            exchange,
            market,
            native_symbol: native_symbol.into(),
            symbol,
            base,
            quote,
            settle: None,
            tick_size: None,
            lot_size: None,
            contract_size: None,
            expiry: None,
            strike: None,
            option_type: None,
        }
    }

    fn renormalize(mut self) -> Self {
        self.symbol = Symbol::from(normalized_symbol(
            self.market,
            &self.base,
            &self.quote,
            self.expiry,
            self.strike,
            self.option_type,
        ));
        self
    }

    /// Sets the settlement asset.
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// let i = Instrument::new(ExchangeId::BINANCE, MarketType::Perpetual, "BTCUSD_PERP", "BTC", "USD").with_settle("BTC");
    /// assert_eq!(i.settle.as_deref(), Some("BTC"));
    /// ```
    pub fn with_settle(mut self, settle: impl Into<String>) -> Self {
        self.settle = Some(settle.into());
        self
    }

    /// Sets the tick size.
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// # use rust_decimal::Decimal;
    /// let i = Instrument::new(ExchangeId::BINANCE, MarketType::Spot, "BTCUSDT", "BTC", "USDT").with_tick_size(Decimal::new(1, 2));
    /// assert_eq!(i.tick_size, Some(Decimal::new(1, 2)));
    /// ```
    pub fn with_tick_size(mut self, tick: Decimal) -> Self {
        self.tick_size = Some(tick);
        self
    }

    /// Sets the lot (size increment).
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// # use rust_decimal::Decimal;
    /// let i = Instrument::new(ExchangeId::BINANCE, MarketType::Spot, "BTCUSDT", "BTC", "USDT").with_lot_size(Decimal::new(1, 5));
    /// assert_eq!(i.lot_size, Some(Decimal::new(1, 5)));
    /// ```
    pub fn with_lot_size(mut self, lot: Decimal) -> Self {
        self.lot_size = Some(lot);
        self
    }

    /// Sets the contract size (multiplier).
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// # use rust_decimal::Decimal;
    /// let i = Instrument::new(ExchangeId::OKX, MarketType::Perpetual, "BTC-USD-SWAP", "BTC", "USD").with_contract_size(Decimal::new(100, 0));
    /// assert_eq!(i.contract_size, Some(Decimal::new(100, 0)));
    /// ```
    pub fn with_contract_size(mut self, size: Decimal) -> Self {
        self.contract_size = Some(size);
        self
    }

    /// Sets the expiry (ns) and re-derives the normalized symbol.
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// let i = Instrument::new(ExchangeId::DERIBIT, MarketType::Future, "BTC-25DEC26", "BTC", "USD")
    ///     .with_expiry(Instrument::date_ns(2026, 12, 25) + 8 * 3_600_000_000_000);
    /// assert_eq!(i.symbol.as_str(), "BTC-USD-20261225");
    /// ```
    pub fn with_expiry(mut self, expiry: TimestampNs) -> Self {
        self.expiry = Some(expiry);
        self.renormalize()
    }

    /// Sets strike and option type and re-derives the normalized symbol.
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType, OptionType};
    /// # use rust_decimal::Decimal;
    /// let i = Instrument::new(ExchangeId::OKX, MarketType::Option, "BTC-USD-261225-60000-C", "BTC", "USD")
    ///     .with_expiry(Instrument::date_ns(2026, 12, 25))
    ///     .with_option(Decimal::new(60000, 0), OptionType::Call);
    /// assert_eq!(i.symbol.as_str(), "BTC-USD-20261225-60000-C");
    /// ```
    pub fn with_option(mut self, strike: Decimal, option_type: OptionType) -> Self {
        self.strike = Some(strike);
        self.option_type = Some(option_type);
        self.renormalize()
    }

    /// Nanoseconds at 00:00 UTC of a calendar date (for expiry codes such as `261225`/`25DEC26`).
    ///
    /// ```
    /// use marketprism_core::model::Instrument;
    /// assert_eq!(Instrument::date_ns(1970, 1, 2), 86_400_000_000_000);
    /// ```
    pub fn date_ns(year: i64, month: u32, day: u32) -> TimestampNs {
        super::symbol::date_to_ns(year, month, day)
    }

    /// True when the instrument has expired at `now` (ns).
    ///
    /// ```
    /// # use marketprism_core::model::{ExchangeId, Instrument, MarketType};
    /// let i = Instrument::new(ExchangeId::DERIBIT, MarketType::Future, "BTC-1JAN70", "BTC", "USD").with_expiry(0);
    /// assert!(i.is_expired(1));
    /// ```
    pub fn is_expired(&self, now: TimestampNs) -> bool {
        self.expiry.is_some_and(|e| e <= now)
    }
}
