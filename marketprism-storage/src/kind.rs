//! [`EventKind`]: the event types as a closed enum, one table / key space each.

use marketprism_core::model::MarketEvent;

use crate::StorageError;

/// The type of a [`MarketEvent`], as stored: one ClickHouse table, one embedded key range and
/// (for hot types) one Redis key family per kind. The string form equals [`MarketEvent::kind`].
///
/// ```
/// use marketprism_storage::EventKind;
/// let k: EventKind = "book_delta".parse()?;
/// assert_eq!(k, EventKind::BookDelta);
/// assert_eq!(k.as_str(), "book_delta");
/// assert!("nonsense".parse::<EventKind>().is_err());
/// # Ok::<_, marketprism_storage::StorageError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// [`MarketEvent::Trade`].
    Trade,
    /// [`MarketEvent::BookSnapshot`].
    BookSnapshot,
    /// [`MarketEvent::BookDelta`].
    BookDelta,
    /// [`MarketEvent::Bbo`].
    Bbo,
    /// [`MarketEvent::Ticker`].
    Ticker,
    /// [`MarketEvent::FundingRate`].
    FundingRate,
    /// [`MarketEvent::MarkPrice`].
    MarkPrice,
    /// [`MarketEvent::OpenInterest`].
    OpenInterest,
    /// [`MarketEvent::Liquidation`].
    Liquidation,
    /// [`MarketEvent::LongShortRatio`].
    LongShortRatio,
    /// [`MarketEvent::OptionSummary`].
    OptionSummary,
    /// [`MarketEvent::VolatilityIndex`].
    VolatilityIndex,
    /// [`MarketEvent::Kline`].
    Kline,
    /// [`MarketEvent::Status`].
    Status,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 14] = [
        EventKind::Trade,
        EventKind::BookSnapshot,
        EventKind::BookDelta,
        EventKind::Bbo,
        EventKind::Ticker,
        EventKind::FundingRate,
        EventKind::MarkPrice,
        EventKind::OpenInterest,
        EventKind::Liquidation,
        EventKind::LongShortRatio,
        EventKind::OptionSummary,
        EventKind::VolatilityIndex,
        EventKind::Kline,
        EventKind::Status,
    ];

    /// The kind of `event`.
    pub fn of(event: &MarketEvent) -> EventKind {
        match event {
            MarketEvent::Trade(_) => EventKind::Trade,
            MarketEvent::BookSnapshot(_) => EventKind::BookSnapshot,
            MarketEvent::BookDelta(_) => EventKind::BookDelta,
            MarketEvent::Bbo(_) => EventKind::Bbo,
            MarketEvent::Ticker(_) => EventKind::Ticker,
            MarketEvent::FundingRate(_) => EventKind::FundingRate,
            MarketEvent::MarkPrice(_) => EventKind::MarkPrice,
            MarketEvent::OpenInterest(_) => EventKind::OpenInterest,
            MarketEvent::Liquidation(_) => EventKind::Liquidation,
            MarketEvent::LongShortRatio(_) => EventKind::LongShortRatio,
            MarketEvent::OptionSummary(_) => EventKind::OptionSummary,
            MarketEvent::VolatilityIndex(_) => EventKind::VolatilityIndex,
            MarketEvent::Kline(_) => EventKind::Kline,
            MarketEvent::Status(_) => EventKind::Status,
        }
    }

    /// The name, equal to [`MarketEvent::kind`].
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Trade => "trade",
            EventKind::BookSnapshot => "book_snapshot",
            EventKind::BookDelta => "book_delta",
            EventKind::Bbo => "bbo",
            EventKind::Ticker => "ticker",
            EventKind::FundingRate => "funding_rate",
            EventKind::MarkPrice => "mark_price",
            EventKind::OpenInterest => "open_interest",
            EventKind::Liquidation => "liquidation",
            EventKind::LongShortRatio => "long_short_ratio",
            EventKind::OptionSummary => "option_summary",
            EventKind::VolatilityIndex => "volatility_index",
            EventKind::Kline => "kline",
            EventKind::Status => "status",
        }
    }

    /// A stable one-byte tag (embedded store key prefix).
    pub const fn tag(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Plural and legacy aliases used by the storage HTTP API.
        let s = match s {
            "trades" => "trade",
            "tickers" => "ticker",
            "funding" | "funding_rates" => "funding_rate",
            "orderbook" | "orderbooks" | "book" => "book_snapshot",
            other => other,
        };
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StorageError::InvalidInput {
                field: "type",
                message: format!("unknown event type `{s}`"),
            })
    }
}
