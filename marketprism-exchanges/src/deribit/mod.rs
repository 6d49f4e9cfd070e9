//! stub
#![allow(missing_docs, unreachable_pub)]
use crate::{spec::*, *};
use marketprism_core::model::*;
pub struct StubN;
impl Normalizer for StubN {
    fn on_frame(
        &mut self,
        _: &str,
        _: TimestampNs,
        _: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        Ok(FrameKind::Data)
    }
    fn on_rest(
        &mut self,
        _: &RestKind,
        _: &str,
        _: TimestampNs,
        _: &mut Output,
    ) -> Result<(), ExchangeError> {
        Ok(())
    }
    fn on_disconnect(&mut self, _: TimestampNs, _: &mut Output) {}
}
macro_rules! stub { ($($n:ident),*) => { $(pub struct $n;
impl VenueSpec for $n {
    const VENUE: Venue = Venue::Okx; const WS_URL: &'static str = ""; const REST_URL: &'static str = "";
    const MAX_STREAMS_PER_CONNECTION: usize = 1; const MAX_SUBSCRIBE_MESSAGES_PER_SEC: u32 = 1; const MAX_SUBSCRIPTIONS_PER_MESSAGE: usize = 1;
    const KEEPALIVE: Keepalive = Keepalive::ServerPing; const MAX_CONNECTION_LIFETIME: Option<std::time::Duration> = None; const REST_WEIGHT_PER_MINUTE: u32 = 1;
    type Normalizer = StubN;
    fn source(_: Channel, _: &Instrument) -> Source { Source::Unsupported }
    fn ws_url(_: &str, _: &[Subscription]) -> String { String::new() }
    fn subscribe_frames(_: &[Subscription], _: u64) -> Vec<String> { vec![] }
    fn unsubscribe_frames(_: &[Subscription], _: u64) -> Vec<String> { vec![] }
    fn on_connect_frames(_: u64) -> Vec<String> { vec![] }
    fn instruments_requests() -> Vec<RestRequest> { vec![] }
    fn parse_instruments(_: &str) -> Result<Vec<Instrument>, ExchangeError> { Ok(vec![]) }
    fn snapshot_request(_: &str) -> Option<RestRequest> { None }
    fn poll_requests(_: &Subscription) -> Vec<(RestRequest, RestKind)> { vec![] }
    fn normalizer(_: InstrumentMap, _: Option<usize>) -> StubN { StubN }
})* } }
stub!(BinanceSpot, BinanceUsdm, BinanceCoinm, Okx, Deribit);
