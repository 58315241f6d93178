//! The one nucleotide alphabet every reader uses (embed, classify, pretrain,
//! tokenizer training): which symbols are bases, which are IUPAC ambiguity
//! codes, and what everything else is. Case never matters (soft-masked
//! repeats are lower case). `U` (uracil) is RNA's spelling of `T` and is read
//! as `T`: IUPAC lists it beside T, not among the ambiguity codes, and DNA
//! tools such as BLAST and minimap2 read it that way, so an RNA sequence
//! gives what converting it by hand would.

/// The bases, in the tokenizers' id order.
pub const BASES: [u8; 4] = *b"ACGT";

/// The IUPAC ambiguity codes: allowed in input, but no model knows which base
/// they stand for (the tokenizers map them to their unknown token; the
/// Nucleotide Transformer's has one for N). Pretraining and tokenizer training
/// cut sequences at them.
pub const AMBIGUOUS: [u8; 11] = *b"NRYSWKMBDHV";

/// What one input byte is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// `A C G T` (upper case; `U` reads as `T`).
    Base(u8),
    /// An IUPAC ambiguity code, upper case.
    Ambiguous(u8),
    /// Anything else: an error in every reader.
    Invalid,
}

/// Classifies one byte of a sequence.
pub const fn symbol(byte: u8) -> Symbol {
    match byte.to_ascii_uppercase() {
        b'U' => Symbol::Base(b'T'),
        u @ (b'A' | b'C' | b'G' | b'T') => Symbol::Base(u),
        u @ (b'N' | b'R' | b'Y' | b'S' | b'W' | b'K' | b'M' | b'B' | b'D' | b'H' | b'V') => {
            Symbol::Ambiguous(u)
        }
        _ => Symbol::Invalid,
    }
}

/// The complementary symbol of an upper-case base or IUPAC code (A-T,
/// C-G; R-Y, K-M, B-V, D-H; S, W and N are their own); anything else is
/// returned as it is.
pub const fn complement(byte: u8) -> u8 {
    match byte {
        b'A' => b'T',
        b'T' => b'A',
        b'C' => b'G',
        b'G' => b'C',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        other => other,
    }
}

/// The reverse complement of an upper-case sequence of the alphabet.
pub fn reverse_complement(seq: &str) -> String {
    seq.bytes()
        .rev()
        .map(|b| char::from(complement(b)))
        .collect()
}

/// A symbol outside the alphabet: the character and its 1-based position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidSymbol {
    pub symbol: char,
    pub position: usize,
}

impl std::fmt::Display for InvalidSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid symbol {:?} at position {}",
            self.symbol, self.position
        )
    }
}

/// The first symbol of `seq` outside the alphabet, if any.
pub fn first_invalid(seq: &str) -> Option<InvalidSymbol> {
    let i = seq
        .bytes()
        .position(|b| matches!(symbol(b), Symbol::Invalid))?;
    // Every byte before `i` is ASCII, so `i` is also the char index.
    Some(InvalidSymbol {
        symbol: seq[i..].chars().next().unwrap_or('?'),
        position: i + 1,
    })
}

/// What [`normalize`] found in a valid sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Composition {
    /// Ambiguity codes in the sequence.
    pub ambiguous: usize,
    /// Which codes occur, one flag per code in [`AMBIGUOUS`] order.
    pub codes: [bool; AMBIGUOUS.len()],
    /// `U`s read as `T`.
    pub uracil: usize,
}

/// Rewrites a valid `seq` in place to upper case with `U` read as `T` (only
/// `A C G T` and ambiguity codes remain) and says what it holds; an invalid
/// one is left as it is.
pub fn normalize(seq: &mut String) -> Result<Composition, InvalidSymbol> {
    if let Some(bad) = first_invalid(seq) {
        return Err(bad);
    }
    let mut found = Composition::default();
    let mut bytes = std::mem::take(seq).into_bytes();
    for b in &mut bytes {
        if b.eq_ignore_ascii_case(&b'U') {
            found.uracil += 1;
        }
        match symbol(*b) {
            Symbol::Base(u) => *b = u,
            Symbol::Ambiguous(u) => {
                *b = u;
                found.ambiguous += 1;
                if let Some(k) = AMBIGUOUS.iter().position(|&a| a == u) {
                    found.codes[k] = true;
                }
            }
            Symbol::Invalid => {}
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes: still UTF-8.
    *seq = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_has_one_meaning() {
        for b in 0..=255u8 {
            let want = match b.to_ascii_uppercase() {
                b'A' | b'C' | b'G' | b'T' => Symbol::Base(b.to_ascii_uppercase()),
                b'U' => Symbol::Base(b'T'),
                u if AMBIGUOUS.contains(&u) => Symbol::Ambiguous(u),
                _ => Symbol::Invalid,
            };
            assert_eq!(symbol(b), want, "{b:#x}");
        }
    }

    #[test]
    fn complements_pair_up() {
        for &b in BASES.iter().chain(&AMBIGUOUS) {
            assert_eq!(complement(complement(b)), b, "{}", b as char);
            assert!(matches!(
                symbol(complement(b)),
                Symbol::Base(_) | Symbol::Ambiguous(_)
            ));
        }
        assert_eq!(reverse_complement("AACGTNRYKMBVDHSW"), "WSDHBVKMRYNACGTT");
    }

    #[test]
    fn normalize_upper_cases_reads_u_as_t_and_counts() {
        let mut s = "acgUuNnrx".to_owned();
        assert_eq!(
            normalize(&mut s),
            Err(InvalidSymbol {
                symbol: 'x',
                position: 9
            })
        );
        assert_eq!(s, "acgUuNnrx");
        let mut s = "acgUuNnr".to_owned();
        let c = normalize(&mut s).unwrap();
        assert_eq!(s, "ACGTTNNR");
        assert_eq!((c.ambiguous, c.uracil), (3, 2));
        assert_eq!(&c.codes[..2], [true, true]);
        assert_eq!(
            first_invalid("ACé").map(|e| e.to_string()),
            Some("invalid symbol 'é' at position 3".to_owned())
        );
    }
}
