//! Writing dates: ISO 8601 (JavaScript's `toISOString`) and `strftime`.

use super::zone::Wall;
use super::MAX_MS;
use chrono::{DateTime, Datelike, Timelike};

// ---------------------------------------------------------------------------
// ISO 8601

/// The ISO-8601 text of `ms` like JavaScript's `toISOString`
/// (`+012345-...` / `-000001-...` outside years 0–9999); None when out of
/// range.
pub fn iso(ms: i64) -> Option<String> {
    if ms.abs() > MAX_MS {
        return None;
    }
    let dt = DateTime::from_timestamp_millis(ms)?;
    let y = dt.year();
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -(y as i64))
    } else {
        format!("+{y:06}")
    };
    Some(format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.timestamp_subsec_millis()
    ))
}

/// The ISO-8601 text of a clock reading `ms` (which may have a fraction),
/// as `time:now()` gives it: rounded half up to the millisecond, then
/// [`iso`]. None when not finite or out of range.
pub fn format_iso(ms: f64) -> Option<String> {
    let floor = ms.floor();
    let rounded = if ms - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    };
    if !rounded.is_finite() || rounded.abs() > MAX_MS as f64 {
        return None;
    }
    iso(rounded as i64)
}

// ---------------------------------------------------------------------------
// strftime

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `n` padded to `width` with `pad` (the conversion's default unless a
/// flag `-` (none), `_` (spaces) or `0` (zeros) says otherwise).
fn padded(n: i64, width: usize, pad: char, flag: Option<u8>) -> String {
    let pad = match flag {
        Some(b'-') => return n.to_string(),
        Some(b'_') => ' ',
        Some(b'0') => '0',
        _ => pad,
    };
    let digits = n.unsigned_abs().to_string();
    let sign = if n < 0 { "-" } else { "" };
    let fill = width.saturating_sub(digits.len() + sign.len());
    let fill: String = std::iter::repeat_n(pad, fill).collect();
    if pad == '0' {
        format!("{sign}{fill}{digits}")
    } else {
        format!("{fill}{sign}{digits}")
    }
}

/// Week of the year with weeks starting on `first` (0 = Sunday, 1 =
/// Monday); days before the first such day are in week 0.
fn week_number(w: &Wall, first: u32) -> i64 {
    let wday = (w.weekday + 7 - first) % 7;
    (w.ordinal as i64 - 1 + 7 - wday as i64) / 7
}

/// Formats `w` with C `strftime` conversions (and Ruby's `%L`, `%o`, `%P`,
/// `%-d`-style flags, `%:z`). An unknown conversion gives its letter, like
/// the reference.
pub(super) fn format_wall(fmt: &str, w: &Wall) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flag = None;
        let mut upper = false;
        let mut colon = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' | '_' | '0' => flag = Some(f as u8),
                '^' => upper = true,
                ':' => colon = true,
                _ => break,
            }
            chars.next();
        }
        let Some(conv) = chars.next() else {
            out.push('%');
            break;
        };
        let hour12 = match w.hour % 12 {
            0 => 12,
            h => h,
        };
        let num = |n: i64, width: usize| padded(n, width, '0', flag);
        let spaced = |n: i64, width: usize| padded(n, width, ' ', flag);
        let text: String = match conv {
            'a' => DAYS[w.weekday as usize][..3].to_string(),
            'A' => DAYS[w.weekday as usize].to_string(),
            'b' | 'h' => MONTHS[w.month as usize - 1][..3].to_string(),
            'B' => MONTHS[w.month as usize - 1].to_string(),
            'c' => format_wall("%a %b %e %H:%M:%S %Y", w),
            'C' => num(w.year.div_euclid(100) as i64, 2),
            'd' => num(w.day as i64, 2),
            'D' | 'x' => format_wall("%m/%d/%y", w),
            'e' => spaced(w.day as i64, 2),
            'F' => format_wall("%Y-%m-%d", w),
            'g' => num(w.iso_year.rem_euclid(100) as i64, 2),
            'G' => num(w.iso_year as i64, 4),
            'H' => num(w.hour as i64, 2),
            'I' => num(hour12 as i64, 2),
            'j' => num(w.ordinal as i64, 3),
            'k' => spaced(w.hour as i64, 2),
            'l' => spaced(hour12 as i64, 2),
            'L' => num(w.millisecond as i64, 3),
            'm' => num(w.month as i64, 2),
            'M' => num(w.minute as i64, 2),
            'n' => "\n".into(),
            'o' => {
                let d = w.day;
                let suffix = match (d % 10, d % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                format!("{d}{suffix}")
            }
            'p' => if w.hour < 12 { "AM" } else { "PM" }.into(),
            'P' => if w.hour < 12 { "am" } else { "pm" }.into(),
            'r' => format_wall("%I:%M:%S %p", w),
            'R' => format_wall("%H:%M", w),
            's' => w.epoch_ms.div_euclid(1000).to_string(),
            'S' => num(w.second as i64, 2),
            't' => "\t".into(),
            'T' | 'X' => format_wall("%H:%M:%S", w),
            'u' => match w.weekday {
                0 => 7,
                d => d,
            }
            .to_string(),
            'U' => num(week_number(w, 0), 2),
            'v' => format_wall("%e-%b-%Y", w),
            'V' => num(w.iso_week as i64, 2),
            'w' => w.weekday.to_string(),
            'W' => num(week_number(w, 1), 2),
            'y' => num(w.year.rem_euclid(100) as i64, 2),
            'Y' => w.year.to_string(),
            'z' => {
                let sign = if w.offset < 0 { '-' } else { '+' };
                let minutes = w.offset.unsigned_abs() / 60;
                let sep = if colon { ":" } else { "" };
                format!("{sign}{:02}{sep}{:02}", minutes / 60, minutes % 60)
            }
            'Z' => w.abbreviation.clone(),
            '%' => "%".into(),
            other => other.to_string(),
        };
        if upper {
            out.push_str(&text.to_uppercase());
        } else {
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn strftime_like_the_reference() {
        let x = st("2010-10-06T18:25:55");
        let f = |fmt: &str| t("strftime", &[x.clone(), st(fmt)]);
        // the spec's examples
        assert_eq!(f("%F %T"), st("2010-10-06 18:25:55"));
        assert_eq!(f("%A %d %b %Y"), st("Wednesday 06 Oct 2010"));
        assert_eq!(f("year month"), st("year month"));
        assert_eq!(e("strftime", &[]), "time:strftime needs a date string");
        assert_eq!(
            e("strftime", &[n(67342.0)]),
            "time:strftime needs a fmt string"
        );
        assert_eq!(
            e("strftime", &[n(67342.0), st("%F %T")]),
            "TypeError: time:strftime was given 67342 instead of a date string"
        );
        assert_eq!(
            e("strftime", &[st("67342"), st("%F %T")]),
            "time:strftime was given an invalid date string (67342)"
        );
        assert_eq!(
            e("strftime", &[st("1967342"), j(r#"["%A %d %b %Y"]"#)]),
            "TypeError: time:strftime was given [Array] instead of a fmt string"
        );
    }

    #[test]
    fn strftime_conversions() {
        let f = |date: &str, fmt: &str| {
            t("strftime", &[st(date), st(fmt)])
                .as_str()
                .unwrap()
                .to_string()
        };
        let d = "2010-10-06T08:05:03.042Z";
        let cases = [
            ("%Y %m %d %H %M %S", "2010 10 06 08 05 03"),
            ("%a %A %b %B %h", "Wed Wednesday Oct October Oct"),
            ("%j %y %e %C", "279 10  6 20"),
            ("%I %p %P %l %k", "08 AM am  8  8"),
            ("%Z %z %:z", "UTC +0000 +00:00"),
            (
                "%D|%x|%X|%R|%r",
                "10/06/10|10/06/10|08:05:03|08:05|08:05:03 AM",
            ),
            ("%c", "Wed Oct  6 08:05:03 2010"),
            ("%v", " 6-Oct-2010"),
            ("%L %s", "042 1286352303"),
            ("%u %w %U %W %V %G %g", "3 3 40 40 40 2010 10"),
            ("%-d %-m %_m %0e %-j", "6 10 10 06 279"),
            ("%^a %^B", "WED OCTOBER"),
            ("%o", "6th"),
            ("100%% %n%t", "100% \n\t"),
            ("%q%", "q%"),
            ("héllo %Y ✓", "héllo 2010 ✓"),
        ];
        for (fmt, want) in cases {
            assert_eq!(f(d, fmt), want, "{fmt}");
        }
        assert_eq!(f("2010-10-06T20:00:00Z", "%I %p %l"), "08 PM  8");
        assert_eq!(f("2010-10-06T00:00:00Z", "%I %p"), "12 AM");
        assert_eq!(f("2010-10-06T12:00:00Z", "%I %p"), "12 PM");
        assert_eq!(f("2010-01-01", "%j %U %W %V %G"), "001 00 00 53 2009");
        assert_eq!(f("2010-01-03", "%U %W %u %w"), "01 00 7 0");
        assert_eq!(f("2010-01-04", "%U %W %V"), "01 01 01");
        for (day, want) in [
            (1, "1st"),
            (2, "2nd"),
            (3, "3rd"),
            (11, "11th"),
            (22, "22nd"),
        ] {
            assert_eq!(f(&format!("2010-10-{day:02}"), "%o"), want);
        }
        assert_eq!(f("0005-01-01", "%Y %y %C"), "5 05 00");
    }

    #[test]
    fn iso_output_shapes() {
        assert_eq!(iso(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(-1).unwrap(), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso(253402300800000).unwrap(), "+010000-01-01T00:00:00.000Z");
        assert_eq!(iso(-62198755200000).unwrap(), "-000001-01-01T00:00:00.000Z");
        assert_eq!(iso(MAX_MS + 1), None);
    }

    /// `time:now()` gives the same text as before this module wrote it.
    #[test]
    fn format_iso_writes_the_clock_like_time_now_did() {
        let cases = [
            (0.0, "1970-01-01T00:00:00.000Z"),
            (999.4, "1970-01-01T00:00:00.999Z"),
            (1000.6, "1970-01-01T00:00:01.001Z"),
            (-1.5, "1969-12-31T23:59:59.999Z"),
            (-86_400_000.0, "1969-12-31T00:00:00.000Z"),
            (951_782_400_000.0, "2000-02-29T00:00:00.000Z"),
            (1_700_000_000_123.0, "2023-11-14T22:13:20.123Z"),
            (1_700_000_000_123.5, "2023-11-14T22:13:20.124Z"),
            (1_715_947_200_123.4, "2024-05-17T12:00:00.123Z"),
            // (the old writer gave "...:00.1000Z" here)
            (999.5, "1970-01-01T00:00:01.000Z"),
            (1_700_000_000_999.7, "2023-11-14T22:13:21.000Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_iso(ms).as_deref(), Some(want), "{ms}");
        }
        assert_eq!(format_iso(f64::NAN), None);
        assert_eq!(format_iso(f64::INFINITY), None);
        assert_eq!(format_iso(MAX_MS as f64 + 1.0), None);
    }

    #[test]
    fn iso_text_reads_back() {
        for ms in [
            0,
            1_700_000_000_123,
            951_782_400_000,
            -86_400_000,
            253_402_300_800_000,
            -62_198_755_200_000,
        ] {
            let text = iso(ms).unwrap();
            assert_eq!(super::super::parse_ms(&text, 0.0), Some(ms), "{text}");
        }
    }
}
