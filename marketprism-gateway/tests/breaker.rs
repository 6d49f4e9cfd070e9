//! The per-upstream circuit breaker, observed through real requests: it opens after N
//! failures, rejects without touching the upstream, admits one probe after the cooldown,
//! re-opens when the probe fails and closes when it succeeds.

mod common;

use std::{sync::Arc, time::Duration};

use common::{TestGateway, TestUpstream, http, open_config};
use marketprism_gateway::{BusEventSource, StaticUpstreams, Upstream};

async fn breaker_state(client: &reqwest::Client, gw: &TestGateway) -> String {
    let services: serde_json::Value = client
        .get(format!("{}/_gateway/services", gw.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let storage = services
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["service"] == "data-storage-service")
        .expect("storage listed");
    storage["instances"][0]["breaker"]
        .as_str()
        .expect("state")
        .to_owned()
}

#[tokio::test]
async fn opens_half_opens_and_closes() {
    let up = TestUpstream::start("s1").await;
    up.set_status(500);
    let ups = StaticUpstreams::new().with("data-storage-service", Upstream::new("s1", &up.url));
    let mut config = open_config();
    config.breaker.failure_threshold = 3;
    config.breaker.window_ms = 10_000;
    config.breaker.cooldown_ms = 300;
    config.proxy.max_retries = 0;
    let gw = TestGateway::start(config, Arc::new(ups), Arc::new(BusEventSource::default())).await;
    let client = http();
    let get = || async {
        client
            .get(format!("{}/api/v1/storage/status", gw.url))
            .send()
            .await
            .expect("send")
    };

    for _ in 0..3 {
        assert_eq!(get().await.status(), 500);
    }
    assert_eq!(up.hits(), 3);
    assert_eq!(breaker_state(&client, &gw).await, "open");

    // Open: answered by the gateway, the upstream is not touched.
    let r = get().await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(up.hits(), 3);

    // Cooldown over: half-open, one probe goes through; it fails → open again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(breaker_state(&client, &gw).await, "half_open");
    assert_eq!(get().await.status(), 500);
    assert_eq!(up.hits(), 4);
    assert_eq!(breaker_state(&client, &gw).await, "open");
    assert_eq!(get().await.status(), 503);
    assert_eq!(up.hits(), 4);

    // Next cooldown: the upstream has recovered; the probe succeeds → closed.
    up.set_status(200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get().await.status(), 200);
    assert_eq!(breaker_state(&client, &gw).await, "closed");
    for _ in 0..3 {
        assert_eq!(get().await.status(), 200);
    }
    assert_eq!(up.hits(), 8);

    let services: serde_json::Value = client
        .get(format!("{}/_gateway/services", gw.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let inst = services
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["service"] == "data-storage-service")
        .expect("listed")["instances"][0]
        .clone();
    assert_eq!(inst["requests"], 8);
    assert_eq!(inst["failures"], 4);
    assert_eq!(inst["rejected"], 2);
}

#[tokio::test]
async fn an_open_breaker_takes_the_instance_out_of_rotation() {
    let bad = TestUpstream::start("bad").await;
    bad.set_status(502);
    let good = TestUpstream::start("good").await;
    let ups = StaticUpstreams::new()
        .with("data-storage-service", Upstream::new("bad", &bad.url))
        .with("data-storage-service", Upstream::new("good", &good.url));
    let mut config = open_config();
    config.breaker.failure_threshold = 2;
    config.breaker.cooldown_ms = 60_000;
    let gw = TestGateway::start(config, Arc::new(ups), Arc::new(BusEventSource::default())).await;
    let client = http();
    for _ in 0..20 {
        let r = client
            .get(format!("{}/api/v1/storage/status", gw.url))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        bad.hits(),
        2,
        "after 2 failures the breaker keeps traffic away"
    );
    assert_eq!(good.hits(), 20);
    let status: serde_json::Value = client
        .get(format!("{}/_gateway/status", gw.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(status["breakers"]["open"], 1);
    assert_eq!(status["event_source"], "bus");
}
