//! [`EventKind`]: the type of a [`MarketEvent`] without its payload.

use serde::{Deserialize, Serialize};

use super::MarketEvent;

/// The type of a [`MarketEvent`]: its JSON `type` tag, one storage table / key space each.
/// New kinds may be added, so matches need a wildcard arm.
///
/// ```
/// use marketprism_core::model::{EventKind, MarketEvent};
/// let k: EventKind = "book_delta".parse()?;
/// assert_eq!(k, EventKind::BookDelta);
/// assert_eq!(k.as_str(), "book_delta");
/// assert_eq!(k, "book_delta");
/// assert!("nonsense".parse::<EventKind>().is_err());
/// assert_eq!(EventKind::ALL.len(), 14);
/// # Ok::<_, marketprism_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// Every kind, in a stable order (that of [`EventKind::tag`]).
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

    /// The kind of `event`; the same as [`MarketEvent::kind`].
    pub fn of(event: &MarketEvent) -> EventKind {
        event.kind()
    }

    /// The name: the JSON `type` tag of [`MarketEvent`].
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

    /// A stable one-byte tag: the position in [`EventKind::ALL`] (storage key prefixes, table
    /// indexes). New kinds get new tags; existing tags never change.
    ///
    /// ```
    /// use marketprism_core::model::EventKind;
    /// assert!(EventKind::ALL.iter().enumerate().all(|(i, k)| usize::from(k.tag()) == i));
    /// ```
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
    type Err = crate::Error;
    /// The exact name, as [`EventKind::as_str`] gives it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| crate::Error::UnknownName {
                what: "event type",
                name: s.chars().take(64).collect(),
            })
    }
}

impl PartialEq<str> for EventKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
