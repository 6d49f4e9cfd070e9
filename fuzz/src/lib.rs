//! Shared pieces of the fuzz targets: instrument tables, the normalizer driver and a
//! single-threaded runtime for the HTTP routers.
//!
//! Normalizer inputs are scripts, one step per line:
//!
//! | line | step |
//! |---|---|
//! | `#rest <kind> <native symbol> <body>` | `on_rest` (`kind`: `snap`, `oi`, `lsr`, `fund`, `vol`) |
//! | `#disc` | `on_disconnect` |
//! | `#emit` | `emit_books` |
//! | anything else | `on_frame` |

use std::{collections::HashSet, path::PathBuf, sync::OnceLock};

use marketprism_core::model::TimestampNs;
use marketprism_exchanges::{InstrumentMap, Normalizer, Output, RestKind, Venue};

/// Local receive time of the first step (2026-01-01T00:00:00Z); each step adds 1 ms.
pub const LOCAL_TS: i64 = 1_767_225_600_000_000_000;

const SPOT_INFO: &str =
    include_str!("../../marketprism-exchanges/tests/fixtures/binance/exchangeInfo_spot.json");
const USDM_INFO: &str =
    include_str!("../../marketprism-exchanges/tests/fixtures/binance/exchangeInfo_usdm.json");
const COINM_INFO: &str =
    include_str!("../../marketprism-exchanges/tests/fixtures/binance/exchangeInfo_coinm.json");
const OKX_EXTRA: &str =
    include_str!("../../marketprism-exchanges/tests/fixtures/okx/instruments_extra.jsonl");
const DERIBIT_EXPIRED: &str =
    include_str!("../../marketprism-exchanges/tests/fixtures/deribit/get_instruments_expired.json");

/// The shared corpus: `MARKETPRISM_CORPUS_DIR`, else `../../shared/corpus` beside the repo.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("MARKETPRISM_CORPUS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from,
    )
}

/// Non-empty lines of a corpus file (none when the corpus is absent).
fn corpus_lines(exchange: &str, file: &str) -> Vec<String> {
    std::fs::read_to_string(corpus_dir().join(exchange).join(file))
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Upper-cased word tokens (`[A-Za-z0-9_-]+`) of every corpus file of `exchanges` but the
/// instrument listings: the native symbols the frames mention.
fn mentioned(exchanges: &[&str]) -> HashSet<String> {
    let mut seen = HashSet::new();
    for exchange in exchanges {
        let Ok(dir) = std::fs::read_dir(corpus_dir().join(exchange)) else {
            continue;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains("instruments") || !name.ends_with(".jsonl") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            seen.extend(
                text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .filter(|t| !t.is_empty())
                    .map(str::to_ascii_uppercase),
            );
        }
    }
    seen
}

/// The instruments of `bodies` whose native symbol the corpus mentions. Each input clones the
/// table into a fresh normalizer, so it is kept to what the frames can reach (a few dozen
/// instruments rather than thousands: ~100× more executions per second). With no corpus, a
/// fixed handful of common symbols.
fn build(venue: Venue, bodies: &[String], seen: &HashSet<String>) -> InstrumentMap {
    const FALLBACK: [&str; 4] = ["BTCUSDT", "BTC-USDT", "BTC-PERPETUAL", "BTCUSD_PERP"];
    let exchange = venue.as_exchange();
    let mut map = InstrumentMap::new();
    for body in bodies {
        if let Ok(parsed) = exchange.parse_instruments(body) {
            map.extend(parsed.into_iter().filter(|i| {
                let native = i.native_symbol.to_ascii_uppercase();
                seen.contains(&native) || FALLBACK.contains(&native.as_str())
            }));
        }
    }
    map
}

/// The instrument table of `venue`: the test fixtures plus, for OKX and Deribit, the corpus's
/// instrument REST bodies when the corpus is present. Built once per process.
pub fn instruments(venue: Venue) -> &'static InstrumentMap {
    static MAPS: OnceLock<Vec<(Venue, InstrumentMap)>> = OnceLock::new();
    let maps = MAPS.get_or_init(|| {
        fn lines(t: &str) -> impl Iterator<Item = String> + '_ {
            t.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned)
        }
        let mut okx = corpus_lines("okx", "rest_instruments.jsonl");
        okx.extend(lines(OKX_EXTRA));
        let mut deribit = corpus_lines("deribit", "rest_get_instruments.jsonl");
        deribit.push(DERIBIT_EXPIRED.to_owned());
        let binance = mentioned(&["binance-spot", "binance-usdm", "binance-coinm"]);
        let okx_seen = mentioned(&["okx"]);
        let deribit_seen = mentioned(&["deribit"]);
        vec![
            (
                Venue::BinanceSpot,
                build(Venue::BinanceSpot, &[SPOT_INFO.to_owned()], &binance),
            ),
            (
                Venue::BinanceUsdm,
                build(Venue::BinanceUsdm, &[USDM_INFO.to_owned()], &binance),
            ),
            (
                Venue::BinanceCoinm,
                build(Venue::BinanceCoinm, &[COINM_INFO.to_owned()], &binance),
            ),
            (Venue::Okx, build(Venue::Okx, &okx, &okx_seen)),
            (Venue::Deribit, build(Venue::Deribit, &deribit, &deribit_seen)),
        ]
    });
    maps.iter()
        .find(|(v, _)| *v == venue)
        .map(|(_, m)| m)
        .unwrap_or_else(|| unreachable!("every built-in venue has a table"))
}

/// A book depth chosen by one input byte: unlimited, or a few typical limits.
pub fn depth_of(byte: u8) -> Option<usize> {
    [None, Some(1), Some(5), Some(20), Some(400)][usize::from(byte) % 5]
}

/// The REST kind named in a `#rest` line.
pub fn rest_kind(kind: &str, symbol: &str) -> Option<RestKind> {
    let native_symbol = symbol.to_owned();
    Some(match kind {
        "snap" => RestKind::DepthSnapshot { native_symbol },
        "oi" => RestKind::OpenInterest { native_symbol },
        "lsr" => RestKind::LongShortRatio {
            native_symbol,
            endpoint: "topLongShortPositionRatio".to_owned(),
        },
        "fund" => RestKind::FundingRate { native_symbol },
        "vol" => RestKind::VolatilityIndex {
            currency: native_symbol,
        },
        _ => return None,
    })
}

/// Runs one script (see the crate docs) through a fresh normalizer of `venue`.
pub fn drive(venue: Venue, depth: Option<usize>, script: &[u8]) {
    let mut n = venue
        .as_exchange()
        .normalizer(instruments(venue).clone(), depth);
    run_script(&mut *n, &String::from_utf8_lossy(script));
}

/// Feeds every line of `script` to `n`.
pub fn run_script(n: &mut dyn Normalizer, script: &str) {
    let mut out = Output::new();
    for (i, line) in script.split('\n').enumerate() {
        let ts: TimestampNs = LOCAL_TS.saturating_add(i64::try_from(i).unwrap_or(0) * 1_000_000);
        out.clear();
        if let Some(rest) = line.strip_prefix("#rest ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, symbol, body) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            if let Some(kind) = rest_kind(kind, symbol) {
                let _ = n.on_rest(&kind, body, ts, &mut out);
            }
        } else if line == "#disc" {
            n.on_disconnect(ts, &mut out);
        } else if line == "#emit" {
            n.emit_books(ts, &mut out);
        } else {
            let _ = n.on_frame(line, ts, &mut out);
        }
    }
}

/// A current-thread runtime for the router targets (one per process).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

/// An HTTP request written as text: `METHOD PATH` on the first line, `Name: value` header
/// lines up to an empty line, then the body.
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

impl<'a> RawRequest<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let head_end = find(data, b"\n\n").unwrap_or(data.len());
        let head = std::str::from_utf8(&data[..head_end]).ok()?;
        let body = data.get(head_end + 2..).unwrap_or_default();
        let mut lines = head.split('\n');
        let (method, path) = lines.next()?.split_once(' ')?;
        let headers = lines.filter_map(|l| l.split_once(": ")).collect();
        Some(RawRequest {
            method,
            path,
            headers,
            body,
        })
    }

    /// The request as an axum request; `None` when the method, URI or a header is invalid
    /// (hyper would have refused it before any router saw it).
    pub fn to_request(&self) -> Option<axum::http::Request<axum::body::Body>> {
        let mut b = axum::http::Request::builder()
            .method(self.method)
            .uri(self.path);
        for (k, v) in &self.headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::from(self.body.to_vec())).ok()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends `request` through `router` and reads the whole response body (so body-producing
/// code runs too). Returns the status.
pub async fn send(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> axum::http::StatusCode {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}
