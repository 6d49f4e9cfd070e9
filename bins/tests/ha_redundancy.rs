//! Redundant collection: two collectors with `assignment.redundancy = 2` both carry every
//! instrument (trades, book, BBO, ticker) and publish every event twice; the event identity
//! (`Nats-Msg-Id`) keeps one copy. One collector is SIGKILLed under load. ClickHouse must
//! hold every trade id the simulator produced exactly once, with no hole, even before
//! `FINAL` (so JetStream dropped the second copies, not only the merge); the stream holds
//! each trade once; and for the other kinds no identity was stored twice (which would mean
//! the two collectors built different identities for one event). Prints the figures
//! docs/scaling.md quotes.

mod platform;

use platform::{http_client, secs};

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use marketprism_core::testing::{TestServer, require_server};
use platform::{
    Proc, Procs, SimProc, cleanup,
    collectors::{Env, number, settled, subscribed},
    nats_cluster, post_ok, sim_trade_ids, unique, wait_for,
};

const NATIVE: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
const SYMBOL: [&str; 3] = ["BTC-USDT", "ETH-USDT", "SOL-USDT"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redundancy_two_a_killed_collector_loses_nothing_and_nothing_is_stored_twice() {
    let (Some(clickhouse), Some(nats), Some(etcd)) = (
        require_server(TestServer::ClickHouse),
        require_server(TestServer::Nats),
        require_server(TestServer::Etcd),
    ) else {
        return;
    };
    marketprism_bins::common::install_crypto();
    let test_start = Instant::now();
    let http = http_client();
    let run = unique();
    let dir = tempfile::tempdir().expect("tempdir");
    let env = Env::new(clickhouse.clone(), nats.clone(), etcd, &run);
    let keys: BTreeSet<String> = SYMBOL.iter().map(|s| format!("binance-spot:{s}")).collect();
    let channels = ["trades", "book", "bbo", "ticker"];

    let mut sim = SimProc::start("binance-spot", &NATIVE.join(","), 200, 22).await;
    let sim_url = format!("http://{}", sim.addr);
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;

    let mut ha = Procs(vec![env.storage(dir.path())]);
    for n in 0..2 {
        ha.0.push(env.collector(dir.path(), n, &sim, &NATIVE, &channels, 2));
    }
    let group: Vec<&Proc> = ha.0[1..].iter().collect();
    settled(&http, &group, &keys, 2, secs(60)).await;
    wait_for("every instrument subscribed twice", secs(30), || async {
        let n = subscribed(&http, &sim_url, &NATIVE, "trade").await?;
        n.iter().all(|c| *c == 2).then_some(())
    })
    .await;

    let before = sim_trade_ids(&http, &sim_url, &NATIVE).await;
    post_ok(&http, &format!("{sim_url}/_sim/resume")).await;
    let db = &env.database;
    env.wait_for_trades(&http, 200).await;

    ha.0[1].kill().await;
    let killed_at = Instant::now();
    eprintln!("SIGKILLed one of the two collectors");
    // The survivor goes on alone; nothing to take over (it carried everything already).
    settled(&http, &[&ha.0[2]], &keys, 1, secs(20)).await;
    let alone = killed_at.elapsed();
    tokio::time::sleep(secs(3)).await;
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
    let after = sim_trade_ids(&http, &sim_url, &NATIVE).await;
    let produced = platform::produced_trades(&SYMBOL, &before, &after);

    platform::assert_trades_stored_once(
        &http,
        &clickhouse,
        db,
        &produced,
        secs(45),
        Duration::from_millis(300),
    )
    .await;
    // No hole: per symbol, the stored ids are one contiguous run.
    for symbol in SYMBOL {
        let q = format!(
            "SELECT max(toUInt64(trade_id)) - min(toUInt64(trade_id)) + 1 - count() \
             FROM `{db}`.trade FINAL WHERE symbol = '{symbol}'"
        );
        assert_eq!(number(&http, &clickhouse, &q).await, 0, "{symbol}: a hole");
    }
    // Every stored trade is within the produced range (the ids before `before` were
    // produced while paused-waiting: none, as the market was paused).
    let raw = number(
        &http,
        &clickhouse,
        &format!("SELECT count() FROM `{db}`.trade WHERE exchange = 'binance'"),
    )
    .await;
    assert_eq!(
        raw as usize,
        produced.len(),
        "raw rows: a second copy got through"
    );

    // JetStream dropped every second copy: the stream holds each trade once.
    let js = async_nats::jetstream::new(async_nats::connect(&nats).await.expect("nats"));
    let in_stream =
        nats_cluster::events_in_stream(&js, &env.stream, format!("{}.trade.>", env.prefix)).await;
    assert_eq!(in_stream, produced.len(), "trade events in the stream");

    // The other kinds: one row per identity even before FINAL.
    for (table, identity) in [
        ("book_delta", "sequence"),
        ("book_snapshot", "sequence"),
        ("bbo", "sequence"),
        ("ticker", "exchange_ts"),
    ] {
        let q = format!(
            "SELECT count(), uniqExact(symbol, {identity}) FROM `{db}`.{table} \
             FORMAT TabSeparated"
        );
        let r = platform::collectors::rows(&http, &clickhouse, &q).await;
        let (rows, ids) = (&r[0][0], &r[0][1]);
        eprintln!("{table}: {rows} rows, {ids} identities");
        assert_eq!(rows, ids, "{table}: an event stored twice");
        if table != "book_snapshot" {
            assert!(
                rows.parse::<u64>().unwrap_or(0) > 0,
                "{table}: nothing stored"
            );
        }
    }
    eprintln!(
        "REDUNDANCY: {} trades produced, each stored once ({raw} raw rows, {in_stream} in the \
         stream) across the kill; survivor alone in the group after {} ms; test took {:.1} s",
        produced.len(),
        alone.as_millis(),
        test_start.elapsed().as_secs_f64()
    );

    for p in ha.0.iter_mut().rev() {
        if p.exited().is_none() {
            let status = p.terminate(secs(20)).await;
            assert!(status.success(), "{} exited with {status:?}", p.name);
        }
    }
    ha.0.clear();
    sim.stop().await;
    cleanup(&http, &clickhouse, db, &nats, &env.stream).await;
}
