//! The data-storage-service routes (`marketprism_storage::api::routes`) over an embedded
//! store in a temp dir, called with arbitrary requests (see `RawRequest`): path segments,
//! query parameters and JSON bodies. No input may panic or answer 500.
//!
//! The store is reopened empty every few thousand inputs so the disk use stays bounded.
#![no_main]

use std::{cell::RefCell, sync::Arc};

use libfuzzer_sys::fuzz_target;
use marketprism_fuzz::{RawRequest, runtime, send};
use marketprism_storage::{
    api::{ApiState, routes},
    embedded::EmbeddedStore,
};

struct Fresh {
    router: axum::Router,
    uses: u32,
    _dir: tempfile::TempDir,
}

fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let store = EmbeddedStore::open(dir.path().join("store.redb"))
        .unwrap_or_else(|e| panic!("open store: {e}"));
    Fresh {
        router: routes(ApiState::single(Arc::new(store))),
        uses: 0,
        _dir: dir,
    }
}

thread_local! {
    static STATE: RefCell<Option<Fresh>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = RawRequest::parse(data) else {
        return;
    };
    let Some(request) = raw.to_request() else {
        return;
    };
    let router = STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.as_ref().is_none_or(|f| f.uses >= 5_000) {
            *s = None; // drop (and delete) the old store first
            *s = Some(fresh());
        }
        let f = s.as_mut().unwrap_or_else(|| unreachable!());
        f.uses += 1;
        f.router.clone()
    });
    let status = runtime().block_on(send(&router, request));
    assert_ne!(status.as_u16(), 500, "{} {}", raw.method, raw.path);
});
