//! Cases in the spirit of Prometheus' `relabel_test.go`, with our own inputs.

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

fn cfg(yaml: &str) -> RelabelConfig {
    let c: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(c.validate("t"), Vec::<String>::new(), "{yaml}");
    c
}

fn errors(yaml: &str) -> Vec<String> {
    serde_yaml::from_str::<RelabelConfig>(yaml)
        .unwrap()
        .validate("relabel_configs[0]")
}

#[test]
fn defaults_match_prometheus() {
    let c = cfg("target_label: x");
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.separator, ";");
    assert_eq!(c.regex.as_str(), "(.*)");
    assert_eq!(c.replacement, "$1");
    assert_eq!(c.modulus, 0);
    assert!(c.source_labels.is_empty());
    // Default replace copies the joined sources to the target.
    let c = cfg("{source_labels: [a, b], target_label: x}");
    let out = relabel(&l(&[("a", "1"), ("b", "2")]), &[c]).unwrap();
    assert_eq!(out.get("x"), Some("1;2"));
}

#[test]
fn actions_are_case_insensitive_and_unknown_ones_rejected() {
    assert_eq!(cfg("{action: LabelDrop, regex: x}").action, Action::LabelDrop);
    let e = serde_yaml::from_str::<RelabelConfig>("action: explode").unwrap_err();
    assert!(
        e.to_string().contains("unknown relabel action \"explode\""),
        "{e}"
    );
    // Unknown keys are reported by the config loader (serde_ignored), with
    // every other problem of the file; see src/config.rs.
}

#[test]
fn regex_is_fully_anchored() {
    let c = cfg("{source_labels: [a], regex: 'f.o', action: keep}");
    assert!(relabel(&l(&[("a", "foo")]), std::slice::from_ref(&c)).is_some());
    assert!(relabel(&l(&[("a", "xfoo")]), std::slice::from_ref(&c)).is_none());
    assert!(relabel(&l(&[("a", "foox")]), std::slice::from_ref(&c)).is_none());
    // Alternation stays inside the anchors: `a|b` must not match "ab".
    let c = cfg("{source_labels: [a], regex: 'x|y', action: drop}");
    assert!(relabel(&l(&[("a", "xy")]), std::slice::from_ref(&c)).is_some());
    assert!(relabel(&l(&[("a", "y")]), std::slice::from_ref(&c)).is_none());
}

#[test]
fn replace_with_groups_named_groups_and_templated_target() {
    let c = cfg(
        r#"{source_labels: [a, b], regex: 'f(.*);(?P<rest>.*)', target_label: '${1}_$rest', replacement: 'v-$1-${rest}'}"#,
    );
    let out = relabel(&l(&[("a", "foo"), ("b", "bar")]), &[c]).unwrap();
    assert_eq!(out.get("oo_bar"), Some("v-oo-bar"));
}

#[test]
fn replace_without_match_or_with_invalid_target_changes_nothing() {
    let input = l(&[("a", "foo")]);
    let c = cfg("{source_labels: [a], regex: 'bar', target_label: b}");
    assert_eq!(relabel(&input, &[c]), Some(input.clone()));
    // `$1` expands to "1-foo": not a label name, so the step is a no-op.
    let c = cfg("{source_labels: [a], regex: '(.*)', target_label: '${1}', replacement: x}");
    assert_eq!(relabel(&l(&[("a", "1-foo")]), &[c]), Some(l(&[("a", "1-foo")])));
}

#[test]
fn replace_with_empty_result_deletes_and_missing_sources_join_as_empty() {
    let c = cfg("{source_labels: [missing], target_label: a}");
    assert_eq!(
        relabel(&l(&[("a", "foo"), ("b", "x")]), &[c]),
        Some(l(&[("b", "x")]))
    );
    let c = cfg("{source_labels: [a, missing], regex: 'foo;', target_label: hit, replacement: yes}");
    assert_eq!(
        relabel(&l(&[("a", "foo")]), &[c]).unwrap().get("hit"),
        Some("yes")
    );
}

#[test]
fn replace_with_custom_separator_and_literal_replacement() {
    let c =
        cfg("{source_labels: [a, b], separator: '-', regex: 'x-y', target_label: c, replacement: '$$lit'}");
    assert_eq!(
        relabel(&l(&[("a", "x"), ("b", "y")]), &[c]).unwrap().get("c"),
        Some("$lit")
    );
}

#[test]
fn keep_and_drop() {
    let keep = cfg("{source_labels: [job], regex: 'node|api', action: keep}");
    let drop = cfg("{source_labels: [__name__], regex: 'go_.*', action: drop}");
    let cfgs = [keep, drop];
    assert!(relabel(&l(&[("job", "node"), ("__name__", "up")]), &cfgs).is_some());
    assert!(relabel(&l(&[("job", "db"), ("__name__", "up")]), &cfgs).is_none());
    assert!(relabel(&l(&[("job", "api"), ("__name__", "go_gc")]), &cfgs).is_none());
    // keep on an absent label sees "" (which `(.*)` matches, `.+` does not).
    let keep_present = cfg("{source_labels: [zone], regex: '.+', action: keep}");
    assert!(relabel(&l(&[("job", "node")]), &[keep_present]).is_none());
}

#[test]
fn keepequal_and_dropequal_compare_with_target_label() {
    let keq = cfg("{source_labels: [a], target_label: b, action: keepequal}");
    let deq = cfg("{source_labels: [a], target_label: b, action: dropequal}");
    let same = l(&[("a", "1"), ("b", "1")]);
    let diff = l(&[("a", "1"), ("b", "2")]);
    assert!(relabel(&same, std::slice::from_ref(&keq)).is_some());
    assert!(relabel(&diff, std::slice::from_ref(&keq)).is_none());
    assert!(relabel(&same, std::slice::from_ref(&deq)).is_none());
    assert!(relabel(&diff, std::slice::from_ref(&deq)).is_some());
    // Both absent: "" == "".
    assert!(relabel(&l(&[("x", "1")]), std::slice::from_ref(&keq)).is_some());
}

#[test]
fn hashmod_matches_prometheus_values() {
    // Reference values from Prometheus' relabel_test.go (md5, last 8 bytes
    // big-endian): "baz" % 1000 = 976, "foo\nbar" % 1000 = 734.
    assert_eq!(hashmod("baz", 1000), 976);
    assert_eq!(hashmod("foo\nbar", 1000), 734);
    // The full 64-bit value, i.e. bytes 8..16 of md5("baz") big-endian.
    assert_eq!(hashmod("baz", u64::MAX), 16450797887570275976);
    let c = cfg("{source_labels: [c], target_label: d, modulus: 1000, action: hashmod}");
    let out = relabel(&l(&[("c", "baz")]), &[c]).unwrap();
    assert_eq!(out.get("d"), Some("976"));
}

#[test]
fn labelmap_copies_matching_names_once() {
    let c = cfg(r#"{action: labelmap, regex: '__meta_kubernetes_pod_label_(.+)'}"#);
    let input = l(&[
        ("__meta_kubernetes_pod_label_app", "web"),
        ("__meta_kubernetes_pod_label_tier", "fe"),
    ]);
    let out = relabel(&input, &[c]).unwrap();
    assert_eq!(out.get("app"), Some("web"));
    assert_eq!(out.get("tier"), Some("fe"));
    assert_eq!(out.get("__meta_kubernetes_pod_label_app"), Some("web"));
    // A name produced by this step is not mapped again within it.
    let c = cfg(r#"{action: labelmap, regex: '(.+)_x', replacement: '${1}'}"#);
    let out = relabel(&l(&[("a_x_x", "v")]), &[c]).unwrap();
    assert_eq!(out, l(&[("a_x", "v"), ("a_x_x", "v")]));
}

#[test]
fn labeldrop_and_labelkeep_match_names() {
    let input = l(&[("__name__", "up"), ("a", "1"), ("ab", "2"), ("b", "3")]);
    let drop = cfg("{action: labeldrop, regex: 'a.*'}");
    assert_eq!(
        relabel(&input, &[drop]),
        Some(l(&[("__name__", "up"), ("b", "3")]))
    );
    let keep = cfg("{action: labelkeep, regex: '__name__|a'}");
    assert_eq!(
        relabel(&input, &[keep]),
        Some(l(&[("__name__", "up"), ("a", "1")]))
    );
}

#[test]
fn lowercase_and_uppercase() {
    let lo = cfg("{source_labels: [a, b], target_label: lo, action: lowercase}");
    let up = cfg("{source_labels: [a], target_label: up, action: uppercase}");
    let out = relabel(&l(&[("a", "FoO"), ("b", "ÄB")]), &[lo, up]).unwrap();
    assert_eq!(out.get("lo"), Some("foo;äb"));
    assert_eq!(out.get("up"), Some("FOO"));
}

#[test]
fn case_mapping_is_gos_rune_by_rune_simple_mapping() {
    let lo = cfg("{source_labels: [a], target_label: lo, action: lowercase}");
    let up = cfg("{source_labels: [a], target_label: up, action: uppercase}");
    let out = relabel(&l(&[("a", "ΟΔΟΣ straße İ")]), &[lo, up]).unwrap();
    // No final sigma, no "ß" → "SS", "İ" → "i" as Go's unicode.ToLower.
    assert_eq!(out.get("lo"), Some("οδοσ straße i"));
    assert_eq!(out.get("up"), Some("ΟΔΟΣ STRAßE İ"));
}

#[test]
fn steps_see_the_previous_steps_output() {
    let cfgs = [
        cfg("{source_labels: [a], target_label: b}"),
        cfg("{source_labels: [b], regex: 'x', action: keep}"),
    ];
    assert!(relabel(&l(&[("a", "x")]), &cfgs).is_some());
    assert!(relabel(&l(&[("a", "y"), ("b", "x")]), &cfgs).is_none());
}

#[test]
fn validation_messages_like_prometheus() {
    let e = errors("action: replace");
    assert_eq!(
        e,
        ["relabel_configs[0]: relabel configuration for replace action requires 'target_label' value"]
    );
    assert_eq!(
        errors("{action: hashmod, target_label: x}"),
        ["relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus"]
    );
    assert_eq!(
        errors("{action: hashmod, target_label: '${1}', modulus: 2}"),
        ["relabel_configs[0]: \"${1}\" is invalid 'target_label' for hashmod action"]
    );
    assert_eq!(
        errors("{target_label: '1abc'}"),
        ["relabel_configs[0]: \"1abc\" is invalid 'target_label' for replace action"]
    );
    assert_eq!(
        errors("{action: lowercase, target_label: x, replacement: y}"),
        ["relabel_configs[0]: 'replacement' can not be set for lowercase action"]
    );
    assert_eq!(
        errors("{action: labelmap, replacement: '-'}"),
        ["relabel_configs[0]: \"-\" is invalid 'replacement' for labelmap action"]
    );
    assert_eq!(
        errors("{action: keepequal, target_label: x, separator: ','}"),
        [
            "relabel_configs[0]: keepequal action requires only 'source_labels' and `target_label`, and no other fields"
        ]
    );
    assert_eq!(
        errors("{action: labeldrop, source_labels: [a]}"),
        ["relabel_configs[0]: labeldrop action requires only 'regex', and no other fields"]
    );
    let e = errors("{target_label: x, regex: '(', source_labels: ['bad-name']}");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("relabel_configs[0]: invalid regex \"(\""),
        "{e:?}"
    );
    assert_eq!(e[1], "relabel_configs[0]: \"bad-name\" is not a valid label name");
}

#[test]
fn scalars_and_null_regex_read_like_go_yaml() {
    let c = cfg("{source_labels: [a], regex: 1, target_label: b, replacement: 2}");
    assert_eq!(relabel(&l(&[("a", "1")]), &[c]).unwrap().get("b"), Some("2"));
    // `regex:` without a value is the empty pattern: matches only "".
    let c = cfg("{source_labels: [a], regex: , action: keep}");
    assert!(relabel(&l(&[("b", "1")]), std::slice::from_ref(&c)).is_some());
    assert!(relabel(&l(&[("a", "1")]), std::slice::from_ref(&c)).is_none());
}

#[test]
fn invalid_regex_matches_nothing() {
    let c: RelabelConfig = serde_yaml::from_str("{source_labels: [a], regex: '(', action: drop}").unwrap();
    assert!(relabel(&l(&[("a", "(")]), &[c]).is_some());
}

#[test]
fn regex_classes_mean_what_they_mean_in_go() {
    // Checked against Prometheus 2.42 (label_replace uses the same anchored
    // Go regexp and Expand): `\w` is ASCII there, so "café" does not match.
    let c = cfg(r"{source_labels: [a], regex: '(\w+)', target_label: b}");
    assert_eq!(
        relabel(&l(&[("a", "café")]), std::slice::from_ref(&c)),
        Some(l(&[("a", "café")]))
    );
    assert_eq!(
        relabel(&l(&[("a", "cafe")]), &[c]).unwrap().get("b"),
        Some("cafe")
    );
}
