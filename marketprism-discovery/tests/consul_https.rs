//! Consul over HTTPS, chosen by the URL scheme `consul+https://` (`consul://` stays plain
//! HTTP). No Consul can run here, so the server is a FAKE agent (`fake_consul`, written from
//! Consul's API docs) behind real TLS with a self-signed certificate made by rcgen: the TLS
//! path of the backend — certificate trust through `ca_file`, HTTPS requests, blocking queries
//! over TLS — is exercised for real, and the whole conformance suite runs through it.
//! Consul's own semantics are only as good as the fake's imitation of them.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "consul")]

mod fake_consul;

use std::{sync::Arc, time::Duration};

use marketprism_discovery::{
    Backend, DiscoveryError, ServiceInstance, backend_from_url, conformance,
};

fn ca_file(pem: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mp-consul-ca-{}-{:08x}.pem",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&path, pem).unwrap();
    path
}

fn ns() -> String {
    format!("https{:08x}", rand::random::<u32>())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_https_passes_the_conformance_suite_against_a_fake_agent() {
    let agent = fake_consul::FakeConsul::start().await;
    let ca = ca_file(&agent.ca_pem);
    let url = format!(
        "consul+https://{}?namespace={}&ca_file={}",
        agent.addr,
        ns(),
        ca.display()
    );
    conformance::run_all(|| {
        let url = url.clone();
        async move { backend_from_url(&url).await.unwrap() as Arc<dyn Backend> }
    })
    .await
    .assert_all_passed();
    assert!(agent.requests.load(std::sync::atomic::Ordering::Relaxed) > 20);
    let _ = std::fs::remove_file(ca);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheme_chooses_tls_and_the_certificate_is_checked() {
    let agent = fake_consul::FakeConsul::start().await;
    let inst = ServiceInstance::builder("tls", "127.0.0.1", 1)
        .id("t1")
        .metadata("ssl", true)
        .build()
        .unwrap();
    let ttl = Duration::from_secs(10);

    // consul+https with the agent's certificate trusted: works.
    let ca = ca_file(&agent.ca_pem);
    let good = backend_from_url(&format!(
        "consul+https://{}?namespace={}&ca_file={}",
        agent.addr,
        ns(),
        ca.display()
    ))
    .await
    .unwrap();
    good.register(&inst, ttl).await.unwrap();
    assert_eq!(good.list("tls").await.unwrap(), vec![inst.clone()]);

    // consul:// is plain HTTP: the TLS agent cannot answer it.
    let plain = backend_from_url(&format!("consul://{}?namespace={}", agent.addr, ns()))
        .await
        .unwrap();
    let err = plain.register(&inst, ttl).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::Unavailable { .. }), "{err:?}");

    // consul+https without trusting the self-signed certificate: refused by verification.
    let untrusted = backend_from_url(&format!("consul+https://{}?namespace={}", agent.addr, ns()))
        .await
        .unwrap();
    let err = untrusted.register(&inst, ttl).await.unwrap_err();
    let chain = error_chain(&err).to_lowercase();
    assert!(chain.contains("certificate"), "{chain}");

    // A ca_file that cannot be read or holds no certificate: an error naming it.
    let err = backend_from_url(&format!(
        "consul+https://{}?ca_file=/nonexistent/ca.pem",
        agent.addr
    ))
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("ca_file `/nonexistent/ca.pem`"),
        "{err}"
    );
    let junk = ca_file("not a certificate");
    let err = backend_from_url(&format!(
        "consul+https://{}?ca_file={}",
        agent.addr,
        junk.display()
    ))
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let _ = std::fs::remove_file(ca);
    let _ = std::fs::remove_file(junk);
}
