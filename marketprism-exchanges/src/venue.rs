//! Venues (an exchange's API family) and channels.

use marketprism_core::model::ExchangeId;
use serde::{Deserialize, Serialize};

/// An exchange API family with its own endpoints, limits and instrument list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

    /// Kebab-case name (`binance-spot`, `binance-usdm`, `binance-coinm`, `okx`, `deribit`).
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
