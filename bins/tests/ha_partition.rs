//! A network partition, not a crash: the three nodes of a NATS JetStream cluster each run in
//! their own network namespace, joined by a bridge (`platform::netns`). The node leading the
//! market-data stream (3 replicas) is cut off the network while the simulator produces
//! trades; the collector and the storage service (ClickHouse) reach the two other nodes, the
//! majority. The isolated node keeps running and must accept nothing; the majority elects a
//! new leader and writes go on. Then the partition heals: the isolated node rejoins and
//! catches up to the same last sequence, and ClickHouse holds exactly the trades the
//! simulator produced, each once, as does the stream. Prints the detection and recovery
//! figures that docs/scaling.md quotes.

mod platform;

use platform::secs;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use marketprism_core::testing::{TestServer, require_server};
use marketprism_storage::nats::{NatsConfig, connect_to, ensure_streams};
use platform::{
    Proc, SimProc, cleanup, clickhouse_pairs,
    nats_cluster::{self, NatsCluster, require_nats_server_bin, stream_detail},
    netns::{Lab, require_netns},
    post_ok, sim_trade_ids, unique, wait_for,
};

const NATIVE: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const SYMBOL: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

/// `(leader, last_seq)` of `stream` in a node's `/jsz` JSON (leader empty when none).
fn view(jsz: &serde_json::Value, stream: &str) -> Option<(String, u64)> {
    let d = stream_detail(jsz, stream)?;
    Some((
        d["cluster"]["leader"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        d["state"]["last_seq"].as_u64()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_stream_leader_loses_no_trade_and_catches_up_after_the_heal() {
    // Every prerequisite is checked (under CI=true each missing one fails the test).
    let netns = require_netns();
    let (Some(bin), Some(clickhouse), true) = (
        require_nats_server_bin(),
        require_server(TestServer::ClickHouse),
        netns,
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
    // Dropped in this order: services, NATS nodes, then the namespaces.
    let lab = Lab::create(3);
    let cluster = NatsCluster::start_in(&bin, dir.path(), secs(30), &lab).await;
    let mut ha = Ha {
        procs: Vec::new(),
        cluster,
        lab,
    };
    eprintln!(
        "cluster of 3 in namespaces up in {:.1} s: {}",
        test_start.elapsed().as_secs_f64(),
        ha.cluster.urls()
    );

    // The streams are created first (with the services' own code), so the test knows the
    // leader before the services start: they are given the other two nodes, the majority.
    let stream = format!("HP_{}", run.to_uppercase());
    let prefix = format!("hp{run}");
    let config = NatsConfig::new(ha.cluster.urls())
        .stream(&stream)
        .subject_prefix(&prefix)
        .replicas(3);
    let leader = {
        let client = connect_to(&config.url, "ha-partition-setup")
            .await
            .expect("connect");
        let js = async_nats::jetstream::new(client);
        ensure_streams(&js, &config).await.expect("create streams");
        wait_for("the stream has a leader", secs(30), || async {
            let info = js
                .get_stream(&stream)
                .await
                .ok()?
                .info()
                .await
                .ok()?
                .clone();
            assert_eq!(info.config.num_replicas, 3, "stream replicas");
            info.cluster?.leader
        })
        .await
    };
    let victim = ha.cluster.index_of(&leader).expect("leader is one of ours");
    let majority: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let majority_urls = majority
        .iter()
        .map(|&i| ha.cluster.nodes[i].url())
        .collect::<Vec<_>>()
        .join(",");

    let database = format!("mpt_hp_{run}");
    let nats = format!(
        "[nats]\nurl = \"{majority_urls}\"\nstream = \"{stream}\"\n\
         subject_prefix = \"{prefix}\"\nreplicas = 3\n"
    );
    let mut sim = SimProc::start("binance-spot", &NATIVE.join(","), 200, 16).await;
    let sim_url = format!("http://{}", sim.addr);
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
    let clickhouse_toml = format!("[clickhouse]\nurl = \"{clickhouse}/?database={database}\"");
    ha.procs.extend(
        platform::start_trade_pipeline(&http, dir.path(), &nats, &clickhouse_toml, &sim, &SYMBOL)
            .await,
    );
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
    let count_query = format!(
        "SELECT symbol, count() FROM `{database}`.trade GROUP BY symbol FORMAT TabSeparated"
    );
    wait_for("trades in ClickHouse", secs(30), || async {
        let rows = clickhouse_pairs(&http, &clickhouse, &count_query).await?;
        (rows.iter().map(|r| r.1).sum::<u64>() > 200).then_some(())
    })
    .await;

    // Cut the stream leader off the network while trades flow.
    let seq_at_cut = ha
        .cluster
        .local_stream_state(&http, victim, &stream)
        .await
        .map_or(0, |s| s.1);
    let cut_at = Instant::now();
    ha.lab.cut(victim);
    eprintln!("cut stream leader {leader} off the network at last_seq {seq_at_cut}");

    // The majority elects a leader (its own /jsz says so) that then stores new messages.
    // Meanwhile the isolated node is asked from inside its namespace: it must store nothing
    // and, having lost its quorum, stop calling itself leader.
    let victim_jsz = format!(
        "http://127.0.0.1:{}/jsz?accounts=true&streams=true",
        ha.cluster.nodes[victim].monitor
    );
    let mut elected = None;
    let mut resumed = None;
    let mut stepped_down = None;
    let mut isolated_seqs = BTreeSet::new();
    let mut polls = 0u32;
    while resumed.is_none() || stepped_down.is_none() {
        assert!(
            cut_at.elapsed() < secs(45),
            "no take-over within 45 s (elected {elected:?}, resumed {resumed:?}, isolated \
             leader stepped down {stepped_down:?}):\n{}",
            ha.cluster.logs(30)
        );
        if resumed.is_none() {
            for &i in &majority {
                let Some(v) = ha.cluster.nodes[i].jsz(&http).await else {
                    continue;
                };
                let Some((lead, last)) = view(&v, &stream) else {
                    continue;
                };
                if lead == ha.cluster.nodes[i].name {
                    let (_, base) = *elected.get_or_insert((cut_at.elapsed(), last));
                    if last > base {
                        resumed = Some((cut_at.elapsed(), lead));
                    }
                }
            }
        }
        if polls.is_multiple_of(4)
            && let Some(text) = ha.lab.curl_in(victim, &victim_jsz).await
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some((lead, last)) = view(&v, &stream)
        {
            isolated_seqs.insert(last);
            if lead != leader && stepped_down.is_none() {
                stepped_down = Some(cut_at.elapsed());
            }
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (elected, _) = elected.expect("elected before resumed");
    let (resumed, new_leader) = resumed.expect("resumed");
    let stepped_down = stepped_down.expect("stepped down");
    eprintln!(
        "PARTITION: {new_leader} leads after {} ms; first new message stored after {} ms; \
         isolated {leader} stopped calling itself leader after {} ms",
        elected.as_millis(),
        resumed.as_millis(),
        stepped_down.as_millis()
    );

    // Trades keep flowing through the majority; the isolated node accepts none of them.
    tokio::time::sleep(secs(3)).await;
    if let Some(text) = ha.lab.curl_in(victim, &victim_jsz).await
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some((_, last)) = view(&v, &stream)
    {
        isolated_seqs.insert(last);
    }
    let leader_i = ha.cluster.index_of(&new_leader).expect("ours");
    let (_, seq_at_heal) = ha
        .cluster
        .local_stream_state(&http, leader_i, &stream)
        .await
        .expect("the new leader answers");
    assert_eq!(
        isolated_seqs.len(),
        1,
        "the isolated node's last_seq moved while it was cut off: {isolated_seqs:?}"
    );
    let isolated_seq = isolated_seqs.first().copied().unwrap_or_default();
    assert!(
        seq_at_heal > isolated_seq,
        "the majority stored nothing during the partition ({seq_at_heal} vs {isolated_seq})"
    );

    // Heal: the isolated node hears from the new leader and catches up while trades flow.
    let healed_at = Instant::now();
    ha.lab.heal(victim);
    let rejoined = wait_for(
        "the isolated node follows the new leader",
        secs(60),
        || async {
            let v = ha.cluster.nodes[victim].jsz(&http).await?;
            let (lead, _) = view(&v, &stream)?;
            (lead == new_leader).then(|| healed_at.elapsed())
        },
    )
    .await;
    let caught_up = wait_for("the isolated node catches up", secs(60), || async {
        let (_, last) = ha
            .cluster
            .local_stream_state(&http, victim, &stream)
            .await?;
        (last >= seq_at_heal).then(|| healed_at.elapsed())
    })
    .await;
    eprintln!(
        "HEAL: {leader} follows {new_leader} after {} ms; past the {} messages it missed \
         (last_seq {isolated_seq} → {seq_at_heal}) after {} ms",
        rejoined.as_millis(),
        seq_at_heal - isolated_seq,
        caught_up.as_millis()
    );

    tokio::time::sleep(secs(2)).await;
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
    let after = sim_trade_ids(&http, &sim_url, &NATIVE).await;

    // Exactly the produced trades, each once, in ClickHouse.
    let expected = platform::produced_trades(&SYMBOL, &before, &after);
    platform::assert_trades_stored_once(
        &http,
        &clickhouse,
        &database,
        &expected,
        secs(45),
        Duration::from_millis(300),
    )
    .await;
    let raw = clickhouse_pairs(&http, &clickhouse, &count_query)
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.1)
        .sum::<u64>();

    // The stream holds each trade once, and every node reaches its last sequence.
    let client = connect_to(&ha.cluster.urls(), "ha-partition-check")
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(&stream).await.expect("stream");
    let in_stream = nats_cluster::events_in_stream(&js, &stream, format!("{prefix}.trade.>")).await;
    assert_eq!(in_stream, expected.len(), "trade events in the stream");
    let last_seq = s.info().await.expect("info").state.last_sequence;
    for i in 0..3 {
        wait_for("every node at the last sequence", secs(30), || async {
            let (_, last) = ha.cluster.local_stream_state(&http, i, &stream).await?;
            (last == last_seq).then_some(())
        })
        .await;
    }
    eprintln!(
        "{} trades produced, stored exactly once ({raw} rows before FINAL) and {in_stream} \
         in the stream across the partition; all 3 nodes at last_seq {last_seq}; test took \
         {:.1} s",
        expected.len(),
        test_start.elapsed().as_secs_f64()
    );

    for p in ha.procs.iter_mut().rev() {
        let status = p.terminate(secs(20)).await;
        assert!(status.success(), "{} exited with {status:?}", p.name);
    }
    ha.procs.clear();
    sim.stop().await;
    let one = ha.cluster.nodes[majority[0]].url();
    cleanup(&http, &clickhouse, &database, &one, &stream).await;
}

/// The namespaces, the cluster and the services; prints their logs when the test fails.
/// Fields drop in order: services, NATS nodes, then the namespaces (deleted by [`Lab`]).
struct Ha {
    procs: Vec<Proc>,
    cluster: NatsCluster,
    lab: Lab,
}

impl Drop for Ha {
    fn drop(&mut self) {
        platform::print_logs_on_panic(&self.procs);
        if std::thread::panicking() {
            eprintln!("{}", self.cluster.logs(20));
        }
    }
}
