//! `MarketStreamBuilder::book_images` against the simulator of every venue: each top-N image
//! equals the simulator's truth book at the image's sequence, and after the market pauses
//! the last image of every book is at the truth's last sequence (the final state goes out).

#[allow(dead_code)]
mod sim_harness;

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use marketprism_core::{
    Decimal,
    model::{BookSnapshot, Level, MarketEvent},
};
use marketprism_exchanges::{Channel, Venue};
use sim_harness::{natives, setup_with};
use tokio::time::{Instant, timeout};

const DEPTH: usize = 10;

fn norm(side: &[Level]) -> Vec<(Decimal, Decimal)> {
    side.iter()
        .map(|l| (l.price.normalize(), l.size.normalize()))
        .collect()
}

async fn images_equal_the_truth(venue: Venue) {
    let mut s = setup_with(
        venue,
        |c| c.rate(300.0).history(100_000),
        &[Channel::Book],
        |b| b.book_images(Duration::from_millis(100), DEPTH),
    )
    .await;
    let native_of: HashMap<String, String> = s
        .symbols
        .iter()
        .map(|(native, symbol)| (symbol.clone(), native.clone()))
        .collect();
    let mut images: Vec<BookSnapshot> = Vec::new();
    let collect = |images: &mut Vec<BookSnapshot>, e: MarketEvent| {
        if let MarketEvent::BookSnapshot(b) = e
            && b.top_n.is_some()
        {
            images.push(b);
        }
    };
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Ok(Some(e)) = timeout(Duration::from_millis(200), s.consumer.stream.next()).await {
            collect(&mut images, e);
        }
    }
    s.sim.pause();
    // Drain: the last images come within an interval after the last change.
    while let Ok(Some(e)) = timeout(Duration::from_millis(600), s.consumer.stream.next()).await {
        collect(&mut images, e);
    }
    let mut checked: HashMap<String, usize> = HashMap::new();
    let mut last: HashMap<String, u64> = HashMap::new();
    for image in &images {
        assert_eq!(image.top_n, Some(DEPTH as u32));
        let native = &native_of[image.symbol.as_str()];
        last.insert(native.clone(), image.sequence);
        let Some(truth) = s.sim.truth_book_at(native, image.sequence) else {
            continue;
        };
        let take = |v: &[(Decimal, Decimal)]| v.iter().take(DEPTH).copied().collect::<Vec<_>>();
        assert_eq!(
            norm(&image.bids),
            take(&truth.bids),
            "{venue}: {native} bids at {}",
            image.sequence
        );
        assert_eq!(
            norm(&image.asks),
            take(&truth.asks),
            "{venue}: {native} asks at {}",
            image.sequence
        );
        *checked.entry(native.clone()).or_default() += 1;
    }
    for native in natives(venue) {
        let n = checked.get(native).copied().unwrap_or(0);
        assert!(n >= 5, "{venue}: only {n} images of {native} checked");
        let truth = s.sim.truth_book(native).expect("truth");
        assert_eq!(
            last.get(native).copied(),
            Some(truth.sequence),
            "{venue}: {native}: the last image is not of the final book"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_spot() {
    images_equal_the_truth(Venue::BinanceSpot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_usdm() {
    images_equal_the_truth(Venue::BinanceUsdm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx() {
    images_equal_the_truth(Venue::Okx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deribit() {
    images_equal_the_truth(Venue::Deribit).await;
}
