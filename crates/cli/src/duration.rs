//! Parsing durations such as `10ms`, `2s`, `1m`.

use std::time::Duration;

/// Parses `<number><unit>` with unit `ms`, `s` or `m` (a bare number means seconds).
pub(crate) fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 10ms, 2s)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 3600.0 {
        return Err(format!("duration {s:?} out of range (0, 1h]"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("3").unwrap(), Duration::from_secs(3));
        assert!(parse("0ms").is_err());
        assert!(parse("5h").is_err());
        assert!(parse("fast").is_err());
    }
}
