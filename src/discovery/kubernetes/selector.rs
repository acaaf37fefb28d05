//! Syntax checks for the `selectors:` strings, as Kubernetes's `fields.ParseSelector` and
//! `labels.Parse` do when Prometheus validates its config. The API server evaluates the
//! selectors; nothing here matches objects.

/// Checks a field selector's syntax as `fields.ParseSelector` does: comma-separated
/// `key=value`, `key==value` or `key!=value` terms (backslash escapes allowed).
pub fn check_field_selector(s: &str) -> Result<(), String> {
    for term in split_unescaped(s, ',') {
        if term.is_empty() {
            continue;
        }
        if !["!=", "==", "="]
            .iter()
            .any(|op| find_unescaped(&term, op).is_some())
        {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for ch in s.chars() {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == sep {
            out.push(String::new());
            continue;
        }
        if let Some(last) = out.last_mut() {
            last.push(ch);
        }
    }
    out
}

fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Checks a label selector's syntax (`labels.Parse`): comma-separated requirements
/// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, and for `gt`/`lt` an
/// integer value (`k>1`, `k<2`).
pub fn check_label_selector(s: &str) -> Result<(), String> {
    let err = |detail: &str| Err(format!("unable to parse requirement: {detail}"));
    let mut rest = s.trim();
    while !rest.is_empty() {
        // One requirement, up to a comma outside parentheses.
        let mut depth = 0i32;
        let mut end = rest.len();
        for (i, ch) in rest.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let req = rest[..end].trim();
        rest = rest.get(end + 1..).unwrap_or("").trim();
        if req.is_empty() {
            return err("found '', expected: identifier");
        }
        let words: Vec<&str> = req.split_whitespace().collect();
        if let Some(key) = req.strip_prefix('!') {
            if !valid_label_key(key.trim()) {
                return err(&format!("invalid label key {:?}", key.trim()));
            }
            continue;
        }
        if words.len() >= 2 && (words[1] == "in" || words[1] == "notin") {
            if !valid_label_key(words[0]) {
                return err(&format!("invalid label key {:?}", words[0]));
            }
            let set = req[req.find('(').unwrap_or(req.len())..].trim();
            let Some(inner) = set.strip_prefix('(').and_then(|x| x.strip_suffix(')')) else {
                return err("found '', expected: '('");
            };
            for v in inner.split(',') {
                if !valid_label_value(v.trim()) {
                    return err(&format!("invalid label value: {:?}", v.trim()));
                }
            }
            continue;
        }
        let ops = ["!=", "==", "=", ">", "<"];
        let found = ops.iter().find_map(|op| req.find(op).map(|i| (i, *op)));
        match found {
            None => {
                if !valid_label_key(req) {
                    return err(&format!("invalid label key {req:?}"));
                }
            }
            Some((i, op)) => {
                let (k, v) = (req[..i].trim(), req[i + op.len()..].trim());
                if !valid_label_key(k) {
                    return err(&format!("invalid label key {k:?}"));
                }
                if (op == ">" || op == "<") && v.parse::<i64>().is_err() {
                    return err(&format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer, got {v:?}"
                    ));
                }
                if !valid_label_value(v) {
                    return err(&format!("invalid label value: {v:?}"));
                }
            }
        }
    }
    Ok(())
}

/// A qualified name with an optional DNS-subdomain prefix (`example.com/name`).
fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    });
    name_ok && prefix_ok
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}
