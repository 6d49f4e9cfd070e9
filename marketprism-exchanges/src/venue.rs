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
    #[cfg(feature = "binance")]
    #[cfg_attr(docsrs, doc(cfg(feature = "binance")))]
    BinanceSpot,
    /// Binance USDⓈ-M futures (`fapi.binance.com`, `fstream.binance.com`).
    #[cfg(feature = "binance")]
    #[cfg_attr(docsrs, doc(cfg(feature = "binance")))]
    BinanceUsdm,
    /// Binance COIN-M futures (`dapi.binance.com`, `dstream.binance.com`).
    #[cfg(feature = "binance")]
    #[cfg_attr(docsrs, doc(cfg(feature = "binance")))]
    BinanceCoinm,
    /// OKX v5: spot, swap, futures and options share one API.
    #[cfg(feature = "okx")]
    #[cfg_attr(docsrs, doc(cfg(feature = "okx")))]
    Okx,
    /// Deribit v2: futures, perpetuals and options.
    #[cfg(feature = "deribit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deribit")))]
    Deribit,
}

/// How many venues the enabled features build in.
const VENUE_COUNT: usize = 3 * cfg!(feature = "binance") as usize
    + cfg!(feature = "okx") as usize
    + cfg!(feature = "deribit") as usize;

impl Venue {
    /// All venues the enabled features (`binance`, `okx`, `deribit`) build in.
    pub const ALL: [Venue; VENUE_COUNT] = [
        #[cfg(feature = "binance")]
        Venue::BinanceSpot,
        #[cfg(feature = "binance")]
        Venue::BinanceUsdm,
        #[cfg(feature = "binance")]
        Venue::BinanceCoinm,
        #[cfg(feature = "okx")]
        Venue::Okx,
        #[cfg(feature = "deribit")]
        Venue::Deribit,
    ];

    /// The exchange this venue belongs to.
    pub const fn exchange(self) -> ExchangeId {
        match self {
            #[cfg(feature = "binance")]
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => ExchangeId::BINANCE,
            #[cfg(feature = "okx")]
            Venue::Okx => ExchangeId::OKX,
            #[cfg(feature = "deribit")]
            Venue::Deribit => ExchangeId::DERIBIT,
        }
    }

    /// The venue's [`Exchange`](crate::Exchange) implementation.
    pub fn as_exchange(self) -> &'static dyn crate::Exchange {
        match self {
            #[cfg(feature = "binance")]
            Venue::BinanceSpot => &crate::binance::BinanceSpot,
            #[cfg(feature = "binance")]
            Venue::BinanceUsdm => &crate::binance::BinanceUsdm,
            #[cfg(feature = "binance")]
            Venue::BinanceCoinm => &crate::binance::BinanceCoinm,
            #[cfg(feature = "okx")]
            Venue::Okx => &crate::okx::Okx,
            #[cfg(feature = "deribit")]
            Venue::Deribit => &crate::deribit::Deribit,
        }
    }

    /// Kebab-case name (the [`Exchange::name`](crate::Exchange::name) of the venue:
    /// `binance-spot`, `binance-usdm`, `binance-coinm`, `okx`, `deribit`).
    pub const fn as_str(self) -> &'static str {
        match self {
            #[cfg(feature = "binance")]
            Venue::BinanceSpot => "binance-spot",
            #[cfg(feature = "binance")]
            Venue::BinanceUsdm => "binance-usdm",
            #[cfg(feature = "binance")]
            Venue::BinanceCoinm => "binance-coinm",
            #[cfg(feature = "okx")]
            Venue::Okx => "okx",
            #[cfg(feature = "deribit")]
            Venue::Deribit => "deribit",
        }
    }
}

impl From<Venue> for Arc<dyn crate::Exchange> {
    fn from(venue: Venue) -> Self {
        match venue {
            #[cfg(feature = "binance")]
            Venue::BinanceSpot => Arc::new(crate::binance::BinanceSpot),
            #[cfg(feature = "binance")]
            Venue::BinanceUsdm => Arc::new(crate::binance::BinanceUsdm),
            #[cfg(feature = "binance")]
            Venue::BinanceCoinm => Arc::new(crate::binance::BinanceCoinm),
            #[cfg(feature = "okx")]
            Venue::Okx => Arc::new(crate::okx::Okx),
            #[cfg(feature = "deribit")]
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
