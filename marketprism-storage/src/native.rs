//! Recognizes exchange-native symbols (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC-PERPETUAL`) given
//! where the API expects a normalized one, and derives the normalized form where it can, so
//! a query by native symbol answers 400 with a hint instead of an empty 200.
//!
//! Everything is stored under the normalized symbol (`BTC-USDT`, `BTC-USDT-PERP`,
//! `BTC-USD-20261225`, `BTC-USD-20261225-60000-C`, `BTC-DVOL`): a native symbol can only
//! ever match nothing.

/// Quote assets recognized at the end of a Binance symbol, longest first where one is a
/// suffix of another.
const QUOTES: [&str; 11] = [
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "USD",
];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Why `symbol` cannot be a normalized symbol, with the normalized form when derivable;
/// `None` when it has the normalized shape.
pub(crate) fn refusal(symbol: &str) -> Option<String> {
    if is_normalized_shape(symbol) {
        return None;
    }
    Some(match suggest(symbol) {
        Some(n) if n != symbol => {
            format!("`{symbol}` is an exchange-native symbol; use the normalized symbol, e.g. {n}")
        }
        _ => format!(
            "`{symbol}` is not a normalized symbol; use BASE-QUOTE[-PERP | -YYYYMMDD[-STRIKE-C|P]], e.g. BTC-USDT"
        ),
    })
}

/// `BASE-QUOTE...`: at least two `-`-separated tokens, no `_`, base and quote upper case,
/// no native suffix (`SWAP`, `PERPETUAL`) and no native date (`261225`, `27DEC24`).
fn is_normalized_shape(symbol: &str) -> bool {
    let tokens: Vec<&str> = symbol.split('-').collect();
    if tokens.len() < 2 || symbol.contains('_') || tokens.iter().any(|t| t.is_empty()) {
        return false;
    }
    let upper_alnum = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    upper_alnum(tokens[0])
        && upper_alnum(tokens[1])
        && !tokens.iter().any(|t| {
            matches!(*t, "SWAP" | "PERPETUAL") || yymmdd(t).is_some() || ddmonyy(t).is_some()
        })
}

/// The normalized form of a native symbol, where its convention is recognizable.
pub(crate) fn suggest(symbol: &str) -> Option<String> {
    let upper = symbol.to_ascii_uppercase();
    let tokens: Vec<&str> = upper.split('-').collect();
    match tokens.as_slice() {
        // Binance: BTCUSDT, BTCUSD_PERP, BTCUSDT_261225; Deribit spot: BTC_USDC.
        [one] => {
            let (pair, suffix) = one
                .split_once('_')
                .map_or((*one, None), |(p, s)| (p, Some(s)));
            if let Some(quote) =
                suffix.filter(|q| *q != "PERP" && q.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Some(format!("{pair}-{quote}"));
            }
            let (base, quote) = split_pair(pair)?;
            match suffix {
                None => Some(format!("{base}-{quote}")),
                Some("PERP") => Some(format!("{base}-{quote}-PERP")),
                Some(d) => Some(format!("{base}-{quote}-{}", yymmdd(d)?)),
            }
        }
        // Deribit: BTC-PERPETUAL, BTC_USDC-PERPETUAL, BTC-27DEC24, BTC-27DEC24-60000-C.
        [head, rest @ ..]
            if head.contains('_')
                || rest
                    .first()
                    .is_some_and(|t| *t == "PERPETUAL" || ddmonyy(t).is_some()) =>
        {
            let (base, quote) = head.split_once('_').unwrap_or((head, "USD"));
            match rest {
                [] => Some(format!("{base}-{quote}")),
                ["PERPETUAL"] => Some(format!("{base}-{quote}-PERP")),
                [d] => Some(format!("{base}-{quote}-{}", ddmonyy(d)?)),
                [d, strike, cp @ ("C" | "P")] => {
                    Some(format!("{base}-{quote}-{}-{strike}-{cp}", ddmonyy(d)?))
                }
                _ => None,
            }
        }
        // OKX: BTC-USDT-SWAP, BTC-USD-261225, BTC-USD-261225-60000-C; any lower case.
        [base, quote, rest @ ..] => {
            let tail = match rest {
                [] => String::new(),
                ["SWAP"] => "-PERP".to_owned(),
                [d] => format!("-{}", yymmdd(d)?),
                [d, strike, cp @ ("C" | "P")] => format!("-{}-{strike}-{cp}", yymmdd(d)?),
                _ => return None,
            };
            Some(format!("{base}-{quote}{tail}"))
        }
        _ => None,
    }
}

/// `BTCUSDT` → (`BTC`, `USDT`).
fn split_pair(pair: &str) -> Option<(&str, &str)> {
    QUOTES.iter().find_map(|q| {
        pair.strip_suffix(q)
            .filter(|b| !b.is_empty())
            .map(|b| (b, *q))
    })
}

/// `261225` → `20261225`.
fn yymmdd(t: &str) -> Option<String> {
    (t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit())).then(|| format!("20{t}"))
}

/// `27DEC24` / `3JAN25` → `20241227` / `20250103`.
fn ddmonyy(t: &str) -> Option<String> {
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (day, rest) = t.split_at(split);
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| rest.get(..3) == Some(*m))? + 1;
    let year = rest.get(3..)?;
    (year.len() == 2 && year.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("20{year}{month:02}{day:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_symbols_pass() {
        for s in [
            "BTC-USDT",
            "BTC-USDT-PERP",
            "BTC-USD-20261225",
            "BTC-USD-20261225-60000-C",
            "MATIC-USDC-20240309-1d02-C",
            "BTC-DVOL",
            "BTC-USD",
        ] {
            assert_eq!(refusal(s), None, "{s}");
        }
    }

    #[test]
    fn natives_get_a_hint() {
        for (native, normalized) in [
            ("BTCUSDT", "BTC-USDT"),
            ("btcusdt", "BTC-USDT"),
            ("BTCUSD_PERP", "BTC-USD-PERP"),
            ("BTCUSDT_261225", "BTC-USDT-20261225"),
            ("BTC-USDT-SWAP", "BTC-USDT-PERP"),
            ("BTC-USD-261225", "BTC-USD-20261225"),
            ("BTC-USD-261225-60000-C", "BTC-USD-20261225-60000-C"),
            ("BTC-PERPETUAL", "BTC-USD-PERP"),
            ("BTC_USDC-PERPETUAL", "BTC-USDC-PERP"),
            ("BTC_USDC", "BTC-USDC"),
            ("BTC-27DEC24", "BTC-USD-20241227"),
            ("ETH-3JAN25-2800-P", "ETH-USD-20250103-2800-P"),
            ("btc-usdt", "BTC-USDT"),
        ] {
            let msg = refusal(native).unwrap_or_default();
            assert!(
                msg.ends_with(&format!("e.g. {normalized}")),
                "{native}: {msg}"
            );
        }
        assert!(refusal("XYZ").is_some_and(|m| m.contains("not a normalized symbol")));
    }
}
