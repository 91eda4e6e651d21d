//! The gates of a text leaf (server/pipeline/redaction/compaction.py), all in one call:
//! per value of an Arrow large_string array, which of the patterns match anywhere in it,
//! returned as one Arrow bitmap per pattern (bit set = the gate holds; null = no match).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use regex::bytes::{Regex, RegexSet, RegexSetBuilder};

/// Arrow buffers come through the buffer protocol as signed bytes ('b').
fn bytes<'a>(py: Python<'a>, buffer: &'a PyBuffer<i8>) -> PyResult<&'a [u8]> {
    let cells = buffer
        .as_slice(py)
        .ok_or_else(|| PyValueError::new_err("a buffer must be contiguous"))?;
    // SAFETY: ReadOnlyCell<i8> has the layout of i8, which has the layout of u8.
    Ok(unsafe { std::slice::from_raw_parts(cells.as_ptr() as *const u8, cells.len()) })
}

#[pyclass]
struct Gates {
    set: RegexSet,
    each: Vec<Regex>,
}

#[pymethods]
impl Gates {
    #[new]
    fn new(patterns: Vec<String>) -> PyResult<Self> {
        let invalid = |e: regex::Error| PyValueError::new_err(e.to_string());
        // At the default 2 MiB the set's lazy DFA keeps flushing its cache and falls back
        // to the NFA (~4x slower still on the text-heavy set); 10 MiB and more measured alike.
        let set = RegexSetBuilder::new(&patterns).dfa_size_limit(64 << 20).build().map_err(invalid)?;
        let each = patterns.iter().map(|p| Regex::new(p)).collect::<Result<_, _>>().map_err(invalid)?;
        Ok(Gates { set, each })
    }

    /// `one_pass`: the patterns as one RegexSet (one pass per value, no literal
    /// prefilters); otherwise each pattern's own regex per value (with its prefilter).
    #[allow(clippy::too_many_arguments)]
    fn scan<'p>(
        &self,
        py: Python<'p>,
        validity: Option<PyBuffer<i8>>,
        offsets: PyBuffer<i8>,
        data: PyBuffer<i8>,
        start: usize,
        len: usize,
        one_pass: bool,
    ) -> PyResult<Vec<&'p PyBytes>> {
        let raw = bytes(py, &offsets)?;
        if raw.as_ptr() as usize % 8 != 0 || raw.len() < (start + len + 1) * 8 {
            return Err(PyValueError::new_err("large_string offsets expected"));
        }
        // SAFETY: aligned and long enough (checked above); Arrow offsets are i64 here.
        let offsets: &[i64] = unsafe { std::slice::from_raw_parts(raw.as_ptr() as *const i64, raw.len() / 8) };
        let data = bytes(py, &data)?;
        let validity = validity.as_ref().map(|v| bytes(py, v)).transpose()?;
        let mut hits = vec![0u64; len];
        py.allow_threads(|| {
            for (row, bits) in hits.iter_mut().enumerate() {
                let at = start + row;
                if validity.map_or(false, |v| v[at >> 3] & (1 << (at & 7)) == 0) {
                    continue;
                }
                let value = &data[offsets[at] as usize..offsets[at + 1] as usize];
                if one_pass {
                    for gate in self.set.matches(value).iter() {
                        *bits |= 1 << gate;
                    }
                } else {
                    for (gate, regex) in self.each.iter().enumerate() {
                        if regex.is_match(value) {
                            *bits |= 1 << gate;
                        }
                    }
                }
            }
        });
        let mut maps = vec![vec![0u8; (len + 7) / 8]; self.each.len()];
        for (row, bits) in hits.iter().enumerate() {
            let mut rest = *bits;
            while rest != 0 {
                maps[rest.trailing_zeros() as usize][row >> 3] |= 1 << (row & 7);
                rest &= rest - 1;
            }
        }
        Ok(maps.iter().map(|m| PyBytes::new(py, m)).collect())
    }
}

#[pymodule]
fn native_gates_probe(_py: Python, module: &PyModule) -> PyResult<()> {
    module.add_class::<Gates>()
}
