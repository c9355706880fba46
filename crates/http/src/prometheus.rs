//! The Prometheus text exposition format, written one family at a time (a family's `HELP`,
//! `TYPE` and samples must be contiguous, or scrapers reject the page).

use std::fmt::Write;

/// Writes one metric family: `HELP`, `TYPE`, then every sample. Each sample is
/// (labels, value) with labels already formatted (`{key="value"}`, or empty).
pub fn family<L: AsRef<str>, V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, V)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{} {value}", labels.as_ref());
    }
}

/// Writes one summary family without quantiles: `HELP`, `TYPE summary`, then `<name>_sum` and
/// `<name>_count` for every (labels, sum, count).
pub fn summary<L: AsRef<str>, S: std::fmt::Display>(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, S, u64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} summary");
    for (labels, sum, count) in samples {
        let labels = labels.as_ref();
        let _ = writeln!(out, "{name}_sum{labels} {sum}");
        let _ = writeln!(out, "{name}_count{labels} {count}");
    }
}

/// A label value with `\`, `"` and newlines escaped.
pub fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_contiguous_families_and_escapes_labels() {
        let mut out = String::new();
        family(
            &mut out,
            "x_total",
            "counter",
            "Things.",
            [("{a=\"1\"}", 2), ("{a=\"2\"}", 3)],
        );
        family(&mut out, "y", "gauge", "Level.", [("", 1.5)]);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\"} 2\nx_total{a=\"2\"} 3\n# HELP y Level.\n# TYPE y gauge\ny 1.5\n"
        );
        let mut out = String::new();
        summary(&mut out, "d_seconds", "Latency.", [("{m=\"a\"}", 0.5, 3)]);
        assert_eq!(
            out,
            "# HELP d_seconds Latency.\n# TYPE d_seconds summary\nd_seconds_sum{m=\"a\"} 0.5\nd_seconds_count{m=\"a\"} 3\n"
        );
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
