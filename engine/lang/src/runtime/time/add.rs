//! `time:add`'s calendar arithmetic: a spec map of years, months, days,
//! hours... added to an instant like moment does it in UTC.

use super::{date_ms, MAX_MS, MS_PER_DAY};
use crate::runtime::value::{parse_js_number, Map, Value};
use chrono::{DateTime, Datelike, NaiveDate};

/// A number in a spec map: numbers, and strings holding one.
fn spec_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Str(t) => parse_js_number(t),
        _ => None,
    }
}

/// The unit a spec key names: plural or singular (any case) or moment's
/// one-letter aliases. 0 years, 1 quarters, 2 months, 3 weeks, 4 days,
/// 5 hours, 6 minutes, 7 seconds, 8 milliseconds.
fn spec_unit(key: &str) -> Option<usize> {
    let short = match key {
        "y" => Some(0),
        "Q" => Some(1),
        "M" => Some(2),
        "w" => Some(3),
        "d" => Some(4),
        "h" => Some(5),
        "m" => Some(6),
        "s" => Some(7),
        "ms" => Some(8),
        _ => None,
    };
    short.or_else(|| {
        let lower = key.to_ascii_lowercase();
        let name = lower.strip_suffix('s').unwrap_or(&lower);
        [
            "year",
            "quarter",
            "month",
            "week",
            "day",
            "hour",
            "minute",
            "second",
            "millisecond",
        ]
        .iter()
        .position(|u| *u == name)
    })
}

/// Adds a spec to `ms` like moment (UTC): whole months first (the day
/// clamped to the new month's length), then whole days, then the rest in
/// milliseconds. Months and days are rounded half away from zero.
pub(super) fn add_spec(ms: i64, spec: &Map) -> Option<i64> {
    let mut units = [0.0f64; 9];
    for (k, v) in spec {
        if let (Some(u), Some(x)) = (spec_unit(k), spec_number(v)) {
            units[u] += x;
        }
    }
    let months = (units[0] * 12.0 + units[1] * 3.0 + units[2]).round();
    let days = (units[3] * 7.0 + units[4]).round();
    let rest = units[5] * 3_600_000.0 + units[6] * 60_000.0 + units[7] * 1000.0 + units[8];
    if !(months.abs() < 1e7 && days.abs() < 1e9 && rest.abs() < 1e17) {
        return None;
    }
    let mut ms = ms;
    if months != 0.0 {
        let dt = DateTime::from_timestamp_millis(ms)?;
        let total = dt.year() as i64 * 12 + dt.month0() as i64 + months as i64;
        let year = i32::try_from(total.div_euclid(12)).ok()?;
        let month = total.rem_euclid(12) as u32 + 1;
        let day = dt.day().min(days_in_month(year, month)?);
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        ms = date_ms(date) + ms.rem_euclid(MS_PER_DAY);
    }
    ms += days as i64 * MS_PER_DAY;
    let ms = (ms as f64 + rest).trunc();
    (ms.abs() <= MAX_MS as f64).then_some(ms as i64)
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((next - first).num_days() as u32)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn add_like_the_reference_with_every_unit_and_months_clamped() {
        #[rustfmt::skip]
        let cases = [
            ("2017-01-01", r#"{"years": -2017}"#, "0000-01-01T00:00:00.000Z"),
            ("2017-01-01", r#"{"months": -22}"#, "2015-03-01T00:00:00.000Z"),
            ("2010-08-08", r#"{"weeks": 5}"#, "2010-09-12T00:00:00.000Z"),
            ("2010-08-08T05:00:00", r#"{"hours": 3}"#, "2010-08-08T08:00:00.000Z"),
            // the spec's examples
            ("2017-01-01", r#"{"days": -10}"#, "2016-12-22T00:00:00.000Z"),
            ("2017-01-01", r#"{"minutes": 2, "seconds": 90}"#, "2017-01-01T00:03:30.000Z"),
            // months clamp the day to the new month's length
            ("2024-01-31", r#"{"months": 1}"#, "2024-02-29T00:00:00.000Z"),
            ("2023-01-31T10:20:30.400Z", r#"{"months": 1}"#, "2023-02-28T10:20:30.400Z"),
            ("2024-03-31", r#"{"months": -1}"#, "2024-02-29T00:00:00.000Z"),
            ("2024-02-29", r#"{"years": 1}"#, "2025-02-28T00:00:00.000Z"),
            // months first, then days: Jan 31 + 1 month = Feb 29, + 1 day = Mar 1
            ("2024-01-31", r#"{"days": 1, "months": 1}"#, "2024-03-01T00:00:00.000Z"),
            // every unit, singular, short and capitalised names, numbers in strings
            (
                "2017-01-01",
                r#"{"years": 1, "months": 2, "weeks": 1, "days": 1, "hours": 1,
                    "minutes": 1, "seconds": 1, "milliseconds": 1}"#,
                "2018-03-09T01:01:01.001Z",
            ),
            ("2017-01-01", r#"{"quarters": 1, "day": 2, "ms": 5, "M": 1, "m": 1}"#, "2017-05-03T00:01:00.005Z"),
            ("2017-01-01", r#"{"Hours": "2", "seconds": null}"#, "2017-01-01T02:00:00.000Z"),
            ("2017-01-01", r#"{"seconds": -0.5}"#, "2016-12-31T23:59:59.500Z"),
            ("2017-01-01", r#"{"days": 1.5}"#, "2017-01-03T00:00:00.000Z"),
            ("2017-01-01", r#"{}"#, "2017-01-01T00:00:00.000Z"),
        ];
        for (date, spec, want) in cases {
            let got = t("add", &[st(date), j(spec)]);
            assert_eq!(got, st(want), "{date} + {spec}");
        }
        // a number is a date *string*; non-numbers and unknown keys ignored
        for spec in [r#"{"seconds": "five"}"#, r#"{"secondz": 5}"#] {
            assert_eq!(
                t("add", &[n(1967342.0), j(spec)]),
                st("1967-12-08T00:00:00.000Z")
            );
        }
        // beyond JavaScript's range: null, like the reference
        for spec in [r#"{"years": 300000}"#, r#"{"days": 1e300}"#] {
            assert_eq!(t("add", &[st("2017-01-01"), j(spec)]), Value::Null);
        }
    }

    #[test]
    fn add_errors() {
        assert_eq!(
            e("add", &[Value::Null, j("{}")]),
            "time:add needs a date string"
        );
        assert_eq!(e("add", &[n(67342.0)]), "time:add needs a spec map");
        assert_eq!(
            e("add", &[n(67342.0), n(5.0)]),
            "TypeError: time:add was given 67342 instead of a date string"
        );
        assert_eq!(
            e("add", &[st("67342"), n(5.0)]),
            "time:add was given an invalid date string (67342)"
        );
        assert_eq!(
            e("add", &[st("2017-01-01"), j("[]")]),
            "TypeError: time:add was given [Array] instead of a spec map"
        );
    }
}
