//! The Grafana dashboard in deploy/ is importable (a dashboard with a Prometheus data-source
//! input) and only queries metrics that docs/operations.md lists, so a renamed metric cannot
//! silently leave an empty panel behind.

use std::collections::BTreeSet;
use std::path::Path;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `ferrymail_…` name in `text`, with a histogram's series suffixes taken off.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("ferrymail_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        names.insert(base.to_owned());
    }
    names
}

#[test]
fn dashboard_is_importable_and_queries_only_documented_metrics() {
    let text = repo_file("deploy/grafana/ferrymail.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(dash["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(dash["__inputs"][0]["pluginId"], "prometheus");
    let panels = dash["panels"].as_array().expect("panels");
    let mut exprs = Vec::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            exprs.push(t["expr"].as_str().expect("expr").to_owned());
        }
    }
    let used = metric_names(&exprs.join("\n"));
    let documented = metric_names(&repo_file("docs/operations.md"));
    let missing: Vec<_> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "queried but not documented: {missing:?}"
    );
    for wanted in [
        "ferrymail_disk_flushes_total",
        "ferrymail_smtpd_messages_total",
        "ferrymail_queue_messages",
        "ferrymail_auth_failures_total",
    ] {
        assert!(
            used.contains(wanted),
            "the dashboard does not show {wanted}"
        );
    }
    assert!(
        exprs.iter().any(|e| e.contains("histogram_quantile")),
        "no latency quantiles"
    );
}
