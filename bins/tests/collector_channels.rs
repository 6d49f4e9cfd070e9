//! Every channel × market through the collector's own configuration (the JSON/TOML an
//! operator writes), against the local exchange simulator: each pair the venue offers must
//! reach the collector's output, under the symbol a consumer would look for.
//!
//! Issue 16 item 1: Deribit DVOL asked for through the collector produced the channel
//! `deribit_volatility_index.btc-perpetual_usd` (which does not exist), and `BTC` /
//! `btc_usd` were rejected as unknown instruments.

mod channels;

use std::{collections::BTreeSet, time::Duration};

use channels::{kinds, offered};
use marketprism_bins::collector::{self, CollectorConfig};
use marketprism_core::bus::Bus;
use marketprism_exchanges::{
    Channel, Venue, fetch_instruments,
    sim::{SimConfig, SimHandle},
};
use serde_json::json;
use tokio::{net::TcpListener, time::Instant};

/// One instrument per market the simulator lists for `venue`.
fn natives(venue: Venue) -> &'static [&'static str] {
    match venue {
        Venue::BinanceSpot => &["BTCUSDT"],
        Venue::BinanceUsdm => &["BTCUSDT", "BTCUSDT_301227"],
        Venue::BinanceCoinm => &["BTCUSD_PERP", "BTCUSD_301227"],
        Venue::Okx => &[
            "BTC-USDT",
            "BTC-USDT-SWAP",
            "BTC-USD-301227",
            "BTC-USD-301227-60000-C",
        ],
        _ => &["BTC-PERPETUAL", "BTC-27DEC30", "BTC-27DEC30-60000-C"],
    }
}

/// Runs the collector, configured as an operator would, on every channel of `venue`'s
/// instruments plus `extra_symbols`; fails unless every offered (kind, symbol) pair and every
/// `extra_expected` pair reaches the collector's output within 25 s.
async fn run(venue: Venue, extra_symbols: &[&str], extra_expected: &[(&str, &str)]) {
    let sim = SimHandle::start(
        SimConfig::new(venue)
            .symbols(natives(venue).iter().copied())
            .rate(400.0)
            .seed(16)
            .periodic_interval(Duration::from_millis(300)),
    )
    .await
    .expect("sim starts");
    let instruments = fetch_instruments(venue, Some(&sim.http_url()))
        .await
        .expect("instruments");
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for native in natives(venue) {
        let i = instruments
            .by_native(native)
            .unwrap_or_else(|| panic!("{native} not listed by the sim"));
        for channel in Channel::ALL {
            if !offered(venue, channel, i.market) {
                continue;
            }
            let symbol = if channel == Channel::VolatilityIndex {
                // DVOL is per currency: every BTC instrument maps to the BTC index.
                format!("{}-DVOL", i.base)
            } else {
                i.symbol.as_str().to_owned()
            };
            let kind = kinds(channel).join("|");
            expected.insert((kind, symbol));
        }
    }
    for (kind, symbol) in extra_expected {
        expected.insert(((*kind).to_owned(), (*symbol).to_owned()));
    }
    let channels: Vec<Channel> = Channel::ALL.to_vec();
    let mut symbols: Vec<&str> = natives(venue).to_vec();
    symbols.extend_from_slice(extra_symbols);
    let config: CollectorConfig = serde_json::from_value(json!({
        "exchanges": [{
            "venue": venue.as_str(),
            "channels": channels,
            "symbols": symbols,
            "ws_url": sim.ws_url(),
            "rest_url": sim.http_url(),
        }],
    }))
    .expect("collector config");

    let bus = Bus::new();
    let mut sub = bus.subscribe(">", 100_000).expect("subscribe");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(collector::run_with_bus(config, listener, bus, async {
        let _ = stop_rx.await;
    }));

    let mut missing = expected.clone();
    let deadline = Instant::now() + Duration::from_secs(25);
    while !missing.is_empty() {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, sub.recv()).await else {
            break;
        };
        let (Some(symbol), kind) = (event.symbol(), event.kind()) else {
            continue;
        };
        missing
            .retain(|(k, s)| !(s == symbol.as_str() && k.split('|').any(|k| k == kind.as_str())));
    }
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), collector).await;
    assert!(
        missing.is_empty(),
        "{}: never reached the collector's output (kind, symbol): {missing:?}",
        venue.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_spot_every_channel_through_the_collector() {
    run(Venue::BinanceSpot, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_usdm_every_channel_through_the_collector() {
    run(Venue::BinanceUsdm, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_coinm_every_channel_through_the_collector() {
    run(Venue::BinanceCoinm, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_every_channel_through_the_collector() {
    run(Venue::Okx, &[], &[]).await;
}

/// DVOL by instrument: `BTC-PERPETUAL` (and the future, the option) → the BTC index
/// `deribit_volatility_index.btc_usd`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deribit_every_channel_through_the_collector() {
    run(Venue::Deribit, &[], &[]).await;
}

/// DVOL and the price index by currency (`BTC`) and by index name (`btc_usd`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deribit_dvol_by_currency_through_the_collector() {
    run(
        Venue::Deribit,
        &["BTC", "btc_usd"],
        &[("volatility_index", "BTC-DVOL"), ("mark_price", "BTC-USD")],
    )
    .await;
}
