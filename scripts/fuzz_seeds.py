#!/usr/bin/env python3
"""Writes seed inputs for one fuzz target into a folder, from the shared exchange corpus
(read in place, never copied into the repo) and small built-in examples.

    scripts/fuzz_seeds.py TARGET OUT_DIR [CORPUS_DIR]
"""
import hashlib, json, os, sys

target, out = sys.argv[1], sys.argv[2]
corpus = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("MARKETPRISM_CORPUS_DIR", "")
os.makedirs(out, exist_ok=True)
CHUNK = 40  # lines per seed: long enough for book sequencing, short enough to mutate fast


def put(data):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def lines(ex, name):
    path = os.path.join(corpus, ex, name)
    if not corpus or not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def files(ex):
    d = os.path.join(corpus, ex)
    return sorted(f for f in os.listdir(d) if f.endswith(".jsonl")) if corpus and os.path.isdir(d) else []


def chunks(ls):
    for i in range(0, len(ls), CHUNK):
        yield ls[i:i + CHUNK]


def binance_snapshots(ex):
    """`#rest snap SYMBOL body` lines: each REST snapshot paired with the symbol whose diffs it bridges."""
    diffs = {}
    for l in lines(ex, "depthUpdate.jsonl"):
        try:
            d = json.loads(l)
        except ValueError:
            continue
        d = d.get("data", d)
        if isinstance(d, dict) and "s" in d:
            diffs.setdefault(d["s"], []).append((d.get("U", 0), d.get("u", 0), l))
    out = []
    for snap in lines(ex, "rest_depth_snapshot.jsonl"):
        last = json.loads(snap).get("lastUpdateId", 0)
        for sym, ds in diffs.items():
            if any(U <= last + 1 <= u for U, u, _ in ds):
                before = [l for U, u, l in ds if u <= last + 1][-3:]
                after = [l for U, u, l in ds if u > last][:30]
                out.append("\n".join(before + [f"#rest snap {sym} {snap}"] + after))
                break
    return out


def normalizer(exchanges, selectors):
    for ex in exchanges:
        for name in files(ex):
            if name.startswith("rest_"):
                continue
            for c in chunks(lines(ex, name)):
                for sel in selectors:
                    put(bytes([sel]) + "\n".join(c).encode())
    return


if target == "normalizer_binance":
    normalizer(["binance-spot"], [0])
    normalizer(["binance-usdm"], [1, 2])
    for sel, ex in [(0, "binance-spot"), (1, "binance-usdm")]:
        for s in binance_snapshots(ex):
            put(bytes([sel]) + s.encode())
            put(bytes([sel + 6]) + (s + "\n#emit\n#disc").encode())
        for l in lines(ex, "rest_openInterest.jsonl")[:20]:
            sym = json.loads(l).get("symbol", "BTCUSDT")
            put(bytes([sel]) + f"#rest oi {sym} {l}".encode())
elif target == "normalizer_okx":
    normalizer(["okx"], [0, 2])
    put(b"\x00ping\npong\n#disc\n#emit")
elif target == "normalizer_deribit":
    normalizer(["deribit"], [0, 2])
elif target == "rest_bodies":
    # selector = venue index (spot 0, usdm 1, coinm 2, okx 3, deribit 4) + 5 * op
    for venue, ex in [(0, "binance-spot"), (1, "binance-usdm"), (3, "okx"), (4, "deribit")]:
        for name in files(ex):
            if not name.startswith("rest_"):
                continue
            for l in lines(ex, name)[:15]:
                if len(l) > 20000:
                    continue  # instrument lists: the fixtures below are smaller
                for op in (0, 1, 6):
                    put(bytes([venue + 5 * op]) + l.encode())
    here = os.path.dirname(os.path.abspath(__file__))
    fx = os.path.join(here, "..", "marketprism-exchanges", "tests", "fixtures")
    for venue, rel in [(1, "binance/topLongShortPositionRatio_usdm.json"), (2, "binance/topLongShortPositionRatio_coinm.json"),
                       (3, "okx/long_short_ratio.json"), (4, "deribit/get_instruments_expired.json"),
                       (2, "binance/exchangeInfo_coinm.json")]:
        with open(os.path.join(fx, rel), "rb") as f:
            body = f.read()
        for op in (2, 6):
            put(bytes([venue + 5 * op]) + body)
elif target == "capture_replay":
    venues = {"binance-spot": "binance-spot", "binance-usdm": "binance-usdm", "okx": "okx", "deribit": "deribit"}
    for ex, venue in venues.items():
        for name in files(ex):
            if name.startswith("rest_"):
                continue
            for c in list(chunks(lines(ex, name)))[:4]:
                recs = [json.dumps({"kind": "ws", "ts": 1767225600000000000 + i, "venue": venue, "conn": f"{venue}#1.1", "frame": l})
                        for i, l in enumerate(c[:15])]
                recs.insert(len(recs) // 2, json.dumps({"kind": "disconnected", "ts": 1, "venue": venue, "conn": f"{venue}#1.1", "reason": "eof"}))
                put("\n".join(recs))
    for l in lines("deribit", "rest_get_order_book.jsonl")[:3]:
        put(json.dumps({"kind": "rest", "ts": 1, "venue": "deribit", "conn": "deribit#1.1",
                        "request": {"type": "depth_snapshot", "native_symbol": "BTC-PERPETUAL"}, "body": l}))
elif target == "config_loader":
    put('name = "gw"\n[proxy]\ntimeout_ms = 10\n[[routes]]\nprefix = "/api/v1/x"\nservice = "x"\n')
    put('SET auth.enabled=false\nSET limits.per_ip.per_second=5\nENV MARKETPRISM_CORS__ALLOWED_ORIGINS=["*"]\n[auth]\npublic_paths = ["/health"]\n')
    put('YAML\nname: gw\nupstreams:\n  storage:\n    - id: a\n      url: "http://127.0.0.1:1"\n      weight: 2\n')
    put('[auth.jwt]\nhs256_secret = "s"\nleeway_secs = 5\n[[auth.api_keys]]\nname = "k"\nsha256 = "00"\nroles = ["read"]\n')
elif target == "storage_api":
    ev = '{"exchange":"binance","market":"spot","symbol":"BTC-USDT","price":"64000.5","size":"0.01","side":"buy","trade_id":"1","exchange_ts":1767225600000000000,"local_ts":1767225600000000000}'
    put("POST /api/v1/storage/hot/trades\ncontent-type: application/json\n\n" + ev)
    put("POST /api/v1/storage/cold/archive\ncontent-type: application/json\n\n[" + ev.replace('{', '{"type":"trade",', 1) + "]")
    for p in ["/api/v1/storage/hot/trades/binance/BTC-USDT?limit=5", "/api/v1/storage/hot/tickers/okx/BTC-USDT-PERP?market=perpetual",
              "/api/v1/storage/hot/orderbooks/binance/BTC-USDT", "/api/v1/storage/hot/latest/bbo/deribit/BTC-PERP",
              "/api/v1/storage/cold/trade/binance/BTC-USDT?start_time=0&end_time=9223372036854775807&limit=10&order=desc",
              "/api/v1/storage/stats", "/api/v1/storage/status", "/api/v1/storage/database/status"]:
        put("GET " + p + "\n\n")
    put('POST /api/v1/storage/lifecycle/cleanup\ncontent-type: application/json\n\n{"retention_hours": 49}')
    put('POST /api/v1/storage/lifecycle/archive\ncontent-type: application/json\n\n{"days_ago": 3}')
elif target == "gateway":
    for p in ["/_gateway/status", "/_gateway/services", "/_gateway/openapi.json", "/api/v1/storage/status?x=1", "/health", "/ws/v1/stream?subjects=trade.%3E"]:
        put(f"GET {p}\nx-api-key: reader-key\nx-forwarded-for: 10.0.0.1, 10.0.0.2\norigin: https://app.example\n\n")
    put("POST /api/v1/scheduler/tasks\nauthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x\n\n{}")
    put("GET /ws/v1/stream?subjects=book.okx.*.BTC-USDT\nconnection: upgrade\nupgrade: websocket\nsec-websocket-version: 13\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\nx-api-key: admin-key\n\n")
    put("OPTIONS /api/v1/storage/status\norigin: https://app.example\naccess-control-request-method: GET\n\n")
elif target == "subject":
    put("trade.binance.*.BTC-USDT\ntrade.binance.spot.BTC-USDT")
    put("book.>\nbook.okx.perpetual.BTC-USDT-PERP")
    put('*\n{"type":"trade","exchange":"binance","market":"spot","symbol":"BTC-USDT","price":"1","size":"1","side":"buy","trade_id":"1","exchange_ts":1,"local_ts":1}')
    put('status.>\n{"type":"status","exchange":"okx","market":"spot","kind":"connected","local_ts":1}')
elif target == "decimal":
    put(b"\x01" + b"64000.123456789012345678")
    put(b"\x01" + b"-0.000000000000000001")
    put(b"\x00" + bytes(12) + b"\x12")
    put(b"\x02" + (10**18).to_bytes(16, "little", signed=True))
    put(b'\x03[{"type":"trade","exchange":"binance","market":"spot","symbol":"BTC-USDT","price":"1.5","size":"2","side":"sell","trade_id":"9","exchange_ts":1,"local_ts":2}]')
else:
    sys.exit(f"unknown target {target}")
print(len(os.listdir(out)))
