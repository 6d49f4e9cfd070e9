//! Borrowed serde structs for Deribit's JSON-RPC 2.0 frames.
//!
//! One pass over the frame: the envelope reads `params.channel` first and then parses
//! `params.data` straight into the struct that channel carries (see [`Params`]), so frames
//! are never walked twice. Numbers arrive as JSON numbers and become exact decimals from
//! their literal text ([`num`]). Book changes and trades, the bulk of the traffic, are first
//! offered to a narrower one-pass scanner ([`fast`]) that falls back to these structs.
//!
//! Docs: <https://docs.deribit.com/articles/notifications>,
//! <https://docs.deribit.com/articles/json-rpc-overview>.

pub(crate) mod book;
pub(crate) mod fast;
pub(crate) mod market;
pub(crate) mod num;
pub(crate) mod rest;

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor},
};
use serde_json::value::RawValue;

pub(crate) use book::{BookData, GroupedBookData};
pub(crate) use market::{
    ChartData, PerpetualData, PriceIndexData, QuoteData, TickerData, TradeData, VolIndexData,
};

/// Any frame the server sends: a notification (`method` + `params`), a response (`id` +
/// `result`) or an error response (`id` + `error`). Key order is not stable (one live error
/// body starts with `usOut`), so nothing here depends on it.
///
/// ```json
/// {"jsonrpc":"2.0","method":"subscription","params":{"channel":"quote.BTC-PERPETUAL","data":{..}}}
/// {"jsonrpc":"2.0","id":0,"result":["trades.ETH-30JUL21-2800-C.raw",..],"usIn":1626993723846980,..}
/// {"jsonrpc":"2.0","id":17,"error":{"message":"unauthorized","code":13009},"usIn":..}
/// {"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct Frame<'a> {
    /// `subscription`, `heartbeat`, or a request method (client frames).
    #[serde(borrow, default)]
    pub(crate) method: Option<&'a str>,
    /// Notification parameters.
    #[serde(borrow, default)]
    pub(crate) params: Option<Params<'a>>,
    /// Response result, kept raw: its shape tells what was answered.
    #[serde(borrow, default)]
    pub(crate) result: Option<&'a RawValue>,
    /// Error response.
    #[serde(borrow, default)]
    pub(crate) error: Option<RpcError<'a>>,
}

/// JSON-RPC error object.
///
/// ```json
/// {"message":"Invalid params","data":{"reason":"instrument not found","param":"instrument_name"},"code":-32602}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct RpcError<'a> {
    /// Error code (`10028` too_many_requests, `13009` unauthorized, `-32602` invalid params).
    pub(crate) code: i64,
    /// Message.
    #[serde(borrow)]
    pub(crate) message: Cow<'a, str>,
    /// Optional details.
    #[serde(borrow, default)]
    pub(crate) data: Option<RpcErrorData<'a>>,
}

/// `error.data` of a JSON-RPC error.
#[derive(Debug, Deserialize)]
pub(crate) struct RpcErrorData<'a> {
    /// Why.
    #[serde(borrow, default)]
    pub(crate) reason: Option<Cow<'a, str>>,
    /// Which parameter.
    #[serde(borrow, default)]
    pub(crate) param: Option<Cow<'a, str>>,
}

/// What a channel name says about the shape of its `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    /// `book.{instrument}.{interval}`: snapshot then `prev_change_id`-chained changes.
    Book,
    /// `book.{instrument}.{group}.{depth}.{interval}`: full top-N image every message.
    GroupedBook,
    /// `trades.{instrument}.{interval}` / `trades.{kind}.{currency}.{interval}`.
    Trades,
    /// `ticker.{instrument}.{interval}`.
    Ticker,
    /// `quote.{instrument}`.
    Quote,
    /// `chart.trades.{instrument}.{resolution}`.
    Chart,
    /// `deribit_price_index.{index_name}`.
    PriceIndex,
    /// `deribit_volatility_index.{index_name}`.
    VolatilityIndex,
    /// `perpetual.{instrument}.{interval}`.
    Perpetual,
    /// `platform_state`, `platform_state.public_methods_state`.
    PlatformState,
    /// `announcements`.
    Announcements,
    /// Anything else (not handled).
    Other,
}

impl ChannelKind {
    /// Classifies a channel name by its prefix (and, for books, its number of parts).
    pub(crate) fn of(channel: &str) -> Self {
        let Some((head, rest)) = channel.split_once('.') else {
            return match channel {
                "platform_state" => ChannelKind::PlatformState,
                "announcements" => ChannelKind::Announcements,
                _ => ChannelKind::Other,
            };
        };
        match head {
            "book" => {
                // `{instrument}.{interval}` vs `{instrument}.{group}.{depth}.{interval}`;
                // instrument names never contain `.` (fractional strikes use `d`).
                if rest.bytes().filter(|&b| b == b'.').count() >= 3 {
                    ChannelKind::GroupedBook
                } else {
                    ChannelKind::Book
                }
            }
            "trades" => ChannelKind::Trades,
            "ticker" => ChannelKind::Ticker,
            "quote" => ChannelKind::Quote,
            "chart" if rest.starts_with("trades.") => ChannelKind::Chart,
            "deribit_price_index" => ChannelKind::PriceIndex,
            "deribit_volatility_index" => ChannelKind::VolatilityIndex,
            "perpetual" => ChannelKind::Perpetual,
            "platform_state" => ChannelKind::PlatformState,
            _ => ChannelKind::Other,
        }
    }
}

/// The parsed `data` of a notification.
#[derive(Debug)]
pub(crate) enum Data<'a> {
    /// Book snapshot or change.
    Book(BookData<'a>),
    /// Grouped (top-N) book image.
    GroupedBook(GroupedBookData<'a>),
    /// Trades, oldest first.
    Trades(Vec<TradeData<'a>>),
    /// Ticker.
    Ticker(Box<TickerData<'a>>),
    /// Best bid/offer.
    Quote(QuoteData<'a>),
    /// Candle.
    Chart(ChartData),
    /// Index price.
    PriceIndex(PriceIndexData<'a>),
    /// Volatility index (DVOL).
    VolatilityIndex(VolIndexData<'a>),
    /// Perpetual interest (funding).
    Perpetual(PerpetualData),
    /// Content not needed (platform state, announcements, unknown channels).
    Ignored,
}

/// Parses `data` according to the channel kind.
#[derive(Clone, Copy)]
struct DataSeed(ChannelKind);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Data<'de>, D::Error> {
        Ok(match self.0 {
            ChannelKind::Book => Data::Book(BookData::deserialize(d)?),
            ChannelKind::GroupedBook => Data::GroupedBook(GroupedBookData::deserialize(d)?),
            ChannelKind::Trades => Data::Trades(Vec::deserialize(d)?),
            ChannelKind::Ticker => Data::Ticker(Box::new(TickerData::deserialize(d)?)),
            ChannelKind::Quote => Data::Quote(QuoteData::deserialize(d)?),
            ChannelKind::Chart => Data::Chart(ChartData::deserialize(d)?),
            ChannelKind::PriceIndex => Data::PriceIndex(PriceIndexData::deserialize(d)?),
            ChannelKind::VolatilityIndex => Data::VolatilityIndex(VolIndexData::deserialize(d)?),
            ChannelKind::Perpetual => Data::Perpetual(PerpetualData::deserialize(d)?),
            ChannelKind::PlatformState | ChannelKind::Announcements | ChannelKind::Other => {
                IgnoredAny::deserialize(d)?;
                Data::Ignored
            }
        })
    }
}

/// `params` of a notification: `{"channel":..,"data":..}` for subscriptions, `{"type":..}`
/// for heartbeats. `data` is parsed in the same pass when `channel` came first (as Deribit
/// sends it); otherwise it is kept raw and parsed once the channel is known.
#[derive(Debug, Default)]
pub(crate) struct Params<'a> {
    /// Subscription channel.
    pub(crate) channel: Option<&'a str>,
    /// Heartbeat type (`test_request`, `heartbeat`).
    pub(crate) kind: Option<&'a str>,
    /// Parsed data.
    pub(crate) data: Option<Data<'a>>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ParamsField {
    Channel,
    Data,
    Type,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Params<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("notification params")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'de>, A::Error> {
                let mut params = Params::default();
                let mut raw: Option<&'de RawValue> = None;
                while let Some(key) = map.next_key::<ParamsField>()? {
                    match key {
                        ParamsField::Channel => params.channel = Some(map.next_value()?),
                        ParamsField::Type => params.kind = Some(map.next_value()?),
                        ParamsField::Data => match params.channel {
                            Some(ch) => {
                                params.data =
                                    Some(map.next_value_seed(DataSeed(ChannelKind::of(ch)))?);
                            }
                            None => raw = Some(map.next_value()?),
                        },
                        ParamsField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                if let (Some(raw), Some(ch)) = (raw, params.channel) {
                    let mut de = serde_json::Deserializer::from_str(raw.get());
                    let data = DataSeed(ChannelKind::of(ch))
                        .deserialize(&mut de)
                        .map_err(de::Error::custom)?;
                    params.data = Some(data);
                }
                Ok(params)
            }
        }
        d.deserialize_map(V)
    }
}

/// What a response's `result` answered, judged by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultShape {
    /// `[...]`: the channels of a (un)subscribe.
    List,
    /// `"ok"`: `public/set_heartbeat` and similar.
    Text,
    /// `{...}`: e.g. `public/test` → `{"version":"1.2.26"}`.
    Object,
    /// Anything else.
    Other,
}

impl ResultShape {
    /// Looks at the first byte of the raw result.
    pub(crate) fn of(raw: &RawValue) -> Self {
        match raw.get().trim_start().as_bytes().first() {
            Some(b'[') => ResultShape::List,
            Some(b'"') => ResultShape::Text,
            Some(b'{') => ResultShape::Object,
            _ => ResultShape::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_kinds() {
        assert_eq!(
            ChannelKind::of("book.BTC-PERPETUAL.100ms"),
            ChannelKind::Book
        );
        assert_eq!(ChannelKind::of("book.BTC-PERPETUAL.raw"), ChannelKind::Book);
        assert_eq!(
            ChannelKind::of("book.BTC-PERPETUAL.none.10.100ms"),
            ChannelKind::GroupedBook
        );
        assert_eq!(
            ChannelKind::of("trades.option.any.raw"),
            ChannelKind::Trades
        );
        assert_eq!(
            ChannelKind::of("chart.trades.BTC-31MAR23.1"),
            ChannelKind::Chart
        );
        assert_eq!(
            ChannelKind::of("deribit_price_index.btc_usd"),
            ChannelKind::PriceIndex
        );
        assert_eq!(
            ChannelKind::of("deribit_volatility_index.btc_usd"),
            ChannelKind::VolatilityIndex
        );
        assert_eq!(
            ChannelKind::of("platform_state"),
            ChannelKind::PlatformState
        );
        assert_eq!(ChannelKind::of("announcements"), ChannelKind::Announcements);
        assert_eq!(
            ChannelKind::of("markprice.options.btc_usd"),
            ChannelKind::Other
        );
    }

    /// Response to `public/subscribe` (ws_control.jsonl, shortened).
    #[test]
    fn subscribe_response() {
        let f: Frame<'_> = serde_json::from_str(
            r#"{"jsonrpc":"2.0","id":0,"result":["trades.ETH-30JUL21-2800-C.raw","book.ETH-30JUL21-2800-C.raw"],"usIn":1626993723846980,"usOut":1626993723847561,"usDiff":581,"testnet":false}"#,
        )
        .expect("json");
        assert_eq!(f.result.map(ResultShape::of), Some(ResultShape::List));
    }

    /// Error response (errors.jsonl line 2: key order starts with `usOut`, no `id`).
    #[test]
    fn error_response() {
        let f: Frame<'_> = serde_json::from_str(
            r#"{"usOut":1703446335056501,"usIn":1703446335056492,"usDiff":9,"testnet":false,"jsonrpc":"2.0","error":{"message":"Invalid params","data":{"reason":"instrument not found","param":"instrument_name"},"code":-32602}}"#,
        )
        .expect("json");
        let e = f.error.expect("error");
        assert_eq!(e.code, -32602);
        assert_eq!(e.message, "Invalid params");
        let data = e.data.expect("data");
        assert_eq!(data.reason.as_deref(), Some("instrument not found"));
        assert_eq!(data.param.as_deref(), Some("instrument_name"));
    }

    /// Heartbeat request (ws_control.jsonl line 5).
    #[test]
    fn heartbeat_test_request() {
        let f: Frame<'_> = serde_json::from_str(
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#,
        )
        .expect("json");
        assert_eq!(f.method, Some("heartbeat"));
        assert_eq!(f.params.and_then(|p| p.kind), Some("test_request"));
    }

    /// `data` before `channel` still parses (kept raw, then parsed by channel).
    #[test]
    fn data_before_channel() {
        let f: Frame<'_> = serde_json::from_str(
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"data":{"timestamp":1535098298227,"price":6521.17,"index_name":"btc_usd"},"channel":"deribit_price_index.btc_usd"}}"#,
        )
        .expect("json");
        let Some(Data::PriceIndex(p)) = f.params.and_then(|p| p.data) else {
            panic!("price index");
        };
        assert_eq!(p.price.to_string(), "6521.17");
    }
}
