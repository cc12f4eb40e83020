//! RFC 3339 timestamps in UTC with nanoseconds, without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (always nine fraction
/// digits, so lines sort as text) to `out`.
///
/// Times before 1970 are written as the epoch: a host clock that far off is
/// not worth a branch in every line.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let mut s = String::new();
/// wasmhost_log::rfc3339_nanos(UNIX_EPOCH + Duration::new(1_700_000_000, 5), &mut s);
/// assert_eq!(s, "2023-11-14T22:13:20.000000005Z");
/// ```
pub fn rfc3339_nanos(t: SystemTime, out: &mut String) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    // Digits by hand: this runs for every line, and `write!` costs several
    // times more than the arithmetic.
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    put_digits(&mut buf[0..4], y.clamp(0, 9999) as u64);
    put_digits(&mut buf[5..7], u64::from(m));
    put_digits(&mut buf[8..10], u64::from(day));
    put_digits(&mut buf[11..13], rem / 3600);
    put_digits(&mut buf[14..16], (rem % 3600) / 60);
    put_digits(&mut buf[17..19], rem % 60);
    put_digits(&mut buf[20..29], u64::from(d.subsec_nanos()));
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

/// Writes `value` as decimal digits filling `slot` (leading zeros), keeping
/// the lowest digits if it does not fit.
fn put_digits(slot: &mut [u8], mut value: u64) {
    for b in slot.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fmt(secs: u64, nanos: u32) -> String {
        let mut s = String::new();
        rfc3339_nanos(UNIX_EPOCH + Duration::new(secs, nanos), &mut s);
        s
    }

    #[test]
    fn known_instants() {
        assert_eq!(fmt(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(fmt(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(fmt(4_102_444_799, 999_999_999), "2099-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn before_epoch_clamps() {
        let mut s = String::new();
        rfc3339_nanos(UNIX_EPOCH - Duration::from_secs(5), &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
    }
}
