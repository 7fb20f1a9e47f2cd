//! Hand-written pre-tokenizer for tiktoken's `o200k_base` and `cl100k_base` encodings.
//!
//! Produces exactly the pieces of `bpe_openai::{o200k_base, cl100k_base}().split(text)`, which
//! are tiktoken's pieces, without running a regex engine. The split regexes are:
//!
//! ```text
//! o200k:  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//!        |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//!        |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! cl100k: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//!        | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! with leftmost-first alternation and greedy, backtracking quantifiers. Each alternative is
//! evaluated below in priority order, with its backtracking resolved in closed form (see
//! [`CasedWordScan`] for the only non-trivial case).
//!
//! The character classes are not hard-coded: they are built once, lazily, by parsing the
//! classes of the patterns above with `regex-syntax`, so they come from the very Unicode tables
//! the regex engine uses (keep `regex-syntax` at the version `regex-automata` uses).

use std::collections::HashMap;
use std::iter::FusedIterator;
use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// The split pattern of an OpenAI encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// `o200k_base` (GPT-4o and later).
    O200k,
    /// `cl100k_base` (GPT-4, GPT-3.5).
    Cl100k,
}

/// Splits `text` into the pieces that the encoding's regex would produce; their concatenation is
/// `text`, and none of them is empty.
pub fn pieces(pattern: Pattern, text: &str) -> Pieces<'_> {
    Pieces {
        text,
        position: 0,
        pattern,
        classes: &CHARACTER_CLASSES,
    }
}

/// Iterator over the pieces of a text, see [`pieces`].
#[derive(Clone)]
pub struct Pieces<'a> {
    text: &'a str,
    /// Byte offset where the next piece starts; always on a char boundary.
    position: usize,
    pattern: Pattern,
    classes: &'static CharacterClasses,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = self.position;
        if start >= self.text.len() {
            return None;
        }
        let scanner = Scanner {
            text: self.text.as_bytes(),
            classes: self.classes,
        };
        let end = match self.pattern {
            Pattern::O200k => scanner.o200k_piece_end(start),
            Pattern::Cl100k => scanner.cl100k_piece_end(start),
        };
        self.position = end;
        // Ends are always char boundaries past `start`; `get` keeps this total regardless.
        self.text.get(start..end)
    }
}

impl FusedIterator for Pieces<'_> {}

/// Bit set of the pattern character classes a code point belongs to.
type ClassSet = u16;

/// `\p{L}`
const LETTER: ClassSet = 1 << 0;
/// `\p{N}`
const NUMBER: ClassSet = 1 << 1;
/// `\s` (Unicode White_Space)
const WHITESPACE: ClassSet = 1 << 2;
/// `[\r\n]`
const NEWLINE: ClassSet = 1 << 3;
/// `[\r\n/]`, what o200k appends to a punctuation run.
const NEWLINE_OR_SLASH: ClassSet = 1 << 4;
/// `[^\r\n\p{L}\p{N}]`, the optional char before a word (space, tab, punctuation, mark, ...).
const WORD_PREFIX: ClassSet = 1 << 5;
/// `[^\s\p{L}\p{N}]`, punctuation in a broad sense (symbols, controls, marks, ...).
const PUNCTUATION: ClassSet = 1 << 6;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, o200k's "upper case" letters.
const CASED_UPPER: ClassSet = 1 << 7;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`, o200k's "lower case" letters. Lm, Lo and marks are in both
/// classes, which is why o200k's words need backtracking semantics.
const CASED_LOWER: ClassSet = 1 << 8;

/// Each class with the exact regex text it has in the patterns.
const CLASS_PATTERNS: [(ClassSet, &str); 9] = [
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (WHITESPACE, r"\s"),
    (NEWLINE, r"[\r\n]"),
    (NEWLINE_OR_SLASH, r"[\r\n/]"),
    (WORD_PREFIX, r"[^\r\n\p{L}\p{N}]"),
    (PUNCTUATION, r"[^\s\p{L}\p{N}]"),
    (CASED_UPPER, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (CASED_LOWER, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
];

/// The contractions `(?i:'s|'t|'re|'ve|'m|'ll|'d)` in priority order, as the letters after the
/// apostrophe. Each letter is matched case-insensitively, with the regex crate's (simple) case
/// folding: `s` also matches `S` and `ſ` (U+017F).
const CONTRACTION_SUFFIXES: [&str; 7] = ["s", "t", "re", "ve", "m", "ll", "d"];

static CHARACTER_CLASSES: LazyLock<CharacterClasses> = LazyLock::new(CharacterClasses::build);

/// Code points per block of the two-level non-ASCII table.
const BLOCK_LEN: usize = 128;
const BLOCK_SHIFT: u32 = BLOCK_LEN.trailing_zeros();
/// Number of code points (U+0000 to U+10FFFF).
const CODE_POINTS: usize = char::MAX as usize + 1;

/// Lookup tables from code point to [`ClassSet`], plus the case-folded contractions.
struct CharacterClasses {
    /// Classes of each ASCII byte, the common case.
    ascii: [ClassSet; 128],
    /// Two-level table for all code points: `block_of[cp / BLOCK_LEN]` is the index of the
    /// block holding, at `cp % BLOCK_LEN`, an index into `distinct_classes`. Blocks are
    /// deduplicated (whole scripts share a block), which keeps the table around 50 KB.
    block_of: Vec<u16>,
    blocks: Vec<u8>,
    /// The few distinct class sets that code points have (7 today).
    distinct_classes: Vec<ClassSet>,
    /// For each contraction in priority order, for each of its letters, the code points that
    /// match it case-insensitively.
    contractions: Vec<Vec<Vec<char>>>,
}

impl CharacterClasses {
    fn build() -> Self {
        let class_ranges: Vec<(ClassSet, Vec<(u32, u32)>)> = CLASS_PATTERNS
            .iter()
            .map(|&(class, pattern)| (class, code_point_ranges(pattern)))
            .collect();

        // Add each class's ranges to the class sets of all code points.
        let mut classes_of = vec![0 as ClassSet; CODE_POINTS];
        for (class, ranges) in &class_ranges {
            for &(first, last) in ranges {
                let (first, last) = (first as usize, last as usize);
                if let Some(code_points) = classes_of.get_mut(first..=last) {
                    code_points.iter_mut().for_each(|classes| *classes |= class);
                }
            }
        }

        let mut ascii = [0; 128];
        ascii.copy_from_slice(&classes_of[..128]);

        // Only a handful of class sets occur, so the blocks store indices into this palette.
        let mut distinct_classes: Vec<ClassSet> = Vec::new();
        for &classes in &classes_of {
            if !distinct_classes.contains(&classes) {
                distinct_classes.push(classes);
            }
        }
        let palette_index = |classes: ClassSet| {
            let index = distinct_classes
                .iter()
                .position(|&distinct| distinct == classes)
                .unwrap_or(0);
            u8::try_from(index).expect("at most 256 distinct class sets (7 today)")
        };

        let mut block_of = Vec::with_capacity(CODE_POINTS / BLOCK_LEN);
        let mut blocks: Vec<u8> = Vec::new();
        let mut block_index: HashMap<Vec<u8>, u16> = HashMap::new();
        for block_classes in classes_of.chunks(BLOCK_LEN) {
            let block: Vec<u8> = block_classes
                .iter()
                .map(|&classes| palette_index(classes))
                .collect();
            let next_index = block_index.len();
            let index = *block_index.entry(block).or_insert_with_key(|block| {
                blocks.extend_from_slice(block);
                u16::try_from(next_index)
                    .expect("at most 65536 distinct blocks (there are 8704 blocks)")
            });
            block_of.push(index);
        }

        let contractions = CONTRACTION_SUFFIXES
            .iter()
            .map(|suffix| {
                suffix
                    .chars()
                    .map(|letter| {
                        code_point_ranges(&format!("(?i:{letter})"))
                            .into_iter()
                            .flat_map(|(first, last)| first..=last)
                            .filter_map(char::from_u32)
                            .collect()
                    })
                    .collect()
            })
            .collect();

        Self {
            ascii,
            block_of,
            blocks,
            distinct_classes,
            contractions,
        }
    }

    #[inline]
    fn non_ascii_classes(&self, code_point: u32) -> ClassSet {
        let block = self
            .block_of
            .get((code_point >> BLOCK_SHIFT) as usize)
            .copied()
            .unwrap_or(0);
        let offset = usize::from(block) * BLOCK_LEN + (code_point as usize & (BLOCK_LEN - 1));
        let palette_index = self.blocks.get(offset).copied().unwrap_or(0);
        self.distinct_classes
            .get(usize::from(palette_index))
            .copied()
            .unwrap_or(0)
    }
}

/// The inclusive code point ranges matched by a single-character regex, from `regex-syntax`.
fn code_point_ranges(pattern: &str) -> Vec<(u32, u32)> {
    // The patterns are constants of this module, so failing here is a bug, not bad input.
    let hir = regex_syntax::parse(pattern).expect("pre-tokenizer class patterns are valid");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|range| (u32::from(range.start()), u32::from(range.end())))
            .collect(),
        // A class of a single code point (e.g. a letter without case variants) becomes a literal.
        HirKind::Literal(literal) => std::str::from_utf8(&literal.0)
            .expect("literals of a Unicode pattern are UTF-8")
            .chars()
            .map(|c| (u32::from(c), u32::from(c)))
            .collect(),
        other => panic!("pre-tokenizer pattern {pattern:?} is not a character class: {other:?}"),
    }
}

/// Decodes the non-ASCII char whose lead byte `lead` is at `text[at]`, returning its code point
/// and length. `text` comes from a `str`, so the sequence is well-formed.
fn decode_non_ascii(text: &[u8], at: usize, lead: u8) -> (u32, usize) {
    let continuation = |offset: usize| {
        text.get(at + offset)
            .map_or(0, |&byte| u32::from(byte & 0x3F))
    };
    let lead = u32::from(lead);
    if lead < 0xE0 {
        (((lead & 0x1F) << 6) | continuation(1), 2)
    } else if lead < 0xF0 {
        (
            ((lead & 0x0F) << 12) | (continuation(1) << 6) | continuation(2),
            3,
        )
    } else {
        (
            ((lead & 0x07) << 18)
                | (continuation(1) << 12)
                | (continuation(2) << 6)
                | continuation(3),
            4,
        )
    }
}

/// Finds where the piece starting at a given offset ends. All offsets are char boundaries.
#[derive(Clone, Copy)]
struct Scanner<'a> {
    text: &'a [u8],
    classes: &'a CharacterClasses,
}

/// Result of scanning `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*` then `[\p{Ll}\p{Lm}\p{Lo}\p{M}]*`
/// greedily from `start`, enough to resolve both o200k word alternatives.
struct CasedWordScan {
    start: usize,
    /// End of the maximal run of upper-class chars from `start`.
    upper_end: usize,
    /// End of the last char within that run that is also lower-class (Lm, Lo, M).
    last_lower_in_upper_end: Option<usize>,
    /// End of the maximal run of lower-class chars from `upper_end`.
    lower_end: usize,
}

impl CasedWordScan {
    /// End of `U*L+` (U, L the upper and lower classes). Greedy `U*` takes the whole upper run;
    /// if `L+` matches after it, it takes the whole lower run. Otherwise `U*` gives back chars
    /// until `L+` can match one, i.e. up to the last lower-class char in the upper run, and `L+`
    /// then stops right there, as the following chars of the run are not lower-class.
    fn upper_star_lower_plus_end(&self) -> Option<usize> {
        if self.lower_end > self.upper_end {
            Some(self.lower_end)
        } else {
            self.last_lower_in_upper_end
        }
    }

    /// End of `U+L*`: both runs, taken whole, provided the upper run is not empty.
    fn upper_plus_lower_star_end(&self) -> Option<usize> {
        (self.upper_end > self.start).then_some(self.lower_end)
    }
}

impl Scanner<'_> {
    /// Classes of the char at `at` and the offset after it, or `None` at the end of the text.
    #[inline(always)]
    fn char_at(&self, at: usize) -> Option<(ClassSet, usize)> {
        let lead = *self.text.get(at)?;
        if lead.is_ascii() {
            Some((self.classes.ascii[usize::from(lead)], at + 1))
        } else {
            Some(self.non_ascii_char_at(at, lead))
        }
    }

    /// Kept out of line so that the loops over (mostly ASCII) text stay small.
    #[inline(never)]
    fn non_ascii_char_at(&self, at: usize, lead: u8) -> (ClassSet, usize) {
        let (code_point, length) = decode_non_ascii(self.text, at, lead);
        (self.classes.non_ascii_classes(code_point), at + length)
    }

    /// End of the maximal run of chars in any of `classes`, starting at `at`.
    #[inline]
    fn run_end(&self, mut at: usize, classes: ClassSet) -> usize {
        while let Some((char_classes, next)) = self.char_at(at) {
            if char_classes & classes == 0 {
                break;
            }
            at = next;
        }
        at
    }

    /// End of `\p{N}{1,3}` at `start`, whose char is a number.
    fn number_end(&self, start: usize) -> usize {
        let mut at = start;
        for _ in 0..3 {
            match self.char_at(at) {
                Some((classes, next)) if classes & NUMBER != 0 => at = next,
                _ => break,
            }
        }
        at
    }

    /// End of ` ?[^\s\p{L}\p{N}]+` followed by a greedy run of `trailing`, if it matches at
    /// `start` (whose char has classes `first`, ending at `after_first`).
    fn punctuation_end(
        &self,
        start: usize,
        first: ClassSet,
        after_first: usize,
        trailing: ClassSet,
    ) -> Option<usize> {
        // A space is never punctuation, so the optional space is taken iff punctuation follows.
        let punctuation_start = if first & PUNCTUATION != 0 {
            start
        } else if self.text.get(start) == Some(&b' ')
            && self
                .char_at(after_first)
                .is_some_and(|(classes, _)| classes & PUNCTUATION != 0)
        {
            after_first
        } else {
            return None;
        };
        let punctuation_end = self.run_end(punctuation_start, PUNCTUATION);
        Some(self.run_end(punctuation_end, trailing))
    }

    /// End of the whitespace alternatives `\s*[\r\n]+|\s+(?!\S)|\s+` at `start`, whose char
    /// is whitespace. bpe-openai writes `\s+(?!\S)` as `\s+$`, or else `\s+\s` minus its last
    /// char; both agree with the look-ahead.
    fn whitespace_end(&self, start: usize) -> usize {
        let mut at = start;
        let mut last_char_start = start;
        let mut last_newline_end = None;
        while let Some((classes, next)) = self.char_at(at) {
            if classes & WHITESPACE == 0 {
                break;
            }
            if classes & NEWLINE != 0 {
                last_newline_end = Some(next);
            }
            last_char_start = at;
            at = next;
        }
        if let Some(end) = last_newline_end {
            // `\s*[\r\n]+`: `\s*` backtracks to the last newline of the run.
            end
        } else if at == self.text.len() || last_char_start == start {
            // `\s+` up to the end of the text, or a single whitespace char before a non-space.
            at
        } else {
            // `\s+(?!\S)`: leave the last whitespace char to prefix the next piece.
            last_char_start
        }
    }

    /// End of `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `at`, if it matches there.
    #[inline(always)]
    fn contraction_end(&self, at: usize) -> Option<usize> {
        if self.text.get(at) == Some(&b'\'') {
            self.contraction_suffix_end(at + 1)
        } else {
            None
        }
    }

    /// End of the contraction letters at `at`, just after an apostrophe.
    #[inline(never)]
    fn contraction_suffix_end(&self, at: usize) -> Option<usize> {
        self.classes.contractions.iter().find_map(|letters| {
            letters.iter().try_fold(at, |position, variants| {
                let letter = self.decode_char(position)?;
                variants
                    .contains(&letter)
                    .then(|| position + letter.len_utf8())
            })
        })
    }

    fn decode_char(&self, at: usize) -> Option<char> {
        let lead = *self.text.get(at)?;
        if lead.is_ascii() {
            return Some(char::from(lead));
        }
        char::from_u32(decode_non_ascii(self.text, at, lead).0)
    }

    fn cased_word_scan(&self, start: usize) -> CasedWordScan {
        let mut at = start;
        let mut last_lower_in_upper_end = None;
        while let Some((classes, next)) = self.char_at(at) {
            if classes & CASED_UPPER == 0 {
                break;
            }
            if classes & CASED_LOWER != 0 {
                last_lower_in_upper_end = Some(next);
            }
            at = next;
        }
        CasedWordScan {
            start,
            upper_end: at,
            last_lower_in_upper_end,
            lower_end: self.run_end(at, CASED_LOWER),
        }
    }

    /// End of the o200k word alternatives `P?U*L+C?|P?U+L*C?` at `start`, where `P` is the
    /// optional prefix char and `C` the optional contraction. Backtracking tries, in order:
    /// the first alternative with the prefix, then without it, then the second alternative
    /// likewise. Both with and without a prefix are possible only when the first char is a
    /// combining mark (a prefix that is also in both letter classes); then, e.g., "\u{301}A"
    /// is split into "\u{301}" and "A".
    fn o200k_word_end(&self, start: usize, first: ClassSet, after_first: usize) -> Option<usize> {
        let with_prefix = (first & WORD_PREFIX != 0).then(|| self.cased_word_scan(after_first));
        let first_alternative_with_prefix = with_prefix
            .as_ref()
            .and_then(CasedWordScan::upper_star_lower_plus_end);
        let word_end = match first_alternative_with_prefix {
            Some(end) => end,
            None => {
                let without_prefix =
                    (first & (CASED_UPPER | CASED_LOWER) != 0).then(|| self.cased_word_scan(start));
                without_prefix
                    .as_ref()
                    .and_then(CasedWordScan::upper_star_lower_plus_end)
                    .or_else(|| {
                        with_prefix
                            .as_ref()
                            .and_then(CasedWordScan::upper_plus_lower_star_end)
                    })
                    .or_else(|| {
                        without_prefix
                            .as_ref()
                            .and_then(CasedWordScan::upper_plus_lower_star_end)
                    })?
            }
        };
        Some(self.contraction_end(word_end).unwrap_or(word_end))
    }

    fn o200k_piece_end(&self, start: usize) -> usize {
        let Some((first, after_first)) = self.char_at(start) else {
            return start;
        };
        if first & (WORD_PREFIX | CASED_UPPER | CASED_LOWER) != 0
            && let Some(end) = self.o200k_word_end(start, first, after_first)
        {
            return end;
        }
        self.common_piece_end(start, first, after_first, NEWLINE_OR_SLASH)
    }

    fn cl100k_piece_end(&self, start: usize) -> usize {
        let Some((first, after_first)) = self.char_at(start) else {
            return start;
        };
        if let Some(end) = self.contraction_end(start) {
            return end;
        }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if first & WORD_PREFIX != 0
            && self
                .char_at(after_first)
                .is_some_and(|(classes, _)| classes & LETTER != 0)
        {
            return self.run_end(after_first, LETTER);
        }
        if first & LETTER != 0 {
            return self.run_end(after_first, LETTER);
        }
        self.common_piece_end(start, first, after_first, NEWLINE)
    }

    /// The alternatives after the words, shared by both patterns up to what may trail a
    /// punctuation run: `\p{N}{1,3}| ?[^\s\p{L}\p{N}]+<trailing>*|<whitespace>`.
    fn common_piece_end(
        &self,
        start: usize,
        first: ClassSet,
        after_first: usize,
        punctuation_trailing: ClassSet,
    ) -> usize {
        if first & NUMBER != 0 {
            return self.number_end(start);
        }
        if let Some(end) = self.punctuation_end(start, first, after_first, punctuation_trailing) {
            return end;
        }
        if first & WHITESPACE != 0 {
            return self.whitespace_end(start);
        }
        // Unreachable: a char that is no letter, number or whitespace is punctuation. Taking
        // the char alone keeps the iterator total should the tables ever disagree.
        after_first
    }
}

#[cfg(test)]
mod tests;
