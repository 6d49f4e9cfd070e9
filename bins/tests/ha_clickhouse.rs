//! High availability of the history store: two ClickHouse servers hold the market-data tables
//! as `ReplicatedReplacingMergeTree` through one ZooKeeper (`platform::clickhouse_pair`). The
//! storage service is given both (`clickhouse.url` with two servers, `[clickhouse.replicated]`)
//! and consumes the collector's trades from NATS. The replica it writes to is SIGKILLed while
//! trades flow: writes go on through the other one; the killed replica restarts and fetches
//! what it missed. Afterwards both replicas hold exactly the trades the simulator produced,
//! each once under `FINAL`, with the same raw row count. Prints the figures that
//! docs/scaling.md quotes.

mod platform;

use platform::secs;

use std::time::{Duration, Instant};

use marketprism_core::testing::{TestServer, require_server};
use platform::{
    Proc, SimProc, cleanup,
    clickhouse_pair::{ClickHousePair, require_replication_binaries},
    post_ok, sim_trade_ids, unique, wait_for,
};

const NATIVE: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const SYMBOL: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

/// `count()` of `sql`'s single number, `None` when the server does not answer.
async fn number(http: &reqwest::Client, url: &str, sql: &str) -> Option<u64> {
    let r = http.post(url).body(sql.to_owned()).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().await.ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_clickhouse_replica_mid_stream_loses_no_trade_and_the_replicas_converge() {
    let (Some(bins), Some(nats)) = (
        require_replication_binaries(),
        require_server(TestServer::Nats),
    ) else {
        return;
    };
    marketprism_bins::common::install_crypto();
    let test_start = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(secs(5))
        .build()
        .expect("client");
    let run = unique();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ha = Ha {
        procs: Vec::new(),
        pair: ClickHousePair::start(&bins, dir.path(), secs(60)).await,
    };
    let (r1, r2) = (ha.pair.replicas[0].url(), ha.pair.replicas[1].url());
    eprintln!(
        "ZooKeeper and 2 ClickHouse replicas up in {:.1} s: {r1}, {r2}",
        test_start.elapsed().as_secs_f64()
    );

    let database = format!("mpt_hc_{run}");
    let stream = format!("HC_{}", run.to_uppercase());
    let prefix = format!("hc{run}");
    let nats_toml =
        format!("[nats]\nurl = \"{nats}\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n");
    let mut sim = SimProc::start("binance-spot", &NATIVE.join(","), 200, 17).await;
    let sim_url = format!("http://{}", sim.addr);
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
    let clickhouse_toml = format!(
        "[clickhouse]\nurl = \"{r1}/?database={database},{r2}\"\n\n\
         [clickhouse.replicated]\nzookeeper_path = \"/clickhouse/{run}\""
    );
    ha.procs.extend(
        platform::start_trade_pipeline(
            &http,
            dir.path(),
            &nats_toml,
            &clickhouse_toml,
            &sim,
            &SYMBOL,
        )
        .await,
    );

    // The storage service created replicated tables on both servers.
    let engine = format!(
        "SELECT engine FROM system.tables WHERE database = '{database}' AND name = 'trade'"
    );
    for url in [&r1, &r2] {
        let r = http
            .post(url.as_str())
            .body(engine.clone())
            .send()
            .await
            .expect("engine query");
        let text = r.text().await.expect("engine");
        assert_eq!(
            text.trim(),
            "ReplicatedReplacingMergeTree",
            "trade table engine on {url}"
        );
    }
    wait_for("collector subscribed", secs(30), || async {
        let stats = platform::get_json(&http, &format!("{sim_url}/_sim/stats")).await?;
        let text = stats["connections"].to_string();
        NATIVE
            .iter()
            .all(|n| text.contains(&format!("{}@trade", n.to_lowercase())))
            .then_some(())
    })
    .await;
    let before = sim_trade_ids(&http, &sim_url, &NATIVE).await;
    post_ok(&http, &format!("{sim_url}/_sim/resume")).await;
    let raw = format!("SELECT count() FROM `{database}`.trade");
    wait_for("trades on both replicas", secs(30), || async {
        let (a, b) = (
            number(&http, &r1, &raw).await?,
            number(&http, &r2, &raw).await?,
        );
        (a > 200 && b > 200).then_some(())
    })
    .await;

    // SIGKILL the replica the storage service writes to (the first URL) while trades flow.
    let at_kill = number(&http, &r2, &raw).await.unwrap_or(0);
    let killed_at = Instant::now();
    ha.pair.kill(0).await;
    eprintln!("SIGKILLed replica r1 with {at_kill} rows on r2");
    // Writes go on through r2: its row count grows (r1, dead, can replicate nothing to it).
    let resumed = wait_for("writes go on through r2", secs(30), || async {
        let n = number(&http, &r2, &raw).await?;
        (n > at_kill + 50).then(|| killed_at.elapsed())
    })
    .await;
    eprintln!(
        "FAILOVER: r2 took {} ms to hold 50 rows more than at the kill",
        resumed.as_millis()
    );

    // Keep writing through r2, then bring r1 back: it fetches what it missed from r2.
    tokio::time::sleep(secs(3)).await;
    let restarted_at = Instant::now();
    ha.pair.restart(0);
    ha.pair.wait_ready(0, secs(60)).await;
    let ready = restarted_at.elapsed();
    tokio::time::sleep(secs(2)).await;
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
    let after = sim_trade_ids(&http, &sim_url, &NATIVE).await;

    let expected = platform::produced_trades(&SYMBOL, &before, &after);
    // Each replica holds exactly the produced trades, each once under FINAL.
    for url in [&r2, &r1] {
        platform::assert_trades_stored_once(
            &http,
            url,
            &database,
            &expected,
            secs(60),
            Duration::from_millis(200),
        )
        .await;
    }
    let converged = restarted_at.elapsed();
    // And the same raw rows: the replicas converged, not merely deduplicated alike.
    let (raw1, raw2) = wait_for("equal raw row counts", secs(30), || async {
        let (a, b) = (
            number(&http, &r1, &raw).await?,
            number(&http, &r2, &raw).await?,
        );
        (a == b).then_some((a, b))
    })
    .await;
    eprintln!(
        "CONVERGED: r1 answered {} ms after its restart and held every trade after {} ms; \
         {} trades produced, stored exactly once on each replica (raw rows r1 {raw1}, r2 \
         {raw2}); test took {:.1} s",
        ready.as_millis(),
        converged.as_millis(),
        expected.len(),
        test_start.elapsed().as_secs_f64()
    );

    for p in ha.procs.iter_mut().rev() {
        let status = p.terminate(secs(20)).await;
        assert!(status.success(), "{} exited with {status:?}", p.name);
    }
    ha.procs.clear();
    sim.stop().await;
    cleanup(&http, &r1, &database, &nats, &stream).await;
    let _ = http
        .post(r2.as_str())
        .body(format!("DROP DATABASE IF EXISTS `{database}`"))
        .send()
        .await;
}

/// The replicas and the services; prints their logs when the test fails.
struct Ha {
    procs: Vec<Proc>,
    pair: ClickHousePair,
}

impl Drop for Ha {
    fn drop(&mut self) {
        platform::print_logs_on_panic(&self.procs);
        if std::thread::panicking() {
            eprintln!("{}", self.pair.logs(20));
        }
    }
}
