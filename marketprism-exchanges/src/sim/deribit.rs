//! stub
use super::Shared;
use super::conn::{Ctx, Out, Protocol};
use super::market::Update;
use axum::Router;
use std::sync::Arc;
pub(crate) struct DeribitWs;
impl DeribitWs {
    pub(crate) fn new(_s: &Shared) -> Self {
        DeribitWs
    }
}
impl Protocol for DeribitWs {
    fn on_text(&mut self, _t: &str, _c: &Ctx<'_>) -> Vec<Out> {
        Vec::new()
    }
    fn on_update(&mut self, _u: &Update, _c: &Ctx<'_>, _o: &mut Vec<Out>) {}
    fn shutdown_notice(&mut self, _c: &Ctx<'_>) -> Vec<Out> {
        Vec::new()
    }
}
pub(crate) fn rest_routes() -> Router<Arc<Shared>> {
    Router::new()
}
