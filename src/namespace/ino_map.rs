//! Where a transaction keeps each inode it changed (an offset into its arena). The inodes it makes are
//! numbered in a run by the mount's counter, so they index a vector, 4 bytes each; any other inode (one
//! from the snapshot it changed, or one far off the run) goes to a hash map.

use super::Ino;
use std::collections::HashMap;

const ABSENT: u32 = u32::MAX;
/// How far past the run's end an inode may land and still extend it (the gap is filled with `ABSENT`).
const GAP: u64 = 4096;

pub struct InoMap {
    first: Ino,
    run: Vec<u32>,
    others: HashMap<Ino, usize>,
}

impl InoMap {
    /// A map whose run starts at `first` (the first inode a transaction may make).
    pub fn new(first: Ino) -> InoMap {
        InoMap {
            first,
            run: Vec::new(),
            others: HashMap::new(),
        }
    }

    fn slot(&self, ino: Ino) -> Option<usize> {
        let i = u64::try_from(ino.checked_sub(self.first)?).ok()?;
        (i < self.run.len() as u64).then_some(i as usize)
    }

    pub fn get(&self, ino: Ino) -> Option<usize> {
        match self.slot(ino).map(|i| self.run[i]) {
            Some(at) if at != ABSENT => Some(at as usize),
            _ => self.others.get(&ino).copied(),
        }
    }

    pub fn insert(&mut self, ino: Ino, at: usize) -> Option<usize> {
        let prev = self.remove(ino);
        let fits = u32::try_from(at).ok().filter(|a| *a != ABSENT);
        let i = ino
            .checked_sub(self.first)
            .and_then(|d| u64::try_from(d).ok())
            .filter(|i| *i < self.run.len() as u64 + GAP);
        match (fits, i) {
            (Some(at), Some(i)) => {
                if i as usize >= self.run.len() {
                    self.run.resize(i as usize + 1, ABSENT);
                }
                self.run[i as usize] = at;
            }
            _ => {
                self.others.insert(ino, at);
            }
        }
        prev
    }

    /// Bytes held (the run, and about what the map of others costs per entry).
    pub fn bytes(&self) -> usize {
        self.run.capacity() * 4 + self.others.capacity() * 24
    }

    pub fn remove(&mut self, ino: Ino) -> Option<usize> {
        let in_run = self
            .slot(ino)
            .map(|i| std::mem::replace(&mut self.run[i], ABSENT))
            .filter(|at| *at != ABSENT)
            .map(|at| at as usize);
        let other = self.others.remove(&ino);
        in_run.or(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_in_a_run_and_off_it_are_found_replaced_and_removed() {
        let mut m = InoMap::new(100);
        assert_eq!(m.insert(7, 1), None, "below the run: an inode from before");
        assert_eq!(m.get(7), Some(1));
        assert_eq!(m.insert(100, 0), None);
        assert_eq!(m.insert(101, 10), None);
        assert_eq!(m.insert(50, 20), None, "below the run");
        assert_eq!(m.insert(100 + 10_000, 30), None, "far past the run");
        assert_eq!(
            m.insert(105, usize::MAX),
            None,
            "an offset too large for the run"
        );
        assert_eq!(m.insert(101, 11), Some(10));
        assert_eq!(m.get(100), Some(0));
        assert_eq!(m.get(101), Some(11));
        assert_eq!(m.get(50), Some(20));
        assert_eq!(m.get(10_100), Some(30));
        assert_eq!(m.get(105), Some(usize::MAX));
        assert_eq!(m.get(102), None);
        assert_eq!(m.remove(101), Some(11));
        assert_eq!(m.get(101), None);
        assert_eq!(m.remove(101), None);
        assert_eq!(m.insert(105, 40), Some(usize::MAX), "moves into the run");
        assert_eq!(m.get(105), Some(40));
        assert_eq!(m.remove(50), Some(20));
        assert_eq!(m.get(i64::MIN), None);
        assert_eq!(m.get(i64::MAX), None);
    }
}
