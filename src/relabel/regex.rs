//! Go RE2 syntax on Rust's `regex` engine, anchored the Prometheus 3 way (`^(?s:...)$`).
//!
//! The two engines share most syntax. The differences that matter for relabel rules are the
//! Perl classes: in Go `\w`, `\d`, `\s` and `\b` are ASCII-only, in Rust they are Unicode. They
//! are rewritten to their ASCII forms here. Go's `\Q...\E` quoting is not supported and fails
//! to compile with a clear error.

use regex::Regex;

/// Rewrites Go-only syntax into equivalent Rust syntax.
pub fn translate(go: &str) -> String {
    let mut out = String::with_capacity(go.len() + 16);
    let mut in_class = false;
    let mut chars = go.chars().peekable();
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = if in_class {
                    match n {
                        'w' => Some("0-9A-Za-z_"),
                        'd' => Some("0-9"),
                        's' => Some("\\t\\n\\x0C\\r "),
                        _ => None,
                    }
                } else {
                    match n {
                        'w' => Some("(?-u:\\w)"),
                        'W' => Some("(?-u:\\W)"),
                        'd' => Some("[0-9]"),
                        'D' => Some("[^0-9]"),
                        's' => Some("[\\t\\n\\x0C\\r ]"),
                        'S' => Some("[^\\t\\n\\x0C\\r ]"),
                        'b' => Some("(?-u:\\b)"),
                        'B' => Some("(?-u:\\B)"),
                        _ => None,
                    }
                };
                match rep {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                class_start = false;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                // `[^` and a leading `]` are part of the class.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // POSIX class `[:alpha:]` inside a bracket expression.
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' if in_class => {
                // A literal `[` inside a class must be escaped for Rust (nested classes).
                out.push_str("\\[");
            }
            ']' if in_class && !class_start => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' | '-' if in_class && chars.peek() == Some(&c) => {
                // Rust treats `&&`, `~~` and `--` in a class as set operations; Go does not.
                out.push('\\');
                out.push(c);
            }
            _ => {
                class_start = false;
                out.push(c);
            }
        }
        if c != '[' {
            class_start = false;
        }
    }
    out
}

/// Compiles a relabel regex, anchored and with `.` matching newlines.
pub fn compile_anchored(go: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{})$", translate(go)))
        .map_err(|e| format!("error parsing regexp: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_like_go() {
        let re = compile_anchored(r"\w+").unwrap();
        assert!(re.is_match("abc_1"));
        assert!(!re.is_match("äbc"));
        let re = compile_anchored(r"[\w.]+").unwrap();
        assert!(re.is_match("a.b"));
        assert!(!re.is_match("é"));
        let re = compile_anchored(r"\d+").unwrap();
        assert!(!re.is_match("١٢"));
        assert!(compile_anchored("[[:alpha:]]+").unwrap().is_match("abc"));
    }

    #[test]
    fn anchored_and_dot_matches_newline() {
        let re = compile_anchored("foo").unwrap();
        assert!(re.is_match("foo"));
        assert!(!re.is_match("xfoo"));
        assert!(compile_anchored("a.*b").unwrap().is_match("a\nb"));
        assert!(compile_anchored("a|b").unwrap().is_match("b"));
        assert!(compile_anchored("(?P<x>a)(?<y>b)").is_ok());
        let e = compile_anchored("abc(def").unwrap_err();
        assert!(e.starts_with("error parsing regexp"), "{e}");
    }

    #[test]
    fn class_edge_cases() {
        assert!(compile_anchored("[]a]+").unwrap().is_match("]a"));
        assert!(compile_anchored("[a-]+").unwrap().is_match("a-"));
        assert!(compile_anchored("[a[]+").unwrap().is_match("[a"));
    }
}
