//! A venue's [`VenueSpec`] as a table of function pointers, so the connection machinery is
//! written once, without generics, and chosen at run time from a [`Venue`].

use std::time::Duration;

use marketprism_core::model::Instrument;

use crate::{
    ExchangeError, InstrumentMap, Normalizer, RestKind, Venue,
    spec::{Keepalive, RestRequest, Source, Subscription, VenueSpec},
    venue::Channel,
};

/// Everything the connection layer uses from a [`VenueSpec`].
#[derive(Clone, Copy)]
pub(crate) struct Ops {
    pub(crate) venue: Venue,
    pub(crate) ws_url_default: &'static str,
    pub(crate) rest_url_default: &'static str,
    pub(crate) max_streams_per_connection: usize,
    pub(crate) max_subscribe_messages_per_sec: u32,
    pub(crate) keepalive: Keepalive,
    pub(crate) max_connection_lifetime: Option<Duration>,
    pub(crate) rest_weight_per_minute: u32,
    pub(crate) source: fn(Channel, &Instrument) -> Source,
    pub(crate) ws_url: fn(&str, &[Subscription]) -> String,
    pub(crate) subscribe_frames: fn(&[Subscription], u64) -> Vec<String>,
    pub(crate) unsubscribe_frames: fn(&[Subscription], u64) -> Vec<String>,
    pub(crate) on_connect_frames: fn(u64) -> Vec<String>,
    pub(crate) instruments_requests: fn() -> Vec<RestRequest>,
    pub(crate) parse_instruments: fn(&str) -> Result<Vec<Instrument>, ExchangeError>,
    pub(crate) snapshot_request: fn(&str) -> Option<RestRequest>,
    pub(crate) poll_requests: fn(&Subscription) -> Vec<(RestRequest, RestKind)>,
    pub(crate) normalizer: fn(InstrumentMap, Option<usize>) -> Box<dyn Normalizer>,
}

fn boxed_normalizer<V: VenueSpec>(i: InstrumentMap, depth: Option<usize>) -> Box<dyn Normalizer> {
    Box::new(V::normalizer(i, depth))
}

impl Ops {
    pub(crate) fn of<V: VenueSpec>() -> Ops {
        Ops {
            venue: V::VENUE,
            ws_url_default: V::WS_URL,
            rest_url_default: V::REST_URL,
            max_streams_per_connection: V::MAX_STREAMS_PER_CONNECTION,
            max_subscribe_messages_per_sec: V::MAX_SUBSCRIBE_MESSAGES_PER_SEC,
            keepalive: V::KEEPALIVE,
            max_connection_lifetime: V::MAX_CONNECTION_LIFETIME,
            rest_weight_per_minute: V::REST_WEIGHT_PER_MINUTE,
            source: V::source,
            ws_url: V::ws_url,
            subscribe_frames: V::subscribe_frames,
            unsubscribe_frames: V::unsubscribe_frames,
            on_connect_frames: V::on_connect_frames,
            instruments_requests: V::instruments_requests,
            parse_instruments: V::parse_instruments,
            snapshot_request: V::snapshot_request,
            poll_requests: V::poll_requests,
            normalizer: boxed_normalizer::<V>,
        }
    }

    /// The table of `venue`.
    pub(crate) fn for_venue(venue: Venue) -> Ops {
        match venue {
            Venue::BinanceSpot => Ops::of::<crate::binance::BinanceSpot>(),
            Venue::BinanceUsdm => Ops::of::<crate::binance::BinanceUsdm>(),
            Venue::BinanceCoinm => Ops::of::<crate::binance::BinanceCoinm>(),
            Venue::Okx => Ops::of::<crate::okx::Okx>(),
            Venue::Deribit => Ops::of::<crate::deribit::Deribit>(),
        }
    }
}

/// A fresh boxed normalizer for `venue` (used by replay).
///
/// ```
/// use marketprism_exchanges::{new_normalizer, InstrumentMap, Venue};
/// let n = new_normalizer(Venue::Okx, InstrumentMap::new(), Some(400));
/// # let _ = n;
/// ```
pub fn new_normalizer(
    venue: Venue,
    instruments: InstrumentMap,
    book_depth: Option<usize>,
) -> Box<dyn Normalizer> {
    (Ops::for_venue(venue).normalizer)(instruments, book_depth)
}

/// Parses an instruments response body of `venue`.
pub fn parse_instruments(venue: Venue, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
    (Ops::for_venue(venue).parse_instruments)(body)
}
