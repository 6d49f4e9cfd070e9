use serde::{Deserialize, Serialize};

use super::{ExchangeId, MarketType, Symbol, TimestampNs};

/// A discontinuity or connection change. Consumers must see every one of these: a silent gap is
/// the worst bug in market data.
///
/// ```
/// use marketprism_core::model::{ExchangeId, MarketType, Status, StatusKind, Symbol};
/// let s = Status::new(ExchangeId::OKX, MarketType::Spot, Some(Symbol::new("BTC-USDT")), 7,
///     StatusKind::Gap { expected: 10, received: 12 });
/// assert!(s.kind.is_discontinuity());
/// ```
///
/// New fields may be added: build one with [`Status::new`] (and [`Status::with_local_ts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Status {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// The instrument concerned; `None` for a whole connection.
    pub symbol: Option<Symbol>,
    /// What happened.
    pub kind: StatusKind,
    /// Exchange time (ns); equal to `local_ts` for events we originate.
    pub exchange_ts: TimestampNs,
    /// Local time (ns).
    pub local_ts: TimestampNs,
}

impl Status {
    /// A status event stamped `ts` for both timestamps.
    pub fn new(
        exchange: ExchangeId,
        market: MarketType,
        symbol: Option<Symbol>,
        ts: TimestampNs,
        kind: StatusKind,
    ) -> Self {
        Status {
            exchange,
            market,
            symbol,
            kind,
            exchange_ts: ts,
            local_ts: ts,
        }
    }

    /// Sets the local receive time, for events the exchange stamped itself.
    ///
    /// ```
    /// use marketprism_core::model::{ExchangeId, MarketType, Status, StatusKind};
    /// let s = Status::new(ExchangeId::OKX, MarketType::Spot, None, 7,
    ///     StatusKind::Gap { expected: 1, received: 3 }).with_local_ts(9);
    /// assert_eq!((s.exchange_ts, s.local_ts), (7, 9));
    /// ```
    #[must_use]
    pub fn with_local_ts(mut self, local_ts: TimestampNs) -> Self {
        self.local_ts = local_ts;
        self
    }
}

/// The kinds of status event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusKind {
    /// A connection is up and subscribed.
    Connected {
        /// Connection identifier (stable within a process).
        connection: String,
    },
    /// A connection went down; data may be missing until the matching resyncs.
    Disconnected {
        /// Connection identifier.
        connection: String,
        /// Why.
        reason: String,
    },
    /// A sequence gap was detected; no update across it was applied.
    Gap {
        /// The sequence that should have come next (or been continued from).
        expected: u64,
        /// What arrived instead.
        received: u64,
    },
    /// The book is being rebuilt from a fresh snapshot; a book snapshot follows.
    BookResync {
        /// Why (gap, checksum mismatch, reconnect, exchange reset).
        reason: String,
    },
    /// This collector took the instrument over from a collector that stopped serving it
    /// (collector failover). Data between `dark_since_ns` and this event's time is missing
    /// unless another copy (redundant collection) covered it; books resync from a snapshot.
    Takeover {
        /// The collector (assignment member id) that served the instrument before.
        from: String,
        /// Last time (ns) the previous owner was known alive: the dark window starts at or
        /// after this.
        dark_since_ns: TimestampNs,
    },
}

impl StatusKind {
    /// True when data between the previous and the next event may be missing.
    pub fn is_discontinuity(&self) -> bool {
        !matches!(self, StatusKind::Connected { .. })
    }

    /// Short name (`connected`, `disconnected`, `gap`, `book_resync`, `takeover`).
    pub fn as_str(&self) -> &'static str {
        match self {
            StatusKind::Connected { .. } => "connected",
            StatusKind::Disconnected { .. } => "disconnected",
            StatusKind::Gap { .. } => "gap",
            StatusKind::BookResync { .. } => "book_resync",
            StatusKind::Takeover { .. } => "takeover",
        }
    }
}
