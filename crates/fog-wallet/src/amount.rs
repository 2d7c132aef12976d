//! Amounts as people type and read them.
//!
//! Token 0 is MOB, whose smallest unit is the picoMOB (10^-12 MOB): people write MOB with up
//! to 12 decimals (`2.5`, `2.5MOB`, `0.0004 MOB`), or picoMOB with the `pMOB` suffix
//! (`400000000pMOB`). Other tokens have no known decimals here: their amounts are whole
//! numbers of the token's smallest unit. Machine output (`--json`) is always in smallest units.

/// picoMOB per MOB.
pub const PICOMOB_PER_MOB: u64 = 1_000_000_000_000;

/// Decimals of MOB.
const MOB_DECIMALS: usize = 12;

/// Parses an amount of `token` into its smallest unit. Zero is refused.
pub fn parse_amount(text: &str, token: u64) -> Result<u64, String> {
    let t = text.trim();
    let value = if token == 0 {
        parse_mob(t)?
    } else {
        t.parse::<u64>().map_err(|_| {
            format!("{text:?} is not a whole number of token {token}'s smallest unit")
        })?
    };
    if value == 0 {
        return Err("the amount is zero".into());
    }
    Ok(value)
}

fn parse_mob(t: &str) -> Result<u64, String> {
    let bad = || {
        format!("{t:?} is not an amount of MOB (such as 2.5, 2.5MOB or 400000000pMOB; at most 12 decimals)")
    };
    for suffix in ["pMOB", "picoMOB"] {
        if let Some(number) = t.strip_suffix(suffix) {
            let number = number.trim_end();
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            return number.parse::<u64>().map_err(|_| bad());
        }
    }
    let number = t.strip_suffix("MOB").map_or(t, str::trim_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty())
        || frac.len() > MOB_DECIMALS
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut frac_units: u64 = 0;
    for (i, d) in frac.bytes().enumerate() {
        let place = 10u64.pow((MOB_DECIMALS - 1 - i) as u32);
        frac_units += u64::from(d - b'0') * place;
    }
    whole
        .checked_mul(PICOMOB_PER_MOB)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(|| format!("{t:?} MOB is more than a TxOut can hold"))
}

/// An amount of `token` for people: MOB with its decimals (trailing zeros dropped) for
/// token 0, the plain number of smallest units otherwise.
pub fn format_amount(value: u128, token: u64) -> String {
    if token != 0 {
        return format!("{value} (token {token})");
    }
    let per = u128::from(PICOMOB_PER_MOB);
    let whole = value / per;
    let frac = value % per;
    if frac == 0 {
        return format!("{whole} MOB");
    }
    let digits = format!("{frac:012}");
    format!("{whole}.{} MOB", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mob_amounts() {
        assert_eq!(parse_amount("1", 0).unwrap(), PICOMOB_PER_MOB);
        assert_eq!(parse_amount("2.5", 0).unwrap(), 2_500_000_000_000);
        assert_eq!(parse_amount("2.5MOB", 0).unwrap(), 2_500_000_000_000);
        assert_eq!(parse_amount(" 0.0004 MOB", 0).unwrap(), 400_000_000);
        assert_eq!(parse_amount(".5", 0).unwrap(), PICOMOB_PER_MOB / 2);
        assert_eq!(parse_amount("0.000000000001", 0).unwrap(), 1);
        assert_eq!(parse_amount("400000000pMOB", 0).unwrap(), 400_000_000);
        assert_eq!(parse_amount("7 picoMOB", 0).unwrap(), 7);
        for bad in [
            "",
            "0",
            "0.0",
            "-1",
            "1e3",
            "1.2.3",
            "0.0000000000001",
            "1,5",
            "MOB",
            "1.5pMOB",
            "18446745",
            ".",
        ] {
            assert!(parse_amount(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn other_tokens_are_whole_units() {
        assert_eq!(parse_amount("1000", 1).unwrap(), 1000);
        assert!(parse_amount("1.5", 1).is_err());
        assert!(parse_amount("1MOB", 1).is_err());
        assert!(parse_amount("0", 1).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_amount(0, 0), "0 MOB");
        assert_eq!(format_amount(40 * u128::from(PICOMOB_PER_MOB), 0), "40 MOB");
        assert_eq!(format_amount(39_999_600_000_000, 0), "39.9996 MOB");
        assert_eq!(format_amount(1, 0), "0.000000000001 MOB");
        assert_eq!(format_amount(5, 2), "5 (token 2)");
        for v in [1u64, 400_000_000, 2_500_000_000_000, 123_456_789_012_345] {
            let text = format_amount(u128::from(v), 0);
            assert_eq!(parse_amount(&text, 0).unwrap(), v, "{text}");
        }
    }
}
