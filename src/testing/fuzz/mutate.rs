//! A seeded mutator in the manner of libFuzzer's, for the stable replay
//! test (`tests/fuzz_replay.rs`): the same inputs on every run, no nightly
//! toolchain, a few thousand executions per target.

use crate::rng::Rng;

/// Mutates corpus inputs with byte edits, splices and dictionary tokens.
pub struct Mutator {
    rng: Rng,
    dict: Vec<Vec<u8>>,
}

impl Mutator {
    /// `dict`: the tokens of the target's libFuzzer dictionary.
    pub fn new(seed: u64, dict: Vec<Vec<u8>>) -> Self {
        Self {
            rng: Rng::new(seed),
            dict,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// `input` with one to four edits; `other` (another corpus input) is
    /// what splices take from.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        const INTERESTING: [u8; 9] = [0, 1, 0x7f, 0x80, 0xff, b'\n', b'"', b'>', b','];
        let mut v = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(v.len() + 1);
            match self.below(8) {
                0 if at < v.len() => v[at] ^= 1 << self.below(8),
                1 if at < v.len() => v[at] = INTERESTING[self.below(INTERESTING.len())],
                2 if at < v.len() => v[at] = self.rng.next_u64() as u8,
                3 => {
                    let n = self.below(9);
                    v.splice(at..at, (0..n).map(|_| self.rng.next_u64() as u8));
                }
                4 if at < v.len() => {
                    let end = at + 1 + self.below((v.len() - at).min(64));
                    v.drain(at..end);
                }
                5 if at < v.len() => {
                    let end = at + 1 + self.below((v.len() - at).min(64));
                    let copy = v[at..end].to_vec();
                    let to = self.below(v.len() + 1);
                    v.splice(to..to, copy);
                }
                6 if !other.is_empty() => {
                    let from = self.below(other.len());
                    let end = from + 1 + self.below((other.len() - from).min(256));
                    v.splice(at..at, other[from..end].iter().copied());
                }
                7 if !self.dict.is_empty() => {
                    let k = self.below(self.dict.len());
                    let token = self.dict[k].clone();
                    let end = (at + token.len() * self.below(2)).min(v.len());
                    v.splice(at..end, token);
                }
                _ => v.truncate(at),
            }
        }
        v
    }
}

/// The tokens of a libFuzzer dictionary (`name="value"` lines, `#`
/// comments, `\\`, `\"` and `\xNN` escapes).
pub fn read_dict(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let quoted = line
            .find('"')
            .and_then(|start| line.get(start + 1..)?.strip_suffix('"'))
            .filter(|q| !q.is_empty())
            .ok_or_else(|| format!("line {}: not name=\"value\"", n + 1))?;
        let mut token = Vec::new();
        let mut bytes = quoted.bytes();
        while let Some(b) = bytes.next() {
            if b != b'\\' {
                token.push(b);
                continue;
            }
            match bytes.next() {
                Some(b'x') => {
                    let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                    let hex = std::str::from_utf8(&hex).unwrap_or("");
                    let v = u8::from_str_radix(hex, 16)
                        .map_err(|_| format!("line {}: bad \\x escape", n + 1))?;
                    token.push(v);
                }
                Some(c @ (b'\\' | b'"')) => token.push(c),
                _ => return Err(format!("line {}: bad escape", n + 1)),
            }
        }
        tokens.push(token);
    }
    Ok(tokens)
}
