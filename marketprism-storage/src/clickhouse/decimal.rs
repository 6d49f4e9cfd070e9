//! Exact conversion between [`Decimal`] and ClickHouse `Decimal(38, 18)` (`Decimal128(18)`),
//! whose RowBinary form is the value times 10^18 as a little-endian `i128`.

use rust_decimal::Decimal;

use crate::{Result, StorageError};

/// Fractional digits of every decimal column.
pub const SCALE: u32 = 18;
const TEN: i128 = 10;

/// `value * 10^18` as an `i128`; an error when `value` has more than 18 significant
/// fractional digits or exceeds the column's 20 integer digits (never rounds).
///
/// ```
/// # use marketprism_storage::clickhouse::decimal::{to_i128, from_i128};
/// let d: rust_decimal::Decimal = "64000.123456789012345678".parse()?;
/// assert_eq!(from_i128(to_i128(&d)?)?, d);
/// assert!(to_i128(&"0.0000000000000000001".parse()?).is_err());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn to_i128(value: &Decimal) -> Result<i128> {
    let d = if value.scale() > SCALE {
        value.normalize()
    } else {
        *value
    };
    let scale = d.scale();
    if scale > SCALE {
        return Err(StorageError::Unrepresentable {
            what: "decimal",
            message: format!("{value} has more than {SCALE} fractional digits"),
        });
    }
    d.mantissa()
        .checked_mul(TEN.pow(SCALE - scale))
        .filter(|v| v.unsigned_abs() < 10u128.pow(38))
        .ok_or_else(|| StorageError::Unrepresentable {
            what: "decimal",
            message: format!("{value} exceeds Decimal(38, 18)"),
        })
}

/// The decimal a stored `i128` stands for, with trailing zeros removed.
pub fn from_i128(raw: i128) -> Result<Decimal> {
    let (mut m, mut scale) = (raw, SCALE);
    while scale > 0 && m % TEN == 0 {
        m /= TEN;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(m, scale).map_err(|e| StorageError::Corrupt {
        what: "decimal",
        message: format!("{raw}e-{SCALE}: {e}"),
    })
}

/// [`to_i128`] for an optional value.
pub fn opt_to_i128(value: &Option<Decimal>) -> Result<Option<i128>> {
    value.as_ref().map(to_i128).transpose()
}

/// [`from_i128`] for an optional value.
pub fn opt_from_i128(raw: Option<i128>) -> Result<Option<Decimal>> {
    raw.map(from_i128).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        for s in [
            "0",
            "1",
            "-1",
            "0.1",
            "64000.10",
            "-0.000000000000000001",
            "9999999999.999999999999999999",
            "123456789.123456789",
        ] {
            let d: Decimal = s.parse().expect("decimal");
            assert_eq!(
                from_i128(to_i128(&d).expect("fits")).expect("back"),
                d,
                "{s}"
            );
        }
    }

    #[test]
    fn refuses_instead_of_rounding() {
        let too_fine: Decimal = "1.0000000000000000001".parse().expect("decimal");
        assert!(to_i128(&too_fine).is_err());
        let too_big: Decimal = "100000000000000000000".parse().expect("decimal");
        assert!(to_i128(&too_big).is_err());
        // Trailing zeros beyond 18 digits are fine.
        let zeros: Decimal = "1.50000000000000000000".parse().expect("decimal");
        assert_eq!(to_i128(&zeros).expect("fits"), 15 * 10i128.pow(17));
    }
}
