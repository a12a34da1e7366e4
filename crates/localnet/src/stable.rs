//! Stable memory: sparse 64 KiB pages with an undo log, so a trapped message
//! rolls back in time proportional to what it wrote, not to the memory's size.

use std::collections::BTreeMap;

pub const WASM_PAGE: u64 = 64 * 1024;
/// The IC's maximum stable memory (500 GiB) in Wasm pages.
pub const MAX_STABLE_PAGES: u64 = 500 * 1024 * 1024 * 1024 / WASM_PAGE;
/// The 32-bit stable API can address 4 GiB.
pub const MAX_STABLE32_PAGES: u64 = 65536;

type Page = Box<[u8]>;

#[derive(Default, Clone)]
pub struct StableMemory {
    /// Pages ever written; absent pages read as zeros.
    pages: BTreeMap<u64, Page>,
    size_pages: u64,
    undo: Option<UndoLog>,
}

#[derive(Clone)]
struct UndoLog {
    size_pages: u64,
    /// The content each page had before this message first wrote it (None: absent).
    originals: BTreeMap<u64, Option<Page>>,
}

#[derive(Debug, thiserror::Error)]
#[error("stable memory access out of bounds: offset {offset} + size {size} > {memory_size} bytes")]
pub struct OutOfBounds {
    pub offset: u64,
    pub size: u64,
    pub memory_size: u64,
}

impl StableMemory {
    pub fn size_pages(&self) -> u64 {
        self.size_pages
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_pages * WASM_PAGE
    }

    /// Bytes actually held (written pages).
    #[cfg(test)]
    fn resident_bytes(&self) -> u64 {
        self.pages.len() as u64 * WASM_PAGE
    }

    /// Starts recording changes so that `rollback` can undo them.
    pub fn begin(&mut self) {
        self.undo = Some(UndoLog {
            size_pages: self.size_pages,
            originals: BTreeMap::new(),
        });
    }

    /// Keeps the changes made since `begin`.
    pub fn commit(&mut self) {
        self.undo = None;
    }

    /// Undoes every change made since `begin`.
    pub fn rollback(&mut self) {
        let Some(log) = self.undo.take() else { return };
        for (index, original) in log.originals {
            match original {
                Some(page) => {
                    self.pages.insert(index, page);
                }
                None => {
                    self.pages.remove(&index);
                }
            }
        }
        self.size_pages = log.size_pages;
    }

    /// Grows by `new_pages`; returns the previous size or None if over `limit`.
    pub fn grow(&mut self, new_pages: u64, limit: u64) -> Option<u64> {
        let old = self.size_pages;
        let new = old.checked_add(new_pages).filter(|&n| n <= limit)?;
        self.size_pages = new;
        Some(old)
    }

    fn check(&self, offset: u64, size: u64) -> Result<(), OutOfBounds> {
        match offset.checked_add(size) {
            Some(end) if end <= self.size_bytes() => Ok(()),
            _ => Err(OutOfBounds {
                offset,
                size,
                memory_size: self.size_bytes(),
            }),
        }
    }

    pub fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), OutOfBounds> {
        self.check(offset, out.len() as u64)?;
        let mut done = 0usize;
        while done < out.len() {
            let pos = offset + done as u64;
            let (index, within) = (pos / WASM_PAGE, (pos % WASM_PAGE) as usize);
            let n = (WASM_PAGE as usize - within).min(out.len() - done);
            match self.pages.get(&index) {
                Some(page) => out[done..done + n].copy_from_slice(&page[within..within + n]),
                None => out[done..done + n].fill(0),
            }
            done += n;
        }
        Ok(())
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        self.check(offset, data.len() as u64)?;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let (index, within) = (pos / WASM_PAGE, (pos % WASM_PAGE) as usize);
            let n = (WASM_PAGE as usize - within).min(data.len() - done);
            self.record_original(index);
            let page = self
                .pages
                .entry(index)
                .or_insert_with(|| vec![0u8; WASM_PAGE as usize].into_boxed_slice());
            page[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    fn record_original(&mut self, index: u64) {
        if let Some(log) = &mut self.undo {
            log.originals
                .entry(index)
                .or_insert_with(|| self.pages.get(&index).cloned());
        }
    }

    /// Empties the memory (reinstall, uninstall).
    pub fn clear(&mut self) {
        *self = StableMemory::default();
    }

    /// The whole memory as bytes (for tests and snapshots; allocates its full size).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.size_bytes() as usize];
        self.read(0, &mut out)
            .expect("reading the whole memory is in bounds");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_content_and_size() {
        let mut m = StableMemory::default();
        m.grow(1, MAX_STABLE_PAGES).unwrap();
        m.write(10, b"keep").unwrap();
        m.begin();
        m.grow(2, MAX_STABLE_PAGES).unwrap();
        m.write(8, b"overwrite").unwrap();
        m.write(WASM_PAGE * 2 + 5, b"new page").unwrap();
        m.rollback();
        assert_eq!(m.size_pages(), 1);
        let mut buf = [0u8; 4];
        m.read(10, &mut buf).unwrap();
        assert_eq!(&buf, b"keep");
        assert_eq!(m.resident_bytes(), WASM_PAGE);
    }

    #[test]
    fn writes_across_page_boundaries_and_bounds() {
        let mut m = StableMemory::default();
        m.grow(2, MAX_STABLE_PAGES).unwrap();
        let data: Vec<u8> = (0..100u8).collect();
        m.write(WASM_PAGE - 50, &data).unwrap();
        let mut out = vec![0u8; 100];
        m.read(WASM_PAGE - 50, &mut out).unwrap();
        assert_eq!(out, data);
        assert!(m.write(2 * WASM_PAGE - 1, b"xy").is_err());
        assert!(m.read(u64::MAX, &mut [0u8; 2]).is_err());
        assert_eq!(m.grow(MAX_STABLE_PAGES, MAX_STABLE_PAGES), None);
    }
}
