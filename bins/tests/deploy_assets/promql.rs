//! Which metrics the code exports (scanned from its sources), and a checker that a PromQL
//! expression only uses those metrics and their labels. Part of the `deploy_assets` test.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{read, root};

const METRIC_PREFIXES: [&str; 3] = ["marketprism_", "service_discovery_", "gateway_"];

/// The text up to the `)` closing a macro call (string literals skipped).
fn macro_args(text: &str) -> &str {
    let (mut depth, mut in_str, mut escaped) = (1, false, false);
    for (i, c) in text.char_indices() {
        match (in_str, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (_, '"') => in_str = !in_str,
            (false, '(') => depth += 1,
            (false, ')') => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

/// Metric name → label names, from the `counter!`/`gauge!`/`histogram!` calls in the sources
/// (names given as literals or as `const NAME: &str = "..."`, e.g. metrics_names.rs).
/// Histograms are rendered as summaries (`quantile`, `_sum`, `_count`) unless buckets are set.
pub(crate) fn exported_metrics() -> BTreeMap<String, BTreeSet<String>> {
    let mut sources = Vec::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let (p, n) = (e.path(), e.file_name().to_string_lossy().into_owned());
            // This test's own files name the macros without exporting anything.
            if n.starts_with("deploy_assets") || n.starts_with('.') || n == "target" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if n.ends_with(".rs") {
                sources.push(read(&p));
            }
        }
    }
    let buckets = sources.iter().any(|t| t.contains("set_buckets"));
    let mut consts: HashMap<String, Vec<String>> = HashMap::new();
    for line in sources.iter().flat_map(|t| t.lines()) {
        if let Some((head, tail)) = line.split_once(": &str = \"")
            && let Some(name) = head.trim_end().rsplit(' ').next()
            && head.contains("const ")
        {
            consts
                .entry(name.to_owned())
                .or_default()
                .push(tail.split('"').next().unwrap_or_default().to_owned());
        }
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for text in &sources {
        for kind in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(kind) {
                let before = text[..at].chars().next_back().unwrap_or(' ');
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                if before.is_alphanumeric()
                    || before == '_'
                    || text[line_start..at].trim_start().starts_with("//")
                {
                    continue;
                }
                let args = macro_args(&text[at + kind.len()..]);
                let first = args.split(',').next().unwrap_or_default().trim();
                let names: Vec<String> = match first.strip_prefix('"') {
                    Some(lit) => vec![lit.split('"').next().unwrap_or_default().to_owned()],
                    None => consts
                        .get(first.rsplit("::").next().unwrap_or_default())
                        .cloned()
                        .unwrap_or_default(),
                };
                // Label keys are the literals just before each `=>`.
                let pieces: Vec<&str> = args.split("=>").collect();
                let labels: BTreeSet<String> = pieces[..pieces.len() - 1]
                    .iter()
                    .filter_map(|l| l.trim_end().strip_suffix('"')?.rsplit('"').next())
                    .map(str::to_owned)
                    .collect();
                for name in names {
                    let mut series = vec![(name.clone(), labels.clone())];
                    if kind == "histogram!(" {
                        series[0].1.insert("quantile".into());
                        series.push((format!("{name}_sum"), labels.clone()));
                        series.push((format!("{name}_count"), labels.clone()));
                        if buckets {
                            series.push((
                                format!("{name}_bucket"),
                                labels.iter().cloned().chain(["le".into()]).collect(),
                            ));
                        }
                    }
                    for (n, l) in series {
                        out.entry(n).or_default().extend(l);
                    }
                }
            }
        }
    }
    out
}

/// Problems with one PromQL expression: metric names (with our prefixes) the code does not
/// export, and label names that none of its metrics (nor Prometheus' target labels) carry.
pub(crate) fn check_expr(expr: &str, exported: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    // Tokens outside string literals: identifiers, and single punctuation characters.
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            while let Some(d) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == c {
                    break;
                }
            }
            tokens.push("\"".into());
        } else if is_ident(c) || c == '$' {
            let mut t = String::from(c);
            while let Some(&d) = chars.peek().filter(|d| is_ident(**d)) {
                t.push(d);
                chars.next();
            }
            tokens.push(t);
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    let target = ["job", "instance", "__name__"].map(String::from);
    let mut problems = Vec::new();
    let mut all_labels: BTreeSet<String> = target.iter().cloned().collect();
    let mut grouping = Vec::new();
    let allowed = |m: &str| -> Option<BTreeSet<String>> {
        let mut l = exported.get(m)?.clone();
        for t in ["job", "instance"] {
            if l.contains(t) {
                l.insert(format!("exported_{t}"));
            }
        }
        l.extend(target.iter().cloned());
        Some(l)
    };
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        let next = tokens.get(i + 1).map(String::as_str);
        if METRIC_PREFIXES.iter().any(|p| t.starts_with(p)) {
            match allowed(t) {
                None => problems.push(format!("metric `{t}` is not exported by the code")),
                Some(labels) => {
                    let mut j = i + 1;
                    if next == Some("{") {
                        while j < tokens.len() && tokens[j] != "}" {
                            let label = tokens[j]
                                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
                            if label
                                && matches!(tokens.get(j + 1).map(String::as_str), Some("=" | "!"))
                                && !labels.contains(&tokens[j])
                            {
                                problems.push(format!("`{t}` has no label `{}`", tokens[j]));
                            }
                            j += 1;
                        }
                    }
                    if tokens.get(i.wrapping_sub(2)).map(String::as_str) == Some("label_values")
                        && next == Some(",")
                        && !labels.contains(&tokens[i + 2])
                    {
                        problems.push(format!("`{t}` has no label `{}`", tokens[i + 2]));
                    }
                    all_labels.extend(labels);
                    i = j.max(i + 1);
                    continue;
                }
            }
        } else if matches!(
            t,
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        ) && next == Some("(")
        {
            let mut j = i + 2;
            while j < tokens.len() && tokens[j] != ")" {
                if tokens[j] != "," {
                    grouping.push(tokens[j].clone());
                }
                j += 1;
            }
            i = j;
        }
        i += 1;
    }
    for l in grouping.into_iter().filter(|l| !all_labels.contains(l)) {
        problems.push(format!("no metric in the expression has label `{l}`"));
    }
    problems
}
