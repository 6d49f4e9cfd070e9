//! Collector failover: three collectors share six instruments through etcd leases
//! (`[assignment]`, redundancy 1, lease TTL 3 s). One is SIGKILLed while trades flow. The two
//! survivors must notice within the TTL, take its instruments over and serve them again
//! within the TTL plus a few seconds; each taken instrument gets a `takeover` status event
//! naming the dead collector and the start of the dark window; ClickHouse holds every trade
//! of the other instruments, and for the taken ones everything but one contiguous run of ids
//! (the dark window), with nothing stored twice. Prints the figures docs/scaling.md quotes.

mod platform;

use platform::{http_client, secs};

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use marketprism_core::testing::{TestServer, require_server};
use platform::{
    Proc, Procs, SimProc, cleanup, clickhouse_pairs,
    collectors::{Env, assignment, number, rows, settled, strings, subscribed},
    post_ok, sim_trade_ids, unique, wait_for,
};

const NATIVE: [&str; 6] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT",
];
const SYMBOL: [&str; 6] = [
    "BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "BNB-USDT", "ADA-USDT",
];
/// The lease TTL the collectors are configured with.
const TTL: Duration = Duration::from_secs(3);
/// What "a few seconds" after the TTL may take: one poll, a stream start (instrument list,
/// connect, subscribe).
const SLACK: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_take_a_killed_collectors_instruments_over_and_report_the_gap() {
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

    let mut sim = SimProc::start("binance-spot", &NATIVE.join(","), 60, 21).await;
    let sim_url = format!("http://{}", sim.addr);
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;

    let mut ha = Procs(vec![env.storage(dir.path())]);
    for n in 0..3 {
        ha.0.push(env.collector(dir.path(), n, &sim, &NATIVE, &["trades"], 1));
    }
    let group: Vec<&Proc> = ha.0[1..].iter().collect();
    let owners = settled(&http, &group, &keys, 1, secs(60)).await;
    for (member, owned) in &owners {
        eprintln!("{member} carries {owned:?}");
    }
    wait_for("every instrument subscribed once", secs(30), || async {
        let n = subscribed(&http, &sim_url, &NATIVE, "trade").await?;
        n.iter().all(|c| *c == 1).then_some(())
    })
    .await;

    let before = sim_trade_ids(&http, &sim_url, &NATIVE).await;
    post_ok(&http, &format!("{sim_url}/_sim/resume")).await;
    let db = &env.database;
    env.wait_for_trades(&http, 200).await;

    // Kill the collector carrying the most instruments (ties: the first).
    let victim = (0..3)
        .max_by_key(|i| (owners[*i].1.len(), std::cmp::Reverse(*i)))
        .expect("three collectors");
    let (dead_member, moved) = owners[victim].clone();
    assert!(!moved.is_empty(), "the victim carries something");
    let moved_natives: Vec<&str> = NATIVE
        .iter()
        .zip(SYMBOL)
        .filter(|(_, s)| moved.contains(&format!("binance-spot:{s}")))
        .map(|(n, _)| *n)
        .collect();
    let killed_at = Instant::now();
    ha.0[1 + victim].kill().await;
    eprintln!("SIGKILLed {dead_member}, which carried {moved:?}");

    // Survivors: the member list shrinks (detection), the instruments are re-assigned, and
    // the simulator sees them subscribed again (served).
    let survivors: Vec<&Proc> = (0..3)
        .filter(|i| *i != victim)
        .map(|i| &ha.0[1 + i])
        .collect();
    let mut detected = None;
    let mut served = None;
    while served.is_none() {
        let elapsed = killed_at.elapsed();
        assert!(
            elapsed < TTL + SLACK + secs(10),
            "no take-over after {elapsed:?}"
        );
        if detected.is_none() {
            let mut all_see = true;
            for p in &survivors {
                let a = assignment(&http, p).await.unwrap_or_default();
                all_see &= !strings(&a["members"]).contains(&dead_member);
            }
            if all_see {
                detected = Some(killed_at.elapsed());
            }
        }
        if let Some(n) = subscribed(&http, &sim_url, &moved_natives, "trade").await
            && n.iter().all(|c| *c >= 1)
            && detected.is_some()
        {
            served = Some(killed_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (detected, served) = (detected.expect("detected"), served.expect("served"));
    eprintln!(
        "FAILOVER: survivors dropped the dead member after {} ms; its {} instruments \
         subscribed again after {} ms (bound {} ms)",
        detected.as_millis(),
        moved.len(),
        served.as_millis(),
        (TTL + SLACK).as_millis()
    );
    assert!(served <= TTL + SLACK, "served again after {served:?}");
    settled(&http, &survivors, &keys, 1, secs(20)).await;

    // Trade on, then stop the market and compare.
    tokio::time::sleep(secs(3)).await;
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
    let after = sim_trade_ids(&http, &sim_url, &NATIVE).await;
    let produced = platform::produced_trades(&SYMBOL, &before, &after);

    let query = format!(
        "SELECT symbol, trade_id FROM `{db}`.trade FINAL WHERE exchange = 'binance' \
         FORMAT TabSeparated"
    );
    let stored = settle_rows(&http, &clickhouse, &query).await;
    let set: BTreeSet<(String, u64)> = stored.iter().cloned().collect();
    assert_eq!(set.len(), stored.len(), "a trade stored twice (FINAL)");
    let extra: Vec<_> = set.difference(&produced).take(5).collect();
    assert!(extra.is_empty(), "stored trades never produced: {extra:?}");
    let raw = number(
        &http,
        &clickhouse,
        &format!("SELECT count() FROM `{db}`.trade WHERE exchange = 'binance'"),
    )
    .await;

    // Per instrument: untouched ones are complete; taken ones miss one contiguous run.
    let takeovers = rows(
        &http,
        &clickhouse,
        &format!(
            "SELECT symbol, detail, exchange_ts FROM `{db}`.status FINAL \
             WHERE status = 'takeover' FORMAT TabSeparated"
        ),
    )
    .await;
    let mut report = Vec::new();
    for symbol in SYMBOL {
        let ids: Vec<u64> = produced
            .iter()
            .filter(|(s, _)| s == symbol)
            .map(|(_, id)| *id)
            .collect();
        let missing: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| !set.contains(&((*symbol).to_owned(), *id)))
            .collect();
        let key = format!("binance-spot:{symbol}");
        let status: Vec<&Vec<String>> = takeovers.iter().filter(|r| r[0] == *symbol).collect();
        if !moved.contains(&key) {
            assert!(missing.is_empty(), "{symbol} (not moved) lost {missing:?}");
            assert!(status.is_empty(), "{symbol} was not taken over: {status:?}");
            continue;
        }
        assert_eq!(
            status.len(),
            1,
            "one takeover status for {symbol}: {takeovers:?}"
        );
        let detail: serde_json::Value = serde_json::from_str(&status[0][1]).expect("detail json");
        assert_eq!(detail["from"], dead_member.as_str(), "{detail}");
        let dark_since = detail["dark_since_ns"].as_i64().expect("dark_since_ns");
        let resumed: i64 = status[0][2].parse().expect("exchange_ts");
        if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
            assert_eq!(
                (last - first + 1) as usize,
                missing.len(),
                "{symbol}: the lost trades are one contiguous run"
            );
        }
        let dark_ms = (resumed - dark_since) / 1_000_000;
        report.push(format!(
            "{symbol}: {} of {} trades lost in the dark window, reported {dark_ms} ms",
            missing.len(),
            ids.len()
        ));
        assert!(
            dark_ms > 0 && dark_ms < (TTL + SLACK + secs(2)).as_millis() as i64,
            "{symbol}: dark window {dark_ms} ms"
        );
    }
    for line in &report {
        eprintln!("{line}");
    }
    eprintln!(
        "{} trades produced, {} stored once ({raw} rows before FINAL); test took {:.1} s",
        produced.len(),
        set.len(),
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

/// Rows of `query` once two readings 1.5 s apart agree (the pipeline drained).
async fn settle_rows(http: &reqwest::Client, url: &str, query: &str) -> Vec<(String, u64)> {
    let start = Instant::now();
    let mut prev: Option<Vec<(String, u64)>> = None;
    loop {
        let rows = clickhouse_pairs(http, url, query).await.unwrap_or_default();
        if prev.as_ref().is_some_and(|p| p.len() == rows.len()) || start.elapsed() > secs(30) {
            return rows;
        }
        prev = Some(rows);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}
