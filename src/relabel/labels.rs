//! A label set kept sorted by name, with Prometheus `labels.Builder` semantics: setting an
//! empty value deletes the label.

/// Labels sorted by name, names unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Builds from pairs (later duplicates win; empty values are skipped).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut l = Labels::new();
        for (k, v) in pairs {
            l.set(&k.into(), &v.into());
        }
        l
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value of `name`, or "" when absent (as Prometheus's `Get`).
    pub fn get(&self, name: &str) -> &str {
        match self.find(name) {
            Ok(i) => &self.0[i].1,
            Err(_) => "",
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.find(name) {
            Ok(i) => {
                if self.0[i].1 != value {
                    self.0[i].1 = value.to_string();
                }
            }
            Err(i) => self.0.insert(i, (name.to_string(), value.to_string())),
        }
    }

    pub fn del(&mut self, name: &str) {
        if let Ok(i) = self.find(name) {
            self.0.remove(i);
        }
    }

    /// Keeps only labels for which `keep(name)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|(n, _)| keep(n));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_set_semantics() {
        let mut l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![("a", "1"), ("b", "2")]);
        l.set("a", "");
        assert!(!l.contains("a"));
        assert_eq!(l.get("zz"), "");
        l.set("0", "x");
        assert_eq!(l.iter().next(), Some(("0", "x")));
    }
}
