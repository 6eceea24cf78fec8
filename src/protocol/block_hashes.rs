//! One hash per 512 KiB block of a chunk, kept in the chunk's extent: blake3's chaining value of each
//! aligned block (the subtree of the whole chunk's hash tree that the block is). They combine into the
//! chunk's own blake3, so chunk keys and dedup are unchanged, and every block that arrives, alone or in a
//! range, is checked by hashing it once; the cache keeps that value as the block's checksum.

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

/// The unit of ranged reads in a chunk, of the cache for chunks, and of the hashes here.
pub const BLOCK_SIZE: u64 = 512 << 10;

pub type BlockHash = ChainingValue;

/// The hash of the block at byte `offset` of a chunk longer than one block (`block` is never empty:
/// blake3 has no chaining value for nothing, and panics).
pub fn block_hash(offset: u64, block: &[u8]) -> BlockHash {
    let mut h = blake3::Hasher::new();
    h.set_input_offset(offset);
    h.update(block);
    h.finalize_non_root()
}

/// A chunk's blake3 (hex) and, when it is longer than one block, each block's hash: each byte hashed
/// once, as hashing the chunk alone would.
pub fn chunk_hashes(chunk: &[u8]) -> (String, Vec<BlockHash>) {
    if chunk.len() as u64 <= BLOCK_SIZE {
        return (super::hash_hex(chunk), Vec::new());
    }
    let blocks: Vec<BlockHash> = chunk
        .chunks(BLOCK_SIZE as usize)
        .enumerate()
        .map(|(i, b)| block_hash(i as u64 * BLOCK_SIZE, b))
        .collect();
    let root = root_of(&blocks, chunk.len() as u64).expect("one hash per block");
    (root, blocks)
}

/// The blake3 (hex) of a chunk of `len` bytes whose blocks hash to `blocks`; `None` when the count does
/// not fit the length (then the hashes say nothing about the chunk).
pub fn root_of(blocks: &[BlockHash], len: u64) -> Option<String> {
    if len <= BLOCK_SIZE || blocks.len() as u64 != len.div_ceil(BLOCK_SIZE) {
        return None;
    }
    let (left, right) = split(blocks, len);
    Some(
        merge_subtrees_root(&left, &right, Mode::Hash)
            .to_hex()
            .to_string(),
    )
}

/// The two children of the subtree over `blocks` (`len` bytes, more than one block): blake3's tree puts
/// the largest power-of-two of its 1 KiB chunks that leaves something over on the left, which for more
/// than one block is a whole number of blocks.
fn split(blocks: &[BlockHash], len: u64) -> (ChainingValue, ChainingValue) {
    let left_len = left_subtree_len(len);
    let n = (left_len / BLOCK_SIZE) as usize;
    (
        subtree(&blocks[..n], left_len),
        subtree(&blocks[n..], len - left_len),
    )
}

fn subtree(blocks: &[BlockHash], len: u64) -> ChainingValue {
    if blocks.len() == 1 {
        return blocks[0];
    }
    let (left, right) = split(blocks, len);
    merge_subtrees_non_root(&left, &right, Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hashes_combine_into_the_chunks_own_hash() {
        let data: Vec<u8> = (0..(8 << 20) + 4097u32)
            .map(|i| (i * 7 + i / 513) as u8)
            .collect();
        let b = BLOCK_SIZE as usize;
        for len in [0, 1, b, b + 1, 2 * b, 3 * b + 5, 5 * b, 16 * b, data.len()] {
            let chunk = &data[..len];
            let (root, blocks) = chunk_hashes(chunk);
            assert_eq!(root, blake3::hash(chunk).to_hex().as_str(), "len {len}");
            if len <= b {
                assert!(blocks.is_empty());
                continue;
            }
            assert_eq!(blocks.len(), len.div_ceil(b));
            assert_eq!(root_of(&blocks, len as u64).as_deref(), Some(root.as_str()));
            for (i, block) in chunk.chunks(b).enumerate() {
                assert_eq!(block_hash((i * b) as u64, block), blocks[i]);
            }
            // Any changed block, or blocks that do not fit the length, do not give the root.
            let mut wrong = blocks.clone();
            wrong[blocks.len() - 1][0] ^= 1;
            assert_ne!(root_of(&wrong, len as u64).as_deref(), Some(root.as_str()));
            assert_eq!(root_of(&blocks[1..], len as u64), None);
            assert_eq!(root_of(&blocks, len as u64 + b as u64), None);
        }
    }
}
