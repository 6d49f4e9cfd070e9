//! High availability of the message bus: a three-node NATS JetStream cluster holds the
//! market-data stream with 3 replicas; the collector (reading `marketprism sim`) and the
//! storage service (writing ClickHouse) are given all three URLs. The stream's leader node is
//! SIGKILLed while trades flow. Afterwards ClickHouse holds exactly the trades the simulator
//! produced (none lost, none twice), the stream itself holds each trade once (the
//! `Nats-Msg-Id` dedup state survived the failover), and the killed node, restarted, catches
//! up to the same last sequence. Prints the failover figures that docs/scaling.md quotes.

mod platform;

use platform::{http_client, secs};

use std::time::{Duration, Instant};

use marketprism_core::testing::{TestServer, require_server};
use platform::{
    Proc, SimProc, cleanup, clickhouse_pairs,
    nats_cluster::{self, NatsCluster, jsz, require_nats_server_bin},
    post_ok, sim_trade_ids, unique, wait_for,
};

const NATIVE: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const SYMBOL: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_loses_no_trade_and_the_node_catches_up() {
    let (Some(bin), Some(clickhouse)) = (
        require_nats_server_bin(),
        require_server(TestServer::ClickHouse),
    ) else {
        return;
    };
    marketprism_bins::common::install_crypto();
    let test_start = Instant::now();
    let http = http_client();
    let run = unique();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ha = Ha {
        cluster: NatsCluster::start(&bin, dir.path(), secs(30)).await,
        procs: Vec::new(),
    };
    let urls = ha.cluster.urls();
    eprintln!(
        "cluster of 3 up in {:.1} s: {urls}",
        test_start.elapsed().as_secs_f64()
    );

    let database = format!("mpt_ha_{run}");
    let stream = format!("HA_{}", run.to_uppercase());
    let prefix = format!("ha{run}");
    let nats = format!(
        "[nats]\nurl = \"{urls}\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n\
         replicas = 3\n"
    );

    let mut sim = SimProc::start("binance-spot", &NATIVE.join(","), 200, 15).await;
    let sim_url = format!("http://{}", sim.addr);
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;

    let clickhouse_toml = format!("[clickhouse]\nurl = \"{clickhouse}/?database={database}\"");
    ha.procs.extend(
        platform::start_trade_pipeline(&http, dir.path(), &nats, &clickhouse_toml, &sim, &SYMBOL)
            .await,
    );

    // The stream exists with 3 replicas and a leader.
    let client = async_nats::connect(urls.split(',').collect::<Vec<_>>())
        .await
        .expect("connect to the cluster");
    let js = async_nats::jetstream::new(client);
    let leader_of = |js: async_nats::jetstream::Context, stream: String| async move {
        let mut s = js.get_stream(&stream).await.ok()?;
        let info = s.info().await.ok()?;
        let cluster = info.cluster.clone()?;
        Some((info.config.num_replicas, cluster.leader?))
    };
    let (replicas, leader) = wait_for("the stream has a leader", secs(30), || {
        leader_of(js.clone(), stream.clone())
    })
    .await;
    assert_eq!(replicas, 3, "stream replicas");

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

    // Data flows end to end before the kill.
    let count_query = format!(
        "SELECT symbol, count() FROM `{database}`.trade GROUP BY symbol FORMAT TabSeparated"
    );
    wait_for("trades in ClickHouse", secs(30), || async {
        let rows = clickhouse_pairs(&http, &clickhouse, &count_query).await?;
        (rows.iter().map(|r| r.1).sum::<u64>() > 200).then_some(())
    })
    .await;

    // SIGKILL the stream leader while trades flow.
    let victim = ha.cluster.index_of(&leader).expect("leader is one of ours");
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let seq_at_kill = ha
        .cluster
        .local_stream_state(&http, victim, &stream)
        .await
        .map_or(0, |s| s.1);
    let killed_at = Instant::now();
    ha.cluster.kill(victim).await;
    eprintln!("SIGKILLed stream leader {leader} at last_seq {seq_at_kill}");

    // A survivor becomes leader (its own /jsz says so), then accepts new messages.
    let mut elected = None;
    let mut resumed = None;
    while resumed.is_none() {
        assert!(
            killed_at.elapsed() < secs(45),
            "no take-over within 45 s:\n{}",
            ha.cluster.logs(30)
        );
        for &i in &survivors {
            let Some(v) = jsz(&http, ha.cluster.nodes[i].monitor).await else {
                continue;
            };
            let Some(detail) = v["account_details"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["stream_detail"].as_array())
                .flatten()
                .find(|s| s["name"] == stream.as_str())
            else {
                continue;
            };
            let new_leader = detail["cluster"]["leader"].as_str().unwrap_or_default();
            if new_leader == ha.cluster.nodes[i].name {
                let last = detail["state"]["last_seq"].as_u64().unwrap_or(0);
                // The sequence it had when first seen leading; a higher one is a new write.
                let (_, base) = *elected.get_or_insert((killed_at.elapsed(), last));
                if last > base {
                    resumed = Some((killed_at.elapsed(), new_leader.to_owned()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (elected, _) = elected.expect("elected before resumed");
    let (resumed, new_leader) = resumed.expect("resumed");
    eprintln!(
        "FAILOVER: {new_leader} leads after {} ms; first new message stored after {} ms",
        elected.as_millis(),
        resumed.as_millis()
    );

    // Keep trading on two nodes, then bring the killed node back.
    tokio::time::sleep(secs(3)).await;
    let restarted_at = Instant::now();
    ha.cluster.restart(victim);
    ha.cluster.wait_healthy(victim, secs(30)).await;
    eprintln!(
        "restarted {leader}: healthy after {} ms",
        restarted_at.elapsed().as_millis()
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

    // The stream holds each trade once: publishes retried across the failover were dropped
    // by the replicated duplicate window.
    let mut s = js.get_stream(&stream).await.expect("stream");
    let in_stream = nats_cluster::events_in_stream(&js, &stream, format!("{prefix}.trade.>")).await;
    assert_eq!(in_stream, expected.len(), "trade events in the stream");

    // The restarted node catches up: its own copy reaches the stream's last sequence.
    let last_seq = s.info().await.expect("info").state.last_sequence;
    let catch_up = wait_for("the restarted node catches up", secs(30), || async {
        let (_, last) = ha
            .cluster
            .local_stream_state(&http, victim, &stream)
            .await?;
        (last == last_seq).then_some(restarted_at.elapsed())
    })
    .await;
    eprintln!(
        "{} trades produced, stored exactly once ({raw} rows before FINAL) and {in_stream} \
         in the stream across the leader kill; {leader} back at last_seq {last_seq} {} ms \
         after its restart; test took {:.1} s",
        expected.len(),
        catch_up.as_millis(),
        test_start.elapsed().as_secs_f64()
    );

    for p in ha.procs.iter_mut().rev() {
        let status = p.terminate(secs(20)).await;
        assert!(status.success(), "{} exited with {status:?}", p.name);
    }
    ha.procs.clear();
    sim.stop().await;
    let one = ha.cluster.nodes[0].url();
    cleanup(&http, &clickhouse, &database, &one, &stream).await;
}

/// The cluster and the services; prints their logs when the test fails.
struct Ha {
    cluster: NatsCluster,
    procs: Vec<Proc>,
}

impl Drop for Ha {
    fn drop(&mut self) {
        platform::print_logs_on_panic(&self.procs);
        if std::thread::panicking() {
            eprintln!("{}", self.cluster.logs(20));
        }
    }
}
