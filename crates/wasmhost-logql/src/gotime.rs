//! Go time values for templates: Go's reference-time layouts
//! (`"2006-01-02T15:04:05Z07:00"`) to format and parse times, and the text
//! of a `time.Time` as Go prints it (`2026-11-25 18:00:01.5 +0000 UTC`),
//! which is how a template prints a time. Times are UTC, as Loki runs.

/// One piece of a layout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk<'a> {
    Lit(&'a str),
    Year4,
    Year2,
    Month2,
    Month1,
    MonthShort,
    MonthLong,
    Day2,
    Day1,
    DaySpace,
    YearDay,
    Hour24,
    Hour12_2,
    Hour12,
    Minute2,
    Minute1,
    Second2,
    Second1,
    PmUpper,
    PmLower,
    WeekdayShort,
    WeekdayLong,
    Zone,
    /// `Z07:00`-style offsets: `Z` stands for UTC.
    OffsetZ,
    /// `-07:00`-style offsets.
    Offset,
    /// `.000` (`zeros`: fixed digits) or `.999` (trailing zeros trimmed).
    Frac(usize, bool),
}

const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Splits a layout the way Go's `nextStdChunk` does (longest forms first).
fn chunks(layout: &str) -> Vec<Chunk<'_>> {
    const TABLE: &[(&str, Chunk<'static>)] = &[
        ("January", Chunk::MonthLong),
        ("Jan", Chunk::MonthShort),
        ("Monday", Chunk::WeekdayLong),
        ("Mon", Chunk::WeekdayShort),
        ("MST", Chunk::Zone),
        ("2006", Chunk::Year4),
        ("002", Chunk::YearDay),
        ("01", Chunk::Month2),
        ("02", Chunk::Day2),
        ("03", Chunk::Hour12_2),
        ("04", Chunk::Minute2),
        ("05", Chunk::Second2),
        ("06", Chunk::Year2),
        ("15", Chunk::Hour24),
        ("_2", Chunk::DaySpace),
        ("Z07:00", Chunk::OffsetZ),
        ("Z0700", Chunk::OffsetZ),
        ("Z07", Chunk::OffsetZ),
        ("-07:00", Chunk::Offset),
        ("-0700", Chunk::Offset),
        ("-07", Chunk::Offset),
        ("PM", Chunk::PmUpper),
        ("pm", Chunk::PmLower),
        ("1", Chunk::Month1),
        ("2", Chunk::Day1),
        ("3", Chunk::Hour12),
        ("4", Chunk::Minute1),
        ("5", Chunk::Second1),
    ];
    let mut out = Vec::new();
    let (mut i, mut lit) = (0, 0);
    let b = layout.as_bytes();
    while i < b.len() {
        let rest = &layout[i..];
        // `.000`/`.999` (or with a comma) right after seconds.
        if (b[i] == b'.' || b[i] == b',') && i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') {
            let digit = b[i + 1];
            let n = rest[1..].bytes().take_while(|c| *c == digit).count();
            if !rest[1 + n..].starts_with(|c: char| c.is_ascii_digit()) {
                if lit < i {
                    out.push(Chunk::Lit(&layout[lit..i]));
                }
                out.push(Chunk::Frac(n, digit == b'0'));
                i += 1 + n;
                lit = i;
                continue;
            }
        }
        match TABLE.iter().find(|(k, _)| rest.starts_with(k)) {
            Some((k, c)) => {
                if lit < i {
                    out.push(Chunk::Lit(&layout[lit..i]));
                }
                out.push(*c);
                i += k.len();
                lit = i;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    if lit < b.len() {
        out.push(Chunk::Lit(&layout[lit..]));
    }
    out
}

/// Broken-down UTC time.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    yday: i64,
    wday: i64,
}

fn civil(ns: i128) -> Civil {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const BEFORE: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = BEFORE[(month - 1) as usize] + day + i64::from(leap && month > 2);
    Civil { year, month, day, hour: sod / 3600, minute: sod % 3600 / 60, second: sod % 60, nanos, yday, wday: (days + 4).rem_euclid(7) }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Formats `ns` (nanoseconds since the epoch, UTC) with a Go layout.
pub fn format(ns: i128, layout: &str) -> String {
    let t = civil(ns);
    let mut out = String::new();
    let h12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
    for c in chunks(layout) {
        match c {
            Chunk::Lit(s) => out.push_str(s),
            Chunk::Year4 => out.push_str(&format!("{:04}", t.year)),
            Chunk::Year2 => out.push_str(&format!("{:02}", t.year.rem_euclid(100))),
            Chunk::Month2 => out.push_str(&format!("{:02}", t.month)),
            Chunk::Month1 => out.push_str(&t.month.to_string()),
            Chunk::MonthShort => out.push_str(&MONTHS[(t.month - 1) as usize][..3]),
            Chunk::MonthLong => out.push_str(MONTHS[(t.month - 1) as usize]),
            Chunk::Day2 => out.push_str(&format!("{:02}", t.day)),
            Chunk::Day1 => out.push_str(&t.day.to_string()),
            Chunk::DaySpace => out.push_str(&format!("{:>2}", t.day)),
            Chunk::YearDay => out.push_str(&format!("{:03}", t.yday)),
            Chunk::Hour24 => out.push_str(&format!("{:02}", t.hour)),
            Chunk::Hour12_2 => out.push_str(&format!("{h12:02}")),
            Chunk::Hour12 => out.push_str(&h12.to_string()),
            Chunk::Minute2 => out.push_str(&format!("{:02}", t.minute)),
            Chunk::Minute1 => out.push_str(&t.minute.to_string()),
            Chunk::Second2 => out.push_str(&format!("{:02}", t.second)),
            Chunk::Second1 => out.push_str(&t.second.to_string()),
            Chunk::PmUpper => out.push_str(if t.hour >= 12 { "PM" } else { "AM" }),
            Chunk::PmLower => out.push_str(if t.hour >= 12 { "pm" } else { "am" }),
            Chunk::WeekdayShort => out.push_str(&DAYS[t.wday as usize][..3]),
            Chunk::WeekdayLong => out.push_str(DAYS[t.wday as usize]),
            Chunk::Zone => out.push_str("UTC"),
            Chunk::OffsetZ => out.push('Z'),
            Chunk::Offset => out.push_str("+00:00"),
            Chunk::Frac(n, zeros) => {
                let digits = format!("{:09}", t.nanos);
                let mut d = &digits[..n.min(9)];
                if !zeros {
                    d = d.trim_end_matches('0');
                }
                if !d.is_empty() {
                    out.push('.');
                    out.push_str(d);
                }
            }
        }
    }
    out
}

/// Parses `text` with a Go layout (the numeric fields, month names,
/// fractions, `Z`/`+00:00` offsets and `UTC`); `None` when it does not fit.
pub fn parse(layout: &str, text: &str) -> Option<i128> {
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut nanos, mut pm, mut off) = (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64, None, 0i64);
    let mut rest = text;
    let num = |rest: &mut &str, min: usize, max: usize| -> Option<i64> {
        let n = rest.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if n < min {
            return None;
        }
        let v = rest[..n].parse().ok()?;
        *rest = &rest[n..];
        Some(v)
    };
    for c in chunks(layout) {
        match c {
            Chunk::Lit(l) => rest = rest.strip_prefix(l)?,
            Chunk::Year4 => y = num(&mut rest, 4, 4)?,
            Chunk::Year2 => {
                let v = num(&mut rest, 2, 2)?;
                y = if v >= 69 { 1900 + v } else { 2000 + v };
            }
            Chunk::Month2 => mo = num(&mut rest, 2, 2)?,
            Chunk::Month1 => mo = num(&mut rest, 1, 2)?,
            Chunk::MonthShort | Chunk::MonthLong => {
                let (i, name) = MONTHS
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (i, if c == Chunk::MonthShort { &m[..3] } else { *m }))
                    .find(|(_, m)| rest.starts_with(m))?;
                mo = i as i64 + 1;
                rest = &rest[name.len()..];
            }
            Chunk::Day2 => d = num(&mut rest, 2, 2)?,
            Chunk::Day1 => d = num(&mut rest, 1, 2)?,
            Chunk::DaySpace => {
                rest = rest.strip_prefix(' ').unwrap_or(rest);
                d = num(&mut rest, 1, 2)?;
            }
            Chunk::Hour24 => h = num(&mut rest, 2, 2)?,
            Chunk::Hour12_2 | Chunk::Hour12 => h = num(&mut rest, 1, 2)?,
            Chunk::Minute2 | Chunk::Minute1 => mi = num(&mut rest, 1, 2)?,
            Chunk::Second2 | Chunk::Second1 => s = num(&mut rest, 1, 2)?,
            Chunk::PmUpper | Chunk::PmLower => {
                pm = Some(rest.get(..2)?.eq_ignore_ascii_case("pm"));
                rest = &rest[2..];
            }
            Chunk::WeekdayShort | Chunk::WeekdayLong => {
                let name = DAYS.iter().map(|n| if c == Chunk::WeekdayShort { &n[..3] } else { *n }).find(|n| rest.starts_with(n))?;
                rest = &rest[name.len()..];
            }
            Chunk::Zone => rest = rest.strip_prefix("UTC")?,
            Chunk::OffsetZ | Chunk::Offset => {
                if let Some(r) = rest.strip_prefix('Z').filter(|_| c == Chunk::OffsetZ) {
                    rest = r;
                } else {
                    let sign = match rest.as_bytes().first()? {
                        b'+' => 1,
                        b'-' => -1,
                        _ => return None,
                    };
                    rest = &rest[1..];
                    let oh = num(&mut rest, 2, 2)?;
                    rest = rest.strip_prefix(':').unwrap_or(rest);
                    let om = num(&mut rest, 0, 2).unwrap_or(0);
                    off = sign * (oh * 3600 + om * 60);
                }
            }
            Chunk::Frac(..) => {
                // Go accepts any number of digits after the point here.
                if let Some(r) = rest.strip_prefix(['.', ',']) {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    let digits: String = r[..n].chars().chain(std::iter::repeat('0')).take(9).collect();
                    nanos = digits.parse().ok()?;
                    rest = &r[n..];
                }
            }
            Chunk::YearDay => return None,
        }
    }
    if let Some(pm) = pm {
        h = h % 12 + if pm { 12 } else { 0 };
    }
    let valid = rest.is_empty() && (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 60;
    valid.then(|| i128::from(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - off) * 1_000_000_000 + i128::from(nanos))
}

/// A time as Go prints a `time.Time` in UTC: `2026-11-25 18:00:01.5 +0000 UTC`.
pub fn to_value(ns: i128) -> String {
    format(ns, "2006-01-02 15:04:05.999999999 -0700 MST").replacen("+00:00 UTC", "+0000 UTC", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_format_and_parse_as_go() {
        // 2026-11-25T18:04:05.120Z, a Wednesday, day 329.
        let t = 1_795_629_845_120_000_000i128;
        assert_eq!(format(t, "2006-01-02T15:04:05.000Z07:00"), "2026-11-25T18:04:05.120Z");
        assert_eq!(format(t, "Mon Jan _2 3:04PM 06 002 .999"), "Wed Nov 25 6:04PM 26 329 .12");
        assert_eq!(to_value(t), "2026-11-25 18:04:05.12 +0000 UTC");
        assert_eq!(parse("2006-01-02", "2026-11-25"), Some(1_795_564_800_000_000_000));
        assert_eq!(parse("02/01/2006 15:04 -07:00", "25/11/2026 19:04 +01:00"), Some(t - 5_120_000_000));
        assert_eq!(parse("2006-01-02", "2026-13-01"), None);
        assert_eq!(parse("2006-01-02", "2026-11-25x"), None);
    }
}
