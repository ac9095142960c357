//! Durations as people write them in scenarios: `5s`, `200ms`, `1.5s`,
//! `250us`, `2m`.

use std::time::Duration;

/// Parses `text`; the error says what was expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    let expected = || format!("expected a duration like `5s`, `200ms`, `250us` or `2m`, found `{text}`");
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(expected)?;
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.parse().map_err(|_| expected())?;
    let nanos_per_unit = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => return Err(expected()),
    };
    let nanos = value * nanos_per_unit;
    // A day is far beyond any sensible deadline or loop; refusing it also
    // keeps the float-to-integer conversion exact and in range.
    if !nanos.is_finite() || !(0.0..=86_400e9).contains(&nanos) {
        return Err(format!("duration `{text}` is out of range (0 to 24 hours)"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse(" 10 ms "), Ok(Duration::from_millis(10)));
    }

    #[test]
    fn errors_say_what_was_expected() {
        assert_eq!(parse("5"), Err("expected a duration like `5s`, `200ms`, `250us` or `2m`, found `5`".to_string()));
        assert!(parse("s").is_err());
        assert!(parse("5 parsecs").is_err());
        assert!(parse("1.2.3s").is_err());
        assert_eq!(
            parse("25h"),
            Err("expected a duration like `5s`, `200ms`, `250us` or `2m`, found `25h`".to_string())
        );
        assert_eq!(parse("99999m"), Err("duration `99999m` is out of range (0 to 24 hours)".to_string()));
    }
}
