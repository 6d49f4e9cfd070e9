//! The built-in venues (an exchange's API family) and channels.

use std::sync::Arc;

use marketprism_core::model::ExchangeId;
use serde::{Deserialize, Serialize};

/// The built-in venues, a convenience over their [`Exchange`](crate::Exchange)
/// implementations: `Venue::Okx.into()` is an `Arc<dyn Exchange>`, so
/// `.subscribe(Venue::BinanceSpot, ..)` works wherever an exchange is expected. A venue of
/// your own implements [`Exchange`](crate::Exchange) instead; it is not added here.
///
/// ```
/// use std::sync::Arc;
/// use marketprism_exchanges::{Exchange, Venue};
/// let okx: Arc<dyn Exchange> = Venue::Okx.into();
/// assert_eq!(okx.name(), Venue::Okx.as_str());
/// assert_eq!(Venue::Deribit.as_exchange().name(), "deribit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Venue {
    /// Binance spot (`api.binance.com`, `stream.binance.com`).
    BinanceSpot,
    /// Binance USDⓈ-M futures (`fapi.binance.com`, `fstream.binance.com`).
    BinanceUsdm,
    /// Binance COIN-M futures (`dapi.binance.com`, `dstream.binance.com`).
    BinanceCoinm,
    /// OKX v5: spot, swap, futures and options share one API.
    Okx,
    /// Deribit v2: futures, perpetuals and options.
    Deribit,
}

impl Venue {
    /// All venues.
    pub const ALL: [Venue; 5] = [
        Venue::BinanceSpot,
        Venue::BinanceUsdm,
        Venue::BinanceCoinm,
        Venue::Okx,
        Venue::Deribit,
    ];

    /// The exchange this venue belongs to.
    pub const fn exchange(self) -> ExchangeId {
        match self {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => ExchangeId::BINANCE,
            Venue::Okx => ExchangeId::OKX,
            Venue::Deribit => ExchangeId::DERIBIT,
        }
    }

    /// The venue's [`Exchange`](crate::Exchange) implementation.
    pub fn as_exchange(self) -> &'static dyn crate::Exchange {
        match self {
            Venue::BinanceSpot => &crate::binance::BinanceSpot,
            Venue::BinanceUsdm => &crate::binance::BinanceUsdm,
            Venue::BinanceCoinm => &crate::binance::BinanceCoinm,
            Venue::Okx => &crate::okx::Okx,
            Venue::Deribit => &crate::deribit::Deribit,
        }
    }

    /// Kebab-case name (the [`Exchange::name`](crate::Exchange::name) of the venue:
    /// `binance-spot`, `binance-usdm`, `binance-coinm`, `okx`, `deribit`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "binance-spot",
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BinanceCoinm => "binance-coinm",
            Venue::Okx => "okx",
            Venue::Deribit => "deribit",
        }
    }
}

impl From<Venue> for Arc<dyn crate::Exchange> {
    fn from(venue: Venue) -> Self {
        match venue {
            Venue::BinanceSpot => Arc::new(crate::binance::BinanceSpot),
            Venue::BinanceUsdm => Arc::new(crate::binance::BinanceUsdm),
            Venue::BinanceCoinm => Arc::new(crate::binance::BinanceCoinm),
            Venue::Okx => Arc::new(crate::okx::Okx),
            Venue::Deribit => Arc::new(crate::deribit::Deribit),
        }
    }
}

impl std::fmt::Display for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Venue {
    type Err = marketprism_core::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Venue::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| marketprism_core::Error::UnknownName {
                what: "venue",
                name: s.to_owned(),
            })
    }
}

/// A kind of market data one can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// Public trades.
    Trades,
    /// L2 order book, maintained locally from snapshot + deltas.
    Book,
    /// Best bid/offer.
    Bbo,
    /// 24 h ticker.
    Ticker,
    /// Funding rate (with mark/index where given).
    Funding,
    /// Mark/index price.
    MarkPrice,
    /// Open interest.
    OpenInterest,
    /// Liquidations.
    Liquidations,
    /// Long/short ratios.
    LongShortRatio,
    /// Option summary (IV, greeks).
    OptionSummary,
    /// Volatility index (DVOL).
    VolatilityIndex,
    /// Klines / candles.
    Kline,
}

impl Channel {
    /// All channels.
    pub const ALL: [Channel; 12] = [
        Channel::Trades,
        Channel::Book,
        Channel::Bbo,
        Channel::Ticker,
        Channel::Funding,
        Channel::MarkPrice,
        Channel::OpenInterest,
        Channel::Liquidations,
        Channel::LongShortRatio,
        Channel::OptionSummary,
        Channel::VolatilityIndex,
        Channel::Kline,
    ];
}
