//! An entry name that keeps short names (nearly all of them) inline, so a transaction's million entries
//! are not a million allocations: 24 bytes in place of a `Box<str>` and its 32-byte heap block.

use std::borrow::Borrow;
use std::cmp::Ordering;

const INLINE: usize = 22;

#[derive(Clone)]
pub enum ShortName {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl ShortName {
    pub fn as_str(&self) -> &str {
        match self {
            // Made from a `&str` cut at its own length, so always UTF-8.
            ShortName::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            ShortName::Heap(s) => s,
        }
    }
}

impl From<&str> for ShortName {
    fn from(s: &str) -> Self {
        if s.len() > INLINE {
            return ShortName::Heap(s.into());
        }
        let mut bytes = [0u8; INLINE];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        ShortName::Inline {
            len: s.len() as u8,
            bytes,
        }
    }
}

impl Borrow<str> for ShortName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ShortName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ShortName {}

impl PartialOrd for ShortName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The order of the names as strings, as `Borrow<str>` requires.
impl Ord for ShortName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn short_and_long_names_order_and_look_up_as_strings() {
        let names = ["b", "a", "", "é", &"x".repeat(22), &"y".repeat(23), "ab"];
        let map: BTreeMap<ShortName, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (ShortName::from(*n), i))
            .collect();
        let mut sorted = names.to_vec();
        sorted.sort();
        assert_eq!(
            map.keys().map(ShortName::as_str).collect::<Vec<_>>(),
            sorted
        );
        for (i, n) in names.iter().enumerate() {
            assert_eq!(map.get(*n), Some(&i));
        }
        assert!(matches!(
            ShortName::from("y".repeat(23).as_str()),
            ShortName::Heap(_)
        ));
        assert_eq!(std::mem::size_of::<ShortName>(), 24);
    }
}
