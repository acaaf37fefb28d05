//! Parser tests: both formats, escapes, special values, timestamps, exemplars, quoted UTF-8
//! names, and malformed input with line numbers.

use std::borrow::Cow;

use super::*;

fn all(body: &str, f: Format) -> Result<Vec<Entry<'_>>, ParseError> {
    let mut p = Parser::new(body.as_bytes(), f)?;
    let mut out = Vec::new();
    while let Some(e) = p.next()? {
        out.push(e);
    }
    Ok(out)
}

fn samples<'a>(entries: &'a [Entry<'a>]) -> Vec<&'a Sample<'a>> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn labels(s: &Sample<'_>) -> Vec<(String, String)> {
    s.labels()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn text_format_families_and_samples() {
    let body = "# HELP http_requests_total The total number of \\\\ requests.\\nSecond line.\n\
                # TYPE http_requests_total counter\n\
                http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                http_requests_total{method=\"post\",code=\"400\",}    3 1395066363000\n\
                \n\
                # A plain comment\n\
                # TYPE rpc_duration_seconds summary\n\
                rpc_duration_seconds{quantile=\"0.5\"} 4773\n\
                rpc_duration_seconds_sum 1.7560473e+07\n\
                metric_without_timestamp_and_labels 12.47\n\
                nan_and_inf{a=\"x\"} NaN\n\
                pos_inf +Inf\n\
                neg_inf -Inf\n\
                escaped{path=\"C:\\\\dir\\\\\",q=\"say \\\"hi\\\"\\n\"} 1\n";
    let entries = all(body, Format::PromText).unwrap();
    assert_eq!(
        entries[0],
        Entry::Help {
            name: Cow::Borrowed("http_requests_total"),
            text: Cow::Owned("The total number of \\ requests.\nSecond line.".into())
        }
    );
    assert_eq!(
        entries[1],
        Entry::Type {
            name: Cow::Borrowed("http_requests_total"),
            kind: MetricType::Counter
        }
    );
    let s = samples(&entries);
    assert_eq!(s.len(), 9);
    assert_eq!(s[0].name, "http_requests_total");
    assert_eq!(
        labels(s[0]),
        vec![
            ("method".into(), "post".into()),
            ("code".into(), "200".into())
        ]
    );
    assert_eq!(s[0].value, 1027.0);
    assert_eq!(s[0].timestamp_ms, Some(1_395_066_363_000));
    assert_eq!(labels(s[1]).len(), 2, "trailing comma accepted");
    assert!(s[5].value.is_nan());
    assert_eq!(s[6].value, f64::INFINITY);
    assert_eq!(s[7].value, f64::NEG_INFINITY);
    assert_eq!(
        labels(s[8]),
        vec![
            ("path".into(), "C:\\dir\\".into()),
            ("q".into(), "say \"hi\"\n".into())
        ]
    );
    // Unescaped names and values are borrowed from the input, not copied.
    assert!(matches!(
        s[0].labels().next(),
        Some((Cow::Borrowed(_), Cow::Borrowed(_)))
    ));
}

#[test]
fn openmetrics_with_units_exemplars_and_eof() {
    let body = "# TYPE foo_seconds histogram\n\
                # UNIT foo_seconds seconds\n\
                # HELP foo_seconds A histogram.\n\
                foo_seconds_bucket{le=\"0.1\"} 8 # {trace_id=\"abc\"} 0.05 1520879607.789\n\
                foo_seconds_bucket{le=\"+Inf\"} 17\n\
                foo_seconds_count 17 1520879607.5\n\
                foo_seconds_created 1520430000.123\n\
                # TYPE s stateset\n\
                s{s=\"a\"} 1\n\
                # EOF\n";
    let entries = all(body, Format::OpenMetrics).unwrap();
    assert_eq!(
        entries[1],
        Entry::Unit {
            name: Cow::Borrowed("foo_seconds"),
            unit: "seconds"
        }
    );
    let s = samples(&entries);
    let ex = s[0].exemplar.as_ref().expect("exemplar");
    assert_eq!(ex.value, 0.05);
    assert_eq!(ex.timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(
        ex.labels()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect::<Vec<_>>(),
        vec![("trace_id".to_string(), "abc".to_string())]
    );
    assert_eq!(
        s[2].timestamp_ms,
        Some(1_520_879_607_500),
        "OpenMetrics timestamps are seconds"
    );
    assert!(matches!(
        entries[7],
        Entry::Type {
            kind: MetricType::StateSet,
            ..
        }
    ));
}

#[test]
fn openmetrics_requires_eof_and_nothing_after() {
    let e = all("a 1\n", Format::OpenMetrics).unwrap_err();
    assert_eq!(e.message, "data does not end with # EOF");
    let e = all("a 1\n# EOF\nb 2\n", Format::OpenMetrics).unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (3, "unexpected data after # EOF")
    );
}

#[test]
fn quoted_utf8_metric_and_label_names() {
    let body =
        "# TYPE \"my.metric\" gauge\n{\"my.metric\", \"label.with.dots\"=\"v\", b=\"2\"} 3\n";
    let entries = all(body, Format::PromText).unwrap();
    let s = samples(&entries);
    assert_eq!(s[0].name, "my.metric");
    assert_eq!(
        labels(s[0]),
        vec![
            ("label.with.dots".into(), "v".into()),
            ("b".into(), "2".into())
        ]
    );
}

#[test]
fn malformed_input_reports_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("ok 1\nbad{a=\"x} 1\n", 2, "unterminated"),
        (
            "ok 1\n\nbad{a=x} 1\n",
            3,
            "expected a quoted value for label \"a\"",
        ),
        ("a 1\nb notanumber\n", 2, "invalid value \"notanumber\""),
        ("a 1 12.5\n", 1, "invalid timestamp"),
        (
            "<html><body>oops</body></html>\n",
            1,
            "expected a metric name",
        ),
        ("a{b=\"c\" d=\"e\"} 1\n", 1, "expected \",\" or \"}\""),
        ("# TYPE a summaryy\n", 1, "invalid metric type \"summaryy\""),
        ("a 1 2 3\n", 1, "unexpected"),
        ("a{1b=\"x\"} 1\n", 1, "invalid label name"),
        (
            "a 1 # {x=\"y\"} 1\n",
            1,
            "exemplars are only allowed in OpenMetrics",
        ),
        ("a\n", 1, "expected a value for \"a\""),
    ];
    for (body, line, want) in cases {
        let e = all(body, Format::PromText).unwrap_err();
        assert_eq!(e.line, *line, "{body:?}: {e}");
        assert!(e.message.contains(want), "{body:?}: {e}");
    }
    let e = Parser::new(b"a 1\n\xff\xfe 2\n", Format::PromText)
        .err()
        .expect("invalid utf-8");
    assert_eq!(e.line, 2);
}

#[test]
fn content_type_negotiation() {
    assert_eq!(
        format_for(Some("text/plain; version=0.0.4; charset=utf-8"), None),
        Ok(Format::PromText)
    );
    assert_eq!(
        format_for(Some("application/openmetrics-text; version=1.0.0"), None),
        Ok(Format::OpenMetrics)
    );
    assert!(format_for(Some("text/html"), None)
        .unwrap_err()
        .contains("unsupported Content-Type \"text/html\""));
    assert!(format_for(None, None)
        .unwrap_err()
        .contains("blank Content-Type"));
    assert_eq!(
        format_for(Some("text/html"), Some(Format::PromText)),
        Ok(Format::PromText)
    );
}

#[test]
fn realistic_exposition_parses_completely() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/exposition/service.prom"
    );
    let body = std::fs::read(path).expect("fixture");
    let mut p = Parser::new(&body, Format::PromText).unwrap();
    let (mut samples, mut types) = (0, 0);
    while let Some(e) = p.next().unwrap() {
        match e {
            Entry::Sample(s) => {
                samples += 1;
                assert!(s.labels().count() <= 8);
            }
            Entry::Type { .. } => types += 1,
            _ => {}
        }
    }
    assert!(samples > 900, "{samples}");
    assert!(types > 20, "{types}");
}

#[test]
fn deferred_label_checks_find_the_same_errors_on_request() {
    let body = "ok{a=\"1\"} 1\n\nbad{a=x} 2\n";
    // Checked as parsed: the bad line fails `next`.
    let mut p = Parser::new(body.as_bytes(), Format::PromText).unwrap();
    assert!(p.next().unwrap().is_some());
    let e = p.next().unwrap_err();
    assert_eq!(e.line, 3);
    // Deferred: `next` only delimits the set; `check_labels` reports the same error and line.
    let mut p = Parser::new(body.as_bytes(), Format::PromText)
        .unwrap()
        .defer_label_checks();
    let Some(Entry::Sample(ok)) = p.next().unwrap() else {
        panic!("sample expected")
    };
    p.check_labels(&ok).unwrap();
    assert_eq!(ok.series, "ok{a=\"1\"}");
    let Some(Entry::Sample(bad)) = p.next().unwrap() else {
        panic!("sample expected")
    };
    assert_eq!(bad.series, "bad{a=x}");
    let deferred = p.check_labels(&bad).unwrap_err();
    assert_eq!(deferred.line, 3);
    assert_eq!(deferred.message, e.message);
}

#[test]
fn go_only_float_spellings_are_invalid_values() {
    for bad in ["0x10", "0X1p3", "1_000"] {
        let body = format!("m {bad}\n");
        let mut p = Parser::new(body.as_bytes(), Format::PromText).unwrap();
        let e = p.next().unwrap_err();
        assert!(e.message.starts_with("invalid value"), "{bad}: {e:?}");
    }
    for (good, v) in [("1e3", 1000.0), ("-.5", -0.5), ("+Inf", f64::INFINITY)] {
        let body = format!("m {good}\n");
        let mut p = Parser::new(body.as_bytes(), Format::PromText).unwrap();
        let Some(Entry::Sample(s)) = p.next().unwrap() else {
            panic!("sample expected")
        };
        assert_eq!(s.value, v, "{good}");
    }
}
