//! Release versions as PyPI writes them, ordered as releases come: numerically by component
//! (2.9 before 2.12), a pre-release (`rc1`, `a2`, `b1`, `.dev0`) before its release, a
//! post-release (`.post1`) after it. Enough of PEP 440 for TensorFlow's and NumPy's versions.

use std::cmp::Ordering;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    text: String,
    release: Vec<u64>,
    /// (rank, number): dev 0, a 1, b 2, rc 3, final 4, post 5.
    suffix: (u8, u64),
}

const FINAL: u8 = 4;

impl Version {
    /// `text` read as a version ("2.15.0.post1", "2.16.0rc0", "1.26.4"); None when it does
    /// not start with a number.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let body = text.strip_prefix('v').unwrap_or(text);
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let release: Vec<u64> = body[..end]
            .trim_end_matches('.')
            .split('.')
            .map(|part| part.parse().ok())
            .collect::<Option<_>>()?;
        let rest = body[end..]
            .trim_start_matches(['.', '-', '_'])
            .to_ascii_lowercase();
        // "+local" labels do not order releases.
        let rest = rest.split('+').next().unwrap_or_default();
        let suffix = if rest.is_empty() {
            (FINAL, 0)
        } else {
            let letters: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            let number = rest[letters.len()..].trim_start_matches(['.', '-', '_']);
            let number = number.parse().unwrap_or(0);
            let rank = match letters.as_str() {
                "dev" => 0,
                "a" | "alpha" => 1,
                "b" | "beta" => 2,
                "rc" | "c" | "pre" | "preview" => 3,
                "post" | "r" | "rev" => 5,
                _ => return None,
            };
            (rank, number)
        };
        Some(Version {
            text: text.to_string(),
            release,
            suffix,
        })
    }

    /// "2.12" of "2.12.1": the minor release it belongs to.
    pub fn minor(&self) -> String {
        let parts: Vec<String> = self.release.iter().take(2).map(u64::to_string).collect();
        parts.join(".")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        // 2.12 and 2.12.0 are one release: missing components count as 0.
        let length = self.release.len().max(other.release.len());
        let component = |v: &Version, i: usize| v.release.get(i).copied().unwrap_or(0);
        (0..length)
            .map(|i| component(self, i).cmp(&component(other, i)))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(self.suffix.cmp(&other.suffix))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn releases_order_as_they_came_out() {
        let mut versions: Vec<Version> = [
            "2.12.1",
            "2.9.3",
            "2.15.0.post1",
            "2.16.0rc0",
            "2.15.0",
            "2.16.1",
            "2.16.0",
            "2.16.0b1",
            "2.16.0.dev20240101",
            "2.10",
        ]
        .into_iter()
        .map(v)
        .collect();
        versions.sort();
        let texts: Vec<String> = versions.iter().map(Version::to_string).collect();
        assert_eq!(
            texts,
            [
                "2.9.3",
                "2.10",
                "2.12.1",
                "2.15.0",
                "2.15.0.post1",
                "2.16.0.dev20240101",
                "2.16.0b1",
                "2.16.0rc0",
                "2.16.0",
                "2.16.1"
            ]
        );
        assert_eq!(v("2.12").cmp(&v("2.12.0")), Ordering::Equal);
        assert!(v("1.26.4") < v("2.0.0"));
        assert_eq!(v("2.12.1").minor(), "2.12");
        assert_eq!(v("2.21.0+cpu").cmp(&v("2.21.0")), Ordering::Equal);
        assert!(Version::parse("unknown").is_none());
        assert!(Version::parse("2.1.0xyz").is_none());
    }
}
