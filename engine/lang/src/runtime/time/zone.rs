//! Time zones: reading a zone argument, and an instant's wall-clock
//! fields (date, time, offset, abbreviation) in a zone.

use super::given_instead;
use crate::runtime::error::RuntimeError;
use crate::runtime::value::Value;
use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetName, Tz};

/// A zone to show dates in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Zone {
    Utc,
    Named(Tz),
}

/// The zone in `v` for `who`: null (or a map without `tz`) is UTC; a
/// string is an IANA name; a map's `"tz"` entry likewise. `what` names the
/// expected value in the TypeError for anything else.
pub(super) fn zone_arg(v: &Value, who: &str, what: &str) -> Result<Zone, RuntimeError> {
    let name = match v {
        Value::Null => return Ok(Zone::Utc),
        Value::Str(name) => name,
        Value::Map(m) => match m.get("tz") {
            None | Some(Value::Null) => return Ok(Zone::Utc),
            Some(Value::Str(name)) => name,
            Some(other) => return Err(given_instead(who, other, "a time zone string")),
        },
        other => return Err(given_instead(who, other, what)),
    };
    if matches!(&**name, "UTC" | "Z" | "") {
        return Ok(Zone::Utc);
    }
    name.parse::<Tz>()
        .map(Zone::Named)
        .map_err(|_| RuntimeError::new(format!("{who} doesn't recognize the time zone {name}")))
}

/// A date as seen on a wall clock somewhere.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Wall {
    /// The instant, ms since the epoch.
    pub(super) epoch_ms: i64,
    pub(super) year: i32,
    /// 1–12
    pub(super) month: u32,
    /// 1–31
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
    pub(super) millisecond: u32,
    /// 0 = Sunday
    pub(super) weekday: u32,
    /// 1–366
    pub(super) ordinal: u32,
    /// ISO week-numbering year and week
    pub(super) iso_year: i32,
    pub(super) iso_week: u32,
    /// seconds east of UTC
    pub(super) offset: i32,
    /// `UTC`, `CEST`, `MDT`...
    pub(super) abbreviation: String,
}

/// The tz database's name for a zone without a letter abbreviation:
/// `+13`, `-03`, `+0545`.
fn numeric_abbreviation(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    match minutes % 60 {
        0 => format!("{sign}{:02}", minutes / 60),
        m => format!("{sign}{:02}{m:02}", minutes / 60),
    }
}

pub(super) fn wall(ms: i64, zone: Zone) -> Option<Wall> {
    let utc = DateTime::from_timestamp_millis(ms)?;
    let (local, offset, abbreviation) = match zone {
        Zone::Utc => (utc.naive_utc(), 0, "UTC".to_string()),
        Zone::Named(tz) => {
            let there = tz.from_utc_datetime(&utc.naive_utc());
            let off = there.offset();
            (
                there.naive_local(),
                off.fix().local_minus_utc(),
                off.abbreviation().map_or_else(
                    || numeric_abbreviation(off.fix().local_minus_utc()),
                    str::to_string,
                ),
            )
        }
    };
    let week = local.iso_week();
    Some(Wall {
        epoch_ms: ms,
        year: local.year(),
        month: local.month(),
        day: local.day(),
        hour: local.hour(),
        minute: local.minute(),
        second: local.second(),
        millisecond: local.and_utc().timestamp_subsec_millis(),
        weekday: local.weekday().num_days_from_sunday(),
        ordinal: local.ordinal(),
        iso_year: week.year(),
        iso_week: week.week(),
        offset,
        abbreviation,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn strftime_in_a_time_zone() {
        let paris = || map(&[("tz", st("Europe/Paris"))]);
        let denver = || map(&[("tz", st("America/Denver"))]);
        let full = "%F %T %Z %z";
        #[rustfmt::skip]
        let cases = [
            // Europe/Paris: CET → CEST on 2024-03-31 at 01:00 UTC
            ("2024-03-31T00:59:59Z", full, paris(), "2024-03-31 01:59:59 CET +0100"),
            ("2024-03-31T01:00:00Z", full, paris(), "2024-03-31 03:00:00 CEST +0200"),
            // CEST → CET on 2024-10-27 at 01:00 UTC: 02:30 happens twice
            ("2024-10-27T00:30:00Z", full, paris(), "2024-10-27 02:30:00 CEST +0200"),
            ("2024-10-27T01:30:00Z", full, paris(), "2024-10-27 02:30:00 CET +0100"),
            // America/Denver: MST → MDT on 2024-03-10 at 09:00 UTC
            ("2024-03-10T08:59:59Z", full, denver(), "2024-03-10 01:59:59 MST -0700"),
            ("2024-03-10T09:00:00Z", full, denver(), "2024-03-10 03:00:00 MDT -0600"),
            // MDT → MST on 2024-11-03 at 08:00 UTC: 01:30 happens twice
            ("2024-11-03T07:30:00Z", full, denver(), "2024-11-03 01:30:00 MDT -0600"),
            ("2024-11-03T08:30:00Z", full, denver(), "2024-11-03 01:30:00 MST -0700"),
            // the zone may be given as a plain string; the day may change
            ("2024-05-17T03:00:00Z", "%A %d %H:%M %:z", st("America/Denver"), "Thursday 16 21:00 -06:00"),
            // an offset in the input is honoured before converting
            ("2024-07-01T09:00:00+02:00", "%H:%M", paris(), "09:00"),
            // null, a map without tz, or "UTC": UTC
            ("2024-07-01T09:00:00Z", "%H:%M %Z", Value::Null, "09:00 UTC"),
            ("2024-07-01T09:00:00Z", "%H:%M %Z", j("{}"), "09:00 UTC"),
            ("2024-07-01T09:00:00Z", "%H:%M %Z", st("UTC"), "09:00 UTC"),
            ("2024-07-01T09:00:00Z", "%H:%M", st("Asia/Kolkata"), "14:30"),
        ];
        for (date, fmt, opts, want) in cases {
            let got = t("strftime", &[st(date), st(fmt), opts.clone()]);
            assert_eq!(got, st(want), "{date} {fmt} {opts:?}");
        }
        #[rustfmt::skip]
        let errors = [
            (st("Mars/Olympus"), "time:strftime doesn't recognize the time zone Mars/Olympus"),
            (n(5.0), "TypeError: time:strftime was given 5 instead of an opts map"),
            (map(&[("tz", n(1.0))]), "TypeError: time:strftime was given 1 instead of a time zone string"),
        ];
        for (opts, want) in errors {
            assert_eq!(e("strftime", &[st("2024-07-01"), st("%F"), opts]), want);
        }
    }

    fn local_of(date: &str, tz: &str) -> Value {
        t("local", &[st(date), st(tz)])
    }

    /// The map `time:local` gives for year, month, day, hour, minute,
    /// second, weekday and offset.
    fn fields(f: [f64; 8]) -> Value {
        let keys = [
            "year", "month", "day", "hour", "minute", "second", "weekday", "offset",
        ];
        map(&keys
            .iter()
            .zip(f)
            .map(|(k, v)| (*k, n(v)))
            .collect::<Vec<_>>())
    }

    #[test]
    fn local_fields_across_dst() {
        let (denver, paris) = ("America/Denver", "Europe/Paris");
        // year, month, day, hour, minute, second, weekday, offset
        #[rustfmt::skip]
        let cases = [
            // 2024-03-10 is a Sunday: MST → MDT at 09:00 UTC
            ("2024-03-10T08:59:59Z", denver, [2024, 3, 10, 1, 59, 59, 0, -420]),
            ("2024-03-10T09:00:00Z", denver, [2024, 3, 10, 3, 0, 0, 0, -360]),
            // MDT → MST on 2024-11-03 at 08:00 UTC: 01:30 happens twice
            ("2024-11-03T07:30:00Z", denver, [2024, 11, 3, 1, 30, 0, 0, -360]),
            ("2024-11-03T08:30:00Z", denver, [2024, 11, 3, 1, 30, 0, 0, -420]),
            // Monday 9:00 local in summer is 15:00 UTC
            ("2024-07-01T15:00:00Z", denver, [2024, 7, 1, 9, 0, 0, 1, -360]),
            // CET → CEST on 2024-03-31 at 01:00 UTC
            ("2024-03-31T00:59:59Z", paris, [2024, 3, 31, 1, 59, 59, 0, 60]),
            ("2024-03-31T01:00:00Z", paris, [2024, 3, 31, 3, 0, 0, 0, 120]),
            // CEST → CET on 2024-10-27 at 01:00 UTC: 02:30 happens twice
            ("2024-10-27T00:30:00Z", paris, [2024, 10, 27, 2, 30, 0, 0, 120]),
            ("2024-10-27T01:30:00Z", paris, [2024, 10, 27, 2, 30, 0, 0, 60]),
            // Friday 23:30 UTC is already Saturday in Paris
            ("2024-05-17T23:30:00Z", paris, [2024, 5, 18, 1, 30, 0, 6, 120]),
        ];
        for (date, tz, want) in cases {
            let want = fields(want.map(f64::from));
            assert_eq!(local_of(date, tz), want, "{date} {tz}");
        }
    }

    #[test]
    fn local_defaults_and_errors() {
        assert_eq!(
            t("local", &[st("2024-05-17T12:34:56.789Z")]),
            fields([2024.0, 5.0, 17.0, 12.0, 34.0, 56.0, 5.0, 0.0])
        );
        assert_eq!(
            t(
                "local",
                &[st("2024-05-17T12:00:00Z"), map(&[("tz", st("Asia/Tokyo"))])]
            ),
            fields([2024.0, 5.0, 17.0, 21.0, 0.0, 0.0, 5.0, 540.0])
        );
        assert_eq!(e("local", &[]), "time:local needs a date string");
        assert_eq!(
            e("local", &[st("nope"), st("Europe/Paris")]),
            "time:local was given an invalid date string (nope)"
        );
        assert_eq!(
            e("local", &[st("2024-05-17"), st("Europe/Pariss")]),
            "time:local doesn't recognize the time zone Europe/Pariss"
        );
        assert_eq!(
            e("local", &[st("2024-05-17"), n(2.0)]),
            "TypeError: time:local was given 2 instead of a time zone string"
        );
    }

    #[test]
    fn business_hours_sketch() {
        // What a ruleset would compute: open Mon–Fri 9:00–17:00 in Paris.
        let open = |date: &str| {
            let Value::Map(m) = local_of(date, "Europe/Paris") else {
                panic!()
            };
            let get = |k: &str| m.get(k).and_then(Value::to_number).unwrap();
            (1.0..=5.0).contains(&get("weekday")) && (9.0..17.0).contains(&get("hour"))
        };
        assert!(open("2024-05-17T07:00:00Z")); // Friday 09:00 CEST
        assert!(!open("2024-05-17T06:59:59Z")); // Friday 08:59 CEST
        assert!(!open("2024-05-17T15:00:00Z")); // Friday 17:00 CEST
        assert!(open("2024-01-15T08:00:00Z")); // Monday 09:00 CET
        assert!(!open("2024-01-15T07:59:00Z")); // Monday 08:59 CET
        assert!(!open("2024-05-18T10:00:00Z")); // Saturday
    }

    #[test]
    fn zone_names_known_zones_and_null_otherwise() {
        assert_eq!(
            ok("time", "zone", &[st("America/Denver")]),
            st("America/Denver")
        );
        assert_eq!(
            ok("time", "zone", &[st("Europe/London")]),
            st("Europe/London")
        );
        assert_eq!(ok("time", "zone", &[st("Z")]), st("UTC"));
        assert_eq!(ok("time", "zone", &[st("Mars/Olympus")]), Value::Null);
        assert_eq!(ok("time", "zone", &[n(3.0)]), Value::Null);
        assert_eq!(ok("time", "zone", &[]), Value::Null);
    }
}
