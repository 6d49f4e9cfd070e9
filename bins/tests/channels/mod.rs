//! What each venue offers per channel and market, and the event kinds a channel yields:
//! shared by the collector-channel test and the full-demo test.
#![allow(dead_code)]

use marketprism_core::model::MarketType;
use marketprism_exchanges::{Channel, Venue};

/// The event kind(s) a channel yields.
pub(crate) fn kinds(channel: Channel) -> &'static [&'static str] {
    match channel {
        Channel::Trades => &["trade"],
        Channel::Book => &["book_snapshot", "book_delta"],
        Channel::Bbo => &["bbo"],
        Channel::Ticker => &["ticker"],
        Channel::Funding => &["funding_rate"],
        Channel::MarkPrice => &["mark_price"],
        Channel::OpenInterest => &["open_interest"],
        Channel::Liquidations => &["liquidation"],
        Channel::LongShortRatio => &["long_short_ratio"],
        Channel::OptionSummary => &["option_summary"],
        Channel::VolatilityIndex => &["volatility_index"],
        Channel::Kline => &["kline"],
        other => panic!("channel {other:?} has no expected kinds in this test yet"),
    }
}

/// (venue, channel, market) pairs the exchange does not offer (documented in each venue's
/// module table); everything else must flow.
pub(crate) fn offered(venue: Venue, channel: Channel, market: MarketType) -> bool {
    use Channel as C;
    use MarketType as M;
    let derivative = market != M::Spot;
    match channel {
        C::Trades | C::Book | C::Bbo | C::Ticker | C::Kline => true,
        // Delivery futures have no funding.
        C::Funding => market == M::Perpetual,
        C::MarkPrice => derivative || venue == Venue::Deribit,
        C::OpenInterest => derivative,
        // Known gap: the simulator does not flag Deribit trades as liquidations.
        C::Liquidations => derivative && venue != Venue::Deribit,
        C::LongShortRatio => match venue {
            Venue::BinanceUsdm | Venue::BinanceCoinm => market == M::Perpetual,
            Venue::Okx => market == M::Perpetual || market == M::Future,
            _ => false,
        },
        // Known gap: OKX `opt-summary` is not implemented by the connector yet.
        C::OptionSummary => market == M::Option && venue == Venue::Deribit,
        C::VolatilityIndex => venue == Venue::Deribit,
        other => panic!("channel {other:?} unknown to this test"),
    }
}
