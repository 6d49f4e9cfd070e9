//! Shared helpers for the integration tests: unique names and sample events of every kind.
#![allow(dead_code, unreachable_pub)]

pub mod conformance;

use marketprism_core::model::*;
use rust_decimal::Decimal;

/// A name unique to this test run: `{prefix}_{random}`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

/// Now, rounded down to a whole second, in ns.
pub fn now_s_ns() -> i64 {
    now_ns() / 1_000_000_000 * 1_000_000_000
}

/// `n` trades on one symbol, 1 ms apart from `base`, with ids `0..n`.
pub fn trades(exchange: ExchangeId, symbol: &str, n: usize, base: i64) -> Vec<MarketEvent> {
    (0..n)
        .map(|i| {
            MarketEvent::Trade(Trade {
                exchange,
                market: MarketType::Spot,
                symbol: Symbol::new(symbol),
                trade_id: format!("{i}").into(),
                side: if i % 3 == 0 { Side::Sell } else { Side::Buy },
                price: Decimal::new(6_400_012_345 + i as i64, 5),
                size: Decimal::new(1 + (i as i64 % 1000), 8),
                exchange_ts: base + i as i64 * 1_000_000,
                local_ts: base + i as i64 * 1_000_000 + 250_000,
            })
        })
        .collect()
}

/// One event of every kind (14), at `base + k` ns, with awkward exact decimals.
pub fn one_of_each(exchange: ExchangeId, symbol: &str, base: i64) -> Vec<MarketEvent> {
    let sym = Symbol::new(symbol);
    let lv = |p: &str, s: &str| Level::new(d(p), d(s));
    vec![
        MarketEvent::Trade(Trade {
            exchange,
            market: MarketType::Spot,
            symbol: sym.clone(),
            trade_id: "t-1".into(),
            side: Side::Buy,
            price: d("64000.123456789012345678"),
            size: d("0.00000001"),
            exchange_ts: base,
            local_ts: base + 7,
        }),
        MarketEvent::BookSnapshot(BookSnapshot {
            exchange,
            market: MarketType::Spot,
            symbol: sym.clone(),
            sequence: 100,
            bids: vec![lv("100.5", "1"), lv("100.25", "2.5")],
            asks: vec![lv("100.75", "0.125")],
            exchange_ts: base + 1,
            local_ts: base + 8,
            top_n: None,
        }),
        MarketEvent::BookDelta(BookDelta {
            exchange,
            market: MarketType::Spot,
            symbol: sym.clone(),
            prev_sequence: 100,
            sequence: 101,
            bids: vec![lv("100.5", "0")],
            asks: vec![],
            exchange_ts: base + 2,
            local_ts: base + 9,
        }),
        MarketEvent::Bbo(Bbo {
            exchange,
            market: MarketType::Spot,
            symbol: sym.clone(),
            bid_price: d("100.25"),
            bid_size: d("2.5"),
            ask_price: d("100.75"),
            ask_size: d("0.125"),
            sequence: None,
            exchange_ts: base + 3,
            local_ts: base + 10,
        }),
        MarketEvent::Ticker(Ticker {
            exchange,
            market: MarketType::Spot,
            symbol: sym.clone(),
            last_price: d("100.5"),
            open_24h: Some(d("99")),
            high_24h: Some(d("101.000000000000000001")),
            low_24h: None,
            volume_24h: Some(d("12345678901234567890")),
            quote_volume_24h: None,
            best_bid: Some(d("100.25")),
            best_ask: None,
            exchange_ts: base + 4,
            local_ts: base + 11,
        }),
        MarketEvent::FundingRate(FundingRate {
            exchange,
            market: MarketType::Perpetual,
            symbol: sym.clone(),
            rate: d("-0.000125"),
            next_rate: None,
            next_funding_ts: Some(base + 3_600_000_000_000),
            mark_price: Some(d("100.1")),
            index_price: None,
            exchange_ts: base + 5,
            local_ts: base + 12,
        }),
        MarketEvent::MarkPrice(MarkPrice {
            exchange,
            market: MarketType::Perpetual,
            symbol: sym.clone(),
            mark_price: Some(d("100.1")),
            index_price: Some(d("100.05")),
            exchange_ts: base + 6,
            local_ts: base + 13,
        }),
        MarketEvent::OpenInterest(OpenInterest {
            exchange,
            market: MarketType::Perpetual,
            symbol: sym.clone(),
            open_interest: d("123456.789"),
            open_interest_value: None,
            exchange_ts: base + 7,
            local_ts: base + 14,
        }),
        MarketEvent::Liquidation(Liquidation {
            exchange,
            market: MarketType::Perpetual,
            symbol: sym.clone(),
            side: Side::Sell,
            price: d("99.5"),
            size: d("3"),
            exchange_ts: base + 8,
            local_ts: base + 15,
        }),
        MarketEvent::LongShortRatio(LongShortRatio {
            exchange,
            market: MarketType::Perpetual,
            symbol: sym.clone(),
            kind: RatioKind::TopTraderAccounts,
            period: "5m".into(),
            ratio: d("1.2345"),
            long_share: Some(d("0.5525")),
            short_share: Some(d("0.4475")),
            exchange_ts: base + 9,
            local_ts: base + 16,
        }),
        MarketEvent::OptionSummary(OptionSummary {
            exchange,
            market: MarketType::Option,
            symbol: sym.clone(),
            mark_price: Some(d("0.0525")),
            mark_iv: Some(d("55.12")),
            bid_iv: None,
            ask_iv: Some(d("56")),
            delta: Some(d("0.51234")),
            gamma: Some(d("0.0000123456789012345678")),
            vega: Some(d("12.5")),
            theta: Some(d("-45.25")),
            rho: None,
            underlying_price: Some(d("64000.5")),
            underlying_index: Some("BTC-27DEC26".into()),
            open_interest: Some(d("10")),
            exchange_ts: base + 10,
            local_ts: base + 17,
        }),
        MarketEvent::VolatilityIndex(VolatilityIndex {
            exchange,
            market: MarketType::Index,
            symbol: sym.clone(),
            value: d("52.31"),
            exchange_ts: base + 11,
            local_ts: base + 18,
        }),
        MarketEvent::Kline(Kline {
            exchange,
            market: MarketType::Spot,
            symbol: sym.clone(),
            interval: "1m".into(),
            open_ts: base - 60_000_000_000,
            open: d("1"),
            high: d("2"),
            low: d("0.5"),
            close: d("1.5"),
            volume: d("10"),
            quote_volume: None,
            closed: true,
            exchange_ts: base + 12,
            local_ts: base + 19,
        }),
        MarketEvent::Status(Status::new(
            exchange,
            MarketType::Spot,
            Some(sym),
            base + 13,
            StatusKind::Gap {
                expected: 101,
                received: 105,
            },
        )),
    ]
}
